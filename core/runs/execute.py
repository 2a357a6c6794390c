"""Training one run into the store: claim it, fit it (``core.engine.train``), record how it ended.

This is where a run's status is decided: the engine trains and raises, the lifecycle names the result.
The command line, the worker processes and the Ray tasks all train through ``train``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from ..engine.config import RunConfig
from ..engine.train import Cancelled, Diverged, TrainingSink, fit
from .lifecycle import RunStatus
from .store import Claim, RunRecord, RunStore


class RunSink(TrainingSink, Protocol):
    """A training sink that also holds the run's record: the run store, or the relay to it from a cluster."""

    def get(self, run_id: str) -> RunRecord | None: ...

    def set_status(self, run_id: str, status: RunStatus, message: str = "", **columns) -> None: ...


@dataclass
class TrainResult:
    record: RunRecord
    cached: bool  # answered from the store: nothing was trained


def train(
    config: RunConfig,
    store: RunSink | None = None,
    *,
    data_dir: str | None = None,
    stop: threading.Event | None = None,
    progress=None,
    restart: bool = False,
    teacher: bool = False,
    claim: Claim | None = None,
) -> TrainResult:
    """Train ``config`` into ``store``, or return the stored run if it is already there.

    The run is claimed in the store first (one transaction), so two processes asking for one config
    never both train it: the second gets ``AlreadyRunning``. A stored ``done`` or ``diverged`` run is
    returned as it is (``cached=True``); a ``cancelled`` or ``interrupted`` one resumes from its last
    finished epoch; ``restart=True`` trains afresh (a reference run only with ``teacher=True``). A
    worker that already claimed the run from the queue passes its ``claim``. ``stop`` is set by a
    cancel request arriving through the store, or by the caller.
    """
    store = store if store is not None else RunStore()
    c = config.resolved()
    run_id = c.run_id
    claim = claim or store.claim(c, restart=restart, teacher=teacher)
    if claim.record is not None:
        return TrainResult(claim.record, cached=True)
    try:
        previous = store.get(run_id)
        fitted = fit(
            c,
            store,
            fresh=claim.fresh,
            data_dir=data_dir,
            stop=stop,
            progress=progress,
            previous_metrics=previous.metrics if previous is not None else None,
        )
    except Cancelled as e:
        store.set_status(run_id, RunStatus.CANCELLED, str(e))
    except Diverged as e:
        store.set_status(run_id, RunStatus.DIVERGED, str(e), seconds=e.seconds)
    except KeyboardInterrupt:
        store.set_status(run_id, RunStatus.INTERRUPTED, "interrupted by the user; resume to continue")
        raise
    except Exception as e:
        store.set_status(run_id, RunStatus.FAILED, f"{type(e).__name__}: {e}")
        raise
    else:
        store.set_status(run_id, RunStatus.DONE, metrics=fitted.metrics, seconds=fitted.seconds, epochs_done=c.epochs)
    return TrainResult(store.get(run_id), cached=False)
