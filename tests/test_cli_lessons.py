"""The command line as a teacher uses it: list with the data set and the shipped runs, lesson files in and out,
output piped into `head`, and usage errors answered in JSON when --json was asked for."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from test_cli import cli


@pytest.fixture(scope="module")
def shipped_store(tmp_path_factory):
    """A store whose first `list` installed the shipped reference runs."""
    root = tmp_path_factory.mktemp("shipped")
    first = cli("list", "--json", store=root)
    assert first.returncode == 0, first.stderr
    return root, json.loads(first.stdout), first.stderr


def test_list_installs_the_shipped_runs_on_first_use_and_shows_the_data_set(shipped_store):
    root, first, stderr = shipped_store
    shipped = len(list((ROOT / "core" / "runs" / "shipped").glob("*/*.json.gz")))
    assert first["shipped_installed"] == shipped and len(first["runs"]) == shipped and "first use" in stderr
    assert all(r["reference"] for r in first["runs"])
    again = json.loads(cli("list", "--json", store=root).stdout)
    assert again["shipped_installed"] == 0 and len(again["runs"]) == shipped  # once per store, not on every call
    text = cli("list", store=root).stdout.splitlines()
    assert text[0].split()[:4] == ["run", "status", "data", "set"]
    assert any("Shapes-10" in line for line in text[1:]) and any("CIFAR-10" in line for line in text[1:])


def test_list_filters_like_the_runs_page(shipped_store):
    root, first, _ = shipped_store
    out = json.loads(cli("list", "--family", "plain", "A", "--depth", "56", "--json", store=root).stdout)
    models = {r["model"] for r in out["runs"]}
    assert models == {"plain-56", "ResNet-56 (A)"} and out["filters"] == {
        "families": ["plain", "ResNet A"],
        "depths": [56],
    }
    expected = sum(1 for r in first["runs"] if r["model"] in models)
    assert len(out["runs"]) == expected
    cifar = json.loads(cli("list", "--dataset", "cifar10", "--json", store=root).stdout)["runs"]
    assert {r["model"] for r in cifar} == {"plain-20", "plain-56", "ResNet-20 (A)", "ResNet-56 (A)"}  # Fig. 6's set
    none = cli("list", "--dataset", "cifar10", "--depth", "110", store=root)
    assert none.returncode == 0 and "no stored run matches (CIFAR-10 · depth 110)" in none.stdout


def test_export_then_import_a_lesson_through_the_cli(shipped_store, tmp_path):
    root, _, _ = shipped_store
    lesson = tmp_path / "week3.zip"
    out = cli("export-lesson", str(lesson), "--family", "plain", "--depth", "20", "--json", store=root)
    assert out.returncode == 0, out.stderr
    exported = json.loads(out.stdout)
    assert len(exported["runs"]) >= 1 and exported["with_weights"] >= 1 and lesson.stat().st_size == exported["bytes"]

    other = tmp_path / "other"
    first = json.loads(cli("import-lesson", str(lesson), "--json", store=other).stdout)
    assert sorted(first["added"]) == sorted(exported["runs"]) and first["skipped"] == []
    listed = json.loads(cli("list", "--no-shipped", "--json", store=other).stdout)["runs"]
    assert sorted(r["run_id"] for r in listed) == sorted(exported["runs"]) and {r["model"] for r in listed} == {
        "plain-20"
    }
    again = cli("import-lesson", str(lesson), store=other)
    assert again.returncode == 0 and "already in the store" in again.stdout

    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(lesson.read_bytes()[:1000])
    bad = cli("import-lesson", str(damaged), "--json", store=other)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "damaged.zip cannot be imported" in json.loads(bad.stdout)["error"]
    nothing = cli("export-lesson", str(tmp_path / "x.zip"), "--tag", "no-such-tag", store=root)
    assert nothing.returncode == 2 and "no stored run matches (tag no-such-tag)" in nothing.stderr


def test_list_piped_into_head_ends_without_a_traceback(shipped_store):
    root, _, _ = shipped_store
    pipeline = subprocess.run(
        f"{sys.executable} -m core list --store {root} | head -n 3",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pipeline.returncode == 0 and len(pipeline.stdout.splitlines()) == 3
    assert "Traceback" not in pipeline.stderr and "BrokenPipe" not in pipeline.stderr
    # A reader that is gone before the first line: the write fails every time, not only when head is quick.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = subprocess.run(
            [sys.executable, "-m", "core", "list", "--store", str(root)],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
        )
    finally:
        os.close(write_end)
    assert closed.returncode == 1 and closed.stderr == ""


def test_usage_errors_are_json_with_json_and_exit_2(tmp_path):
    for args in (["list", "--depth", "x"], ["lisst"], ["list", "--family", "resnet"], ["import-lesson"]):
        out = cli(*args, "--json", store=tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr, args
        error = json.loads(out.stdout)
        assert error["error"] and error["usage"].startswith("usage: python -m core"), args
        assert "error:" in out.stderr  # the usual message for a person, on stderr
    plain = cli("list", "--depth", "x", store=tmp_path)
    assert plain.returncode == 2 and plain.stdout == "" and "invalid int value: 'x'" in plain.stderr
    family = json.loads(cli("list", "--family", "resnet", "--json", store=tmp_path).stdout)["error"]
    assert "not a network family" in family and "plain, A, B" in family
