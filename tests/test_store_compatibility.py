"""A store written before core/ was split into layers opens as it was, and the shipped runs keep their ids."""

import gzip
import json
import shutil

from conftest import ROOT

from core.engine.config import RunConfig
from core.runs import lifecycle
from core.runs.reference import REFERENCE_DIR
from core.runs.store import RunStore

# Written by the version before the move (commit d9adb98): `python -m core train --depth 8 --dataset builtin
# --subset 256 --test-subset 100 --epochs 2 --batch-size 64 --probe-every 2` (its checkpoint left out).
OLD_STORE = ROOT / "tests" / "fixtures" / "store-before-layers"
OLD_CONFIG = RunConfig(depth=8, dataset="builtin", subset=256, test_subset=100, epochs=2, batch_size=64, probe_every=2)
OLD_RUN_ID = "4f640434ce64"


def test_a_store_from_before_the_move_opens(tmp_path):
    root = tmp_path / "store"
    shutil.copytree(OLD_STORE, root)
    store = RunStore(root)
    (record,) = store.list()
    assert record.run_id == OLD_RUN_ID == OLD_CONFIG.run_id  # the same config hashes to the same id today
    assert lifecycle.is_done(record) and record.epochs_done == 2
    history = store.history(OLD_RUN_ID)
    assert list(history.epochs.epoch) == [1, 2] and len(history.steps) == 8 and len(history.probes) > 0
    model = store.load_model(OLD_RUN_ID)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_the_shipped_runs_keep_their_ids():
    files = sorted(REFERENCE_DIR.glob("*/*.json.gz"))
    assert files
    for path in files:
        record = json.loads(gzip.decompress(path.read_bytes()))["record"]
        assert RunConfig.from_dict(record["config"]).run_id == record["run_id"] == path.name.removesuffix(".json.gz")
