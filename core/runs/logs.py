"""Where the lab's logs go and how large they may grow: the one place that says so.

Each kind of process writes one rotating log in the store's ``logs/`` folder: ``worker.log`` (the worker
processes that train the queue) and ``server.log`` (the dashboard's server, ``dashboard.server_log``). A log
that reaches ``MAX_BYTES`` is renamed ``.1`` (the older ones shift to ``.2``, ``.3``) and the oldest beyond
``BACKUPS`` is deleted, so each log takes at most ``MAX_BYTES * (BACKUPS + 1)`` on disk (20 MB). Several worker
processes share ``worker.log``: each record is written and each rotation done under a file lock.

What a worker the app started prints outside logging (a crash before its log is set up, a fatal error's traceback)
goes to ``worker-output.log`` beside them, rotated the same way when a worker starts.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: one process per log there
    fcntl = None

LOG_DIR = "logs"  # in the store's folder
MAX_BYTES = 5 * 2**20  # one log file is rotated when it reaches this size...
BACKUPS = 3  # ...and this many older files are kept
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
LEGACY_WORKER_LOG = "worker.log"  # older versions appended to this file in the store's folder, without bound
WORKER_OUTPUT = "worker-output.log"  # the raw stdout and stderr of the workers the app starts


class SharedRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler that several processes can share: each record is written, and each rotation done,
    under an exclusive lock on ``<log>.lock``, and a process whose file another one rotated away reopens it first
    (the standard handler would go on writing into the renamed file, and lose lines when it is renamed again)."""

    def __init__(self, filename, **kwargs):
        super().__init__(filename, delay=True, **kwargs)
        self.lock_path = f"{self.baseFilename}.lock"

    def emit(self, record: logging.LogRecord) -> None:
        if fcntl is None:
            return super().emit(record)
        try:
            with open(self.lock_path, "a") as lock:  # opened per record: a lock never leaks into a forked child
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._reopen_if_rotated()
                super().emit(record)  # rolls over first if this record would pass max_bytes
        except Exception:
            self.handleError(record)

    def _reopen_if_rotated(self) -> None:
        if self.stream is None:
            return
        try:
            current = os.fstat(self.stream.fileno()).st_ino == os.stat(self.baseFilename).st_ino
        except OSError:
            current = False
        if not current:
            self.stream.close()
            self.stream = None  # the next write opens the file at its name again


def log_dir(store_root: str | Path) -> Path:
    return Path(store_root) / LOG_DIR


def log_to_file(
    store_root: str | Path,
    name: str,
    *,
    max_bytes: int = MAX_BYTES,
    backups: int = BACKUPS,
    logger: logging.Logger | None = None,
    level: int = logging.INFO,
) -> Path:
    """Send the records of ``logger`` (default: the root logger, so every module's) to ``<store>/logs/<name>.log``,
    rotated at ``max_bytes`` with ``backups`` older files kept. Once per process and file: calling again (a page
    rerun) adds nothing. Returns the log's path."""
    path = (log_dir(store_root) / f"{name}.log").resolve()
    target = logger if logger is not None else logging.getLogger()
    for handler in target.handlers:
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = SharedRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    target.addHandler(handler)
    if target.level == logging.NOTSET or target.level > level:
        target.setLevel(level)
    return path


def setup_worker_log(
    store_root: str | Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS, to_stderr: bool = True
) -> Path:
    """A worker process's logging: its rotating ``worker.log`` (shared by the store's workers), Python's warnings
    included, and stderr for a worker started by hand (``to_stderr``; the app's workers' stderr is a file)."""
    retire_legacy_log(store_root, max_bytes, backups)
    path = log_to_file(store_root, "worker", max_bytes=max_bytes, backups=backups)
    root = logging.getLogger()
    if to_stderr and not any(type(h) is logging.StreamHandler for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(stream)
    logging.captureWarnings(True)
    return path


def retire_legacy_log(store_root: str | Path, keep_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
    """Move the unbounded ``worker.log`` of older versions into ``logs/`` as the oldest backup, keeping only its
    last ``keep_bytes`` (it is deleted at a later rotation like any backup)."""
    old = Path(store_root) / LEGACY_WORKER_LOG
    if not old.is_file():
        return
    target = log_dir(store_root) / f"worker.log.{max(1, backups)}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(old, "rb") as f:
            f.seek(max(0, old.stat().st_size - keep_bytes))
            target.write_bytes(f.read())
    except FileNotFoundError:  # another worker starting at the same moment moved it first
        return
    old.unlink(missing_ok=True)


def open_worker_output(store_root: str | Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS):
    """The file a worker the app starts gets as its stdout and stderr (append mode; the caller closes it once the
    process has it), rotated first if it has reached ``max_bytes``."""
    path = log_dir(store_root) / WORKER_OUTPUT
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists() and path.stat().st_size >= max_bytes:
            rotation = RotatingFileHandler(path, backupCount=backups, delay=True)  # the logs' own rotation
            rotation.doRollover()
            rotation.close()
        return open(path, "ab")
