"""A worker process: takes queued runs from a store one at a time and trains them, and computes queued analyses.

Started by ``core.runs.backends.LocalWorkers`` (or by hand: ``python -m core worker --store DIR``). PyTorch
and the training code are imported once, when the worker starts, never in the web server. A claim
is one transaction in the store, so any number of workers (on this machine or sharing the store)
never train one run twice. SIGTERM stops the run in progress as ``interrupted``; it resumes later. What it
does goes to the ``core.runs.worker`` logger: the store's rotating ``logs/worker.log`` (``core.runs.logs``).
"""

import logging
import os
import signal
import time

from .store import Claim, RunStore

log = logging.getLogger(__name__)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(
    store_root: str | None,
    idle_exit_s: float | None = None,
    poll_s: float = 0.5,
    analyze=None,
    role: str = "all",
) -> int:
    """Train queued runs, and compute queued analyses with ``analyze(store, log)`` (it claims one, computes it and
    returns it, or returns None), until both queues have been empty for ``idle_exit_s`` seconds (never, if None);
    a worker of ``role`` 'analyses' never trains. Returns how many jobs it did.

    Analyses go first: each is bounded (the analysis limits cap its grid and images: minutes at most) and a
    student waits at a page for it, while a training run takes minutes to hours and nobody waits on its start.
    One job at a time, so a worker holds one network and one batch of images in memory. (A worker busy with a
    long run takes no analysis until it ends; ``LocalWorkers`` then starts one analyses-only worker.)"""
    import torch  # noqa: F401  (the heavy import, once per worker)

    from .execute import train

    signal.signal(signal.SIGTERM, _interrupt)
    store = RunStore(store_root)
    store.add_worker(os.getpid(), role)
    done, idle_since = 0, time.monotonic()
    log.info("worker %d: serving the queue of %s (%s)", os.getpid(), store.root, role)
    try:
        while idle_exit_s is None or time.monotonic() - idle_since < idle_exit_s:
            if analyze is not None and analyze(store, _log_line) is not None:
                done += 1
                idle_since = time.monotonic()
                continue
            claimed = store.claim_next() if role != "analyses" else None
            if claimed is None:
                time.sleep(poll_s)
                continue
            _train_one(store, claimed, train)
            done += 1
            idle_since = time.monotonic()
    except KeyboardInterrupt:
        log.info("worker %d: stopped", os.getpid())
    finally:
        store.remove_worker(os.getpid())
    return done


def _log_line(message: str, **_print_kwargs) -> None:
    """A print-like callable for code that reports in lines (the analysis queue): into this worker's log."""
    log.info(message)


def _train_one(store: RunStore, claimed, train) -> None:
    config, fresh = claimed
    log.info("worker %d: training %s (%s)", os.getpid(), config.run_id, config.label)
    try:
        result = train(config, store, claim=Claim(config.run_id, fresh))
        log.info("worker %d: %s %s", os.getpid(), config.run_id, result.record.status)
    except Exception as e:  # recorded in the store as 'failed'; the worker goes on with the queue
        log.exception("worker %d: %s failed: %s: %s", os.getpid(), config.run_id, type(e).__name__, e)
