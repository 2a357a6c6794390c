"""The store as a class shares it: one job per config however often and wherever it is asked for, a queue
with places, cancel and per-session limits, protected reference runs, and damage that stays local."""

import json
import os
import sqlite3
import subprocess
import sys
import threading

import pytest
from conftest import ROOT, tiny_config, tiny_train_args

from core.engine.config import RunConfig
from core.runs.backends import LocalWorkers, RunState
from core.runs.execute import train
from core.runs.lifecycle import FINISHED, RESUMABLE, RunStatus, ordinal
from core.runs.store import AlreadyRunning, Claim, Protected, QueueFull, RunStore, StoreError

TRAIN_ARGS = tiny_train_args(256, 2, 0)


def cli(root, *args):
    return subprocess.run(
        [sys.executable, "-m", "core", *args, "--store", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def fake_done(store, config, test_acc=0.5, info_pad=0):
    """A finished run written straight into the store (no training); ``info_pad`` makes its row long."""
    store.claim(config)
    store.set_info(config.run_id, {"dataset": "Shapes-10 (built-in synthetic)", "pad": "x" * info_pad})
    writer = store.writer(config.run_id)
    writer.epoch((1, 4, 1.0, 0.5, 1.0, test_acc, 0.1, 1.0))
    writer.close()
    store.weights_path(config.run_id).parent.mkdir(parents=True, exist_ok=True)
    store.weights_path(config.run_id).write_bytes(b"")  # present (its contents are not read here)
    store.set_status(config.run_id, RunStatus.DONE, metrics={"test_acc": test_acc, "train_acc": 0.5})
    return config.run_id


# -------------------------------------------------------------------------------- statuses


def test_one_status_enum_with_finished_and_resumable_sets():
    assert RunStatus.DONE == "done" and f"{RunStatus.QUEUED}" == "queued"
    assert FINISHED == {RunStatus.DONE, RunStatus.DIVERGED} and RESUMABLE == {
        RunStatus.CANCELLED,
        RunStatus.INTERRUPTED,
    }
    assert RunState("0" * 12, RunStatus.QUEUED, None, place=3).text() == "queued: 3rd"
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
    ]


# ---------------------------------------------------------------------------------- damage


def damage_a_runs_page(db_path) -> None:
    """Overwrite one leaf page of the runs table (not the first) with garbage, as a failing disk would."""
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        leaves = [
            p
            for (p,) in db.execute(
                "SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = 'leaf' ORDER BY pageno"
            )
        ]
    assert len(leaves) >= 3, "the test needs a runs table of several pages"
    with open(db_path, "r+b") as f:
        f.seek((leaves[1] - 1) * page_size)
        f.write(os.urandom(page_size))


def test_a_damaged_store_still_lists_the_other_runs(store, tmp_path):
    good = [fake_done(store, tiny_config(seed=k), info_pad=1500) for k in range(12)]
    corrupt = fake_done(store, tiny_config(seed=100))
    newer = tiny_config(seed=101)
    fake_done(store, newer)
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE runs SET metrics = '{not json' WHERE run_id = ?", (corrupt,))
        stored = json.loads(db.execute("SELECT config FROM runs WHERE run_id = ?", (newer.run_id,)).fetchone()[0])
        db.execute("UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps({**stored, "mixup": 0.2}), newer.run_id))

    listing = store.scan()
    assert {d.run_id for d in listing.damaged} == {corrupt} and "JSON" in listing.damaged[0].reason
    by_id = {r.run_id: r for r in listing.records}
    assert set(good) <= set(by_id) and by_id[newer.run_id].unknown == {"mixup": 0.2}  # tolerated, and shown
    with pytest.raises(StoreError, match="cannot be read"):
        store.get(corrupt)
    assert "unknown_config" in by_id[newer.run_id].summary()

    damage_a_runs_page(store.db_path)
    listing = store.scan()
    listed = {r.run_id for r in listing.records}
    lost = set(good) - listed
    assert listed and lost, "one damaged page loses the runs on it, not all"
    assert lost <= {d.run_id for d in listing.damaged} and any("damaged page" in d.reason for d in listing.damaged)

    out = cli(store.root, "list", "--no-shipped", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr and "skipped" in out.stderr
    assert {r["run_id"] for r in json.loads(out.stdout)["runs"]} == listed
    shown = cli(store.root, "show", sorted(listed)[0])
    assert shown.returncode == 0, shown.stderr
    out = cli(store.root, "list", "--json")  # installing the shipped runs into a damaged store does not stop the list
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert listed <= {r["run_id"] for r in json.loads(out.stdout)["runs"]}


def test_a_damaged_history_page_gives_a_clear_message(store):
    rec = train(tiny_config(probe_every=1), store).record
    with sqlite3.connect(store.db_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        (root_page,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'probes'").fetchone()
    with open(store.db_path, "r+b") as f:
        f.seek((root_page - 1) * page_size)
        f.write(os.urandom(page_size))
    with pytest.raises(StoreError, match=r"damaged .*\.recover"):
        store.history(rec.run_id)
    assert [r.run_id for r in store.list()] == [rec.run_id]  # the registry still answers
    out = cli(store.root, "show", rec.run_id)
    assert out.returncode == 2 and "damaged" in out.stderr and "Traceback" not in out.stderr


def test_an_unusable_store_is_a_clear_cli_error(tmp_path):
    a_file = tmp_path / "not-a-directory"
    a_file.write_text("x")
    out = cli(a_file, "list")
    assert out.returncode == 2 and "cannot be used" in out.stderr and "Traceback" not in out.stderr


def test_run_ids_are_checked_before_they_become_paths(store):
    for bad in ("../../etc", "ABCDEF123456", "0123", "0123456789ab/.."):
        with pytest.raises(StoreError, match="not a run id"):
            store.weights_path(bad)
        with pytest.raises(StoreError, match="not a run id"):
            store.get(bad)


def test_stale_temporary_files_are_cleaned(store):
    run_dir = store.run_dir("0123456789ab")
    run_dir.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = run_dir / f".checkpoint.pt.{int(dead.stdout)}.1.tmp"
    mine = run_dir / f".weights.safetensors.{os.getpid()}.1.tmp"  # a write in progress in a live process
    stale.write_bytes(b"half")
    mine.write_bytes(b"half")
    RunStore(store.root)
    assert not stale.exists() and mine.exists()


# ----------------------------------------------------------------------------- one job per config


def test_the_same_config_asked_for_at_once_is_one_row(store):
    config, results = tiny_config(), []
    threads = [
        threading.Thread(target=lambda i=i: results.append(store.request(config, f"tab{i}").run_id)) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [config.run_id] * 8
    assert [r.run_id for r in store.queue()] == [config.run_id]
    assert store.claim_next()[0].run_id == config.run_id and store.claim_next() is None  # claimed once


def test_a_live_claim_is_refused_and_a_dead_owners_claim_taken_over(store):
    config = tiny_config()
    assert store.claim(config).fresh
    with pytest.raises(AlreadyRunning):
        store.claim(config)
    with pytest.raises(StoreError, match="queued or training"):
        store.delete(config.run_id)  # never a live run's history
    assert store.request(config, "tab", restart=True).status == RunStatus.RUNNING  # joins; nothing wiped
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE runs SET pid = ? WHERE run_id = ?", (int(dead.stdout), config.run_id))
    assert store.get(config.run_id).status == RunStatus.INTERRUPTED
    assert not store.claim(config).fresh  # taken over: it resumes


def test_two_processes_asking_for_one_config_train_it_once(tmp_path):
    root = tmp_path / "store"
    RunStore(root)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "core", "train", *TRAIN_ARGS, "--json", "--store", str(root)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    results = [json.loads(o) for o, _ in outs]
    assert sorted(r["cached"] for r in results) == [False, True]  # one trained it, the other waited or found it
    assert results[0]["test_acc"] == results[1]["test_acc"] and {r["status"] for r in results} == {"done"}
    store = RunStore(root)
    assert list(store.history(results[0]["run_id"]).steps.step) == list(range(16))  # 8 steps an epoch, 2 epochs


# --------------------------------------------------------------------------------- kill points


def test_a_kill_after_the_weights_before_done_reruns_to_done_with_metrics(tmp_path):
    root = tmp_path / "store"
    kill_before_done = (
        "import os, sys; from core.runs.store import RunStore, RunStatus; original = RunStore.set_status\n"
        "def set_status(self, run_id, status, *a, **k):\n"
        "    if status == RunStatus.DONE: os._exit(9)\n"
        "    return original(self, run_id, status, *a, **k)\n"
        "RunStore.set_status = set_status\n"
        f"from core.cli import main; main(['train', *{TRAIN_ARGS!r}, '--store', {str(root)!r}])\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", kill_before_done], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert killed.returncode == 9
    store = RunStore(root)
    (record,) = store.list()
    assert record.status == RunStatus.INTERRUPTED and store.weights_path(record.run_id).exists()
    last_epoch = store.history(record.run_id).epochs.iloc[-1]

    again = cli(root, "train", *TRAIN_ARGS, "--json")
    out = json.loads(again.stdout)
    assert again.returncode == 0 and out["status"] == "done" and out["epochs_done"] == 2
    assert out["test_acc"] == pytest.approx(last_epoch.test_acc) and out["train_loss"] == pytest.approx(
        last_epoch.train_loss
    )
    assert list(store.history(record.run_id).epochs.epoch) == [1, 2]


def test_a_deleted_weights_file_makes_the_run_retrainable(store):
    config = tiny_config()
    first = train(config, store).record
    store.weights_path(first.run_id).unlink()
    record = store.get(first.run_id)
    assert record.status == RunStatus.INTERRUPTED and "weights" in record.message  # not 'done' without them
    again = train(config, store)  # no restart needed
    assert not again.cached and again.record.status == RunStatus.DONE and store.weights_path(first.run_id).exists()
    assert again.record.metrics == pytest.approx(first.metrics)
    assert store.load_model(first.run_id) is not None


# ----------------------------------------------------------------------------- queue and limits


def test_queue_places_and_cancel_of_queued_and_running_runs(store):
    configs = [tiny_config(seed=k, subset=256, batch_size=8, epochs=3) for k in range(3)]
    for c in configs:
        assert store.request(c, "tab").status == RunStatus.QUEUED
    assert [store.queue_place(c.run_id) for c in configs] == [1, 2, 3]
    assert LocalWorkers(workers=1).cancel(store, configs[1].run_id)  # a queued run: at once
    assert store.get(configs[1].run_id).status == RunStatus.CANCELLED
    assert [store.queue_place(c.run_id) for c in configs] == [1, None, 2]

    claimed, fresh = store.claim_next()
    assert claimed.run_id == configs[0].run_id and fresh
    seen, stop = [], threading.Event()

    def cancel_at_step_two(event):
        seen.append(event["step"])
        if event["step"] == 2:
            store.cancel(claimed.run_id)  # as another process would: through the store
            # The run's writer thread reads the request at its next heartbeat and sets ``stop``; wait for it here,
            # so a busy machine cannot let the tiny run finish first.
            assert stop.wait(60), "the cancel request never reached the training loop"

    record = train(claimed, store, stop=stop, progress=cancel_at_step_two, claim=Claim(claimed.run_id, fresh)).record
    assert record.status == RunStatus.CANCELLED and max(seen) < 96
    assert store.queue_place(configs[2].run_id) == 1
    assert not store.cancel(claimed.run_id)  # neither queued nor running now


def test_a_session_may_queue_only_up_to_its_limit(store):
    for k in range(2):
        store.request(tiny_config(seed=k), "tab-a", limit=2)
    with pytest.raises(QueueFull, match="limit is 2"):
        store.request(tiny_config(seed=2), "tab-a", limit=2)
    assert store.request(tiny_config(seed=0), "tab-a", limit=2).status == RunStatus.QUEUED  # joining is free
    assert store.request(tiny_config(seed=2), "tab-b", limit=2).status == RunStatus.QUEUED


def test_reference_runs_are_protected_from_all_but_the_teacher(store, tmp_path):
    from core.runs import reference

    assert reference.install(store) > 0
    ref = next(r for r in store.list() if r.reference and r.config.dataset == "builtin")
    with pytest.raises(Protected):
        store.delete(ref.run_id)
    with pytest.raises(Protected):
        store.request(ref.config, "tab", restart=True)
    with pytest.raises(Protected):
        store.claim(ref.config, restart=True)
    assert store.request(ref.config, "tab").status == RunStatus.DONE  # asking without restart opens it
    out = cli(store.root, "train", "--restart", *cli_args(ref.config))
    assert out.returncode == 2 and "only a teacher" in out.stderr
    store.delete(ref.run_id, teacher=True)
    assert store.get(ref.run_id) is None


def cli_args(config):
    c = config
    args = [
        "--depth",
        str(c.depth),
        "--shortcut",
        c.shortcut,
        "--dataset",
        c.dataset,
        "--recipe",
        c.recipe,
        "--epochs",
        str(c.epochs),
        "--seed",
        str(c.seed),
        "--probe-every",
        str(c.probe_every),
    ]
    args += ["--subset", str(c.subset)] if c.subset else []
    args += ["--test-subset", str(c.test_subset)] if c.test_subset else []
    args += ["--batch-size", str(c.batch_size)] if c.batch_size else []
    args += ["--lr", repr(c.lr)] if c.lr else []
    args += ["--schedule", c.schedule] if c.schedule else []
    args += [] if c.augment is None else ["--augment" if c.augment else "--no-augment"]
    args += [] if c.bn else ["--no-bn"]
    args += ["--init", c.init]
    args += [] if c.warmup is None else ["--warmup", str(c.warmup)]
    assert RunConfig.from_dict(c.to_dict()).run_id == c.run_id
    return args


def test_a_worker_process_trains_the_queue_and_leaves_when_idle(store):
    backend = LocalWorkers(workers=1, idle_exit_s=2)
    a, b = tiny_config(seed=0), tiny_config(seed=1)
    states = [backend.submit(store, c, "tab") for c in (a, b)]
    assert [s.status for s in states] == [RunStatus.QUEUED] * 2 and states[1].place == 2
    assert backend.submit(store, a, "other tab").run_id == a.run_id  # asked twice: one job
    assert backend.wait(store, b.run_id, timeout=600).status == RunStatus.DONE
    assert backend.state(store, a.run_id).status == RunStatus.DONE
    log = (store.root / "logs" / "worker.log").read_text()
    assert not (store.root / "worker.log").exists()  # the one log is the rotating one
    assert log.count(f"training {a.run_id}") == 1 and log.count(f"training {b.run_id}") == 1
    for process in backend._children:
        process.wait(timeout=120)  # idle for 2 s: it leaves by itself
    assert not store.live_workers()
