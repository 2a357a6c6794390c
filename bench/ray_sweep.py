"""The same sweep of 8 tiny runs on the local backend and on a local Ray cluster, in one run.

    python -m bench.ray_sweep [--runs 8] [--cpus 2]

For each backend, with its own temporary store: the wall time of ``core.runs.sweep.run`` over the grid
(plain-8 and ResNet-8 (A), seeds 0..runs/2-1, Shapes-10, 512 images, 2 epochs), the training time the
runs themselves record, and the overhead per run: the slot-seconds the backend had (wall time x the
runs it trains at once) not spent inside ``train``'s loop (process start, imports, data set, events,
scheduling), divided by the runs. Then the time from ``submit`` to the first live point (the first
training step in the store, which the Train page's live chart draws at its next poll, every
``FAST_POLL_S`` seconds): for the sweep's first run (cold: workers start) and for one more run after
it (warm). The local backend is measured twice: with torch's default threads (all cores) and with one
thread per run, as a Ray task with num_cpus=1 gets. The built-in data set is generated into both backends'
caches first, so neither pays for
it in the timings. The machine's load average is recorded beside every phase: on a shared machine the
numbers move with it. Results go to bench/results/ray-sweep-*.json. No test asserts on them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.engine.config import RunConfig  # noqa: E402
from core.runs import sweep  # noqa: E402
from core.runs.backends import LocalWorkers  # noqa: E402
from core.runs.lifecycle import is_done  # noqa: E402
from core.runs.store import RunStore, datasets_dir  # noqa: E402

TINY = dict(dataset="builtin", subset=512, test_subset=200, batch_size=32, epochs=2, probe_every=8, device="cpu")
POLL_S = 0.05


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def first_point_after(store: RunStore, run_id: str, t0: float, timeout: float = 900) -> float | None:
    """Seconds from t0 until the run's first step row is in the store."""
    while time.perf_counter() - t0 < timeout:
        if store.last_step(run_id) >= 0:
            return time.perf_counter() - t0
        time.sleep(POLL_S)
    return None


def measure(backend, store: RunStore, configs: list[RunConfig], slots: int, extra: RunConfig) -> dict:
    first: dict = {}

    def watch_first(t0: float) -> None:
        first["seconds"] = first_point_after(store, configs[0].run_id, t0)

    load_before = load()
    t0 = time.perf_counter()
    watcher = threading.Thread(target=watch_first, args=(t0,), daemon=True)
    watcher.start()
    states = sweep.run(store, configs, backend, poll_s=0.2)
    wall = time.perf_counter() - t0
    watcher.join()
    train_s = [s.record.seconds for s in states]
    t1 = time.perf_counter()
    backend.submit(store, extra, "bench")
    warm = first_point_after(store, extra.run_id, t1)
    backend.wait(store, extra.run_id, timeout=900)
    return {
        "statuses": sorted({str(s.status) for s in states}),
        "runs": len(states),
        "wall_s": round(wall, 2),
        "train_s_sum": round(sum(train_s), 2),
        "train_s_per_run": [round(x, 2) for x in train_s],
        "runs_at_once": slots,
        "overhead_s_per_run": round((slots * wall - sum(train_s)) / len(states), 2),
        "submit_to_first_point_cold_s": None if first.get("seconds") is None else round(first["seconds"], 2),
        "submit_to_first_point_warm_s": None if warm is None else round(warm, 2),
        "first_epoch_train_loss": [round(float(store.epoch_history(s.run_id).train_loss.iloc[0]), 6) for s in states],
        "load_before": load_before,
        "load_after": load(),
        "all_done": all(is_done(s.record) for s in states),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (one run per CPU)")
    args = p.parse_args(argv)
    import torch

    seeds = list(range(max(1, args.runs // 2)))
    configs = sweep.grid([8], ["none", "A"], seeds, **TINY)
    extra = RunConfig(depth=8, shortcut="A", seed=len(seeds), **TINY)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads_local": torch.get_num_threads(),
        "config": TINY,
        "nets": "plain-8 and ResNet-8 (A)",
        "seeds": seeds,
        "page_poll_s": 2.0,
        "backends": {},
    }

    from core.engine.data import load_dataset
    from core.runs.ray_jobs import NODE_CACHE

    local = LocalWorkers()
    with tempfile.TemporaryDirectory() as root:
        for cache in (datasets_dir(root), NODE_CACHE / "datasets"):
            load_dataset("builtin", subset=TINY["subset"], cache_dir=str(cache))
        try:
            result["backends"]["local"] = {
                "workers": local.workers,
                **measure(local, RunStore(root), configs, local.workers, extra),
            }
        finally:
            local.stop_workers()
    print(json.dumps(result["backends"]["local"]), file=sys.stderr)
    # The same with one thread per run, as a Ray task with num_cpus=1 gets: separates threading from the backend.
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the worker process
    local = LocalWorkers()
    with tempfile.TemporaryDirectory() as root:
        load_dataset("builtin", subset=TINY["subset"], cache_dir=str(datasets_dir(root)))
        try:
            result["backends"]["local_1_thread"] = {
                "workers": local.workers,
                "omp_num_threads": 1,
                **measure(local, RunStore(root), configs, local.workers, extra),
            }
        finally:
            local.stop_workers()
            del os.environ["OMP_NUM_THREADS"]
    print(json.dumps(result["backends"]["local_1_thread"]), file=sys.stderr)

    import ray

    from core.runs.ray_jobs import RayBackend

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    init_s = time.perf_counter() - t0
    backend = RayBackend("auto")
    try:
        with tempfile.TemporaryDirectory() as root:
            result["backends"]["ray"] = {
                "ray": ray.__version__,
                "ray_init_s": round(init_s, 2),
                "num_cpus_per_run": 1.0,
                **measure(backend, RunStore(root), configs, args.cpus, extra),
            }
    finally:
        backend.shutdown()
        ray.shutdown()
    print(json.dumps(result["backends"]["ray"]), file=sys.stderr)
    out = REPO / "bench" / "results" / f"ray-sweep-cpu-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(out)
    return result


if __name__ == "__main__":
    main()
