"""A worker process: takes queued runs from a store one at a time and trains them.

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


def serve(store_root: str | None, idle_exit_s: float | None = None, poll_s: float = 0.5) -> int:
    """Train queued runs until the queue has been empty for ``idle_exit_s`` seconds (never, if None); returns how many
    it trained."""
    import torch  # noqa: F401  (the heavy import, once per worker)

    from .execute import train

    signal.signal(signal.SIGTERM, _interrupt)
    store = RunStore(store_root)
    store.add_worker(os.getpid())
    trained, idle_since = 0, time.monotonic()
    log.info("worker %d: serving the queue of %s", os.getpid(), store.root)
    try:
        while idle_exit_s is None or time.monotonic() - idle_since < idle_exit_s:
            claimed = store.claim_next()
            if claimed is None:
                time.sleep(poll_s)
                continue
            config, fresh = claimed
            log.info("worker %d: training %s (%s)", os.getpid(), config.run_id, config.label)
            try:
                result = train(config, store, claim=Claim(config.run_id, fresh))
                log.info("worker %d: %s %s", os.getpid(), config.run_id, result.record.status)
            except Exception as e:  # recorded in the store as 'failed'; the worker goes on with the queue
                log.exception("worker %d: %s failed: %s: %s", os.getpid(), config.run_id, type(e).__name__, e)
            trained += 1
            idle_since = time.monotonic()
    except KeyboardInterrupt:
        log.info("worker %d: stopped", os.getpid())
    finally:
        store.remove_worker(os.getpid())
    return trained
