"""The run store: a registry, the training queue and full histories in SQLite, weights in safetensors.

Layout under the store root (``--store``, ``$RESNET_LAB_HOME``, else ``~/.local/share/resnet-lab``)::

    runs.sqlite                      registry + queue + history (WAL: readers see a run grow while it trains)
    runs/<run_id>/weights.safetensors  final weights, written only when a run completes
    runs/<run_id>/checkpoint.pt        last finished epoch, for resume (loaded with weights_only=True)

Every file is written to a temporary name and renamed into place, and a run is marked ``done`` only
after its weights are on disk, so a crash at any moment never leaves a run that looks complete
but is not. A run whose process died while ``running`` reads back as ``interrupted``; a ``done``
run whose weights file has gone reads back as ``interrupted`` too, so training it again rebuilds them.

Who trains what is decided here, in one transaction each: ``request`` queues a config (the same
config asked twice is one row), ``claim_next`` hands the oldest queued run to a worker, and
``claim`` lets a process train one config directly (the command line). A claim records the owner's
pid, host and a heartbeat, so the claim of a dead owner can be taken over, and no claim ever wipes
the history of a run that is live.

Damage stays local: a row this version cannot read is skipped and reported (``scan``), config fields
written by a newer version are kept aside and shown, and any ``sqlite3.DatabaseError`` becomes a
``StoreError`` that names the store and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sqlite3
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from ..engine.config import ConfigError, RunConfig
from ..engine.files import TMP_PATTERN, atomic_write, atomic_write_bytes, tmp_name
from ..engine.history import EPOCH_COLUMNS, EVAL_COLUMNS, HISTORY_COLUMNS, HistoryWriter, Items
from .lifecycle import ANALYSIS_MAX_ATTEMPTS, FINISHED, FRESH, LIVE, RunStatus

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
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workers (pid INTEGER, host TEXT, started REAL, PRIMARY KEY (pid, host));
CREATE TABLE IF NOT EXISTS analyses (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, run_id TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', requester TEXT NOT NULL DEFAULT '',
    requested REAL, updated REAL, heartbeat REAL, pid INTEGER, host TEXT, cancel INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '');
"""
# Columns added after the first release: an older store gains them when it is opened.
ADDED_COLUMNS = {
    "runs": (
        ("requester", "TEXT NOT NULL DEFAULT ''"),  # who queued it (a browser session, 'cli', ...)
        ("queued", "REAL"),  # when it entered the queue (the queue's order)
        ("restart", "INTEGER NOT NULL DEFAULT 0"),  # train it afresh when claimed
        ("cancel", "INTEGER NOT NULL DEFAULT 0"),  # its owner stops at the next heartbeat
        ("name", "TEXT NOT NULL DEFAULT ''"),  # a teacher's name for the run
        ("tags", "TEXT NOT NULL DEFAULT ''"),
    ),  # a teacher's comma-separated tags
    "epochs": (("train_eval_loss", "REAL"), ("train_eval_acc", "REAL")),  # NULL in rows written before
    "workers": (("role", "TEXT NOT NULL DEFAULT 'all'"),),  # 'all', or 'analyses': a worker that never trains
    "analyses": (("attempts", "INTEGER NOT NULL DEFAULT 0"),),  # workers that took the job since it was asked for
}
HISTORY_TABLES = tuple(HISTORY_COLUMNS)
HISTORY_KEYS = {
    "steps": "step",
    "epochs": "epoch",
    "probes": "step, kind, idx",
    "test_evals": "step",
}  # each table's order
# The columns of a run's row that travel with it to another store (not who held it here: pid, host, queue).
PORTABLE_COLUMNS = (
    "run_id",
    "config",
    "status",
    "message",
    "created",
    "updated",
    "epochs_done",
    "seconds",
    "metrics",
    "info",
    "reference",
    "name",
    "tags",
)
STALE_HEARTBEAT_S = 300  # a 'running' run silent this long is taken as interrupted (e.g. another host)
RUN_ID = re.compile(r"^[0-9a-f]{12}$")
_DIGESTS: dict[tuple, str] = {}  # weights file version -> identity of its tensors (``RunStore.weights_digest``)
HOST = socket.gethostname()


def datasets_dir(root: str | Path) -> Path:
    """Where a store caches data sets, for every reader of the store (pages, workers, the command line)."""
    return Path(root) / "datasets"


def default_store_root() -> Path:
    if os.environ.get("RESNET_LAB_HOME"):
        return Path(os.environ["RESNET_LAB_HOME"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(xdg) / "resnet-lab"


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_alive(pid: int | None, host: str | None, heartbeat: float | None, now: float | None = None) -> bool:
    """Whether the process that claimed a run still holds it: alive on this host, or (elsewhere) heard from lately."""
    if host == HOST:
        return pid_alive(pid)
    return (now or time.time()) - (heartbeat or 0) <= STALE_HEARTBEAT_S


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a run id (12 hex digits); a StoreError otherwise, before it can become a path."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise StoreError(f"{run_id!r} is not a run id (12 hexadecimal digits)")
    return run_id


class StoreError(RuntimeError):
    pass


class AlreadyRunning(StoreError):
    """Another live process trains this run right now."""


class QueueFull(StoreError):
    """The requester already has as many runs queued as allowed."""


class Protected(StoreError):
    """A shipped reference run: only a teacher may train over it or delete it."""


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


def _check_waiting(db, table: str, requester: str, limit: int | None, nouns: tuple[str, str]) -> None:
    """QueueFull if ``requester`` already has ``limit`` rows of ``table`` (runs or analyses) waiting."""
    if limit is None or not requester:
        return
    (mine,) = db.execute(
        f"SELECT COUNT(*) FROM {table} WHERE status = ? AND requester = ?", (RunStatus.QUEUED, requester)
    ).fetchone()
    if mine >= limit:
        raise QueueFull(
            f"you already have {mine} {nouns[mine != 1]} waiting (the limit is {limit}); "
            "cancel one or wait until one starts"
        )


# Where a run's final training error comes from, best first: (metric, how it was measured).
TRAIN_ERROR_MEASURES = (
    ("train_full_acc", "eval mode, every training image"),
    ("train_eval_acc", "eval mode"),
    ("train_acc", "running mean"),
)
EVAL_MODE_MEASURES = ("eval mode, every training image", "eval mode")


@dataclass
class RunRecord:
    run_id: str
    config: RunConfig
    status: RunStatus
    message: str = ""
    created: float = 0.0
    updated: float = 0.0
    epochs_done: int = 0
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)  # train_loss, train_acc, test_loss, test_acc (fractions)
    info: dict = field(default_factory=dict)  # dataset title, device, versions, parameter count
    reference: bool = False
    unknown: dict = field(default_factory=dict)  # config fields this version does not know (from a newer one)
    requester: str = ""
    queued: float | None = None
    name: str = ""
    tags: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return (self.name or self.config.label) + (" · reference" if self.reference else "")

    def final_train_error(self) -> tuple[float | None, str]:
        """The final training error (%) and how it was measured, the best way the run recorded: in eval mode on
        every training image (as the paper plots it), else in eval mode on a fixed training subset, else the
        running training-mode mean of the last epoch; (None, "") where none was recorded."""
        m = self.metrics or {}
        for key, how in TRAIN_ERROR_MEASURES:
            if m.get(key) is not None:
                return 100 * (1 - m[key]), how
        return None, ""

    def summary(self) -> dict:
        """The flat JSON shape the CLI prints and scripts rely on."""
        return {
            "run_id": self.run_id,
            "status": str(self.status),
            "message": self.message,
            "model": self.config.model_name,
            "label": self.label,
            "dataset": self.info.get("dataset", self.config.dataset),
            "epochs_done": self.epochs_done,
            "epochs": self.config.epochs,
            "train_loss": self.metrics.get("train_loss"),
            "train_acc": self.metrics.get("train_acc"),
            "test_loss": self.metrics.get("test_loss"),
            "test_acc": self.metrics.get("test_acc"),
            "seconds": round(self.seconds, 2),
            "reference": self.reference,
            "config": self.config.to_dict(),
            "unknown_config": self.unknown,
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class DamagedRun:
    """A row this version cannot read: skipped everywhere, reported where runs are listed."""

    run_id: str
    reason: str


@dataclass
class Listing:
    records: list[RunRecord]
    damaged: list[DamagedRun]


@dataclass
class History:
    steps: pd.DataFrame  # step, epoch, loss, acc, lr
    epochs: pd.DataFrame  # EPOCH_COLUMNS: train_* is the running training-mode mean over the epoch,
    #                        train_eval_* the network in eval mode on a fixed training subset at the epoch's end
    probes: (
        pd.DataFrame
    )  # step, kind, idx (forward order), layer, value   (kinds: grad_w, grad_out, response_std, weight_norm)
    evals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(EVAL_COLUMNS)))
    #                        test evaluations during training: step, epoch, loss, acc, images (a subset every k
    #                        steps, the full set at epoch ends)


@dataclass(frozen=True)
class Claim:
    """What a process that claimed a run must do: train afresh, or resume from the checkpoint."""

    run_id: str
    fresh: bool
    record: RunRecord | None = None  # set instead when the run is already finished (nothing to train)


@dataclass(frozen=True)
class AnalysisJob:
    """One row of the analysis queue: a lesion study or a landscape of one run's weights, asked for once however
    many people ask. ``key`` names the result file under the store root (kind, parameters, run and weights)."""

    key: str
    kind: str  # 'lesion' | 'landscape' | 'ood'
    run_id: str
    params: dict
    status: RunStatus  # queued, running, done, cancelled or failed
    progress: float = 0.0  # fraction of the computation done
    message: str = ""  # why it failed or was cancelled; where a queued job stands
    requester: str = ""
    requested: float | None = None
    updated: float | None = None
    result: str = ""  # the result file, relative to the store root, once done


class RunStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root else default_store_root()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test.{os.getpid()}.0.tmp"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise StoreError(
                f"the run store {self.root} cannot be used: {e.strerror or e}. "
                "Give --store (or RESNET_LAB_HOME) a directory you can write to."
            ) from e
        self.db_path = self.root / "runs.sqlite"
        self.datasets_dir = datasets_dir(self.root)
        try:
            with closing(self.connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                _add_columns(db)
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"the run store {self.db_path} is unreadable ({e}); move it aside to start a fresh one"
            ) from e
        self.clean_stale_files()

    # -- plumbing -----------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    @contextmanager
    def db(self):
        """A connection whose database errors become StoreErrors naming the store and the way out."""
        try:
            with closing(self.connect()) as db:
                yield db
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as e:  # pandas wraps sqlite's errors in its own
            raise StoreError(self.damage_message(e.__cause__ if isinstance(e.__cause__, sqlite3.Error) else e)) from e

    @contextmanager
    def transaction(self):
        """A connection inside one write transaction (BEGIN IMMEDIATE): committed when the block ends, rolled
        back on any error or interrupt, so no path leaves half a change or a held lock."""
        with self.db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                if db.in_transaction:  # a block may have rolled back itself (nothing to change)
                    db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def damage_message(self, error: Exception) -> str:
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            return f"the run store {self.db_path} stayed busy for 30 s ({error}); try again in a moment"
        return (
            f"the run store {self.db_path} is damaged ({error}). Runs stored elsewhere in it still open; to repair it, "
            f"stop the dashboard and run `sqlite3 {self.db_path} .recover | sqlite3 recovered.sqlite`, "
            "or move it aside to start a fresh store (weights under runs/ are kept)"
        )

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / check_run_id(run_id)

    def weights_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "weights.safetensors"

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def clean_stale_files(self) -> int:
        """Remove temporary files left by processes that died mid-write; returns how many."""
        removed = 0
        for path in [*self.root.glob(".*.tmp"), *(self.root / "runs").glob("*/.*.tmp")]:
            match = TMP_PATTERN.match(path.name)
            if match and not pid_alive(int(match.group(1))) or time.time() - _mtime(path) > 86400:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- reading ------------------------------------------------------------------------------
    def _status(self, row: sqlite3.Row, now: float) -> tuple[RunStatus, str]:
        """The status a row really has: a dead owner's run is interrupted, a done run without weights is not done."""
        status, message = RunStatus(row["status"]), row["message"]
        if status == RunStatus.RUNNING and not owner_alive(row["pid"], row["host"], row["heartbeat"], now):
            return RunStatus.INTERRUPTED, "the training process stopped before finishing; resume to continue"
        if status == RunStatus.DONE and not row["reference"] and not self.weights_path(row["run_id"]).exists():
            return RunStatus.INTERRUPTED, "its weights file is missing; training it again rebuilds it"
        return status, message

    def _record(self, row: sqlite3.Row, now: float | None = None) -> RunRecord:
        """A record from a row; ValueError (with the reason) if this version cannot read it."""
        run_id = row["run_id"]
        check_run_id(run_id)
        try:
            stored = json.loads(row["config"])
            metrics, info = json.loads(row["metrics"] or "{}"), json.loads(row["info"] or "{}")
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"unreadable JSON ({e})") from e
        if not isinstance(stored, dict) or not isinstance(metrics, dict) or not isinstance(info, dict):
            raise ValueError("config, metrics and info must be JSON objects")
        try:
            config, unknown = RunConfig.from_stored(stored)
            status, message = self._status(row, now or time.time())
        except (ConfigError, ValueError) as e:
            raise ValueError(str(e)) from e
        if status != row["status"] and status == RunStatus.INTERRUPTED and row["status"] == RunStatus.RUNNING:
            self._mark_interrupted(run_id, row["pid"], message)
        return RunRecord(
            run_id,
            config,
            status,
            message,
            row["created"] or 0.0,
            row["updated"] or 0.0,
            row["epochs_done"] or 0,
            row["seconds"] or 0.0,
            metrics,
            info,
            bool(row["reference"]),
            unknown,
            row["requester"],
            row["queued"],
            row["name"],
            tuple(t for t in row["tags"].split(",") if t),
        )

    def _mark_interrupted(self, run_id: str, pid: int | None, message: str) -> None:
        with self.db() as db:  # only if the same dead owner still holds it
            db.execute(
                "UPDATE runs SET status = ?, message = ?, updated = ? WHERE run_id = ? AND status = ? AND pid IS ?",
                (RunStatus.INTERRUPTED, message, time.time(), run_id, RunStatus.RUNNING, pid),
            )

    def get(self, run_id: str) -> RunRecord | None:
        """The run, or None if there is none; a StoreError if its row is damaged."""
        check_run_id(run_id)
        with self.db() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        try:
            return self._record(row)
        except ValueError as e:
            raise StoreError(f"run {run_id} in {self.db_path} cannot be read by this version ({e})") from e

    def scan(self) -> Listing:
        """Every readable run (newest first) and every row skipped, with why.

        If a damaged page breaks the table scan, the runs are read one by one through the primary-key
        index, so only the runs on that page are lost."""
        now = time.time()
        try:
            with self.db() as db:
                rows = db.execute("SELECT * FROM runs ORDER BY updated DESC").fetchall()
        except StoreError as e:
            rows, damaged = self._rows_one_by_one(e)
        else:
            damaged = []
        records = []
        for row in rows:
            try:
                records.append(self._record(row, now))
            except (ValueError, StoreError) as e:
                damaged.append(DamagedRun(str(row["run_id"]), str(e)))
        return Listing(records, damaged)

    def _rows_one_by_one(self, error: StoreError) -> tuple[list, list[DamagedRun]]:
        rows, damaged = [], []
        with self.db() as db:  # if even the index is unreadable, the StoreError names the store
            ids = [
                r[0] for r in db.execute("SELECT run_id FROM runs INDEXED BY sqlite_autoindex_runs_1 ORDER BY run_id")
            ]
            for run_id in ids:
                try:
                    rows.append(db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone())
                except sqlite3.DatabaseError as e:
                    damaged.append(DamagedRun(str(run_id), f"on a damaged page of {self.db_path.name} ({e})"))
        if not ids:
            raise error
        rows.sort(key=lambda r: r["updated"] or 0, reverse=True)
        return rows, damaged

    def list(self, status: str | None = None) -> list[RunRecord]:
        records = self.scan().records
        return [r for r in records if status is None or r.status == status]

    def version(self, run_id: str | None = None) -> tuple:
        """A cheap fingerprint that changes whenever the run (or, without an id, any run) gets new rows or a new
        status (not on a mere heartbeat)."""
        try:
            with self.db() as db:
                if run_id is None:
                    return tuple(db.execute("SELECT COUNT(*), MAX(updated), SUM(epochs_done) FROM runs").fetchone())
                row = db.execute(
                    "SELECT updated, status FROM runs WHERE run_id = ?", (check_run_id(run_id),)
                ).fetchone()
        except StoreError:  # a damaged page: no fingerprint, so every read goes to the store (and reports the damage)
            return ("unreadable", time.time())
        return tuple(row) if row else ()

    def history(self, run_id: str, kinds: tuple[str, ...] | None = None) -> History:
        check_run_id(run_id)
        with self.db() as db:
            steps = pd.read_sql_query(
                "SELECT step, epoch, loss, acc, lr FROM steps WHERE run_id = ? ORDER BY step", db, params=(run_id,)
            )
            epochs = self._epochs(db, run_id)
            evals = pd.read_sql_query(
                f"SELECT {', '.join(EVAL_COLUMNS)} FROM test_evals WHERE run_id = ? ORDER BY step", db, params=(run_id,)
            )
            query, params = "SELECT step, kind, idx, layer, value FROM probes WHERE run_id = ?", [run_id]
            if kinds:
                query += f" AND kind IN ({','.join('?' * len(kinds))})"
                params += list(kinds)
            probes = pd.read_sql_query(query + " ORDER BY step, kind, idx", db, params=params)
        return History(steps, epochs, probes, evals)

    @staticmethod
    def _epochs(db, run_id: str) -> pd.DataFrame:
        return pd.read_sql_query(
            f"SELECT {', '.join(EPOCH_COLUMNS)} FROM epochs WHERE run_id = ? ORDER BY epoch", db, params=(run_id,)
        )

    def epoch_history(self, run_id: str) -> pd.DataFrame:
        """A run's per-epoch rows only (``history`` also reads every step and probe, which a long run has many of)."""
        with self.db() as db:
            return self._epochs(db, check_run_id(run_id))

    def last_step(self, run_id: str) -> int:
        with self.db() as db:
            (step,) = db.execute(
                "SELECT COALESCE(MAX(step), -1) FROM steps WHERE run_id = ?", (check_run_id(run_id),)
            ).fetchone()
        return step

    # -- the queue and claims ---------------------------------------------------------------------
    def setting(self, key: str, default: str | None = None) -> str | None:
        with self.db() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value) -> None:
        with self.db() as db:
            db.execute(
                "INSERT INTO settings VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, str(value)),
            )

    def request(
        self,
        config: RunConfig,
        requester: str = "",
        *,
        restart: bool = False,
        limit: int | None = None,
        teacher: bool = False,
    ) -> RunRecord:
        """Queue ``config`` for a worker unless it is stored or already queued or training; returns its record.

        One transaction: the same config asked for by two tabs or processes at once is one row. ``limit``
        caps how many runs ``requester`` may have queued; ``restart`` trains a finished run afresh (never
        a live one; a reference run only for a teacher)."""
        c = config.resolved()
        run_id, now = c.run_id, time.time()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            status = self._status(row, now)[0] if row is not None else None
            if status in LIVE or (status in FINISHED and not restart):
                db.execute("ROLLBACK")
                return self.get(run_id)
            if restart and row is not None and row["reference"] and not teacher:
                raise Protected(f"run {run_id} is a shipped reference run: only a teacher may train it again")
            _check_waiting(db, "runs", requester, limit, ("run", "runs"))
            fresh = restart or status is None or status in FRESH
            message = "waiting for a worker"
            if row is None:
                db.execute(
                    "INSERT INTO runs (run_id, config, status, message, created, updated, requester, queued, restart) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (run_id, json.dumps(c.to_dict()), RunStatus.QUEUED, message, now, now, requester, now),
                )
            else:
                db.execute(
                    "UPDATE runs SET status = ?, message = ?, updated = ?, requester = ?, queued = ?, restart = ?, "
                    "cancel = 0, pid = NULL WHERE run_id = ?",
                    (RunStatus.QUEUED, message, now, requester, now, int(fresh), run_id),
                )
        return self.get(run_id)

    def queue(self) -> list[RunRecord]:
        """Queued runs, first in line first."""
        with self.db() as db:
            ids = [
                r[0]
                for r in db.execute(
                    "SELECT run_id FROM runs WHERE status = ? ORDER BY queued, run_id", (RunStatus.QUEUED,)
                )
            ]
        records = {r.run_id: r for r in self.list()}
        return [records[i] for i in ids if i in records]

    def queue_place(self, run_id: str) -> int | None:
        """1 for the next run a worker takes, 2 for the one after, ...; None if it is not queued."""
        with self.db() as db:
            row = db.execute(
                "SELECT queued FROM runs WHERE run_id = ? AND status = ?", (check_run_id(run_id), RunStatus.QUEUED)
            ).fetchone()
            if row is None:
                return None
            (ahead,) = db.execute(
                "SELECT COUNT(*) FROM runs WHERE status = ? AND (queued < ? OR (queued = ? AND run_id < ?))",
                (RunStatus.QUEUED, row[0], row[0], run_id),
            ).fetchone()
        return ahead + 1

    def has_queued(self) -> bool:
        with self.db() as db:
            return db.execute("SELECT 1 FROM runs WHERE status = ? LIMIT 1", (RunStatus.QUEUED,)).fetchone() is not None

    def claim_next(self, only=None) -> tuple[RunConfig, bool] | None:
        """Take the oldest queued run (of the run ids ``only``, if given) for this process; (config, fresh) or
        None when there is none."""
        if not self.has_queued():  # a cheap read first: idle workers poll without taking the write lock
            return None
        now = time.time()
        with self.transaction() as db:
            for row in db.execute(
                "SELECT * FROM runs WHERE status = ? ORDER BY queued, run_id", (RunStatus.QUEUED,)
            ).fetchall():
                if only is not None and row["run_id"] not in only:
                    continue
                try:
                    config, unknown = RunConfig.from_stored(json.loads(row["config"]))
                    if unknown:  # trained here, it would not be the run that was asked for
                        raise ValueError(
                            f"it was queued by a newer version with settings this one cannot train "
                            f"({', '.join(sorted(unknown))})"
                        )
                except (ValueError, TypeError) as e:
                    db.execute(
                        "UPDATE runs SET status = ?, message = ? WHERE run_id = ?",
                        (RunStatus.FAILED, f"its config cannot be trained by this version: {e}", row["run_id"]),
                    )
                    continue
                fresh = bool(row["restart"])
                self._take(db, row["run_id"], fresh, now)
                db.execute("COMMIT")
                if fresh:
                    self._remove_files(row["run_id"])
                return config, fresh
        return None

    def claim(self, config: RunConfig, *, restart: bool = False, teacher: bool = False) -> Claim:
        """Claim ``config`` for this process to train now (the command line's path); one transaction.

        A finished run comes back as it is (``Claim.record``); a run another live process trains raises
        AlreadyRunning; a queued run is taken out of the queue; a resumable one resumes."""
        c = config.resolved()
        run_id, now = c.run_id, time.time()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            status = self._status(row, now)[0] if row is not None else None
            if status == RunStatus.RUNNING:
                raise AlreadyRunning(
                    f"run {run_id} ({c.label}) is being trained by another process right now "
                    f"(pid {row['pid']} on {row['host']})"
                )
            if status in FINISHED and not restart:
                db.execute("ROLLBACK")
                return Claim(run_id, False, self.get(run_id))
            if restart and row is not None and row["reference"] and not teacher:
                raise Protected(f"run {run_id} is a shipped reference run: only a teacher may train it again")
            fresh = (
                restart or status is None or status in FRESH or (status == RunStatus.QUEUED and bool(row["restart"]))
            )
            if row is None:
                db.execute(
                    "INSERT INTO runs (run_id, config, status, created, updated) VALUES (?, ?, ?, ?, ?)",
                    (run_id, json.dumps(c.to_dict()), RunStatus.RUNNING, now, now),
                )
            self._take(db, run_id, fresh, now)
        if fresh:
            self._remove_files(run_id)
        return Claim(run_id, fresh)

    def _take(self, db, run_id: str, fresh: bool, now: float) -> None:
        """Inside a transaction: mark ``run_id`` running in this process, wiping its history if ``fresh``."""
        if fresh:
            for table in HISTORY_TABLES:
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        db.execute(
            "UPDATE runs SET status = ?, message = '', updated = ?, heartbeat = ?, pid = ?, host = ?, cancel = 0, "
            "restart = 0, reference = CASE WHEN ? THEN 0 ELSE reference END, "
            "epochs_done = CASE WHEN ? THEN 0 ELSE epochs_done END, metrics = CASE WHEN ? THEN '{}' ELSE metrics END "
            "WHERE run_id = ?",
            (RunStatus.RUNNING, now, now, os.getpid(), HOST, fresh, fresh, fresh, run_id),
        )

    def _remove_files(self, run_id: str) -> None:
        for path in (self.weights_path(run_id), self.checkpoint_path(run_id)):
            path.unlink(missing_ok=True)

    def set_info(self, run_id: str, info: dict) -> None:
        with self.db() as db:
            db.execute(
                "UPDATE runs SET info = ?, updated = ? WHERE run_id = ?",
                (json.dumps(info), time.time(), check_run_id(run_id)),
            )

    def cancel(self, run_id: str) -> RunStatus | None:
        """Cancel a queued run at once, or ask a running one's owner to stop after its current step.

        Returns the status the run had (None if it is neither queued nor running)."""
        with self.transaction() as db:
            row = db.execute("SELECT status FROM runs WHERE run_id = ?", (check_run_id(run_id),)).fetchone()
            status = RunStatus(row[0]) if row is not None and row[0] in RunStatus.__members__.values() else None
            if status == RunStatus.QUEUED:
                db.execute(
                    "UPDATE runs SET status = ?, message = ?, updated = ?, queued = NULL WHERE run_id = ?",
                    (RunStatus.CANCELLED, "cancelled while it waited for a worker", time.time(), run_id),
                )
            elif status == RunStatus.RUNNING:
                db.execute("UPDATE runs SET cancel = 1 WHERE run_id = ?", (run_id,))
        return status if status in LIVE else None

    def beat(self, db, run_id: str, wrote: bool = True) -> bool:
        """Record that the owner is alive (and, if it ``wrote`` rows, that the run changed); True if someone asked it
        to stop."""
        now = time.time()
        if wrote:
            db.execute(
                "UPDATE runs SET heartbeat = ?, updated = ?, "
                "epochs_done = (SELECT COUNT(*) FROM epochs WHERE run_id = ?) "
                "WHERE run_id = ?",
                (now, now, run_id, run_id),
            )
        else:
            db.execute("UPDATE runs SET heartbeat = ? WHERE run_id = ?", (now, run_id))
        row = db.execute("SELECT cancel FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    # -- workers --------------------------------------------------------------------------------
    def live_workers(self, role: str | None = None) -> list[int]:
        """Pids of this host's worker processes that are alive (the dead are forgotten); of one ``role`` if given."""
        with self.db() as db:
            rows = db.execute("SELECT pid, role FROM workers WHERE host = ?", (HOST,)).fetchall()
            dead = [r[0] for r in rows if not pid_alive(r[0])]
            db.executemany("DELETE FROM workers WHERE pid = ? AND host = ?", [(p, HOST) for p in dead])
        return [r[0] for r in rows if r[0] not in dead and (role is None or r[1] == role)]

    def add_worker(self, pid: int, role: str = "all") -> None:
        with self.db() as db:
            db.execute(
                "INSERT OR REPLACE INTO workers (pid, host, started, role) VALUES (?, ?, ?, ?)",
                (pid, HOST, time.time(), role),
            )

    def training_now(self) -> int:
        """How many runs live processes are training right now (a dead owner's run is not counted)."""
        with self.db() as db:
            rows = db.execute("SELECT pid, host, heartbeat FROM runs WHERE status = ?", (RunStatus.RUNNING,)).fetchall()
        return sum(owner_alive(r["pid"], r["host"], r["heartbeat"]) for r in rows)

    # -- the analysis queue -----------------------------------------------------------------------
    # The same guarantees as the training queue: one row per key whoever asks, claims in one transaction, a
    # heartbeat and an owner so that a dead worker's job is taken over, cancel at the next progress report.
    def _job(self, row: sqlite3.Row, now: float | None = None) -> AnalysisJob:
        status, message = RunStatus(row["status"]), row["message"]
        if status == RunStatus.RUNNING and not owner_alive(row["pid"], row["host"], row["heartbeat"], now):
            if (row["attempts"] or 0) >= ANALYSIS_MAX_ATTEMPTS:
                status = RunStatus.FAILED
                message = (
                    f"its worker stopped {row['attempts']} times while computing it (out of memory, or a crash: see "
                    "the store's logs/worker-output.log and worker.log); ask for it again to retry"
                )
            else:
                status, message = RunStatus.QUEUED, "its worker stopped; the next free worker takes it over"
        try:
            params = json.loads(row["params"])
        except (TypeError, json.JSONDecodeError):
            params = {}
        return AnalysisJob(
            row["key"],
            row["kind"],
            row["run_id"],
            params,
            status,
            row["progress"] or 0.0,
            message,
            row["requester"],
            row["requested"],
            row["updated"],
            row["result"],
        )

    def analysis(self, key: str) -> AnalysisJob | None:
        with self.db() as db:
            row = db.execute("SELECT * FROM analyses WHERE key = ?", (key,)).fetchone()
        return self._job(row) if row is not None else None

    def analyses(self) -> list[AnalysisJob]:
        """Every analysis job, oldest request first."""
        with self.db() as db:
            rows = db.execute("SELECT * FROM analyses ORDER BY requested, key").fetchall()
        now = time.time()
        return [self._job(r, now) for r in rows]

    def request_analysis(
        self,
        key: str,
        kind: str,
        run_id: str,
        params: dict,
        requester: str = "",
        *,
        have_result: bool = False,
        limit: int | None = None,
    ) -> AnalysisJob:
        """Queue an analysis unless the same one (``key``) is queued, running, or done with its result on disk
        (``have_result``); one transaction, so thirty people asking at once make one row and one computation.
        ``limit`` caps how many analyses ``requester`` may have waiting (joining someone else's job is free)."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM analyses WHERE key = ?", (key,)).fetchone()
            status = self._job(row, now).status if row is not None else None
            if status in LIVE or (status == RunStatus.DONE and have_result):
                db.execute("ROLLBACK")
                return self._job(row, now)
            _check_waiting(db, "analyses", requester, limit, ("analysis", "analyses"))
            db.execute(
                "INSERT OR REPLACE INTO analyses (key, kind, run_id, params, status, progress, message, requester, "
                "requested, updated, attempts) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 0)",
                (
                    key,
                    kind,
                    check_run_id(run_id),
                    json.dumps(params, sort_keys=True),
                    RunStatus.QUEUED,
                    "waiting for a worker",
                    requester,
                    now,
                    now,
                ),
            )
        return self.analysis(key)

    def _waiting(self, db, now: float) -> list[str]:
        """Keys of the analyses waiting for a worker (a dead worker's included), first in line first."""
        rows = db.execute(
            "SELECT * FROM analyses WHERE status IN (?, ?) ORDER BY requested, key",
            (RunStatus.QUEUED, RunStatus.RUNNING),
        ).fetchall()
        return [r["key"] for r in rows if self._job(r, now).status == RunStatus.QUEUED]

    def analysis_place(self, key: str) -> int | None:
        """1 for the next analysis a worker takes, 2 for the one after, ...; None if it is not waiting."""
        with self.db() as db:
            waiting = self._waiting(db, time.time())
        return waiting.index(key) + 1 if key in waiting else None

    def has_queued_analysis(self) -> bool:
        with self.db() as db:
            return bool(self._waiting(db, time.time()))

    def claim_next_analysis(self) -> AnalysisJob | None:
        """Take the oldest waiting analysis (a dead worker's included) for this process, or None."""
        if not self.has_queued_analysis():  # a cheap read first: idle workers poll without the write lock
            return None
        now = time.time()
        with self.transaction() as db:
            waiting = self._waiting(db, now)
            if not waiting:
                return None
            db.execute(
                "UPDATE analyses SET status = ?, message = '', progress = 0, updated = ?, heartbeat = ?, pid = ?, "
                "host = ?, cancel = 0, attempts = attempts + 1 WHERE key = ?",
                (RunStatus.RUNNING, now, now, os.getpid(), HOST, waiting[0]),
            )
        return self.analysis(waiting[0])

    def analysis_progress(self, key: str, fraction: float) -> bool:
        """The owner reports how far it got (and that it is alive); True if it should stop: someone cancelled the
        job, or it is no longer this process's."""
        now = time.time()
        with self.db() as db:
            db.execute(
                "UPDATE analyses SET progress = ?, heartbeat = ?, updated = ? WHERE key = ? AND pid = ? AND host = ?",
                (min(1.0, max(0.0, fraction)), now, now, key, os.getpid(), HOST),
            )
            row = db.execute("SELECT cancel, pid, host, status FROM analyses WHERE key = ?", (key,)).fetchone()
        mine = row is not None and row["pid"] == os.getpid() and row["host"] == HOST
        return not mine or bool(row["cancel"]) or RunStatus(row["status"]) != RunStatus.RUNNING

    def finish_analysis(self, key: str, status: RunStatus, message: str = "", result: str = "") -> None:
        """The owner ends its job: done (with its result file), failed or cancelled (with why), or back in the
        queue (queued: its worker is stopping)."""
        status = RunStatus(status)
        with self.db() as db:
            db.execute(
                "UPDATE analyses SET status = ?, message = ?, result = ?, updated = ?, cancel = 0, pid = NULL, "
                "progress = CASE WHEN ? THEN 1 ELSE progress END, "
                # a worker that stopped in good order does not count as an attempt
                "attempts = CASE WHEN ? THEN MAX(attempts - 1, 0) ELSE attempts END "
                "WHERE key = ? AND pid = ? AND host = ?",
                (
                    status,
                    message,
                    result,
                    time.time(),
                    status == RunStatus.DONE,
                    status == RunStatus.QUEUED,
                    key,
                    os.getpid(),
                    HOST,
                ),
            )

    def cancel_analysis(self, key: str) -> RunStatus | None:
        """Cancel a waiting analysis at once, or ask a running one's worker to stop at its next progress report;
        returns the status it had (None if it was neither waiting nor running)."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM analyses WHERE key = ?", (key,)).fetchone()
            status = self._job(row, now).status if row is not None else None
            if status == RunStatus.QUEUED:
                db.execute(
                    "UPDATE analyses SET status = ?, message = ?, updated = ?, pid = NULL WHERE key = ?",
                    (RunStatus.CANCELLED, "cancelled while it waited for a worker", now, key),
                )
            elif status == RunStatus.RUNNING:
                db.execute("UPDATE analyses SET cancel = 1, updated = ? WHERE key = ?", (now, key))
        return status if status in LIVE else None

    def remove_worker(self, pid: int) -> None:
        with self.db() as db:
            db.execute("DELETE FROM workers WHERE pid = ? AND host = ?", (pid, HOST))

    # -- writing ------------------------------------------------------------------------------
    def truncate_history(self, run_id: str, after_step: int, after_epoch: int) -> None:
        """Drop history recorded after the checkpoint a resumed run starts from."""
        with self.transaction() as db:
            db.execute("DELETE FROM steps WHERE run_id = ? AND step > ?", (run_id, after_step))
            db.execute("DELETE FROM probes WHERE run_id = ? AND step > ?", (run_id, after_step))
            # a test evaluation's step counts the steps taken: the checkpoint's own one (after_step + 1) stays
            db.execute("DELETE FROM test_evals WHERE run_id = ? AND step > ?", (run_id, after_step + 1))
            db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run_id, after_epoch))
            db.execute("UPDATE runs SET epochs_done = ? WHERE run_id = ?", (after_epoch, run_id))

    def append_history(self, run_id: str, items: Items) -> bool:
        """Write ``(table, rows)`` items of one run's history in one transaction and beat its heartbeat;
        True if someone asked the run to stop (how a process that trains elsewhere reports through this one)."""
        with self.transaction() as db:
            for table, rows in items:
                columns = HISTORY_COLUMNS[table]
                db.executemany(
                    f"INSERT OR REPLACE INTO {table} (run_id, {', '.join(columns)}) VALUES (?{', ?' * len(columns)})",
                    [(check_run_id(run_id), *row) for row in rows],
                )
            cancel = self.beat(db, run_id, wrote=bool(items))
        return cancel

    def save_file_bytes(self, path: Path, data: bytes) -> None:
        """Write a weights or checkpoint file that arrived as bytes (atomically, as every file here)."""
        atomic_write_bytes(path, data)

    def set_status(self, run_id: str, status: RunStatus, message: str = "", **columns) -> None:
        status = RunStatus(status)
        sets = ["status = ?", "message = ?", "updated = ?"] + [f"{k} = ?" for k in columns]
        values = [status, message, time.time()] + [
            json.dumps(v) if isinstance(v, dict) else v for v in columns.values()
        ]
        if status not in LIVE:
            sets.append("cancel = 0")
        with self.db() as db:
            db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", (*values, check_run_id(run_id)))

    def rename(self, run_id: str, name: str, tags: list[str] | tuple[str, ...] = ()) -> None:
        clean = ",".join(t.strip().replace(",", " ") for t in tags if t.strip())
        with self.db() as db:
            db.execute(
                "UPDATE runs SET name = ?, tags = ?, updated = ? WHERE run_id = ?",
                (name.strip(), clean, time.time(), check_run_id(run_id)),
            )

    def delete(self, run_id: str, *, teacher: bool = False) -> None:
        """Remove a run, its history and its files; never a live one, and a reference run only for a teacher."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (check_run_id(run_id),)).fetchone()
            if row is not None:
                if self._status(row, time.time())[0] in LIVE:
                    raise StoreError(f"run {run_id} is queued or training; cancel it first")
                if row["reference"] and not teacher:
                    raise Protected(f"run {run_id} is a shipped reference run: only a teacher may delete it")
            for table in ("runs",) + HISTORY_TABLES:
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        self._remove_files(run_id)

    def install_reference(self, record: dict, history: dict[str, dict]) -> None:
        """Write one shipped reference run (record fields, and per history table its columns as lists) in one
        transaction."""
        run_id = check_run_id(record["run_id"])
        with self.transaction() as db:
            for table in ("runs",) + HISTORY_TABLES:
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            for table, data in history.items():
                cols = list(data)
                rows = list(zip(*(data[c] for c in cols))) if cols and data[cols[0]] else []
                db.executemany(
                    f"INSERT INTO {table} (run_id, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
                    [(run_id, *row) for row in rows],
                )
            db.execute(
                "INSERT INTO runs (run_id, config, status, message, created, updated, heartbeat, epochs_done, seconds, "
                "metrics, info, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (
                    run_id,
                    json.dumps(record["config"]),
                    RunStatus(record["status"]),
                    record["message"],
                    record["created"],
                    record["created"],
                    record["created"],
                    record["epochs_done"],
                    record["seconds"],
                    json.dumps(record["metrics"]),
                    json.dumps(record["info"]),
                ),
            )

    # -- moving runs between stores (lesson files) ------------------------------------------------
    def run_data(self, run_id: str) -> dict:
        """One run as plain data: ``{"run": {column: value}, "history": {table: {column: [values]}}}``.

        The row keeps what describes the run (config, status, metrics, info, name, tags, reference flag),
        not who held it here (pid, host, queue place); every history table comes with all its columns."""
        check_run_id(run_id)
        with self.db() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise StoreError(f"no run {run_id!r} in {self.root}")
            run = {c: row[c] for c in PORTABLE_COLUMNS}
            try:
                run.update({c: json.loads(row[c]) for c in ("config", "metrics", "info")})
            except (TypeError, json.JSONDecodeError) as e:
                raise StoreError(
                    f"run {run_id} in {self.db_path} cannot be read by this version (unreadable JSON: {e})"
                ) from e
            history = {}
            for table in HISTORY_TABLES:
                cols = [c for c in self._columns(db, table) if c != "run_id"]
                rows = db.execute(
                    f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ? ORDER BY {HISTORY_KEYS[table]}", (run_id,)
                ).fetchall()
                history[table] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
        return {"run": run, "history": history}

    def _import_one(self, db, data: dict, known: dict[str, set], *, overwrite: bool, teacher: bool) -> str:
        """Inside a transaction: write one run given as ``run_data`` returns it; 'added', 'replaced' or 'skipped'."""
        run = data["run"]
        run_id = check_run_id(run["run_id"])
        row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is not None:
            if self._status(row, time.time())[0] in LIVE:
                raise StoreError(f"run {run_id} is queued or training in {self.root}; cancel it before replacing it")
            if not overwrite:
                return "skipped"
            if row["reference"] and not teacher:
                raise Protected(f"run {run_id} is a shipped reference run: only a teacher may replace it")
            for table in ("runs",) + HISTORY_TABLES:
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        cols = [c for c in PORTABLE_COLUMNS if c in known["runs"]]
        values = [json.dumps(run[c]) if isinstance(run[c], (dict, list)) else run[c] for c in cols]
        db.execute(
            f"INSERT INTO runs ({', '.join(cols)}, heartbeat) VALUES ({', '.join('?' * len(cols))}, ?)",
            (*values, run.get("updated") or time.time()),
        )
        for table, columns in data["history"].items():
            cols = [c for c in columns if c in known[table]]
            rows = list(zip(*(columns[c] for c in cols))) if cols else []
            db.executemany(
                f"INSERT INTO {table} (run_id, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
                [(run_id, *r) for r in rows],
            )
        return "replaced" if row is not None else "added"

    def _move_aside(self, run_id: str) -> list[tuple[Path, Path | None]]:
        """Rename a run's weights and checkpoint to backups (a checkpoint of other history must go); what was moved."""
        moved = []
        for path in (self.weights_path(run_id), self.checkpoint_path(run_id)):
            backup = None
            if path.exists():
                backup = tmp_name(path, "old")
                os.replace(path, backup)
            moved.append((path, backup))
        return moved

    @staticmethod
    def _columns(db, table: str) -> list[str]:
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]

    def history_columns(self) -> dict[str, list[str]]:
        """Each history table's columns (besides run_id) in this version's schema."""
        with self.db() as db:
            return {t: [c for c in self._columns(db, t) if c != "run_id"] for t in HISTORY_TABLES}

    def import_runs(
        self, runs: list[dict], weights: dict[str, Path], *, overwrite: bool = False, teacher: bool = False
    ) -> dict[str, list[str]]:
        """Write runs given as ``run_data`` returns them, all or none, in one transaction.

        ``weights`` maps run ids to weights files already written next to their final place (under the run's
        directory): they are renamed into place just before the commit, and the files they replace are put
        back if anything fails. A run the store has is skipped unless ``overwrite``; a live run is never
        replaced, and a shipped reference run only by a teacher. Returns the run ids ``added``, ``replaced``
        and ``skipped``."""
        result: dict[str, list[str]] = {"added": [], "replaced": [], "skipped": []}
        moved: list[tuple[Path, Path | None]] = []  # (final path, the old file's backup or None)
        try:
            with self.transaction() as db:
                known = {t: set(self._columns(db, t)) for t in ("runs",) + HISTORY_TABLES}
                for data in runs:
                    how = self._import_one(db, data, known, overwrite=overwrite, teacher=teacher)
                    run_id = data["run"]["run_id"]
                    result[how].append(run_id)
                    if how != "skipped":
                        moved += self._move_aside(run_id)
                        if run_id in weights:
                            os.replace(weights[run_id], self.weights_path(run_id))
        except BaseException:
            for path, backup in reversed(moved):
                path.unlink(missing_ok=True)
                if backup is not None:
                    os.replace(backup, path)
            raise
        for _, backup in moved:
            if backup is not None:
                backup.unlink(missing_ok=True)
        return result

    # -- weights and checkpoints ----------------------------------------------------------------
    def save_weights(self, run_id: str, model: torch.nn.Module) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        atomic_write(self.weights_path(run_id), lambda tmp: save_file(state, str(tmp)))

    def load_model(self, run_id: str, device: str = "cpu") -> torch.nn.Module:
        """The trained network of a completed run, in eval mode."""
        from ..engine.models import build_model

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

    def weights_digest(self, run_id: str) -> str:
        """The identity of a run's weights: a hash of the tensors themselves (names, types, shapes, values), so a
        copy written elsewhere or at another time has the same one and retrained weights another. Remembered per
        file version in this process."""
        path = self.weights_path(run_id)
        try:
            info = path.stat()
        except OSError as e:
            raise StoreError(f"run {run_id} has no saved weights") from e
        stamp = (str(path), info.st_size, info.st_mtime_ns, info.st_ino)
        if stamp not in _DIGESTS:
            try:
                tensors = load_file(str(path))
            except Exception as e:  # a damaged file: no identity, the caller says so
                raise StoreError(f"the weights of run {run_id} are unreadable ({e}); retrain it") from e
            digest = hashlib.sha256()
            for name in sorted(tensors):
                t = tensors[name].contiguous()
                digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
                digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
            _DIGESTS[stamp] = digest.hexdigest()[:16]
        return _DIGESTS[stamp]

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

    def writer(self, run_id: str, stop: threading.Event | None = None) -> HistoryWriter:
        """The history writer of a run this process trains: each delivery is one transaction that also beats the
        run's heartbeat and sets ``stop`` when someone asked the run to stop."""
        check_run_id(run_id)
        return HistoryWriter(lambda items: self.append_history(run_id, items), run_id, stop=stop)

    def record_epoch(self, run_id: str, *, metrics: dict, seconds: float, epochs_done: int) -> None:
        """A training run finished an epoch: its latest metrics and time, for everyone who lists runs."""
        self.set_status(run_id, RunStatus.RUNNING, metrics=metrics, seconds=seconds, epochs_done=epochs_done)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


# ---------------------------------------------------------------------------- Predict, then reveal (class polls)

# A question a teacher opens on a lesson page, and one vote per browser. ``spec`` says how its answer is computed
# from stored runs (core.analysis.questions); ``answer`` is that computation's result, written once at the reveal.
# ``poll_version`` holds one number that every change raises: a page that polls reads it first, and nothing more
# while it has not changed.
POLLS_SCHEMA = """
CREATE TABLE IF NOT EXISTS polls (
    poll_id INTEGER PRIMARY KEY AUTOINCREMENT, page TEXT NOT NULL, question TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL, choices TEXT NOT NULL, spec TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL,
    answer TEXT, created REAL, updated REAL);
CREATE TABLE IF NOT EXISTS votes (
    poll_id INTEGER, browser TEXT, choice INTEGER NOT NULL, updated REAL, PRIMARY KEY (poll_id, browser)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS poll_version (one INTEGER PRIMARY KEY CHECK (one = 0), version INTEGER NOT NULL);
INSERT OR IGNORE INTO poll_version VALUES (0, 0);
"""
POLL_COLUMNS = ("poll_id", "page", "question", "text", "choices", "spec", "state", "answer", "created", "updated")
MAX_CHOICES = 4


class PollError(StoreError):
    """A vote or a question the store refuses (closed question, unknown choice); the message says why."""


@dataclass(frozen=True)
class Poll:
    poll_id: int
    page: str
    question: str  # the built-in question's key, or '' for a teacher's own
    text: str
    choices: tuple[str, ...]
    spec: dict  # how the answer is computed from stored runs
    state: str  # a core.runs.lifecycle.PollState
    answer: dict | None  # the computed answer, from the reveal on
    created: float = 0.0
    updated: float = 0.0
    votes: dict = field(default_factory=dict)  # browser -> choice index

    def to_dict(self, votes: bool = False) -> dict:
        data = {c: getattr(self, c) for c in POLL_COLUMNS}
        data["choices"] = list(self.choices)
        if votes:
            data["votes"] = dict(self.votes)
        return data


class Polls:
    """The class questions of one store: ``Polls(store).open(...)``, ``.vote(...)``, ``.reveal(...)``."""

    _ready: set[tuple] = set()  # database files whose poll tables exist (created on first use, once per process)

    def __init__(self, store: RunStore):
        self.store = store
        try:
            stamp = (str(store.db_path), store.db_path.stat().st_ino)
        except OSError:
            stamp = None
        if stamp is None or stamp not in Polls._ready:
            with store.db() as db:
                db.executescript(POLLS_SCHEMA)
            Polls._ready.add(stamp)

    @staticmethod
    def _bump(db) -> None:
        db.execute("UPDATE poll_version SET version = version + 1")

    def version(self) -> int:
        """One small read: changes whenever a question or a vote changes anywhere in the store."""
        with self.store.db() as db:
            row = db.execute("SELECT version FROM poll_version").fetchone()
        return row[0] if row else 0

    @staticmethod
    def _poll(row, votes: dict | None = None) -> Poll:
        return Poll(
            row["poll_id"],
            row["page"],
            row["question"],
            row["text"],
            tuple(json.loads(row["choices"])),
            json.loads(row["spec"] or "{}"),
            row["state"],
            json.loads(row["answer"]) if row["answer"] else None,
            row["created"] or 0.0,
            row["updated"] or 0.0,
            votes or {},
        )

    def _insert(self, db, page: str, text: str, choices, spec: dict, question: str, state: str, **extra) -> int:
        if not text.strip():
            raise PollError("a question needs its text")
        if not 2 <= len(choices) <= MAX_CHOICES or any(not str(c).strip() for c in choices):
            raise PollError(f"a question needs two to {MAX_CHOICES} choices, none of them empty")
        now = time.time()
        cursor = db.execute(
            "INSERT INTO polls (page, question, text, choices, spec, state, answer, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                page,
                question,
                text.strip(),
                json.dumps([str(c).strip() for c in choices]),
                json.dumps(spec),
                state,
                json.dumps(extra["answer"]) if extra.get("answer") else None,
                extra.get("created") or now,
                now,
            ),
        )
        self._bump(db)
        return cursor.lastrowid

    def open(self, page: str, text: str, choices, spec: dict | None = None, question: str = "") -> int:
        """Open a question on ``page`` (the one shown there so far is closed); its id."""
        from .lifecycle import SHOWN_POLLS, PollState

        with self.store.transaction() as db:
            shown = tuple(SHOWN_POLLS)
            db.execute(
                f"UPDATE polls SET state = ?, updated = ? WHERE page = ? AND state IN ({', '.join('?' * len(shown))})",
                (PollState.CLOSED, time.time(), page, *shown),
            )
            return self._insert(db, page, text, choices, spec or {}, question, PollState.OPEN)

    def get(self, poll_id: int) -> Poll | None:
        with self.store.db() as db:
            row = db.execute("SELECT * FROM polls WHERE poll_id = ?", (poll_id,)).fetchone()
            if row is None:
                return None
            votes = dict(db.execute("SELECT browser, choice FROM votes WHERE poll_id = ?", (poll_id,)).fetchall())
        return self._poll(row, votes)

    def all(self, page: str | None = None) -> list[Poll]:
        """Every stored question (of ``page``), newest first, with its votes."""
        with self.store.db() as db:
            rows = db.execute(
                "SELECT * FROM polls WHERE ? IS NULL OR page = ? ORDER BY poll_id DESC", (page, page)
            ).fetchall()
            votes: dict[int, dict] = {}
            for poll_id, browser, choice in db.execute("SELECT poll_id, browser, choice FROM votes"):
                votes.setdefault(poll_id, {})[browser] = choice
        return [self._poll(r, votes.get(r["poll_id"])) for r in rows]

    def shown(self) -> dict[str, Poll]:
        """The question each page shows now (open or revealed), by page."""
        from .lifecycle import SHOWN_POLLS

        return {p.page: p for p in reversed(self.all()) if p.state in SHOWN_POLLS}

    def vote(self, poll_id: int, browser: str, choice: int) -> None:
        """This browser's vote (a later one replaces it), while the question is open."""
        from .lifecycle import accepts_votes

        with self.store.transaction() as db:
            row = db.execute("SELECT state, choices FROM polls WHERE poll_id = ?", (poll_id,)).fetchone()
            if row is None:
                raise PollError("that question was cleared")
            if not accepts_votes(row["state"]):
                raise PollError(f"the question is {row['state']}: votes are no longer taken")
            if not 0 <= int(choice) < len(json.loads(row["choices"])):
                raise PollError(f"there is no choice {choice}")
            db.execute(
                "INSERT INTO votes VALUES (?, ?, ?, ?) ON CONFLICT(poll_id, browser) "
                "DO UPDATE SET choice = excluded.choice, updated = excluded.updated",
                (poll_id, browser, int(choice), time.time()),
            )
            self._bump(db)

    def _set_state(self, poll_id: int, state: str, answer: dict | None = None, keep_answer: bool = True) -> None:
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM polls WHERE poll_id = ?", (poll_id,)).fetchone() is None:
                raise PollError("that question was cleared")
            db.execute(
                "UPDATE polls SET state = ?, answer = "
                + ("COALESCE(?, answer)" if keep_answer else "?")
                + ", updated = ? WHERE poll_id = ?",
                (state, json.dumps(answer) if answer is not None else None, time.time(), poll_id),
            )
            self._bump(db)

    def reveal(self, poll_id: int, answer: dict) -> None:
        """Stop the voting and keep the measured answer beside the votes."""
        from .lifecycle import PollState

        self._set_state(poll_id, PollState.REVEALED, answer)

    def close(self, poll_id: int) -> None:
        """Take the question off the page (kept, with its votes, to open again)."""
        from .lifecycle import PollState

        self._set_state(poll_id, PollState.CLOSED)

    def reopen(self, poll_id: int) -> None:
        """Show a closed question again and take votes (the answer is measured again at the next reveal)."""
        from .lifecycle import PollState

        poll = self.get(poll_id)
        if poll is None:
            raise PollError("that question was cleared")
        shown = self.shown().get(poll.page)
        if shown is not None and shown.poll_id != poll_id:
            self.close(shown.poll_id)
        self._set_state(poll_id, PollState.OPEN, None, keep_answer=False)

    def clear(self, page: str | None = None, votes_only: bool = False) -> int:
        """Delete the questions of ``page`` (every page: None) and their votes, or only the votes; how many
        questions were touched."""
        with self.store.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT poll_id FROM polls WHERE ? IS NULL OR page = ?", (page, page))]
            for poll_id in ids:
                db.execute("DELETE FROM votes WHERE poll_id = ?", (poll_id,))
                if not votes_only:
                    db.execute("DELETE FROM polls WHERE poll_id = ?", (poll_id,))
            self._bump(db)
        return len(ids)

    def import_polls(self, polls: list[dict]) -> int:
        """Add questions written by ``Poll.to_dict`` (a lesson file's), with their votes if they came along, in one
        transaction. A shown question goes in closed where its page shows one already; one imported before is
        skipped. How many were added."""
        from .lifecycle import SHOWN_POLLS, PollState

        added = 0
        with self.store.transaction() as db:
            rows = db.execute("SELECT page, text, choices, created, state FROM polls").fetchall()
            busy = {r["page"] for r in rows if r["state"] in SHOWN_POLLS}
            have = {(r["page"], r["text"], tuple(json.loads(r["choices"])), r["created"]) for r in rows}
            for data in polls:
                if (data["page"], data["text"], tuple(data["choices"]), data.get("created")) in have:
                    continue  # imported before
                added += 1
                state = PollState(data["state"])
                if state in SHOWN_POLLS and data["page"] in busy:
                    state = PollState.CLOSED
                busy |= {data["page"]} if state in SHOWN_POLLS else set()
                poll_id = self._insert(
                    db,
                    data["page"],
                    data["text"],
                    data["choices"],
                    data.get("spec") or {},
                    data.get("question", ""),
                    state,
                    answer=data.get("answer"),
                    created=data.get("created"),
                )
                db.executemany(
                    "INSERT INTO votes VALUES (?, ?, ?, ?)",
                    [(poll_id, b, int(c), time.time()) for b, c in (data.get("votes") or {}).items()],
                )
        return added
