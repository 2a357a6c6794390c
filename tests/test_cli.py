import json
import subprocess
import sys

from conftest import ROOT

TINY = [
    "--depth",
    "8",
    "--subset",
    "256",
    "--test-subset",
    "200",
    "--batch-size",
    "64",
    "--epochs",
    "1",
    "--device",
    "cpu",
]
RUN_KEYS = {"run_id", "status", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"}


def cli(*args, store=None, env=None):
    extra = ["--store", str(store)] if store else []
    return subprocess.run(
        [sys.executable, "-m", "core", *args, *extra], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )


def test_describe_json_has_params_and_layers():
    out = json.loads(cli("describe", "--depth", "56", "--shortcut", "none", "--json").stdout)
    assert out["params"] == 853018 and len(out["layers"]) == 56 and out["layers"][0] == "conv1"
    out = json.loads(cli("describe", "--model", "torchvision-resnet18", "--json").stdout)
    assert out["params"] == 11173962 and "layer4.1.conv2" in out["layers"]


def test_train_json_then_cached_then_list_show_export(tmp_path):
    first = cli("train", *TINY, "--json", store=tmp_path)
    assert first.returncode == 0, first.stderr
    a = json.loads(first.stdout)
    assert RUN_KEYS | {"cached"} <= set(a) and a["cached"] is False and a["status"] == "done"
    assert 0 <= a["train_acc"] <= 1 and 0 <= a["test_acc"] <= 1
    assert "ETA" in first.stderr  # the progress bar

    b = json.loads(cli("train", *TINY, "--json", store=tmp_path).stdout)
    assert b["cached"] is True and b["run_id"] == a["run_id"] and b["test_acc"] == a["test_acc"]

    listed = json.loads(cli("list", "--no-shipped", "--json", store=tmp_path).stdout)["runs"]
    assert [r["run_id"] for r in listed] == [a["run_id"]] and RUN_KEYS <= set(listed[0])
    shown = json.loads(cli("show", a["run_id"][:6], "--json", store=tmp_path).stdout)
    assert RUN_KEYS <= set(shown) and len(shown["history"]) == 1

    csv = tmp_path / "h.csv"
    assert cli("export", a["run_id"], "--csv", str(csv), store=tmp_path).returncode == 0
    header, row = csv.read_text().splitlines()
    assert header.startswith("run_id,model,epoch") and "test_acc" in header and row.startswith(a["run_id"])


def test_invalid_config_names_the_field(tmp_path):
    r = cli("train", "--depth", "21", "--json", store=tmp_path)
    assert r.returncode == 2 and "depth" in r.stderr and "6n+2" in json.loads(r.stdout)["error"]
    r = cli("train", "--epochs", "0", store=tmp_path)
    assert r.returncode == 2 and "epochs" in r.stderr


def test_missing_cifar_says_how_to_fix(tmp_path):
    r = cli("train", "--dataset", "cifar10", "--data-dir", str(tmp_path), *TINY[:-4], store=tmp_path / "s")
    assert r.returncode == 2 and "RESNET_LAB_DATA" in r.stderr and "--data-dir" in r.stderr


def test_unknown_run_is_a_clear_error(tmp_path):
    r = cli("show", "nope", store=tmp_path)
    assert r.returncode == 2 and "no run matches" in r.stderr


def test_probe_init_json(tmp_path):
    r = cli("probe-init", "--depths", "8", "14", "--batch", "16", "--json")
    out = json.loads(r.stdout)
    assert len(out["summary"]) == 2 * 2 * 2 * 2 and {"grad_w_first", "grad_w_last", "ratio_first_last"} <= set(
        out["summary"][0]
    )


def test_reproduce_writes_table_and_figure(tmp_path):
    out = tmp_path / "reproduction"
    r = cli(
        "reproduce",
        "--dataset",
        "builtin",
        "--epochs",
        "1",
        "--subset",
        "256",
        "--plain",
        "8",
        "--resnet",
        "8",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--json",
        store=tmp_path / "s",
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [row["model"] for row in report["rows"]] == ["plain-8", "ResNet-8 (A)"]
    assert all(0 <= row["train_error_pct"] <= 100 and row["paper_test_error_pct"] is None for row in report["rows"])
    assert (out / "fig6.png").stat().st_size > 10_000 and "| plain-8 |" in (out / "table.md").read_text()


def test_train_names_the_field_of_an_invalid_advanced_setting(tmp_path):
    for flag, value in (("--warmup", "-5"), ("--lr", "50")):
        out = cli("train", *TINY, flag, value, "--json", store=tmp_path)
        assert out.returncode == 2
        error = json.loads(out.stdout)["error"]
        assert error.startswith(flag.removeprefix("--") + ":"), error
