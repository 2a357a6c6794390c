"""How long the Classify page's attribution maps take, beside their baseline, in one run.

    python -m bench.attribution [--depths 20 56] [--repeats 5] [--threads N]

For each network (the paper's CIFAR ResNet, option A, at each depth) and each method of
``core.analysis.attribution``, the best and median of ``repeats`` calls on one 32x32 image, after one untimed
call (one-time setup). The baseline, measured the same way in the same run, is one forward and backward
pass of that network on that image: what a single gradient costs. Each method is reported as seconds
and as a multiple of that baseline (Integrated Gradients does ``IG_STEPS`` of them in one batch), with the
page's interactive budget of ``BUDGET_S`` beside it. Results go to bench/results/attribution-*.json.
Speed is measured here, never asserted in a test: a loaded machine is slower, not wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F

from core.analysis import attribution
from core.engine.models import build_model

MEAN, STD = (0.45, 0.45, 0.45), (0.25, 0.25, 0.25)
BUDGET_S = 2.0  # a map that takes longer than this no longer feels like an answer to a click


def timed(call, repeats: int) -> list[float]:
    call()  # untimed: first-call setup (allocations, captum's hooks)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def gradient_pass(model, image) -> None:
    """The baseline: one forward and backward pass for one class score."""
    x = attribution.model_input(model, image, MEAN, STD).requires_grad_()
    F.log_softmax(model(x), dim=1)[0, 3].backward()


def measure(depths=(20,), repeats: int = 5, methods=attribution.METHODS, log=print) -> dict:
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    results = []
    for depth in depths:
        torch.manual_seed(0)
        model = build_model("cifar", depth, "A").eval()
        base = timed(lambda model=model: gradient_pass(model, image), repeats)
        row = {
            "model": f"ResNet-{depth} (A)",
            "baseline_forward_backward_s": {"best": min(base), "median": statistics.median(base)},
            "methods": {},
        }
        for method in methods:
            t = timed(
                lambda model=model, method=method: attribution.attribute(model, image, MEAN, STD, method, 3), repeats
            )
            row["methods"][method] = {
                "best_s": min(t),
                "median_s": statistics.median(t),
                "all_s": t,
                "x_baseline": statistics.median(t) / statistics.median(base),
                "within_budget": statistics.median(t) <= BUDGET_S,
            }
            log(
                f"{row['model']} {method}: median {statistics.median(t):.3f} s "
                f"({row['methods'][method]['x_baseline']:.1f}x one gradient pass of "
                f"{statistics.median(base) * 1000:.1f} ms)"
            )
        results.append(row)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads",
        "load_average_1min": os.getloadavg()[0],
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "setup": {
            "image": "one random 32x32 uint8 image",
            "repeats": repeats,
            "ig_steps": attribution.IG_STEPS,
            "budget_s": BUDGET_S,
            "baseline": "one forward + backward pass of the same network on the image",
        },
        "results": results,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.attribution", description=__doc__.split("\n\n")[0])
    p.add_argument("--depths", type=int, nargs="+", default=[20, 56])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    p.add_argument("--out", default="bench/results")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = measure(tuple(args.depths), args.repeats, log=lambda m: print(m, file=sys.stderr))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"attribution-cpu-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps({**report, "path": str(path)}))


if __name__ == "__main__":
    main()
