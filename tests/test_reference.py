"""Reference runs: the export/install round trip, and the shipped set itself."""
import pytest
import torch

from conftest import tiny_config
from core import reference
from core.store import RunStore
from core.train import train


def test_export_then_install_round_trips_history_and_weights(tmp_path):
    source = RunStore(tmp_path / "source")
    rec = train(tiny_config(epochs=2), source).record
    reference.export_run(source, rec.run_id, tmp_path / "ref" / "builtin")

    target = RunStore(tmp_path / "target")
    assert reference.install(target, tmp_path / "ref") == 1
    assert reference.install(target, tmp_path / "ref") == 0  # once only
    got = target.get(rec.run_id)
    assert got.reference and got.status == "done" and got.metrics == rec.metrics
    a, b = source.history(rec.run_id), target.history(rec.run_id)
    for table in ("steps", "epochs", "probes", "evals"):
        assert getattr(a, table).equals(getattr(b, table)), table
    assert b.epochs.train_eval_acc.notna().all() and len(b.evals) == 9  # 8 steps: one test point after each, and step 0
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(target.load_model(rec.run_id)(x), source.load_model(rec.run_id)(x), atol=0.05, rtol=0.05)


def test_build_exports_the_stored_runs_prunes_the_rest_and_trains_nothing_when_asked(tmp_path):
    store = RunStore(tmp_path / "store")
    done = train(tiny_config(), store).record
    out = tmp_path / "ref" / "builtin"
    out.mkdir(parents=True)
    (out / "0123456789ab.json.gz").write_bytes(b"an old run no longer in the set")
    log = []
    reference.build([tiny_config(), tiny_config(seed=7)], store, out, log=log.append, stored_only=True)
    assert sorted(p.name for p in out.glob("*.json.gz")) == [f"{done.run_id}.json.gz"]
    assert any("seed 7: not in the store, left out" in line for line in log)
    assert store.get(tiny_config(seed=7).run_id) is None  # nothing trained


def test_a_damaged_reference_file_is_skipped(tmp_path, capsys):
    (tmp_path / "ref" / "builtin").mkdir(parents=True)
    (tmp_path / "ref" / "builtin" / "abc.json.gz").write_bytes(b"not gzip")
    assert reference.install(RunStore(tmp_path / "s"), tmp_path / "ref") == 0
    assert "skipped" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    if not list(reference.REFERENCE_DIR.glob("builtin/*.json.gz")):
        pytest.fail("the Shapes-10 reference runs are missing from reference/builtin")
    store = RunStore(tmp_path_factory.mktemp("shipped"))
    reference.install(store)
    return store


def test_shipped_runs_are_complete_and_small(shipped):
    runs = [r for r in shipped.list() if r.config.dataset == "builtin"]
    assert len(runs) == 16 and all(r.status == "done" and r.reference for r in runs)
    for r in runs:
        h = shipped.history(r.run_id)
        assert len(h.epochs) == r.config.epochs and len(h.steps) > 0 and len(h.probes) > 0
    size = sum(p.stat().st_size for p in reference.REFERENCE_DIR.rglob("*") if p.is_file())
    assert size < 30e6


def test_shipped_runs_tell_the_degradation_story(shipped):
    by_name = {r.config.model_name: r for r in shipped.list() if r.config.dataset == "builtin" and r.config.seed == 0
               and r.config.shortcut in ("none", "A")}
    train_error = {name: 1 - r.metrics["train_acc"] for name, r in by_name.items()}
    assert train_error["plain-56"] > train_error["plain-20"]          # deeper plain net trains worse
    assert train_error["ResNet-56 (A)"] < train_error["plain-56"]     # the shortcut fixes it
    shipped.load_model(by_name["ResNet-56 (A)"].run_id)
