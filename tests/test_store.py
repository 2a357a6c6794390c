import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import ROOT, tiny_config, tiny_train_args

from core.runs.execute import train
from core.runs.store import RunStore, StoreError

TRAIN_ARGS = tiny_train_args(512, 3, 4)


def run_cli(store_root, *args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "core", *args, "--store", str(store_root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


def test_sigkill_mid_epoch_leaves_an_interrupted_run_that_resumes(tmp_path):
    root = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "train", *TRAIN_ARGS, "--store", str(root)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db_path = root / "runs.sqlite"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:  # wait until epoch 1 is committed and epoch 2 is under way
            if db_path.exists():
                with sqlite3.connect(db_path, timeout=30) as db:
                    try:
                        epochs = db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
                        steps = db.execute("SELECT COALESCE(MAX(step), -1) FROM steps").fetchone()[0]
                    except sqlite3.OperationalError:
                        epochs, steps = 0, -1
                if epochs >= 1 and steps >= 18:  # 16 steps an epoch
                    break
            assert proc.poll() is None, "training finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("training never reached its second epoch")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()

    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = RunStore(root)
    (record,) = store.list()
    assert record.status == "interrupted" and "resume" in record.message
    assert not store.weights_path(record.run_id).exists()  # nothing looks complete
    assert store.load_checkpoint(record.run_id)["epoch"] == 1  # the checkpoint is whole
    assert list(store.history(record.run_id).epochs.epoch) == [1]
    assert not list(root.rglob("*.tmp"))

    done = run_cli(root, "train", *TRAIN_ARGS, "--json")
    out = json.loads(done.stdout)
    assert done.returncode == 0 and out["status"] == "done" and out["cached"] is False
    history = store.history(record.run_id)
    assert list(history.epochs.epoch) == [1, 2, 3] and list(history.steps.step) == list(range(48))


def test_readers_see_a_run_grow_while_it_trains(store):
    config, seen = tiny_config(epochs=3), []

    def look(event):  # another reader, between epochs: the run is visible and growing
        if event["kind"] == "epoch":
            seen.append((store.get(config.run_id).status, len(store.history(config.run_id).epochs)))

    train(config, store, progress=look)
    assert seen == [("running", 1), ("running", 2), ("running", 3)]


def test_corrupt_weights_and_checkpoint_give_clear_errors(store):
    rec = train(tiny_config(), store).record
    store.weights_path(rec.run_id).write_bytes(b"not a safetensors file")
    with pytest.raises(StoreError, match="unreadable"):
        store.load_model(rec.run_id)
    store.checkpoint_path(rec.run_id).write_bytes(b"\x00" * 10)
    with pytest.raises(StoreError, match="checkpoint"):
        store.load_checkpoint(rec.run_id)


def test_a_corrupt_database_file_names_the_fix(tmp_path):
    (tmp_path / "runs.sqlite").write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match="move it aside"):
        RunStore(tmp_path)


def test_default_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "home"))
    assert RunStore().root == tmp_path / "home"
    monkeypatch.delenv("RESNET_LAB_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert RunStore().root == tmp_path / "xdg" / "resnet-lab"
