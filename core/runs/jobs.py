"""The training backend of this process, chosen on first use, and the calls every page and command makes.

``$RESNET_LAB_RAY_ADDRESS`` (an address, ``auto`` or ``local``) or the command line's ``--ray`` picks the
Ray backend (``core.runs.ray_jobs``); otherwise runs train in local worker processes (``core.runs.backends``).
Nothing is chosen at import time: a Ray worker that imports this package with the variable set does not
start a backend of its own.
"""

from __future__ import annotations

import os

from ..engine.config import RunConfig
from .backends import RAY_ENV, JobBackend, LocalWorkers, RunState
from .store import RunStore

_backend: JobBackend | None = None


def ray_address_from_env() -> str | None:
    return os.environ.get(RAY_ENV, "").strip() or None


def make_backend(ray_address: str | None = None, **ray_options) -> JobBackend:
    """The Ray backend for ``ray_address`` (an address, 'auto' or 'local'), else the local worker processes."""
    if ray_address:
        from .ray_jobs import RayBackend

        return RayBackend(ray_address, **ray_options)
    return LocalWorkers()


def backend() -> JobBackend:
    """This process's backend: chosen on first use from $RESNET_LAB_RAY_ADDRESS (the Ray backend connects to its
    cluster only when a run is submitted)."""
    global _backend
    if _backend is None:
        _backend = make_backend(ray_address_from_env())
    return _backend


def use(new: JobBackend | None) -> JobBackend | None:
    """Make ``new`` the backend of this process (the command line's --ray; None: choose again on next use);
    returns the one it replaces."""
    global _backend
    old, _backend = _backend, new
    return old


def submit(
    store: RunStore,
    config: RunConfig,
    requester: str = "",
    *,
    restart: bool = False,
    limit: int | None = None,
    teacher: bool = False,
) -> RunState:
    """Queue ``config`` (or join the job already queued or training, or return the stored run)."""
    return backend().submit(store, config, requester, restart=restart, limit=limit, teacher=teacher)


def state(store: RunStore, run_id: str) -> RunState:
    return backend().state(store, run_id)


def cancel(store: RunStore, run_id: str) -> bool:
    """Cancel a queued run, or stop a training one after its current step; False if it is neither."""
    return backend().cancel(store, run_id)


def active(store: RunStore) -> list[RunState]:
    return backend().list(store)


def wait(store: RunStore, run_id: str, timeout: float | None = None) -> RunState:
    return backend().wait(store, run_id, timeout)
