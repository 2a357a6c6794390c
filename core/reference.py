"""Reference runs shipped with the app, so every page works at once on a laptop with no GPU.

``reference/<dataset>/`` in the repository holds, per run, ``<run_id>.json.gz`` (config, status,
metrics, info and the complete history: steps, epochs, probes) and ``<run_id>.safetensors`` (weights
in float16, half the size; loaded back as float32). ``install`` copies them into a run store once;
``build`` trains the preset set and writes those files (``python -m core reference build``).
"""
import gzip
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import RunConfig
from .store import RunStatus, RunStore, atomic_write

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def preset(dataset: str, epochs: int, subset: int | None, seed_epochs: int, seed_subset: int | None,
           test_subset: int | None = None, probe_every: int = 50, recipe: str = "paper", compile: bool = False) -> list[RunConfig]:
    """The classroom set: the paper's Fig. 6 story, A vs B, and five seeds each of seed-001's A and B.

    ``recipe`` is the main six runs' recipe: the paper's on a GPU. Its lr 0.1 needs thousands of
    iterations before deep nets move (ResNet-56 stayed near chance after 312 steps on Shapes-10), so
    the CPU-built Shapes-10 set uses seed 001's Adam recipe, which shows the same story in minutes.
    """
    common = dict(dataset=dataset, test_subset=test_subset, probe_every=probe_every, compile=compile)
    main = [RunConfig(depth=d, shortcut=s, recipe=recipe, epochs=epochs, subset=subset, **common)
            for d, s in ((20, "none"), (56, "none"), (20, "A"), (56, "A"), (56, "B"), (110, "A"))]
    seeds = [RunConfig(depth=20, shortcut=s, recipe="seed", epochs=seed_epochs, subset=seed_subset, seed=k, **common)
             for s in ("A", "B") for k in range(5)]
    return main + seeds


def export_run(store: RunStore, run_id: str, out_dir: Path, with_weights: bool = True) -> int:
    """Write one stored run as reference files (weights too, if asked); returns the bytes written."""
    record = store.get(run_id)
    history = store.history(run_id)
    payload = {"record": {"run_id": run_id, "config": record.config.to_dict(), "status": record.status,
                          "message": record.message, "created": record.created, "epochs_done": record.epochs_done,
                          "seconds": record.seconds, "metrics": record.metrics, "info": record.info},
               "steps": history.steps.to_dict(orient="list"), "epochs": history.epochs.to_dict(orient="list"),
               "probes": history.probes.to_dict(orient="list")}
    out_dir.mkdir(parents=True, exist_ok=True)
    data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=9)
    atomic_write(out_dir / f"{run_id}.json.gz", lambda tmp: tmp.write_bytes(data))
    size = len(data)
    if with_weights and store.weights_path(run_id).exists():
        half = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(store.weights_path(run_id))).items()}
        atomic_write(out_dir / f"{run_id}.safetensors", lambda tmp: save_file(half, str(tmp)))
        size += (out_dir / f"{run_id}.safetensors").stat().st_size
    return size


def install(store: RunStore, root: Path = REFERENCE_DIR) -> int:
    """Load every shipped reference run the store does not have yet; returns how many were added.

    A damaged reference file is skipped with a note on stderr: the app starts all the same.
    """
    added = 0
    for path in sorted(root.glob("*/*.json.gz")):
        run_id = path.name.removesuffix(".json.gz")
        try:
            existing = store.get(run_id)
            if existing is not None and existing.status == RunStatus.DONE:
                continue
            payload = json.loads(gzip.decompress(path.read_bytes()))
            _install_one(store, payload, path.with_name(f"{run_id}.safetensors"))
            added += 1
        except Exception as e:  # a broken shipped file must not stop the app
            print(f"reference run {path} skipped: {e}", file=sys.stderr)
    return added


def _install_one(store: RunStore, payload: dict, weights: Path) -> None:
    rec = payload["record"]
    config = RunConfig.from_dict(rec["config"])
    if config.run_id != rec["run_id"]:
        raise ValueError("its config does not hash to its run id")
    if weights.exists():  # weights first: a run is only marked done once they are in place
        full = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(weights)).items()}
        atomic_write(store.weights_path(rec["run_id"]), lambda tmp: save_file(full, str(tmp)))
    history = {"steps": ("step", "epoch", "loss", "acc", "lr"),
               "epochs": ("epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"),
               "probes": ("step", "kind", "idx", "layer", "value")}
    store.install_reference(rec, {table: {c: payload[table].get(c, []) for c in cols} for table, cols in history.items()})


def build(configs: list[RunConfig], store: RunStore, out_dir: Path, data_dir: str | None = None, log=print) -> int:
    """Train (or take from the store) every config and export it; returns the total bytes written."""
    from .progress import ProgressBar
    from .train import train
    total = 0
    for i, config in enumerate(configs):
        bar = ProgressBar(f"[{i + 1}/{len(configs)}] {config.label}")
        result = train(config, store, data_dir=data_dir,
                       progress=lambda e: bar.update(e["step"], e["total_steps"], f"epoch {e['epoch']}/{e['epochs']}"))
        bar.close()
        # Seed bands need only histories: ship the weights of one seed of each, to stay small.
        total += export_run(store, result.record.run_id, out_dir, with_weights=config.seed == 0)
        log(f"{config.label}: {result.record.status}, test acc {result.record.metrics.get('test_acc', float('nan')):.3f}"
            f"{' (stored)' if result.cached else ''}; {total / 1e6:.1f} MB so far")
    return total
