"""Sweeps: a grid of networks and seeds submitted as jobs at once, on this machine or a Ray cluster.

    python -m core sweep --depths 20 32 44 56 --shortcuts none A --seeds 0 1 2 [--recipe seed] [--ray ADDRESS]

(the command itself is in ``core.cli.runs``)

Every config goes through ``core.jobs`` (the store's queue): a run the store has finished is answered
from it, a run already queued or training is joined, an interrupted one resumes. The command prints a
line whenever a run's state changes and exits when none is queued or training; ``reproduce`` and
``reference build`` train their sets through it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable

from ..engine.config import RunConfig
from . import jobs
from .backends import LocalWorkers, RunState
from .store import RunStore, StoreError

REQUESTER = "sweep"


def grid(depths: Iterable[int], shortcuts: Iterable[str], seeds: Iterable[int], **common) -> list[RunConfig]:
    """One config per (shortcut, depth, seed), plain nets first as in the paper's Fig. 6; duplicates dropped."""
    configs, seen = [], set()
    for shortcut in shortcuts:
        for depth in depths:
            for seed in seeds:
                c = RunConfig(depth=depth, shortcut=shortcut, seed=seed, **common)
                if c.run_id not in seen:
                    seen.add(c.run_id)
                    configs.append(c)
    return configs


def unique(configs: Iterable[RunConfig]) -> list[RunConfig]:
    out, seen = [], set()
    for c in configs:
        if c.run_id not in seen:
            seen.add(c.run_id)
            out.append(c)
    return out


def submit(
    store: RunStore,
    configs: Iterable[RunConfig],
    backend=None,
    requester: str = REQUESTER,
    *,
    limit: int | None = None,
    teacher: bool = False,
) -> tuple[list[RunState], str | None]:
    """Submit every config (each once); the states, and the reason the rest were refused (a queue limit)."""
    backend = backend or jobs.backend()
    states = []
    for c in unique(configs):
        try:
            states.append(backend.submit(store, c, requester, limit=limit, teacher=teacher))
        except StoreError as e:  # e.g. the requester's queue limit: what was queued stays queued
            return states, str(e)
    return states, None


def progress_line(i: int, n: int, state: RunState) -> str:
    label = state.record.label if state.record is not None else state.run_id
    return f"[{i + 1}/{n}] {state.run_id} {label}: {state.line()}"


def run(
    store: RunStore,
    configs: Iterable[RunConfig],
    backend=None,
    *,
    on_line: Callable[[str], None] | None = None,
    poll_s: float = 0.5,
    timeout: float | None = None,
    requester: str = REQUESTER,
) -> list[RunState]:
    """Submit the grid and wait until no run of it is queued or training; ``on_line`` gets a line per change."""
    backend = backend or jobs.backend()
    configs = unique(configs)
    states, refused = submit(store, configs, backend, requester)
    if refused:
        raise StoreError(refused)
    ids = [s.run_id for s in states]
    shown: dict[str, str] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    problem = getattr(backend, "problem", lambda store: None)  # a backend that can tell it cannot train
    while True:
        states = [backend.state(store, run_id) for run_id in ids]
        for i, s in enumerate(states):
            line = progress_line(i, len(ids), s)
            if on_line and shown.get(s.run_id) != line:
                on_line(line)
            shown[s.run_id] = line
        if not any(s.live for s in states) or (deadline is not None and time.monotonic() > deadline):
            return states
        if why := problem(store):
            raise StoreError(why)
        time.sleep(poll_s)


def backend_for(address: str | None, data_dir: str | None = None):
    """The backend a command uses: Ray at ``address`` (or $RESNET_LAB_RAY_ADDRESS) serving only its own runs, else
    the local workers."""
    address = address or jobs.ray_address_from_env()
    if address:
        from .ray_jobs import RayBackend

        return RayBackend(address, serve_queue=False, data_dir=data_dir)
    if data_dir:  # local workers read it from their environment
        os.environ["RESNET_LAB_DATA"] = data_dir
    current = jobs.backend()
    return current if isinstance(current, LocalWorkers) else LocalWorkers()


def finish(backend, store: RunStore) -> None:
    """After a command's sweep: stop the local workers it started if nothing is left for them (others start
    them again when needed); leave the Ray cluster (a local one stops)."""
    if isinstance(backend, LocalWorkers):
        if not store.has_queued():
            backend.stop_workers()
    elif hasattr(backend, "shutdown"):
        backend.shutdown(disconnect=True)


def run_for_command(
    store: RunStore, configs: list[RunConfig], ray_address: str | None, data_dir: str | None = None, log=None
) -> list[RunState]:
    """``run`` with the command line's backend and a line per change on stderr (``reproduce``, ``reference build``).
    What else is printed meanwhile (Ray prints its workers' deaths on stdout) goes to stderr too: stdout stays
    the command's own output, e.g. its one JSON object."""
    with contextlib.redirect_stdout(sys.stderr):
        backend = backend_for(ray_address, data_dir)
        try:
            return run(store, configs, backend, on_line=log or (lambda line: print(line, file=sys.stderr, flush=True)))
        finally:
            finish(backend, store)
