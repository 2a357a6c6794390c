"""The logs a course can keep: each rotates at a size and keeps a few older files, nothing grows without bound."""

import logging
import os
import subprocess
import sys

from conftest import ROOT

from core.runs import logs


def test_a_log_rotates_at_its_size_and_keeps_its_backups(tmp_path):
    logger = logging.getLogger("test.rotation")
    logger.propagate = False
    path = logs.log_to_file(tmp_path, "worker", max_bytes=2000, backups=2, logger=logger)
    assert logs.log_to_file(tmp_path, "worker", max_bytes=2000, backups=2, logger=logger) == path  # once
    try:
        for i in range(500):
            logger.info("line %04d %s", i, "x" * 60)
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers.clear()
    files = sorted(p.name for p in logs.log_dir(tmp_path).iterdir())
    assert files == ["worker.log", "worker.log.1", "worker.log.2"]
    assert all((logs.log_dir(tmp_path) / name).stat().st_size <= 2000 for name in files)
    assert "line 0499" in path.read_text() and "line 0000" not in "".join(
        (logs.log_dir(tmp_path) / name).read_text() for name in files
    )


def test_a_worker_logs_to_the_rotating_log_and_retires_the_old_unbounded_one(tmp_path):
    (tmp_path / "worker.log").write_bytes(b"old line\n" * 2000)  # what older versions appended for ever
    done = subprocess.run(
        [sys.executable, "-m", "core", "worker", "--store", str(tmp_path), "--idle-exit", "0.5"],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "worker.log").exists()
    log = (logs.log_dir(tmp_path) / "worker.log").read_text()
    assert "serving the queue of" in log and "serving the queue of" in done.stderr  # by hand: on stderr too
    assert (logs.log_dir(tmp_path) / f"worker.log.{logs.BACKUPS}").stat().st_size <= logs.MAX_BYTES


def test_the_server_log_is_set_up_once_in_the_stores_folder(tmp_path):
    from dashboard.server_log import setup_server_log

    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        path = setup_server_log(tmp_path)
        assert setup_server_log(tmp_path) == path == (tmp_path / "logs" / "server.log").resolve()
        added = [h for h in root.handlers if h not in before]
        assert len(added) == 1 and added[0].maxBytes == logs.MAX_BYTES and added[0].backupCount == logs.BACKUPS
        logging.getLogger("core.runs.backends").warning("a line for the server log")
        assert "a line for the server log" in path.read_text()
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
