"""The run store: a registry and full histories in SQLite, weights in safetensors.

Layout under the store root (``--store``, ``$RESNET_LAB_HOME``, else ``~/.local/share/resnet-lab``)::

    runs.sqlite                      registry + history (WAL: readers see a run grow while it trains)
    runs/<run_id>/weights.safetensors  final weights, written only when a run completes
    runs/<run_id>/checkpoint.pt        last finished epoch, for resume (loaded with weights_only=True)

Every file is written to a temporary name and renamed into place, and a run is marked ``done`` only
after its weights are on disk, so a crash at any moment never leaves a run that looks complete
but is not. A run whose process died while ``running`` reads back as ``interrupted``.
"""
import json
import os
import queue
import socket
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from .config import RunConfig

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, config TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
    created REAL, updated REAL, heartbeat REAL, pid INTEGER, host TEXT,
    epochs_done INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
    metrics TEXT NOT NULL DEFAULT '{}', info TEXT NOT NULL DEFAULT '{}', reference INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT, step INTEGER, epoch REAL, loss REAL, acc REAL, lr REAL,
    PRIMARY KEY (run_id, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT, epoch INTEGER, step INTEGER, train_loss REAL, train_acc REAL, test_loss REAL, test_acc REAL,
    lr REAL, seconds REAL, PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS test_evals (
    run_id TEXT, step INTEGER, epoch REAL, loss REAL, acc REAL, images INTEGER,
    PRIMARY KEY (run_id, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probes (
    run_id TEXT, step INTEGER, kind TEXT, idx INTEGER, layer TEXT, value REAL,
    PRIMARY KEY (run_id, step, kind, idx)) WITHOUT ROWID;
"""
# Columns added after the first release: an older store gains them when it is opened (NULL in old rows).
ADDED_COLUMNS = {"epochs": (("train_eval_loss", "REAL"), ("train_eval_acc", "REAL"))}
EPOCH_COLUMNS = ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds",
                 "train_eval_loss", "train_eval_acc")
EVAL_COLUMNS = ("step", "epoch", "loss", "acc", "images")
HISTORY_TABLES = ("steps", "epochs", "probes", "test_evals")
STATUSES = ("running", "done", "cancelled", "interrupted", "diverged", "failed")
RESUMABLE = ("cancelled", "interrupted")
STALE_HEARTBEAT_S = 300  # a 'running' run silent this long is taken as interrupted (e.g. another host)


def default_store_root() -> Path:
    if os.environ.get("RESNET_LAB_HOME"):
        return Path(os.environ["RESNET_LAB_HOME"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(xdg) / "resnet-lab"


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, fsync, then rename over ``path``: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StoreError(RuntimeError):
    pass


def _add_columns(db: sqlite3.Connection) -> None:
    """Give a store made by an older version the columns added since (old rows read NULL)."""
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in have:
                try:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as e:  # another process added it a moment ago
                    if "duplicate column" not in str(e):
                        raise


@dataclass
class RunRecord:
    run_id: str
    config: RunConfig
    status: str
    message: str = ""
    created: float = 0.0
    updated: float = 0.0
    epochs_done: int = 0
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)   # train_loss, train_acc, test_loss, test_acc (fractions)
    info: dict = field(default_factory=dict)      # dataset title, device, versions, parameter count
    reference: bool = False

    @property
    def label(self) -> str:
        return self.config.label + (" · reference" if self.reference else "")

    def summary(self) -> dict:
        """The flat JSON shape the CLI prints and scripts rely on."""
        return {"run_id": self.run_id, "status": self.status, "message": self.message,
                "model": self.config.model_name, "label": self.label, "dataset": self.info.get("dataset", self.config.dataset),
                "epochs_done": self.epochs_done, "epochs": self.config.epochs,
                "train_loss": self.metrics.get("train_loss"), "train_acc": self.metrics.get("train_acc"),
                "test_loss": self.metrics.get("test_loss"), "test_acc": self.metrics.get("test_acc"),
                "seconds": round(self.seconds, 2), "reference": self.reference, "config": self.config.to_dict()}


@dataclass
class History:
    steps: pd.DataFrame    # step, epoch, loss, acc, lr
    epochs: pd.DataFrame   # EPOCH_COLUMNS: train_* is the running training-mode mean over the epoch,
    #                        train_eval_* the network in eval mode on a fixed training subset at the epoch's end
    probes: pd.DataFrame   # step, kind, idx (forward order), layer, value   (kinds: grad_w, grad_out, response_std, weight_norm)
    evals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(EVAL_COLUMNS)))
    #                        test evaluations during training: step, epoch, loss, acc, images (subset every k steps, full set at epoch ends)


class RunStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root else default_store_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "runs.sqlite"
        try:
            with closing(self.connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                _add_columns(db)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"the run store {self.db_path} is unreadable ({e}); move it aside to start a fresh one") from e

    # -- plumbing -----------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def weights_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "weights.safetensors"

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    # -- reading ------------------------------------------------------------------------------
    def _record(self, row) -> RunRecord:
        (run_id, config, status, message, created, updated, heartbeat, pid, host,
         epochs_done, seconds, metrics, info, reference) = row
        if status == "running":
            dead_here = host == socket.gethostname() and not _pid_alive(pid)
            if dead_here or time.time() - (heartbeat or 0) > STALE_HEARTBEAT_S:
                status, message = "interrupted", "the training process stopped before finishing; resume to continue"
                self.set_status(run_id, status, message)
        return RunRecord(run_id, RunConfig.from_dict(json.loads(config)), status, message, created, updated,
                         epochs_done, seconds, json.loads(metrics), json.loads(info), bool(reference))

    def get(self, run_id: str) -> RunRecord | None:
        with closing(self.connect()) as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return self._record(row) if row else None

    def find(self, config: RunConfig) -> RunRecord | None:
        return self.get(config.run_id)

    def list(self, status: str | None = None) -> list[RunRecord]:
        with closing(self.connect()) as db:
            rows = db.execute("SELECT * FROM runs ORDER BY updated DESC").fetchall()
        records = [self._record(r) for r in rows]
        return [r for r in records if status is None or r.status == status]

    def history(self, run_id: str, kinds: tuple[str, ...] | None = None) -> History:
        with closing(self.connect()) as db:
            steps = pd.read_sql_query("SELECT step, epoch, loss, acc, lr FROM steps WHERE run_id = ? ORDER BY step", db, params=(run_id,))
            epochs = pd.read_sql_query(f"SELECT {', '.join(EPOCH_COLUMNS)} FROM epochs WHERE run_id = ? ORDER BY epoch",
                                       db, params=(run_id,))
            evals = pd.read_sql_query(f"SELECT {', '.join(EVAL_COLUMNS)} FROM test_evals WHERE run_id = ? ORDER BY step",
                                      db, params=(run_id,))
            query, params = "SELECT step, kind, idx, layer, value FROM probes WHERE run_id = ?", [run_id]
            if kinds:
                query += f" AND kind IN ({','.join('?' * len(kinds))})"
                params += list(kinds)
            probes = pd.read_sql_query(query + " ORDER BY step, kind, idx", db, params=params)
        return History(steps, epochs, probes, evals)

    def last_step(self, run_id: str) -> int:
        with closing(self.connect()) as db:
            (step,) = db.execute("SELECT COALESCE(MAX(step), -1) FROM steps WHERE run_id = ?", (run_id,)).fetchone()
        return step

    # -- writing ------------------------------------------------------------------------------
    def begin(self, config: RunConfig, info: dict, fresh: bool) -> None:
        """Register ``config`` as running in this process; ``fresh`` wipes any earlier history and files."""
        run_id, now = config.run_id, time.time()
        with closing(self.connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            if fresh:
                for table in HISTORY_TABLES:
                    db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
                db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            db.execute("INSERT INTO runs (run_id, config, status, created, updated, heartbeat, pid, host, info) "
                       "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id) DO UPDATE SET "
                       "status = 'running', message = '', updated = excluded.updated, heartbeat = excluded.heartbeat, "
                       "pid = excluded.pid, host = excluded.host, info = excluded.info",
                       (run_id, json.dumps(config.to_dict()), now, now, now, os.getpid(), socket.gethostname(), json.dumps(info)))
            db.execute("COMMIT")
        if fresh:
            for path in (self.weights_path(run_id), self.checkpoint_path(run_id)):
                path.unlink(missing_ok=True)

    def truncate_history(self, run_id: str, after_step: int, after_epoch: int) -> None:
        """Drop history recorded after the checkpoint a resumed run starts from."""
        with closing(self.connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM steps WHERE run_id = ? AND step > ?", (run_id, after_step))
            db.execute("DELETE FROM probes WHERE run_id = ? AND step > ?", (run_id, after_step))
            # a test evaluation's step counts the steps taken: the checkpoint's own one (after_step + 1) stays
            db.execute("DELETE FROM test_evals WHERE run_id = ? AND step > ?", (run_id, after_step + 1))
            db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run_id, after_epoch))
            db.execute("UPDATE runs SET epochs_done = ? WHERE run_id = ?", (after_epoch, run_id))
            db.execute("COMMIT")

    def set_status(self, run_id: str, status: str, message: str = "", **columns) -> None:
        assert status in STATUSES, status
        sets = ["status = ?", "message = ?", "updated = ?"] + [f"{k} = ?" for k in columns]
        values = [status, message, time.time()] + [json.dumps(v) if isinstance(v, dict) else v for v in columns.values()]
        with closing(self.connect()) as db:
            db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", (*values, run_id))

    def delete(self, run_id: str) -> None:
        with closing(self.connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            for table in ("runs",) + HISTORY_TABLES:
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            db.execute("COMMIT")
        for path in (self.weights_path(run_id), self.checkpoint_path(run_id)):
            path.unlink(missing_ok=True)

    # -- weights and checkpoints ----------------------------------------------------------------
    def save_weights(self, run_id: str, model: torch.nn.Module) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        atomic_write(self.weights_path(run_id), lambda tmp: save_file(state, str(tmp)))

    def load_model(self, run_id: str, device: str = "cpu") -> torch.nn.Module:
        """The trained network of a completed run, in eval mode."""
        from .models import build_model
        record = self.get(run_id)
        if record is None:
            raise StoreError(f"no run {run_id!r} in {self.root}")
        path = self.weights_path(run_id)
        if not path.exists():
            raise StoreError(f"run {run_id} ({record.label}) has no saved weights (status: {record.status})")
        c = record.config.resolved()
        model = build_model(c.arch, c.depth, c.shortcut, c.bn, c.init)
        try:
            model.load_state_dict(load_file(str(path)))
        except Exception as e:  # a damaged file must not take the caller down
            raise StoreError(f"the weights of run {run_id} are unreadable ({e}); retrain it") from e
        return model.to(device).eval()

    def save_checkpoint(self, run_id: str, state: dict) -> None:
        atomic_write(self.checkpoint_path(run_id), lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, run_id: str) -> dict | None:
        path = self.checkpoint_path(run_id)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise StoreError(f"the checkpoint of run {run_id} is unreadable ({e})") from e

    def writer(self, run_id: str) -> "RunWriter":
        return RunWriter(self, run_id)


class RunWriter:
    """Takes a run's events from the training loop and writes them to SQLite on its own thread.

    ``put`` never waits on the database, so publishing costs the loop almost nothing; a reader in
    another thread or process sees the rows within about ``interval`` seconds.
    """

    def __init__(self, store: RunStore, run_id: str, interval: float = 0.25):
        self.store, self.run_id, self.interval = store, run_id, interval
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, name=f"run-writer-{run_id}", daemon=True)
        self.thread.start()

    def steps(self, rows: list[tuple]) -> None:          # (step, epoch, loss, acc, lr)
        self.queue.put(("steps", rows))

    def epoch(self, row: tuple) -> None:                 # EPOCH_COLUMNS; a row without the eval-mode columns gets NULLs
        self.queue.put(("epochs", [tuple(row) + (None,) * (len(EPOCH_COLUMNS) - len(row))]))

    def test_eval(self, row: tuple) -> None:             # EVAL_COLUMNS
        self.queue.put(("test_evals", [row]))

    def probes(self, step: int, results: dict[str, dict[str, float]]) -> None:
        rows = [(step, kind, idx, layer, value) for kind, values in results.items()
                for idx, (layer, value) in enumerate(values.items())]
        self.queue.put(("probes", rows))

    def flush(self) -> None:
        """Block until everything put so far is committed (used at epoch ends, before checkpoints)."""
        done = threading.Event()
        self.queue.put(("flush", done))
        while not done.wait(0.5):
            if not self.thread.is_alive():
                break
        if self.error:
            raise StoreError(f"writing the run history failed: {self.error}")

    def close(self) -> None:
        self.flush()
        self.queue.put(("stop", None))
        self.thread.join()

    def _run(self) -> None:
        columns = {"steps": ("step", "epoch", "loss", "acc", "lr"), "epochs": EPOCH_COLUMNS,
                   "probes": ("step", "kind", "idx", "layer", "value"), "test_evals": EVAL_COLUMNS}
        with closing(self.store.connect()) as db:
            stop = False
            while not stop:
                items = [self.queue.get()]
                time.sleep(self.interval)  # gather what arrives meanwhile into one transaction
                while True:
                    try:
                        items.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                try:
                    db.execute("BEGIN")
                    for kind, payload in items:
                        if kind in columns:
                            db.executemany(f"INSERT OR REPLACE INTO {kind} (run_id, {', '.join(columns[kind])}) "
                                           f"VALUES (?{', ?' * len(columns[kind])})",
                                           [(self.run_id, *row) for row in payload])
                    db.execute("UPDATE runs SET heartbeat = ?, updated = ?, epochs_done = "
                               "(SELECT COUNT(*) FROM epochs WHERE run_id = ?) WHERE run_id = ?",
                               (time.time(), time.time(), self.run_id, self.run_id))
                    db.execute("COMMIT")
                except sqlite3.Error as e:
                    self.error = e
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                for kind, payload in items:
                    if kind == "flush":
                        payload.set()
                    stop |= kind == "stop"
