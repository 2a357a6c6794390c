"""Background training for an interactive front end: one thread per run, shared by every viewer.

The dashboard calls ``start`` from its script thread and then only reads the run store (which the
training thread fills through its RunWriter), so any number of browser tabs can watch one run and
no UI code ever runs on the training thread. Jobs are process-wide, keyed by run id.
"""
import threading
import time
from dataclasses import dataclass, field

from .config import RunConfig
from .store import RunStore
from .train import train


@dataclass
class Job:
    config: RunConfig
    store_root: str
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    progress: dict = field(default_factory=dict)   # the latest step/epoch event (plain data, read by the UI)
    error: str | None = None
    started: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


_jobs: dict[str, Job] = {}
_lock = threading.Lock()


def _run(job: Job, data_dir: str | None, restart: bool) -> None:
    try:
        train(job.config, RunStore(job.store_root), data_dir=data_dir, stop=job.stop,
              progress=job.progress.update, restart=restart)
    except Exception as e:  # recorded in the store as 'failed' too; kept here for the UI
        job.error = f"{type(e).__name__}: {e}"


def start(config: RunConfig, store: RunStore, data_dir: str | None = None, restart: bool = False) -> str:
    """Start training ``config`` in the background unless it is stored or already training; returns the run id."""
    run_id = config.run_id
    with _lock:
        job = _jobs.get(run_id)
        if job is not None and job.running:
            return run_id
        record = store.get(run_id)
        if record is not None and record.status in ("done", "diverged") and not restart:
            return run_id
        job = Job(config, str(store.root))
        job.thread = threading.Thread(target=_run, args=(job, data_dir, restart), name=f"train-{run_id}", daemon=True)
        _jobs[run_id] = job
        job.thread.start()
    return run_id


def get(run_id: str) -> Job | None:
    return _jobs.get(run_id)


def active() -> list[Job]:
    return [j for j in _jobs.values() if j.running]


def cancel(run_id: str) -> bool:
    job = _jobs.get(run_id)
    if job is None or not job.running:
        return False
    job.stop.set()
    return True


def wait(run_id: str, timeout: float | None = None) -> bool:
    """Block until the job ends (for tests and scripts); True if it has ended."""
    job = _jobs.get(run_id)
    if job is None or job.thread is None:
        return True
    job.thread.join(timeout)
    return not job.thread.is_alive()
