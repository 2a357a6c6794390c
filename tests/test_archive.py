"""Lesson files: a filtered set of runs exported from one store and imported into another, all or nothing."""

import json
import zipfile

import pandas as pd
import pytest
from conftest import tiny_config
from safetensors.torch import save as save_safetensors

from core.engine.models import build_model
from core.runs import archive, reference
from core.runs.archive import ArchiveError, export_lesson, import_lesson, read_lesson
from core.runs.catalog import RunFilter, facets, family
from core.runs.execute import train
from core.runs.lifecycle import RunStatus
from core.runs.store import HISTORY_TABLES, Protected, RunStore, StoreError


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A store with two tiny trained runs (a plain net and a ResNet, one named and tagged) and one queued run."""
    store = RunStore(tmp_path_factory.mktemp("source"))
    plain = train(tiny_config(shortcut="none"), store).record
    resnet = train(tiny_config(shortcut="A", seed=1), store).record
    store.rename(resnet.run_id, "Week 3 ResNet", ["week-3", "demo"])
    store.request(tiny_config(shortcut="B"), "cli")
    return store, plain.run_id, resnet.run_id


def assert_same_history(a: RunStore, b: RunStore, run_id: str) -> None:
    ha, hb = a.history(run_id), b.history(run_id)
    for name in ("steps", "epochs", "probes", "evals"):
        pd.testing.assert_frame_equal(getattr(ha, name), getattr(hb, name), check_dtype=False)
    assert len(ha.steps) and len(ha.probes) and len(ha.evals)


def test_round_trip_keeps_weights_byte_identical_and_histories_equal(source, tmp_path):
    src, plain, resnet = source
    path = tmp_path / "lesson.zip"
    result = export_lesson(src, path, src.list(), title="Week 3")
    assert sorted(result.runs) == sorted([plain, resnet]) and result.weights == 2
    assert list(result.left_out.values()) == ["queued: only finished runs are exported"]

    dest = RunStore(tmp_path / "dest")
    done = import_lesson(dest, path)
    assert sorted(done.added) == sorted([plain, resnet]) and not done.skipped and not done.replaced
    for run_id in (plain, resnet):
        assert dest.weights_path(run_id).read_bytes() == src.weights_path(run_id).read_bytes()
        assert_same_history(src, dest, run_id)
        a, b = src.get(run_id), dest.get(run_id)
        assert (b.config, b.status, b.metrics, b.info, b.name, b.tags) == (
            a.config,
            a.status,
            a.metrics,
            a.info,
            a.name,
            a.tags,
        )
        assert b.status == RunStatus.DONE
    assert dest.get(resnet).label == "Week 3 ResNet" and dest.get(resnet).tags == ("week-3", "demo")
    assert dest.load_model(resnet) is not None  # the network opens from the imported weights

    again = import_lesson(dest, path)  # a second import changes nothing unless asked
    assert again.added == [] and sorted(again.skipped) == sorted([plain, resnet])


def test_overwrite_replaces_a_run_and_its_files_only_when_asked(source, tmp_path):
    src, plain, _ = source
    path = tmp_path / "one.zip"
    export_lesson(src, path, [src.get(plain)])
    dest = RunStore(tmp_path / "dest")
    import_lesson(dest, path)
    dest.rename(plain, "renamed here")
    dest.save_checkpoint(plain, {"step": 1})
    assert import_lesson(dest, path).skipped == [plain] and dest.get(plain).name == "renamed here"
    done = import_lesson(dest, path, overwrite=True)
    assert done.replaced == [plain] and dest.get(plain).name == ""
    assert not dest.checkpoint_path(plain).exists()  # a checkpoint of the replaced history would resume the wrong run
    assert dest.weights_path(plain).read_bytes() == src.weights_path(plain).read_bytes()
    assert_same_history(src, dest, plain)


def test_filters_pick_the_lesson_by_family_depth_recipe_dataset_and_tag(source):
    src, plain, resnet = source
    records = src.list()
    assert [r.run_id for r in RunFilter(families=["plain"]).apply(records)] == [plain]
    assert [r.run_id for r in RunFilter(tags=["week-3"]).apply(records)] == [resnet]
    assert [r.run_id for r in RunFilter(families=["ResNet A", "plain"], tags=["demo"]).apply(records)] == [resnet]
    assert len(RunFilter(depths=[8], recipes=["paper"], datasets=["builtin"]).apply(records)) == 3
    assert RunFilter(depths=[20]).apply(records) == [] and RunFilter(datasets=["cifar10"]).apply(records) == []
    assert RunFilter().apply(records) == records and RunFilter().text() == "all runs"
    options = facets(records)
    assert options["families"] == ["plain", "ResNet A", "ResNet B"] and options["tags"] == ["demo", "week-3"]
    assert options["depths"] == [8] and options["datasets"] == ["builtin"]
    assert (
        RunFilter(datasets=["cifar10"], families=["plain"], depths=[20, 56], tags=["x"]).text()
        == "CIFAR-10 · plain · depth 20, 56 · tag x"
    )
    assert family(tiny_config(arch="torchvision-resnet18")) == "torchvision ResNet-18"


def test_shipped_reference_runs_travel_with_or_without_weights(tmp_path):
    src = RunStore(tmp_path / "src")
    reference.install(src)
    shipped = [r for r in src.list() if r.reference]
    with_weights = [r for r in shipped if src.weights_path(r.run_id).exists()][:1]
    without = [r for r in shipped if not src.weights_path(r.run_id).exists()][:1]
    assert with_weights and without
    path = tmp_path / "ref.zip"
    assert export_lesson(src, path, with_weights + without).weights == 1
    dest = RunStore(tmp_path / "dest")
    import_lesson(dest, path)
    for r in with_weights + without:
        got = dest.get(r.run_id)
        assert got.reference and got.status == RunStatus.DONE  # shipped runs without weights stay done (histories only)
    other = RunStore(tmp_path / "other")  # replacing a shipped run is a teacher's decision
    reference.install(other)
    with pytest.raises(Protected):
        import_lesson(other, path, overwrite=True)
    assert import_lesson(other, path, overwrite=True, teacher=True).replaced


def damaged_copies(path, tmp_path):
    """(name, file, what the refusal must say) for ways a lesson file arrives broken or foreign."""
    blob = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(members["manifest.json"])
    run_name = manifest["runs"][0]["files"]["run"]["name"]
    weights_name = manifest["runs"][0]["files"]["weights"]["name"]

    def rezip(name, changes):
        out = tmp_path / name
        with zipfile.ZipFile(out, "w") as z:
            for n, data in {**members, **changes}.items():
                if data is not None:
                    z.writestr(n, data)
        return out

    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(blob[: len(blob) // 2])
    flipped = bytearray(blob)
    offset = blob.index(b"PK\x01\x02") - 200  # inside the last member's stored data
    flipped[offset] ^= 0xFF
    bitflip = tmp_path / "bitflip.zip"
    bitflip.write_bytes(bytes(flipped))
    image = tmp_path / "photo.zip"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("notes.txt", "hello")
    weights = members[weights_name]
    return [
        ("truncated", truncated, "not a ResNet Lab lesson file"),
        ("a flipped byte", bitflip, "damaged|checksum"),
        ("an image", image, "not a ResNet Lab lesson file"),
        ("another zip", other_zip, "no manifest"),
        (
            "another format",
            rezip("fmt.zip", {"manifest.json": json.dumps({**manifest, "format": "x"})}),
            "another format",
        ),
        (
            "a newer version",
            rezip("new.zip", {"manifest.json": json.dumps({**manifest, "version": 99})}),
            "newer version",
        ),
        ("a missing file", rezip("missing.zip", {weights_name: None}), "missing"),
        (
            "an altered history",
            rezip("altered.zip", {run_name: members[run_name].replace(b'"loss"', b'"lossy"', 1)}),
            "checksum",
        ),
        ("weights of another net", rezip("swap.zip", {weights_name: weights[:-8] + b"\0" * 8}), "checksum"),
    ]


def test_damaged_or_foreign_files_are_refused_with_a_reason_and_nothing_is_written(source, tmp_path):
    src, plain, resnet = source
    path = tmp_path / "lesson.zip"
    export_lesson(src, path, [src.get(plain), src.get(resnet)])
    dest = RunStore(tmp_path / "dest")
    for what, bad, reason in damaged_copies(path, tmp_path):
        with pytest.raises(ArchiveError, match=reason) as info:
            import_lesson(dest, bad)
        assert bad.name in str(info.value), what
        assert dest.list() == [], f"{what}: a refused file must leave the store untouched"
        assert not list((dest.root / "runs").glob("*/*")) if (dest.root / "runs").exists() else True
    with pytest.raises(ArchiveError, match="no such file"):
        import_lesson(dest, tmp_path / "nope.zip")


def rewrite(path, out, edit):
    """A consistent lesson file (checksums updated) whose first run's data was changed by ``edit``."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(members["manifest.json"])
    entry = manifest["runs"][0]
    name = entry["files"]["run"]["name"]
    data = json.loads(members[name])
    edit(data, members, entry)
    members[name] = json.dumps(data).encode()
    for spec in entry["files"].values():
        spec["sha256"] = archive._sha256(members[spec["name"]])
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as z:
        for n, blob in members.items():
            z.writestr(n, blob)
    return out


def test_consistent_but_wrong_contents_are_refused(source, tmp_path):
    src, plain, resnet = source
    path = tmp_path / "lesson.zip"
    export_lesson(src, path, [src.get(plain), src.get(resnet)])
    dest = RunStore(tmp_path / "dest")

    def other_weights(data, members, entry):  # a deeper network's weights under plain-8's id
        state = {k: v.contiguous() for k, v in build_model(depth=14, shortcut="none").state_dict().items()}
        members[entry["files"]["weights"]["name"]] = save_safetensors(state)

    def other_config(data, members, entry):
        data["run"]["config"]["depth"] = 14

    def newer_field(data, members, entry):
        data["run"]["config"]["mixup"] = 0.2

    def live(data, members, entry):
        data["run"]["status"] = "running"

    def no_tags(data, members, entry):
        del data["run"]["tags"]

    def list_name(data, members, entry):
        data["run"]["name"] = ["not", "text"]

    for edit, reason in (
        (other_weights, "do not fit"),
        (other_config, "does not hash to its run id"),
        (newer_field, "newer version"),
        (live, "not finished"),
        (no_tags, "lacks tags"),
        (list_name, "must be text"),
    ):
        with pytest.raises(ArchiveError, match=reason):
            import_lesson(dest, rewrite(path, tmp_path / f"{edit.__name__}.zip", edit))
    assert dest.list() == []


def test_a_failure_while_writing_leaves_no_half_import(source, tmp_path, monkeypatch):
    src, plain, resnet = source
    path = tmp_path / "lesson.zip"
    export_lesson(src, path, [src.get(plain), src.get(resnet)])
    dest = RunStore(tmp_path / "dest")
    import_lesson(dest, path)
    dest.rename(plain, "kept")
    before = dest.weights_path(plain).read_bytes()
    original = RunStore.import_runs

    def fail_on_the_second_run(self, runs, weights, **kw):  # the second insert fails inside the transaction
        broken = [runs[0], {**runs[1], "history": {"steps": {"step": [0, 0], "epoch": [0, 0]}}}]
        return original(self, broken, weights, **kw)

    monkeypatch.setattr(RunStore, "import_runs", fail_on_the_second_run)
    with pytest.raises(StoreError):
        import_lesson(dest, path, overwrite=True)
    assert {r.run_id: r.name for r in dest.list()}[plain] == "kept"  # rolled back: the first run was not replaced
    assert dest.weights_path(plain).read_bytes() == before and len(dest.list()) == 2
    assert not list(dest.root.glob("runs/*/.*.tmp"))  # staged and backup files are gone


def test_live_runs_are_never_replaced(source, tmp_path):
    src, plain, _ = source
    path = tmp_path / "lesson.zip"
    export_lesson(src, path, [src.get(plain)])
    dest = RunStore(tmp_path / "dest")
    dest.request(tiny_config(shortcut="none"), "cli")  # the same run, queued here
    with pytest.raises(StoreError, match="queued or training"):
        import_lesson(dest, path, overwrite=True)
    assert dest.get(plain).status == RunStatus.QUEUED


def test_export_with_nothing_finished_is_refused(source, tmp_path):
    src, _, _ = source
    queued = [r for r in src.list() if r.status == RunStatus.QUEUED]
    with pytest.raises(ArchiveError, match="no finished run"):
        export_lesson(src, tmp_path / "empty.zip", queued)
    assert not (tmp_path / "empty.zip").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    with pytest.raises(ArchiveError, match="could not be written"):
        export_lesson(src, blocked / "lesson.zip", src.list())


def test_history_tables_all_travel(source, tmp_path):
    src, plain, _ = source
    manifest, runs = read_lesson(export_lesson(src, tmp_path / "l.zip", [src.get(plain)]).path)
    assert manifest["format"] == archive.FORMAT and manifest["version"] == archive.VERSION
    assert set(runs[0].data["history"]) == set(HISTORY_TABLES)
    assert set(runs[0].data["history"]["epochs"]) == set(src.history_columns()["epochs"])
