"""Reference runs shipped with the app, so every page works at once on a laptop with no GPU.

``core/runs/shipped/<dataset>/`` (package data: an installed package has them too) holds, per run,
``<run_id>.json.gz`` (config, status,
metrics, info and the complete history: steps, epochs, probes) and ``<run_id>.safetensors`` (weights
in float16, half the size; loaded back as float32). ``install`` copies them into a run store once;
``build`` trains the preset set and writes those files (``python -m core reference build``).
"""

import gzip
import json
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..engine.config import RunConfig
from ..engine.files import atomic_write
from ..engine.history import EPOCH_COLUMNS, EVAL_COLUMNS
from ..engine.models import FIG6_DEPTHS, RESNET_DEPTHS
from .lifecycle import is_done
from .store import RunStore

REFERENCE_DIR = Path(__file__).resolve().parent / "shipped"


# The shipped Shapes-10 set's recipe, found on a 2-core CPU (README, "Finding a recipe"): the Train page's
# defaults, so the lesson's runs open from the shipped set or retrain to the same picture.
SHAPES10_LESSON = dict(
    recipe="seed", schedule="cosine", augment=True, batch_size=16, subset=1000, test_subset=500, epochs=8
)
# Networks of the shipped set: the paper's Fig. 6 depths, and seeds for the bands of the Fig. 6 trio and ResNet-20.
SEEDED = (("none", 20), ("none", 56), ("A", 20), ("A", 56))
SEEDS = 3
# A plain-56 and ResNet-56 trained about 8x longer than the main set (3,750 steps on 4,000 images): in 496 steps
# plain-56 never leaves chance, so it has nothing for a lesion to take away; this pair is what the Lesion,
# Landscape and Layers pages open on (the deepest matched pair in which both networks learned).
DEEP_PAIR = dict(recipe="seed", schedule="cosine", augment=True, batch_size=16, subset=4000, test_subset=500, epochs=15)
DEEP_PAIR_PROBE_EVERY = 20
# The shipped CIFAR-10 set: the paper's Fig. 6 at 20 and 56 layers (plain nets and ResNets, option A) on all 50,000
# training images and all 10,000 test images, with one recipe that fits a 2-core CPU (README, "The Fig. 6 set on
# CIFAR-10"): the paper's SGD settings (lr 0.1, momentum 0.9, weight decay 1e-4, batch 128, pad-crop-flip) for 15
# epochs with cosine decay, after a warm-up that ramps the lr up over the first 400 steps for every net.
CIFAR10_FIG6 = dict(dataset="cifar10", recipe="paper", schedule="cosine", warmup=400, warmup_ramp=True, epochs=15)
CIFAR10_FIG6_DEPTHS = (20, 56)  # first; --depths adds 32 and 44 where time allows (and 110 for the ResNets)
CIFAR10_FIG6_SEEDS = {20: 2, 56: 1}  # seeds per depth: the 20-layer pair's second seed measures the seed noise
# The pilot before it, kept as histories (no weights): 6 epochs after the paper's own warm-up (400 steps at lr 0.01,
# its remedy for ResNet-110), whose jump to lr 0.1 threw ResNet-56 back; two seeds of the 20-layer pair.
CIFAR10_FIG6_PILOT = dict(dataset="cifar10", recipe="paper", schedule="cosine", warmup=400, epochs=6)
CIFAR10_FIG6_PILOT_SEEDS = {20: 2, 56: 1}
# The first CIFAR-10 runs shipped: plain-20 and ResNet-20 with the paper's step schedule for 15 epochs (another
# budget than the Fig. 6 set's, so the pages never compare them with it; they show what a longer schedule gives).
CIFAR10_EARLIER_PAIR = dict(dataset="cifar10", recipe="paper", epochs=15)
PLAIN_MAX_DEPTH = 56  # the paper's Fig. 6 has plain nets up to 56 layers
# Weights are shipped for the networks the pages open (Classify, Gradients); the rest ship histories only.
WITH_WEIGHTS = (("none", 20), ("none", 56), ("A", 20), ("A", 56), ("A", 110), ("B", 20))


def cifar10_fig6(
    depths=CIFAR10_FIG6_DEPTHS, seeds: int | None = None, epochs: int | None = None, compile: bool = False, **overrides
) -> list[RunConfig]:
    """The shipped CIFAR-10 set: plain nets and ResNets (A) at ``depths`` (plain nets to 56 layers), ``seeds``
    seeds each (default ``CIFAR10_FIG6_SEEDS``, one where it names no number), all with the one recipe
    ``CIFAR10_FIG6`` (``epochs`` and ``overrides`` change it: a GPU trains the paper's 164 epochs); then the pilot
    before it (``CIFAR10_FIG6_PILOT``) and the earlier 20-layer pair (``CIFAR10_EARLIER_PAIR``), as they were
    trained."""
    recipe = {**CIFAR10_FIG6, **overrides, **({"epochs": epochs} if epochs else {}), "compile": compile}
    fig6 = _fig6_nets(recipe, depths, lambda d: seeds or CIFAR10_FIG6_SEEDS.get(d, 1))
    pilot = _fig6_nets(CIFAR10_FIG6_PILOT, tuple(CIFAR10_FIG6_PILOT_SEEDS), CIFAR10_FIG6_PILOT_SEEDS.get)
    return fig6 + pilot + [RunConfig(depth=20, shortcut=s, **CIFAR10_EARLIER_PAIR) for s in ("none", "A")]


def _fig6_nets(recipe: dict, depths, seeds_at) -> list[RunConfig]:
    """Plain nets (to 56 layers) and ResNets (A) at ``depths``, ``seeds_at(depth)`` seeds each, seed 0 first."""
    nets = [("none", d) for d in depths if d <= PLAIN_MAX_DEPTH] + [("A", d) for d in depths]
    most = max(seeds_at(d) for _, d in nets)
    return [RunConfig(depth=d, shortcut=s, seed=k, **recipe) for k in range(most) for s, d in nets if k < seeds_at(d)]


def ships_weights(config: RunConfig) -> bool:
    """Seed bands, pilots and the other depths need only histories: weights for seed 0 of the nets pages open."""
    if config.seed != 0 or all(getattr(config, k) == v for k, v in CIFAR10_FIG6_PILOT.items()):
        return False
    return (config.shortcut, config.depth) in WITH_WEIGHTS or config.dataset == "cifar10"


def preset(
    dataset: str,
    epochs: int,
    subset: int | None,
    seed_epochs: int,
    seed_subset: int | None,
    test_subset: int | None = None,
    probe_every: int = 50,
    recipe: str = "paper",
    compile: bool = False,
    schedule: str | None = None,
    seeds: int = SEEDS,
    ab_probe_every: int | None = None,
    batch_size: int | None = None,
    augment: bool | None = None,
    ab_test_subset: int | None = None,
) -> list[RunConfig]:
    """The classroom set: plain-20..56 and ResNet-20..110 (the paper's Fig. 6), ``seeds`` seeds of plain-20,
    plain-56, ResNet-20 and ResNet-56 (bands), five seeds each of seed study 001's ResNet-20 A and B, and on
    Shapes-10 the longer-trained plain-56 / ResNet-56 pair (``DEEP_PAIR``).

    ``recipe``/``schedule``/``batch_size``/``augment``/``epochs``/``subset`` are the main runs' training; the
    A-vs-B runs use the
    seed study's own recipe (Adam, batch 32) for ``seed_epochs`` on ``seed_subset`` images, probed every
    ``ab_probe_every`` steps (default ``probe_every``) and tested on ``ab_test_subset`` images (default
    ``test_subset``).
    """
    common = dict(dataset=dataset, test_subset=test_subset, probe_every=probe_every, compile=compile)
    main = dict(
        recipe=recipe, schedule=schedule, batch_size=batch_size, augment=augment, epochs=epochs, subset=subset, **common
    )
    nets = [("none", d) for d in FIG6_DEPTHS] + [("A", d) for d in RESNET_DEPTHS]
    runs = [RunConfig(depth=d, shortcut=s, **main) for s, d in nets]
    runs += [RunConfig(depth=d, shortcut=s, seed=k, **main) for s, d in SEEDED for k in range(1, seeds)]
    ab = {
        **common,
        "probe_every": probe_every if ab_probe_every is None else ab_probe_every,
        "test_subset": test_subset if ab_test_subset is None else ab_test_subset,
    }
    runs += [
        RunConfig(depth=20, shortcut=s, recipe="seed", epochs=seed_epochs, subset=seed_subset, seed=k, **ab)
        for s in ("A", "B")
        for k in range(5)
    ]
    if dataset == "builtin":
        runs += [
            RunConfig(
                depth=56, shortcut=s, dataset=dataset, probe_every=DEEP_PAIR_PROBE_EVERY, compile=compile, **DEEP_PAIR
            )
            for s in ("none", "A")
        ]
    return runs


def export_run(store: RunStore, run_id: str, out_dir: Path, with_weights: bool = True) -> int:
    """Write one stored run as reference files (weights too, if asked); returns the bytes written."""
    record = store.get(run_id)
    history = store.history(run_id)
    payload = {
        "record": {
            "run_id": run_id,
            "config": record.config.to_dict(),
            "status": record.status,
            "message": record.message,
            "created": record.created,
            "epochs_done": record.epochs_done,
            "seconds": record.seconds,
            "metrics": record.metrics,
            "info": record.info,
        },
        "steps": history.steps.to_dict(orient="list"),
        "epochs": history.epochs.to_dict(orient="list"),
        "probes": history.probes.to_dict(orient="list"),
        "test_evals": history.evals.to_dict(orient="list"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    data = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), compresslevel=9, mtime=0)
    atomic_write(out_dir / f"{run_id}.json.gz", lambda tmp: tmp.write_bytes(data))
    size = len(data)
    if not with_weights:  # a run that ships as history only: no weights file left from an earlier set
        (out_dir / f"{run_id}.safetensors").unlink(missing_ok=True)
    elif store.weights_path(run_id).exists():
        half = {
            k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(store.weights_path(run_id))).items()
        }
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
            if is_done(existing):
                continue
            payload = json.loads(gzip.decompress(path.read_bytes()))
            _install_one(store, payload, path.with_name(f"{run_id}.safetensors"))
            added += 1
        except Exception as e:  # a broken shipped file must not stop the app
            print(f"reference run {path} skipped: {e}", file=sys.stderr)
    return added


INSTALLED_SETTING = "shipped_runs_installed"  # set once the shipped runs were installed into a store


def install_once(store: RunStore, root: Path = REFERENCE_DIR, log=None) -> int:
    """Install the shipped runs into a store that has never had them (the command line's first use of a store;
    the dashboard installs them on every start). Returns how many were added; later calls add none, so a
    teacher's deletions stay deleted."""
    if store.setting(INSTALLED_SETTING) is not None:
        return 0
    if log:
        log(f"installing the shipped reference runs into {store.root} (first use of this store)…")
    added = install(store, root)
    store.set_setting(INSTALLED_SETTING, added)
    return added


def _install_one(store: RunStore, payload: dict, weights: Path) -> None:
    rec = payload["record"]
    config = RunConfig.from_dict(rec["config"])
    if config.run_id != rec["run_id"]:
        raise ValueError("its config does not hash to its run id")
    if weights.exists():  # weights first: a run is only marked done once they are in place
        full = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(weights)).items()}
        atomic_write(store.weights_path(rec["run_id"]), lambda tmp: save_file(full, str(tmp)))
    columns = {
        "steps": ("step", "epoch", "loss", "acc", "lr"),
        "epochs": EPOCH_COLUMNS,
        "probes": ("step", "kind", "idx", "layer", "value"),
        "test_evals": EVAL_COLUMNS,
    }
    history = {}
    for table, cols in columns.items():
        data = payload.get(table, {})  # files from older versions lack test_evals and the eval-mode columns
        rows = len(data.get(cols[0], []))
        history[table] = {c: data.get(c, [None] * rows) for c in cols}
    store.install_reference(rec, history)


def build(
    configs: list[RunConfig],
    store: RunStore,
    out_dir: Path,
    data_dir: str | None = None,
    log=print,
    prune: bool = True,
    stored_only: bool = False,
    ray_address: str | None = None,
) -> int:
    """Train (or take from the store) every config and export it; returns the total bytes written.

    The files already shipped are installed into ``store`` first, so runs the set keeps are not trained
    again; the rest train as one sweep (``core.sweep``: this machine's workers, or the Ray cluster at
    ``ray_address``). With ``prune``, shipped files of runs no longer in the set are removed. With
    ``stored_only``, configs the store has not finished are left out (and named in the log) instead of trained.
    """
    from .sweep import run_for_command

    install(store, out_dir.parent)
    stored_before = {c.run_id for c in configs if is_done(store.get(c.run_id))}
    if not stored_only:
        run_for_command(store, configs, ray_address, data_dir, log=log)
    total, keep = 0, set()
    for config in configs:
        record = store.get(config.run_id)
        if not is_done(record):
            log(f"{config.label}: {'not in the store' if stored_only or record is None else record.status}, left out")
            continue
        total += export_run(store, record.run_id, out_dir, with_weights=ships_weights(config))
        keep.add(record.run_id)
        log(
            f"{config.label}: {record.status}, test acc {record.metrics.get('test_acc', float('nan')):.3f}"
            f"{' (stored)' if record.run_id in stored_before else ''}; {total / 1e6:.1f} MB so far"
        )
    if prune:
        for path in out_dir.iterdir():
            if path.name.split(".")[0] not in keep and path.suffix in (".gz", ".safetensors"):
                path.unlink()
                log(f"removed {path.name}: no longer in the set")
    return total
