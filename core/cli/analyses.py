"""Commands that look inside networks and stored runs:

python -m core lesion RUN [--images 500 --k-images 200 --draws 3] [--json] [--time]
python -m core confusion RUN [--json]
python -m core landscape RUN [--kind 1d|2d --grid 11 --span 1 --batch 128 --seed 0] [--json] [--time]
python -m core features RUN [--image 0 --block stage2.block0] [--json] [--time]
python -m core classify RUN IMAGE... [--json]
python -m core probe-init [--depths 20 56 110 --shortcuts none A --bn on off --inits kaiming default]
"""

from __future__ import annotations

import os
import time

from ..analysis import landscape, lesion, ood
from ..analysis.attribution import predict_topk
from ..analysis.features import inspect, parts_sentence, strongest_channels
from ..analysis.inputs import normalisation, test_images
from ..analysis.inside import cache_key, check_lesionable, landscape_for_run, lesion_for_run
from ..engine.config import RunConfig
from ..engine.data import CIFAR10_CLASSES, SHAPES10_CLASSES, ImageError, load_dataset, preprocess_image
from ..engine.models import PROBE_DEPTHS, SHORTCUTS
from ..engine.probes import init_grid, probe_at_init, probe_batch, shattering_table, summarize_init
from ..runs.store import RunStore
from .args import add_data_args, add_data_dir_arg, add_json_arg, add_store_args, find_run
from .output import emit, say
from .progress import ProgressBar


def add_parsers(sub) -> None:

    p = sub.add_parser("lesion", help="delete residual blocks at test time and measure test error (Veit et al. 2016)")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--images", type=int, default=500, help="test images of the single-block sweep (default 500)")
    p.add_argument(
        "--k-images", type=int, default=200, help="test images of the k-deletion curve (0: no curve; default 200)"
    )
    p.add_argument("--draws", type=int, default=3, help="random sets of k blocks per k (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sets")
    add_data_dir_arg(p)
    p.add_argument(
        "--time", action="store_true", help="recompute (ignore the cache) and report the seconds each part took"
    )
    add_store_args(p)
    p.set_defaults(handler=cmd_lesion)

    p = sub.add_parser("confusion", help="per-class test accuracy and the confusion matrix on every test image")
    p.add_argument("run", help="run id (a unique prefix will do)")
    add_data_dir_arg(p)
    add_store_args(p)
    p.set_defaults(handler=cmd_confusion)

    p = sub.add_parser("landscape", help="loss along filter-normalised random directions (Li et al. 2018)")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--kind", choices=("1d", "2d"), default="1d", help="a 1-D slice or a 2-D plane (default 1d)")
    p.add_argument("--grid", type=int, default=21, help=f"points per axis, 3..{landscape.MAX_STEPS} (default 21)")
    p.add_argument("--span", type=float, default=1.0, help="α (and β) run from -span to +span (default 1)")
    p.add_argument("--batch", type=int, default=128, help="fixed training images the loss is measured on (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    add_data_dir_arg(p)
    p.add_argument("--time", action="store_true", help="recompute (ignore the cache) and report the seconds it took")
    add_store_args(p)
    p.set_defaults(handler=cmd_landscape)

    p = sub.add_parser("features", help="one test image's feature maps and the parts of one block")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--image", type=int, default=0, help="index among 100 class-balanced test images (default 0)")
    p.add_argument(
        "--block", default="stage2.block0", help="block whose F(x), shortcut and sum to report (default stage2.block0)"
    )
    add_data_dir_arg(p)
    p.add_argument("--time", action="store_true", help="report the seconds of the forward pass with hooks")
    add_store_args(p)
    p.set_defaults(handler=cmd_features)

    p = sub.add_parser(
        "classify", help="each image's top 5 and whether it is unlike the run's training data (the Classify page's)"
    )
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, GIF, WebP, BMP, TIFF)")
    add_data_dir_arg(p)
    add_store_args(p)
    p.set_defaults(handler=cmd_classify)

    p = sub.add_parser("probe-init", help="per-layer gradient norms at initialisation for a grid of networks")
    p.add_argument("--depths", type=int, nargs="+", default=list(PROBE_DEPTHS))
    p.add_argument("--shortcuts", nargs="+", choices=SHORTCUTS, default=["none", "A"])
    p.add_argument("--bn", nargs="+", choices=("on", "off"), default=["on", "off"])
    p.add_argument("--inits", nargs="+", choices=("kaiming", "default"), default=["kaiming", "default"])
    p.add_argument("--batch", type=int, default=128, help="images in the probe batch")
    p.add_argument("--csv", help="also write the per-layer table here")
    p.add_argument(
        "--shattering",
        action="store_true",
        help="also measure how alike the input-gradients of neighbouring inputs are (BN on, kaiming)",
    )
    add_data_args(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_probe_init)


def _positive(name: str, value: int, allow_zero: bool = False) -> None:
    if value < (0 if allow_zero else 1):
        raise ValueError(f"--{name} must be {'at least 0' if allow_zero else 'positive'}, got {value}")


def _load() -> float | None:
    """The 1-minute load average: timings on a shared machine mean little without it."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _timed(label: str, work):
    """``work(progress)`` under a progress bar on stderr; returns its result and the wall and CPU seconds it took."""
    bar = ProgressBar(label)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = work(lambda done, total: bar.update(done, total))
    finally:
        bar.close()
    return result, {
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
        "load_average": _load(),
    }


def cmd_lesion(args) -> None:
    for name in ("images", "draws"):
        _positive(name, getattr(args, name))
    _positive("k-images", args.k_images, allow_zero=True)
    store = RunStore(args.store)
    record = find_run(store, args.run)
    check_lesionable(store, record)
    if args.time:  # measure: drop the cached result first
        lesion.cache_path(
            store.root, cache_key(store, record), args.images, args.k_images, args.draws, args.seed
        ).unlink(missing_ok=True)
    (result, cached), timing = _timed(
        f"lesion {record.config.model_name}",
        lambda progress: lesion_for_run(
            store,
            record,
            images=args.images,
            k_images=args.k_images,
            draws=args.draws,
            seed=args.seed,
            data_dir=args.data_dir,
            progress=progress,
        ),
    )
    obj = {
        **result.to_dict(),
        "cached": cached,
        "k_summary": lesion.k_summary(result),
        "summary": lesion.sweep_summary(result),
        **timing,
    }
    lines = [
        lesion.sweep_sentence(result),
        f"  deleted block (* changes the shape) → test error; deleting means: {result.rule}",
    ]
    lines += [
        f"  {b['name'] + ('*' if b['changes_shape'] else ''):<17} {100 * b['error']:5.1f}%" for b in result.blocks
    ]
    if result.k_curve:
        lines.append(lesion.k_sentence(result))
    if args.time:
        lines.append(
            f"seconds: single-block sweep {result.seconds['sweep']} ({result.images} images), "
            f"k-curve {result.seconds['k_curve']} ({result.k_images} images, {result.draws} draws), "
            f"wall {timing['wall_seconds']:.1f}, CPU {timing['cpu_seconds']:.1f} (load average "
            f"{timing['load_average']})"
        )
    emit(args, obj, "\n".join(lines))


def cmd_confusion(args) -> None:
    from ..analysis import confusion
    from ..analysis.inside import confusion_for_run

    store = RunStore(args.store)
    record = find_run(store, args.run)
    (result, cached), timing = _timed(
        f"confusion {record.config.model_name}",
        lambda progress: confusion_for_run(store, record, data_dir=args.data_dir, progress=progress),
    )
    per_class = confusion.per_class_accuracy(result)
    obj = {**result.to_dict(), "cached": cached, "per_class_accuracy": per_class, **timing}
    lines = [f"{result.model}: {100 * result.accuracy:.2f}% of {result.images:,} {result.dataset} test images"]
    lines += [f"  {name:<12} {100 * acc:5.1f}%" for name, acc in per_class.items()]
    lines.append("rows: true class, columns: predicted (" + " ".join(c[:5] for c in result.classes) + ")")
    lines += ["  " + " ".join(f"{n:5d}" for n in row) for row in result.matrix]
    emit(args, obj, "\n".join(lines))


def cmd_landscape(args) -> None:
    store = RunStore(args.store)
    record = find_run(store, args.run)
    landscape.check_request(args.grid, args.span, args.batch)
    check_lesionable(store, record)
    if args.time:
        landscape.cache_path(
            store.root, cache_key(store, record), args.kind, args.seed, args.grid, args.span, args.batch
        ).unlink(missing_ok=True)
    label = (
        f"landscape {record.config.model_name} {args.kind} "
        f"{args.grid}{'x' + str(args.grid) if args.kind == '2d' else ''}"
    )
    result, timing = _timed(
        label,
        lambda progress: landscape_for_run(
            store,
            record,
            kind=args.kind,
            seed=args.seed,
            steps=args.grid,
            span=args.span,
            batch=args.batch,
            data_dir=args.data_dir,
            progress=progress,
        ),
    )
    obj = {**result.to_dict(), "cached": result.cached, "smoothness": landscape.smoothness(result), **timing}
    if result.kind == "1d":
        lines = [landscape.slice_sentence([result])] + [
            f"  α {a:+.3f}  loss {v:.4g}" for a, v in zip(result.alphas, result.loss)
        ]
    else:
        lines = [landscape.contour_sentence(result), "β = 0 row: " + landscape.slice_sentence([result])]
    if args.time:
        lines.append(
            f"seconds: {result.seconds} for {args.grid if args.kind == '1d' else args.grid**2} points on "
            f"{args.batch} images (wall {timing['wall_seconds']:.1f}, data and model loading included; "
            f"CPU {timing['cpu_seconds']:.1f}; load average {timing['load_average']})"
        )
    emit(args, obj, "\n".join(lines))


def cmd_features(args) -> None:
    store = RunStore(args.store)
    record = find_run(store, args.run)
    check_lesionable(store, record)
    if not 0 <= args.image < 100:
        raise ValueError(f"--image must be from 0 to 99, got {args.image}")
    model = store.load_model(record.run_id)
    x, y, classes = test_images(record, 100, args.data_dir, str(store.datasets_dir))
    t0 = time.perf_counter()
    maps, view, stds = inspect(model, x[args.image], args.block)
    seconds = time.perf_counter() - t0
    obj = {
        "run_id": record.run_id,
        "model": record.config.model_name,
        "image": args.image,
        "label": classes[int(y[args.image])],
        "block": args.block,
        "part_rms": {p: float((a**2).mean() ** 0.5) for p, a in view.parts.items()},
        "layers": {
            name: {"shape": list(a.shape), "strongest_channels": strongest_channels(a, 4)} for name, a in maps.items()
        },
        "response_std": stds.to_dict(orient="records"),
        "seconds": round(seconds, 4),
    }
    lines = [
        f"{record.config.model_name}, test image {args.image} ({obj['label']})",
        parts_sentence(record.config.model_name, view),
    ]
    if args.time:
        lines.append(f"seconds: {seconds:.3f} for one forward pass with hooks on every layer")
    emit(args, obj, "\n".join(lines))


MAX_IMAGE_BYTES = 20_000_000  # what an upload may be (core.engine.data.preprocess_image)


def read_image(path: str):
    """The model's 32x32 input from an image file; ImageError with a plain reason otherwise."""
    try:
        size = os.path.getsize(path)
        if size > MAX_IMAGE_BYTES:
            raise ImageError(f"The file is {size / 1e6:.1f} MB; the limit is {MAX_IMAGE_BYTES / 1e6:g} MB.")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageError(f"The file cannot be read ({e.strerror or e}).") from None
    return preprocess_image(data, max_bytes=MAX_IMAGE_BYTES)[0]


def run_classes(record) -> tuple[str, ...]:
    info = record.info or {}
    if info.get("classes"):
        return tuple(info["classes"])
    return CIFAR10_CLASSES if record.config.dataset == "cifar10" else SHAPES10_CLASSES


def cmd_classify(args) -> None:
    store = RunStore(args.store)
    record = find_run(store, args.run)
    model = store.load_model(record.run_id)
    classes = run_classes(record)
    if ood.cached_detector(store, record) is None:
        say(f"fitting the out-of-distribution check of {record.config.model_name} once (about a minute)…")
    detector = ood.detector_for_run(store, record, args.data_dir)
    mean, std = _normalisation(store, record, args.data_dir)
    title = detector.meta.get("dataset_title", record.config.dataset)
    results, lines, failed = [], [], 0
    for path in args.images:
        try:
            image = read_image(path)
        except ImageError as e:
            failed += 1
            results.append({"image": path, "error": str(e)})
            lines.append(f"{path}: cannot be classified: {e}")
            continue
        top = predict_topk(model, image, mean, std, classes, k=5)
        (verdict,) = ood.judge(detector, model, image, mean, std)
        sentence = verdict.sentence(record.config.model_name, title).replace("**", "")
        results.append(
            {
                "image": path,
                "top5": [{"class": c, "probability": round(p, 6)} for c, p in top],
                "verdict": {**verdict.to_dict(), "level": verdict.level, "sentence": sentence},
            }
        )
        tops = ", ".join(f"{c} {100 * p:.1f}%" for c, p in top)
        lines.append(f"{path}: {tops}\n  {sentence}")
    obj = {"run_id": record.run_id, "model": record.config.model_name, "dataset": title, "images": results}
    emit(args, obj, "\n".join(lines))
    if failed:
        say(f"{failed} of {len(args.images)} images could not be classified")
        raise SystemExit(1)


def _normalisation(store: RunStore, record, data_dir: str | None) -> tuple[tuple, tuple]:
    """How the run normalised its inputs: recorded in its info, else its training images' statistics."""
    if (record.info or {}).get("mean"):
        return normalisation(record)
    c = record.config
    return normalisation(
        record, load_dataset(c.dataset, data_dir, subset=c.subset, seed=c.seed, cache_dir=str(store.datasets_dir))
    )


def cmd_probe_init(args) -> None:
    for d in args.depths:
        RunConfig(depth=d)  # validates
    images, labels, title = probe_batch(args.dataset, args.batch, data_dir=args.data_dir)
    specs = init_grid(tuple(args.depths), tuple(args.shortcuts), tuple(b == "on" for b in args.bn), tuple(args.inits))
    bar = ProgressBar("probe-init")
    df = probe_at_init(specs, images, labels, progress=lambda i, n: bar.update(i, n))
    bar.close()
    if args.csv:
        df.to_csv(args.csv, index=False)
    summary = summarize_init(df)
    text = f"gradient norms at initialisation, one batch of {args.batch} {title} images\n" + summary.to_string(
        index=False, float_format="%.3g"
    )
    obj = {
        "dataset": title,
        "batch": args.batch,
        "summary": summary.to_dict(orient="records"),
        "layers": df.to_dict(orient="records"),
    }
    if args.shattering:
        shatter = shattering_table([dict(depth=d, shortcut=s) for s in args.shortcuts for d in args.depths], images[:2])
        obj["shattering"] = shatter.to_dict(orient="records")
        text += (
            "\n\nneighbouring input-gradient correlation (1 = smooth, 0 = white noise), BN on, kaiming init\n"
            + shatter.to_string(index=False, float_format="%.3f")
        )
    emit(args, obj, text)
