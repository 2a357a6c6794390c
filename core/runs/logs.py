"""Where the lab's logs go and how large they may grow: the one place that says so.

Each kind of process writes one rotating log in the store's ``logs/`` folder: ``worker.log`` (the worker
processes that train the queue) and ``server.log`` (the dashboard's server, ``dashboard.server_log``). A log
that reaches ``MAX_BYTES`` is renamed ``.1`` (the older ones shift to ``.2``, ``.3``) and the oldest beyond
``BACKUPS`` is deleted, so each log takes at most ``MAX_BYTES * (BACKUPS + 1)`` on disk (20 MB).
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_DIR = "logs"  # in the store's folder
MAX_BYTES = 5 * 2**20  # one log file is rotated when it reaches this size...
BACKUPS = 3  # ...and this many older files are kept
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
LEGACY_WORKER_LOG = "worker.log"  # older versions appended to this file in the store's folder, without bound


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
    handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    target.addHandler(handler)
    if target.level == logging.NOTSET or target.level > level:
        target.setLevel(level)
    return path


def setup_worker_log(store_root: str | Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> Path:
    """A worker process's logging: its rotating ``worker.log`` (shared by the store's workers), Python's warnings
    included, and stderr for a worker started by hand."""
    retire_legacy_log(store_root, max_bytes, backups)
    path = log_to_file(store_root, "worker", max_bytes=max_bytes, backups=backups)
    root = logging.getLogger()
    if not any(type(h) is logging.StreamHandler for h in root.handlers):
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
