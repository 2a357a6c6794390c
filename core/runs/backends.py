"""Training jobs: one interface (submit, state with place in queue, cancel, list, wait) over the store's queue.

The queue lives in the run store, so browser tabs, the command line and other processes share it: the
same config asked for twice is one job wherever it is asked from. ``LocalWorkers`` runs the queue on
a bounded pool of worker processes on this machine (``python -m core worker``), started when runs
are waiting and leaving by themselves when the queue has been empty for a while. The web server
never trains: it only writes requests and reads the store. ``core.ray_jobs.RayBackend`` trains the
same queue on a Ray cluster instead, behind the same ``JobBackend`` interface; it is chosen by
``$RESNET_LAB_RAY_ADDRESS`` (an address, ``auto`` or ``local``) or the command line's ``--ray``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..engine.config import RunConfig
from .lifecycle import LIVE, RESUMABLE, RunStatus, is_queued, is_running, short_text, state_text
from .logs import open_worker_output
from .store import RunRecord, RunStore, StoreError

# Workers run ``python -m <this package> worker`` from the folder that holds the package (the repository, or
# site-packages once installed), so they import the same code as the process that starts them.
PACKAGE = __name__.split(".")[0]
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
WORKERS_ENV = "RESNET_LAB_WORKERS"
RAY_ENV = "RESNET_LAB_RAY_ADDRESS"  # an address, 'auto' or 'local': train on that Ray cluster instead
log = logging.getLogger(__name__)
WORKER_IDLE_EXIT_S = 60  # a worker with nothing to do for this long leaves; the next request starts one again


@dataclass(frozen=True)
class RunState:
    """Where one run stands, from the job queue and the store together (the one answer every page uses)."""

    run_id: str
    status: RunStatus | None  # None: never asked for
    record: RunRecord | None
    place: int | None = None  # 1 = the next run a worker takes

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def resumable(self) -> bool:
        return self.status in RESUMABLE

    def text(self) -> str:
        """A short line: 'queued: 3rd', 'training', 'done', ..."""
        return short_text(self.status, self.place)

    def line(self) -> str:
        """A line for lists and logs: 'queued: 2nd', 'training: epoch 3/10', 'done: test error 12.3%', ..."""
        return state_text(self.status, self.record, self.place)


class JobBackend(Protocol):
    def submit(
        self,
        store: RunStore,
        config: RunConfig,
        requester: str = "",
        *,
        restart: bool = False,
        limit: int | None = None,
        teacher: bool = False,
    ) -> RunState: ...

    def state(self, store: RunStore, run_id: str) -> RunState: ...

    def cancel(self, store: RunStore, run_id: str) -> bool: ...

    def list(self, store: RunStore) -> list[RunState]: ...

    def wait(self, store: RunStore, run_id: str, timeout: float | None = None, poll_s: float = 0.5) -> RunState: ...


def default_workers() -> int:
    """Worker processes for this machine: $RESNET_LAB_WORKERS, else 1 on a CPU (one training run already uses
    every core) and, on a GPU, one per 10 GiB of its memory up to 4 (small runs leave a GPU mostly idle)."""
    if os.environ.get(WORKERS_ENV):
        try:
            return max(1, int(os.environ[WORKERS_ENV]))
        except ValueError:
            raise StoreError(  # noqa: B904  (the message says it all)
                f"{WORKERS_ENV} must be a whole number of worker processes, got {os.environ[WORKERS_ENV]!r}"
            )
    import torch

    if torch.cuda.is_available():
        return max(1, min(4, int(torch.cuda.get_device_properties(0).total_memory / 2**30 // 10)))
    return 1


class StoreQueue:
    """What every backend shares: the queue and the runs' states live in the store; ``ensure`` (a backend's
    own) makes sure something will take the queued runs."""

    def ensure(self, store: RunStore) -> None:
        raise NotImplementedError

    def state(self, store: RunStore, run_id: str) -> RunState:
        record = store.get(run_id)
        if record is None:
            return RunState(run_id, None, None)
        place = None
        if is_queued(record):
            place = store.queue_place(run_id)
            self.ensure(store)  # e.g. the worker that would take it has died
        return RunState(run_id, record.status, record, place)

    def cancel(self, store: RunStore, run_id: str) -> bool:
        return store.cancel(run_id) is not None

    def list(self, store: RunStore) -> list[RunState]:
        """Runs queued (in queue order) and training."""
        queued = store.queue()
        running = [r for r in store.list() if is_running(r)]
        return [RunState(r.run_id, r.status, r, None) for r in running] + [
            RunState(r.run_id, r.status, r, i + 1) for i, r in enumerate(queued)
        ]

    def wait(self, store: RunStore, run_id: str, timeout: float | None = None, poll_s: float = 0.5) -> RunState:
        """Block until the run is neither queued nor training (or ``timeout`` seconds passed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self.state(store, run_id)
            if not state.live or (deadline is not None and time.monotonic() > deadline):
                return state
            time.sleep(poll_s)


class LocalWorkers(StoreQueue):
    """Worker processes on this machine, at most ``workers`` per store."""

    name = "local"

    def __init__(self, workers: int | None = None, idle_exit_s: float = WORKER_IDLE_EXIT_S):
        self._workers, self.idle_exit_s = workers, idle_exit_s
        self._children: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        if self._workers is None:
            self._workers = default_workers()
        return self._workers

    def _reap(self) -> None:
        """Collect this process's exited workers (an unreaped child would still look alive)."""
        with self._lock:
            self._children = [p for p in self._children if p.poll() is None]

    def ensure(self, store: RunStore) -> None:
        self.ensure_workers(store)

    def ensure_workers(self, store: RunStore) -> int:
        """Start workers until ``workers`` serve the store (only while runs or analyses wait), and one that only
        computes analyses when analyses wait while every worker trains; returns how many are alive."""
        self._reap()
        with self._lock:
            alive = store.live_workers()
            analyses_wait = store.has_queued_analysis()
            if len(alive) < self.workers and (analyses_wait or store.has_queued()):
                for _ in range(self.workers - len(alive)):
                    self._start(store)
                return self.workers
            if analyses_wait and store.training_now() >= len(alive) and not store.live_workers("analyses"):
                self._start(store, "--analyses-only")  # a student waits on a page: not behind an hour of training
                return len(alive) + 1
            return len(alive)

    def _start(self, store: RunStore, *extra: str) -> None:
        """One worker process; it logs to the store's rotating logs/worker.log, and whatever it prints outside
        logging (a crash before that, a fatal error's traceback) goes to logs/worker-output.log (core.runs.logs)."""
        with open_worker_output(store.root) as output:
            process = self._popen(store, output, *extra)
        store.add_worker(process.pid, "analyses" if extra else "all")
        self._children.append(process)
        log.info("started worker %d for %s%s", process.pid, store.root, " (analyses only)" if extra else "")

    def _popen(self, store: RunStore, output, *extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                PACKAGE,
                "worker",
                "--store",
                str(store.root),
                "--idle-exit",
                str(self.idle_exit_s),
                "--no-log-stderr",  # its stderr is logs/worker-output.log: worker.log has the records already
                *extra,
            ],
            cwd=PACKAGE_PARENT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def submit(self, store, config, requester="", *, restart=False, limit=None, teacher=False) -> RunState:
        record = store.request(config, requester, restart=restart, limit=limit, teacher=teacher)
        self.ensure_workers(store)
        return self.state(store, record.run_id)

    def state(self, store: RunStore, run_id: str) -> RunState:
        self._reap()
        return super().state(store, run_id)

    def list(self, store: RunStore) -> list[RunState]:
        self._reap()
        return super().list(store)

    def stop_workers(self, timeout: float = 30) -> None:
        """Ask this process's workers to leave (a run in progress is interrupted and resumes later)."""
        self._reap()
        for process in self._children:
            process.terminate()
        for process in self._children:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        self._reap()
