"""Looking inside stored runs: the lesion study, loss landscapes and feature maps for one run, with
their disk caches, the choice of a matched plain/ResNet pair, and the CLI commands

    python -m core lesion RUN [--images 500 --k-images 200 --draws 3] [--json] [--time]
    python -m core landscape RUN [--kind 1d|2d --grid 11 --span 1 --batch 128 --seed 0] [--json] [--time]
    python -m core features RUN [--image 0 --block stage2.block0] [--json] [--time]
"""
from __future__ import annotations

import time
from pathlib import Path

from . import landscape, lesion
from .compare import setup_key
from .features import inspect, parts_sentence
from .inputs import test_images, train_batch
from ..runs.store import RunRecord, RunStore, StoreError
from ..runs.verdict import record_verdict

LESION_SHORTCUTS = tuple(lesion.LESION_RULES)


def dataset_cache(store: RunStore) -> str:
    """Where data sets are cached: inside the store, shared with the dashboard."""
    return str(Path(store.root) / "datasets")


def cache_key(store: RunStore, record: RunRecord) -> str:
    """The run id and the time its weights were written: a retrained run (same id) is not served stale results."""
    return f"{record.run_id}-w{int(store.weights_path(record.run_id).stat().st_mtime)}"


def check_lesionable(store: RunStore, record: RunRecord) -> None:
    c = record.config
    if c.arch != "cifar" or c.shortcut not in LESION_SHORTCUTS:
        raise lesion.LesionError(f"{c.model_name}: only the paper's CIFAR plain nets and ResNets (A or B) can be looked "
                                 "inside here")
    if not store.weights_path(record.run_id).exists():
        raise StoreError(f"run {record.run_id} ({record.config.label}) has no saved weights (status: {record.status})")


def lesion_for_run(store: RunStore, record: RunRecord, *, images: int = 500, k_images: int = 200, draws: int = 3,
                   seed: int = 0, data_dir: str | None = None, progress=None) -> tuple[lesion.LesionResult, bool]:
    """The run's lesion study from the disk cache under the store, else computed and cached; and whether cached."""
    check_lesionable(store, record)
    path = lesion.cache_path(store.root, cache_key(store, record), images, k_images, draws, seed)
    if (hit := lesion.read_cached(path)) is not None:
        return hit, True
    model = store.load_model(record.run_id)
    x, y, _ = test_images(record, images, data_dir, dataset_cache(store))
    result = lesion.lesion_study(model, x, y, run_id=record.run_id, model_label=record.config.model_name,
                                 k_images=k_images, draws=draws, seed=seed, progress=progress)
    lesion.write_cached(path, result)
    return result, False


def landscape_for_run(store: RunStore, record: RunRecord, *, kind: str = "1d", seed: int = 0, steps: int = 21,
                      span: float = 1.0, batch: int = 128, data_dir: str | None = None, progress=None) -> landscape.Landscape:
    """The run's 1-D slice or 2-D plane from the disk cache under the store, else computed and cached."""
    check_lesionable(store, record)

    def load():
        x, y = train_batch(record, batch, data_dir, dataset_cache(store))
        return store.load_model(record.run_id), x, y, record.config.model_name

    return landscape.cached_compute(store.root, record.run_id, load, kind=kind, seed=seed, steps=steps, span=span,
                                    batch=batch, progress=progress, key=cache_key(store, record))


def cached_landscape(store: RunStore, record: RunRecord, *, kind: str, seed: int, steps: int, span: float,
                     batch: int) -> landscape.Landscape | None:
    """The landscape if it is already on disk, else None (nothing is computed)."""
    check_lesionable(store, record)
    return landscape.read_cached(landscape.cache_path(store.root, cache_key(store, record), kind, seed, steps, span, batch))


def cached_lesion(store: RunStore, record: RunRecord, *, images: int, k_images: int, draws: int,
                  seed: int = 0) -> lesion.LesionResult | None:
    check_lesionable(store, record)
    return lesion.read_cached(lesion.cache_path(store.root, cache_key(store, record), images, k_images, draws, seed))


def matched_pair(records: list[RunRecord], depth: int | None = 56, learned_first: bool = False,
                 ) -> tuple[RunRecord | None, RunRecord | None]:
    """A finished plain net and the ResNet of the same depth trained the same way (setup and seed), option A
    first (exactly the plain net's parameters); shipped reference runs first, then the deepest depth
    when ``depth`` has no pair. With ``learned_first``, a pair in which both networks left chance comes
    before any pair with a network that did not (a lesion needs something to lose). (None, None) when no
    such pair is stored. Among pairs equal on depth and shipping, one in which both networks learned comes first."""
    done = [r for r in records if r.status == "done" and r.config.arch == "cifar"]
    pairs = []
    for plain in (r for r in done if r.config.shortcut == "none"):
        for res in (r for r in done if r.config.shortcut in ("A", "B")):
            if res.config.depth == plain.config.depth and setup_key(res.config) == setup_key(plain.config) \
                    and res.config.seed == plain.config.seed:
                pairs.append((plain, res))
    if not pairs:
        return None, None
    def stuck(pair):
        return any(record_verdict(r) is not None for r in pair)
    pairs.sort(key=lambda p: (learned_first and stuck(p), p[0].config.depth != depth, not (p[0].reference and p[1].reference),
                              stuck(p), p[1].config.shortcut != "A", -p[0].config.depth, p[0].config.seed, -p[0].updated))
    return pairs[0]


# ------------------------------------------------------------------------------------------ CLI

def add_parsers(sub) -> None:
    from ..cli import add_store_args

    p = sub.add_parser("lesion", help="delete residual blocks at test time and measure test error (Veit et al. 2016)")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--images", type=int, default=500, help="test images of the single-block sweep (default 500)")
    p.add_argument("--k-images", type=int, default=200, help="test images of the k-deletion curve (0: no curve; default 200)")
    p.add_argument("--draws", type=int, default=3, help="random sets of k blocks per k (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sets")
    p.add_argument("--data-dir", help="directory holding cifar-10-batches-py (for CIFAR-10 runs)")
    p.add_argument("--time", action="store_true", help="recompute (ignore the cache) and report the seconds each part took")
    add_store_args(p)
    p.set_defaults(handler=cmd_lesion)

    p = sub.add_parser("landscape", help="loss along filter-normalised random directions (Li et al. 2018)")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--kind", choices=("1d", "2d"), default="1d", help="a 1-D slice or a 2-D plane (default 1d)")
    p.add_argument("--grid", type=int, default=21, help=f"points per axis, 3..{landscape.MAX_STEPS} (default 21)")
    p.add_argument("--span", type=float, default=1.0, help="α (and β) run from -span to +span (default 1)")
    p.add_argument("--batch", type=int, default=128, help="fixed training images the loss is measured on (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    p.add_argument("--data-dir", help="directory holding cifar-10-batches-py (for CIFAR-10 runs)")
    p.add_argument("--time", action="store_true", help="recompute (ignore the cache) and report the seconds it took")
    add_store_args(p)
    p.set_defaults(handler=cmd_landscape)

    p = sub.add_parser("features", help="one test image's feature maps and the parts of one block")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--image", type=int, default=0, help="index among 100 class-balanced test images (default 0)")
    p.add_argument("--block", default="stage2.block0", help="block whose F(x), shortcut and sum to report (default stage2.block0)")
    p.add_argument("--data-dir", help="directory holding cifar-10-batches-py (for CIFAR-10 runs)")
    p.add_argument("--time", action="store_true", help="report the seconds of the forward pass with hooks")
    add_store_args(p)
    p.set_defaults(handler=cmd_features)


def _positive(name: str, value: int, allow_zero: bool = False) -> None:
    if value < (0 if allow_zero else 1):
        raise ValueError(f"--{name} must be {'at least 0' if allow_zero else 'positive'}, got {value}")


def _load() -> float | None:
    """The 1-minute load average: timings on a shared machine mean little without it."""
    import os
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _bar(label: str):
    from ..cli.progress import ProgressBar
    return ProgressBar(label)


def _timed(label: str, work):
    """``work(progress)`` under a progress bar on stderr; returns its result and the wall and CPU seconds it took."""
    bar = _bar(label)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = work(lambda done, total: bar.update(done, total))
    finally:
        bar.close()
    return result, {"wall_seconds": round(time.perf_counter() - t0, 2), "cpu_seconds": round(time.process_time() - c0, 2),
                    "load_average": _load()}


def cmd_lesion(args) -> None:
    from ..cli import emit, find_run
    for name in ("images", "draws"):
        _positive(name, getattr(args, name))
    _positive("k-images", args.k_images, allow_zero=True)
    store = RunStore(args.store)
    record = find_run(store, args.run)
    check_lesionable(store, record)
    if args.time:  # measure: drop the cached result first
        lesion.cache_path(store.root, cache_key(store, record), args.images, args.k_images, args.draws, args.seed).unlink(missing_ok=True)
    (result, cached), timing = _timed(f"lesion {record.config.model_name}", lambda progress: lesion_for_run(
        store, record, images=args.images, k_images=args.k_images, draws=args.draws, seed=args.seed,
        data_dir=args.data_dir, progress=progress))
    obj = {**result.to_dict(), "cached": cached, "k_summary": lesion.k_summary(result), "summary": lesion.sweep_summary(result),
           **timing}
    lines = [lesion.sweep_sentence(result), f"  deleted block (* changes the shape) → test error; deleting means: {result.rule}"]
    lines += [f"  {b['name'] + ('*' if b['changes_shape'] else ''):<17} {100 * b['error']:5.1f}%" for b in result.blocks]
    if result.k_curve:
        lines.append(lesion.k_sentence(result))
    if args.time:
        lines.append(f"seconds: single-block sweep {result.seconds['sweep']} ({result.images} images), "
                     f"k-curve {result.seconds['k_curve']} ({result.k_images} images, {result.draws} draws), "
                     f"wall {timing['wall_seconds']:.1f}, CPU {timing['cpu_seconds']:.1f} (load average {timing['load_average']})")
    emit(args, obj, "\n".join(lines))


def cmd_landscape(args) -> None:
    from ..cli import emit, find_run
    store = RunStore(args.store)
    record = find_run(store, args.run)
    landscape.check_request(args.grid, args.span, args.batch)
    check_lesionable(store, record)
    if args.time:
        landscape.cache_path(store.root, cache_key(store, record), args.kind, args.seed, args.grid, args.span, args.batch).unlink(missing_ok=True)
    label = f"landscape {record.config.model_name} {args.kind} {args.grid}{'x' + str(args.grid) if args.kind == '2d' else ''}"
    result, timing = _timed(label, lambda progress: landscape_for_run(
        store, record, kind=args.kind, seed=args.seed, steps=args.grid, span=args.span, batch=args.batch,
        data_dir=args.data_dir, progress=progress))
    obj = {**result.to_dict(), "cached": result.cached, "smoothness": landscape.smoothness(result), **timing}
    if result.kind == "1d":
        lines = [landscape.slice_sentence([result])] + [f"  α {a:+.3f}  loss {v:.4g}" for a, v in zip(result.alphas, result.loss)]
    else:
        lines = [landscape.contour_sentence(result), "β = 0 row: " + landscape.slice_sentence([result])]
    if args.time:
        lines.append(f"seconds: {result.seconds} for {args.grid if args.kind == '1d' else args.grid ** 2} points on "
                     f"{args.batch} images (wall {timing['wall_seconds']:.1f}, data and model loading included; "
                     f"CPU {timing['cpu_seconds']:.1f}; load average {timing['load_average']})")
    emit(args, obj, "\n".join(lines))


def cmd_features(args) -> None:
    from ..cli import emit, find_run
    from .features import strongest_channels
    store = RunStore(args.store)
    record = find_run(store, args.run)
    check_lesionable(store, record)
    if not 0 <= args.image < 100:
        raise ValueError(f"--image must be from 0 to 99, got {args.image}")
    model = store.load_model(record.run_id)
    x, y, classes = test_images(record, 100, args.data_dir, dataset_cache(store))
    t0 = time.perf_counter()
    maps, view, stds = inspect(model, x[args.image], args.block)
    seconds = time.perf_counter() - t0
    obj = {"run_id": record.run_id, "model": record.config.model_name, "image": args.image, "label": classes[int(y[args.image])],
           "block": args.block, "part_rms": {p: float((a ** 2).mean() ** 0.5) for p, a in view.parts.items()},
           "layers": {name: {"shape": list(a.shape), "strongest_channels": strongest_channels(a, 4)} for name, a in maps.items()},
           "response_std": stds.to_dict(orient="records"), "seconds": round(seconds, 4)}
    lines = [f"{record.config.model_name}, test image {args.image} ({obj['label']})", parts_sentence(record.config.model_name, view)]
    if args.time:
        lines.append(f"seconds: {seconds:.3f} for one forward pass with hooks on every layer")
    emit(args, obj, "\n".join(lines))
