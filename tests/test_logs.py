"""The logs a course can keep: each rotates at a size and keeps a few older files, nothing grows without bound."""

import logging
import multiprocessing
import os
import re
import subprocess
import sys
import time

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
    files = sorted(p.name for p in logs.log_dir(tmp_path).iterdir() if p.suffix != ".lock")
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


def _write_lines(root: str, tag: str, n: int) -> None:
    logger = logging.getLogger(f"test.shared.{tag}")
    logger.propagate = False
    logs.log_to_file(root, "worker", max_bytes=3000, backups=100, logger=logger)
    for i in range(n):
        logger.info("%s %04d %s", tag, i, "y" * 40)
    for handler in logger.handlers:
        handler.close()


def test_workers_sharing_one_log_rotate_it_without_losing_or_tearing_lines(tmp_path):
    """Four processes write one log at once, with room for every line in its backups: each line is there exactly
    once and whole, and every file stays within its size (a process whose file another one rotated writes to the
    new file; the standard handler writes on into the renamed one, which a later rotation replaces, lines and all)."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_lines, args=(str(tmp_path), f"p{k}", 300)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    files = [p for p in logs.log_dir(tmp_path).iterdir() if p.suffix != ".lock"]
    line = re.compile(r"^\S+ \S+ INFO \[\d+\] test\.shared\.p\d: (p\d \d{4}) y{40}$")
    seen = []
    for path in files:
        assert path.stat().st_size <= 3000, (path.name, path.stat().st_size)
        for text in path.read_text().splitlines():
            m = line.match(text)
            assert m, (path.name, text)
            seen.append(m.group(1))
    assert sorted(seen) == sorted(f"p{k} {i:04d}" for k in range(4) for i in range(300))


def test_what_a_worker_prints_before_its_log_starts_is_kept(tmp_path):
    """A worker the app starts that dies before logging (here: an argument it does not know) leaves its error in
    logs/worker-output.log instead of /dev/null."""
    from core.runs.backends import LocalWorkers
    from core.runs.store import RunStore

    backend = LocalWorkers(workers=1, idle_exit_s=0.5)
    backend._start(RunStore(tmp_path), "--no-such-option")
    output = logs.log_dir(tmp_path) / logs.WORKER_OUTPUT
    deadline = time.time() + 120
    while time.time() < deadline and "--no-such-option" not in output.read_text(errors="replace"):
        time.sleep(0.2)
    assert "unrecognized arguments: --no-such-option" in output.read_text()


def test_the_worker_output_file_rotates_when_a_worker_starts(tmp_path):
    path = logs.log_dir(tmp_path) / logs.WORKER_OUTPUT
    for round_ in range(4):
        with logs.open_worker_output(tmp_path, max_bytes=100, backups=2) as f:
            f.write(f"round {round_} ".encode() * 20)
    names = sorted(p.name for p in logs.log_dir(tmp_path).iterdir() if p.suffix != ".lock")
    assert names == [logs.WORKER_OUTPUT, f"{logs.WORKER_OUTPUT}.1", f"{logs.WORKER_OUTPUT}.2"]
    assert path.read_text().startswith("round 3") and "round 0" not in "".join(
        (path.parent / n).read_text() for n in names
    )
