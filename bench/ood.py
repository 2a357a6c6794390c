"""How well the Classify page's out-of-distribution check works, per shipped model with weights.

    python -m bench.ood [--store DIR] [--eval 2000] [--foreign 500] [--ship] [--out bench/results]

For each model, its detector (``core.analysis.ood``) is fitted on its own training images and the calibration
split of its test set; then it is judged only on the *other* held-out test images (never the calibration ones):
the share of them flagged (false flags), and the share flagged of uniform noise, flat colours, the other data set's
test images, line drawings and photo-like scenes made here (no downloads). AUROC against the held-out test images
is reported per score: pixel statistics, k-NN distance, the two combined (the larger percentile rank, what the app
uses), and for comparison the maximum softmax probability and the energy score (negated: lower means foreign).
Targets per CIFAR-10 model: at most 5% of held-out test images flagged, at least 95% of noise and of the other data
set's images. ``--ship`` writes the fitted detectors to core/runs/shipped/results/ood/ (precomputed for the app).
Results go to bench/results/ood-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from core.analysis import inside, ood
from core.engine.data import load_dataset
from core.runs.lifecycle import is_done
from core.runs.reference import install
from core.runs.store import RunStore

TARGETS = {"genuine_max": 0.05, "noise_min": 0.95, "other_min": 0.95}
SEED = 7  # the bench's own foreign images: other draws than the fit's self-check


def foreign_sets(record, n: int, cache_dir: str) -> dict[str, torch.Tensor]:
    other = "builtin" if record.config.dataset == "cifar10" else "cifar10"
    other_test = load_dataset(other, test_subset=n, seed=SEED, cache_dir=cache_dir)
    return {
        "noise": ood.uniform_noise(n, SEED),
        "flat": ood.flat_colours(n, SEED),
        "other_dataset": other_test.x_test,
        "drawings": ood.drawings(min(n, 200), SEED),
        "photo_like": ood.photo_like(min(n, 200), SEED),
    }


def evaluate(store: RunStore, record, n_eval: int, n_foreign: int, log=print) -> dict:
    cache_dir = str(store.datasets_dir)
    t0 = time.perf_counter()
    detector = ood.fit_for_run(store, record)
    fit_s = time.perf_counter() - t0
    train, test = ood.run_data(record, None, cache_dir)
    mean, std = ood.normalisation(record, train)
    calibration, held_out = ood.calibration_split(len(test.x_test))
    assert not np.intersect1d(calibration, held_out).size  # reports use held-out images only
    held_out = held_out[np.random.default_rng(SEED).permutation(len(held_out))[:n_eval]]
    model = store.load_model(record.run_id)
    with ood.cpu_threads():
        genuine = detector.raw_scores(model, test.x_test[torch.from_numpy(held_out)], mean, std)
        foreign = {
            k: detector.raw_scores(model, x, mean, std) for k, x in foreign_sets(record, n_foreign, cache_dir).items()
        }

    def score(raw: dict, name: str) -> np.ndarray:
        if name == "combined":
            return detector.combined(raw)
        return -raw[name] if name in ("msp", "energy") else raw[name]

    names = ("pixel", "knn", "combined", "msp", "energy")
    row = {
        "run_id": record.run_id,
        "model": record.config.model_name,
        "dataset": test.title,
        "test_accuracy": record.metrics.get("test_acc") if record.metrics else None,
        "fit_seconds": round(fit_s, 1),
        "detector_bytes": ood.cache_path(store, record).stat().st_size,
        "threshold_percentile": detector.threshold,
        "calibration_images": len(calibration),
        "held_out_images": len(held_out),
        "genuine_flagged": float(detector.flags(genuine).mean()),
        "flagged": {k: float(detector.flags(raw).mean()) for k, raw in foreign.items()},
        "auroc": {
            k: {n: round(ood.auroc(score(genuine, n), score(raw, n)), 4) for n in names} for k, raw in foreign.items()
        },
        "self_check": detector.self_check,
        "can_vouch": not detector.blind_spots,
    }
    if record.config.dataset == "cifar10":
        row["targets_met"] = (
            row["genuine_flagged"] <= TARGETS["genuine_max"]
            and row["flagged"]["noise"] >= TARGETS["noise_min"]
            and row["flagged"]["other_dataset"] >= TARGETS["other_min"]
        )
    log(json.dumps({k: row[k] for k in ("model", "dataset", "fit_seconds", "genuine_flagged", "flagged")}))
    return row


def ship(store: RunStore, records) -> None:
    """Copy the fitted detectors into the shipped results (named as in a store) and drop those of other runs."""
    keep = set()
    for r in records:
        path = ood.cache_path(store, r)
        target = inside.SHIPPED_RESULTS / path.relative_to(store.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        keep.add(target)
    for old in (inside.SHIPPED_RESULTS / ood.CACHE_DIR).glob("*.npz"):
        if old not in keep:
            old.unlink()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.ood", description=__doc__.split("\n\n")[0])
    p.add_argument("--store", help="a run store (default: a temporary one with the shipped runs)")
    p.add_argument("--eval", type=int, default=2000, help="held-out test images judged per model")
    p.add_argument("--foreign", type=int, default=500, help="images of each foreign kind")
    p.add_argument("--ship", action="store_true", help="write the detectors to the shipped results")
    p.add_argument("--out", default="bench/results")
    args = p.parse_args(argv)
    store = RunStore(args.store or tempfile.mkdtemp(prefix="ood-bench-"))
    install(store)
    records = [r for r in store.list() if is_done(r) and store.weights_path(r.run_id).exists()]
    rows = [evaluate(store, r, args.eval, args.foreign) for r in sorted(records, key=lambda r: r.run_id)]
    if args.ship:
        ship(store, records)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.system()}, torch {torch.__version__}, CPU",
        "data": "CIFAR-10 (rebuilt copy) and Shapes-10 (built-in synthetic)",
        "settings": {
            "k_nearest": ood.K_NEAREST,
            "bank": ood.BANK,
            "calibration": ood.CALIBRATION,
            "flag_share": ood.FLAG_SHARE,
            "self_check": ood.SELF_CHECK,
            "foreign": args.foreign,
        },
        "targets": TARGETS,
        "models": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"ood-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
