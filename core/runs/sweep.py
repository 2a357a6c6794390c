"""Sweeps: a grid of networks and seeds submitted as jobs at once, on this machine or a Ray cluster.

    python -m core sweep --depths 20 32 44 56 --shortcuts none A --seeds 0 1 2 [--recipe seed] [--ray ADDRESS]

Every config goes through ``core.jobs`` (the store's queue): a run the store has finished is answered
from it, a run already queued or training is joined, an interrupted one resumes. The command prints a
line whenever a run's state changes and exits when none is queued or training; ``reproduce`` and
``reference build`` train their sets through it.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Callable, Iterable

from . import jobs
from ..engine.config import RunConfig
from .jobs import RunState
from .store import FINISHED, RunStatus, RunStore, StoreError

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


def submit(store: RunStore, configs: Iterable[RunConfig], backend=None, requester: str = REQUESTER, *,
           limit: int | None = None, teacher: bool = False) -> tuple[list[RunState], str | None]:
    """Submit every config (each once); the states, and the reason the rest were refused (a queue limit)."""
    backend = backend or jobs.backend
    states = []
    for c in unique(configs):
        try:
            states.append(backend.submit(store, c, requester, limit=limit, teacher=teacher))
        except StoreError as e:  # e.g. the requester's queue limit: what was queued stays queued
            return states, str(e)
    return states, None


def state_text(state: RunState) -> str:
    """'queued: 2nd', 'training: epoch 3/10', 'done: test error 12.3%', ..."""
    record = state.record
    if state.status == RunStatus.RUNNING and record is not None:
        return f"training: epoch {min(record.epochs_done + 1, record.config.epochs)}/{record.config.epochs}"
    if state.status in FINISHED and record is not None and record.metrics.get("test_acc") is not None:
        return f"{state.status}: test error {100 * (1 - record.metrics['test_acc']):.1f}%"
    if state.status is not None and record is not None and record.message and state.status != RunStatus.QUEUED:
        return f"{state.status}: {record.message}"
    return state.text()


def progress_line(i: int, n: int, state: RunState) -> str:
    label = state.record.label if state.record is not None else state.run_id
    return f"[{i + 1}/{n}] {state.run_id} {label}: {state_text(state)}"


def run(store: RunStore, configs: Iterable[RunConfig], backend=None, *, on_line: Callable[[str], None] | None = None,
        poll_s: float = 0.5, timeout: float | None = None, requester: str = REQUESTER) -> list[RunState]:
    """Submit the grid and wait until no run of it is queued or training; ``on_line`` gets a line per change."""
    backend = backend or jobs.backend
    configs = unique(configs)
    states, refused = submit(store, configs, backend, requester)
    if refused:
        raise StoreError(refused)
    ids = [s.run_id for s in states]
    shown: dict[str, str] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        states = [backend.state(store, run_id) for run_id in ids]
        for i, s in enumerate(states):
            line = progress_line(i, len(ids), s)
            if on_line and shown.get(s.run_id) != line:
                on_line(line)
            shown[s.run_id] = line
        if not any(s.live for s in states) or (deadline is not None and time.monotonic() > deadline):
            return states
        time.sleep(poll_s)


def backend_for(address: str | None, data_dir: str | None = None):
    """The backend a command uses: Ray at ``address`` (or $RESNET_LAB_RAY_ADDRESS) serving only its own runs, else local."""
    address = address or os.environ.get(jobs.RAY_ENV, "").strip() or None
    if address:
        from .ray_jobs import RayBackend
        return RayBackend(address, serve_queue=False, data_dir=data_dir)
    if data_dir:  # local workers read it from their environment
        os.environ["RESNET_LAB_DATA"] = data_dir
    return jobs.backend if isinstance(jobs.backend, jobs.LocalWorkers) else jobs.LocalWorkers()


def finish(backend, store: RunStore) -> None:
    """After a command's sweep: stop the local workers it started if nothing is left for them (others start
    them again when needed); leave a Ray cluster's connection."""
    if isinstance(backend, jobs.LocalWorkers):
        if not store.has_queued():
            backend.stop_workers()
    elif hasattr(backend, "shutdown"):
        backend.shutdown()


def run_for_command(store: RunStore, configs: list[RunConfig], ray_address: str | None, data_dir: str | None = None,
                    log=None) -> list[RunState]:
    """``run`` with the command line's backend and a line per change on stderr (``reproduce``, ``reference build``)."""
    backend = backend_for(ray_address, data_dir)
    try:
        return run(store, configs, backend, on_line=log or (lambda line: print(line, file=sys.stderr, flush=True)))
    finally:
        finish(backend, store)


def cmd_sweep(args) -> None:
    common = dict(dataset=args.dataset, recipe=args.recipe, epochs=args.epochs, subset=args.subset,
                  test_subset=args.test_subset, device=args.device, probe_every=args.probe_every, num_cpus=args.num_cpus,
                  num_gpus=args.num_gpus)
    configs = grid(args.depths, args.shortcuts, args.seeds, **common)
    store = RunStore(args.store)
    start = time.perf_counter()
    lines: list[str] = []
    states = run_for_command(store, configs, args.ray, args.data_dir,
                             log=lambda line: (lines.append(line), print(line, file=sys.stderr, flush=True)))
    wall = time.perf_counter() - start
    done = sum(s.status == RunStatus.DONE for s in states)
    obj = {"backend": "ray" if (args.ray or os.environ.get(jobs.RAY_ENV)) else "local", "wall_seconds": round(wall, 2),
           "runs": [{**s.record.summary(), "state": state_text(s)} for s in states if s.record is not None]}
    text = f"{done} of {len(states)} runs done in {wall:.0f} s"
    print(json.dumps(obj) if args.json else text)
    if done < len(states):
        sys.exit(1)


def add_parser(sub) -> None:
    from ..engine.config import DATASET_NAMES, DEVICES, RECIPES
    from ..engine.models import SHORTCUTS
    p = sub.add_parser("sweep", help="train a grid of networks and seeds as jobs (here, or on a Ray cluster with --ray)")
    p.add_argument("--depths", type=int, nargs="+", default=[20, 32, 44, 56], help="6n+2 depths (default: Fig. 6's 20 32 44 56)")
    p.add_argument("--shortcuts", nargs="+", choices=SHORTCUTS, default=["none", "A"], help="none: plain nets; A: ResNets")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--recipe", choices=RECIPES, default="paper")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--dataset", choices=DATASET_NAMES, default="builtin")
    p.add_argument("--data-dir", help="CIFAR-10 directory on the machines that train (default $RESNET_LAB_DATA there)")
    p.add_argument("--subset", type=int, help="training images")
    p.add_argument("--test-subset", type=int, help="test images")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--probe-every", type=int, default=50, help="steps between gradient probes (0 = none)")
    p.add_argument("--num-cpus", type=float, default=1.0, help="CPU cores each run reserves on a Ray worker")
    p.add_argument("--num-gpus", type=float, help="GPUs each run reserves on a Ray worker (0.25: four runs share one)")
    p.add_argument("--ray", metavar="ADDRESS", help="train on the Ray cluster at ADDRESS ('auto': the running one, "
                   "'local': start one here); default $RESNET_LAB_RAY_ADDRESS, else this machine's workers")
    p.add_argument("--store", help="run store directory (default $RESNET_LAB_HOME or ~/.local/share/resnet-lab)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=cmd_sweep)
