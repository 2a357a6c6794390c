"""Data for ResNet Lab: CIFAR-10, the built-in Shapes-10 set, augmentation and image preprocessing.

Images are kept as uint8 tensors [N, 3, 32, 32] on the CPU; ``augment`` and ``normalize`` work on
whole batches on any device, so a training step never touches PIL or a per-image Python loop.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .files import atomic_write

DATASETS = ("builtin", "cifar10")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHAPES10_CLASSES = (
    "disc",
    "ring",
    "square",
    "triangle",
    "cross",
    "horizontal stripes",
    "vertical stripes",
    "checkerboard",
    "diagonal bar",
    "dot grid",
)
DATA_ENV = "RESNET_LAB_DATA"
DEFAULT_CACHE = Path("~/.cache/resnet-lab/data")
CIFAR_DIRNAME = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
BUILTIN_SEED = 0  # the built-in set is one fixed set, like CIFAR-10; load_dataset's seed only picks subsets
BUILTIN_VERSION = 1  # bump when the generator changes, so stale cache files are not reused


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    description: str
    classes: tuple[str, ...]
    x_train: torch.Tensor  # uint8 [N, 3, 32, 32]
    y_train: torch.Tensor  # int64 [N]
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, float, float]  # per channel, of x_train / 255
    std: tuple[float, float, float]


class DataUnavailable(RuntimeError):
    """The data set cannot be found, read or downloaded; the message says how to fix it."""


class ImageError(ValueError):
    """An uploaded image cannot be used; the message is meant for the user."""


# ----------------------------------------------------------------------------------------- CIFAR-10


def resolve_data_dir(data_dir: str | None) -> Path | None:
    """The directory to read CIFAR-10 from: the argument, else $RESNET_LAB_DATA, else None."""
    chosen = data_dir or os.environ.get(DATA_ENV) or None
    return Path(chosen).expanduser() if chosen else None


def _how_to_fix() -> str:
    return (
        f"Pass --data-dir DIR or set {DATA_ENV}=DIR, where DIR holds {CIFAR_DIRNAME}/ (data_batch_1..5, "
        f"test_batch: the 'CIFAR-10 python version' from https://www.cs.toronto.edu/~kriz/cifar.html), "
        f"or set neither and connect to the internet to download it (to {DEFAULT_CACHE} unless a cache "
        f"directory is given)."
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds only numpy arrays, lists and dicts: a pickle can run code, this one cannot."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }  # the last: bytes from Python 3

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        if name == "_reconstruct":  # numpy.core is a deprecated alias of numpy._core
            return np._core.multiarray._reconstruct
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        get = lambda key: batch[key.encode()] if key.encode() in batch else batch[key]  # noqa: E731
        data, labels = np.asarray(get("data"), dtype=np.uint8), np.asarray(get("labels"), dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data) or not len(data):
            raise ValueError(f"data has shape {data.shape} and {len(labels)} labels")
        if labels.min() < 0 or labels.max() > 9:
            raise ValueError("labels outside 0..9")
    except FileNotFoundError:
        raise DataUnavailable(f"CIFAR-10 file missing: {path}. {_how_to_fix()}") from None
    except Exception as e:  # truncated, not a pickle, wrong keys or shapes
        raise DataUnavailable(
            f"CIFAR-10 file is corrupt or not in the python format: {path} ({e}). "
            f"Replace it, or delete it to download again. {_how_to_fix()}"
        ) from None
    return data.reshape(-1, 3, 32, 32), labels  # rows are 1024 R, then G, then B values: already NCHW


def _batches_dir(data_dir: Path) -> Path:
    nested = data_dir / CIFAR_DIRNAME
    return nested if nested.is_dir() else data_dir


@functools.lru_cache(maxsize=2)
def _read_cifar(batches_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decoded arrays, kept for the process (read-only, since every caller shares them)."""
    train = [_read_batch(Path(batches_dir) / name) for name in CIFAR_TRAIN_FILES]
    arrays = (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        *_read_batch(Path(batches_dir) / CIFAR_TEST_FILE),
    )
    for a in arrays:
        a.flags.writeable = False
    return arrays


def load_cifar10_arrays(data_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_train uint8 [50000,3,32,32], y_train int64, x_test, y_test from a ``cifar-10-batches-py`` dir.

    ``data_dir`` may be that directory or its parent. The pickles are read directly, with no md5
    check, so a rebuilt copy is accepted too. The arrays are cached and read-only.
    """
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataUnavailable(f"CIFAR-10 directory not found: {data_dir}. {_how_to_fix()}")
    return _read_cifar(str(_batches_dir(data_dir).resolve()))


def _download_cifar10(cache_dir: str | None) -> Path:
    root = Path(cache_dir or DEFAULT_CACHE).expanduser()
    batches = root / CIFAR_DIRNAME
    if all((batches / f).is_file() for f in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)):
        return batches  # downloaded before (and md5-checked then)
    try:
        import torchvision

        root.mkdir(parents=True, exist_ok=True)
        torchvision.datasets.CIFAR10(root=str(root), train=True, download=True)
    except Exception as e:  # offline, DNS failure, disk full, bad checksum...
        raise DataUnavailable(
            f"CIFAR-10 was not found locally and could not be downloaded to {root} "
            f"({type(e).__name__}: {e}). {_how_to_fix()}"
        ) from None
    return batches


def _cifar_source(data_dir: str | None, cache_dir: str | None) -> tuple[Path, str]:
    """The batches directory and the title: a directory carrying PROVENANCE.md is a rebuilt copy."""
    named = resolve_data_dir(data_dir)
    if named is None:
        return _download_cifar10(cache_dir), "CIFAR-10"
    if not named.is_dir():
        raise DataUnavailable(f"CIFAR-10 directory not found: {named}. {_how_to_fix()}")
    batches = _batches_dir(named)
    rebuilt = (named / "PROVENANCE.md").is_file() or (batches / "PROVENANCE.md").is_file()
    return batches, "CIFAR-10 (rebuilt copy)" if rebuilt else "CIFAR-10"


# ------------------------------------------------------------------------------------ Shapes-10


def _fract(t):
    return t - np.floor(t)


def _stripes(t, period):
    """Signed distance (px) to stripes of half the period's width, along coordinate t (px)."""
    return (np.abs(_fract(t / period) - 0.5) - 0.25) * period


def _render(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Draw one image per label: a shape or patterned patch on a textured background, plus clutter."""
    b, size = len(labels), 32
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5  # pixel centres
    u01 = lambda *shape: rng.random(shape, dtype=np.float32)  # noqa: E731

    # Background: a random colour with a smooth colour texture, so no class owns a colour.
    tex = torch.from_numpy(rng.standard_normal((b, 3, 5, 5), dtype=np.float32))
    tex = F.interpolate(tex, size=size, mode="bicubic", align_corners=False).numpy()
    img = u01(b, 3, 1, 1) + (0.02 + 0.08 * u01(b, 1, 1, 1)) * tex

    # Shape pose: half-size r (px), centre, rotation, anisotropy; local coords u, v span about [-1, 1].
    r = 10 + 3 * u01(b)
    cx, cy = [0.85 * r + (size - 1.7 * r) * u01(b) for _ in range(2)]
    angle = np.radians(30 * u01(b) - 15)  # near upright, so a square is not a diamond
    angle[labels == 3] += np.pi * (u01((labels == 3).sum()) < 0.5)  # triangles point up or down
    diag = labels == 8  # a bar at 30-60 degrees, either way
    angle[diag] = np.where(u01(diag.sum()) < 0.5, 1, -1) * np.radians(30 + 30 * u01(diag.sum()))
    aspect = np.exp(0.2 * (2 * u01(b) - 1))[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    dx, dy = xx - cx[:, None, None], yy - cy[:, None, None]
    rr = r[:, None, None]
    u = (c * dx + s * dy) / (rr * aspect)
    v = (-s * dx + c * dy) * aspect / rr

    # Signed distance to each class's shape, in pixels (negative inside), computed class by class.
    period = 3.5 + 2.5 * u01(b)  # of stripes, checks and dots, in px
    width = 0.25 + 0.15 * u01(b)  # of rings, crosses and bars, relative to r
    d = np.empty((b, size, size), np.float32)
    for k in range(len(SHAPES10_CLASSES)):
        m = labels == k
        if m.any():
            d[m] = _shape_sdf(k, u[m], v[m], rr[m], period[m, None, None], width[m, None, None])
    mask = np.clip(0.5 - d, 0, 1)[:, None]

    # Foreground: a colour far enough from the background's, at a random contrast.
    fg = u01(b, 3, 1, 1)
    base = img.mean(axis=(2, 3), keepdims=True)
    close = np.linalg.norm(fg - base, axis=1, keepdims=True) < 0.45
    fg = np.where(close, 1 - base, fg)
    alpha = 0.6 + 0.4 * u01(b, 1, 1, 1)
    img += alpha * mask * (fg - img)

    # Clutter: small blobs and short strokes of random colours over the whole image.
    for _ in range(3):
        px, py = size * u01(b, 1, 1), size * u01(b, 1, 1)
        th = np.pi * u01(b, 1, 1)
        du, dv = (xx - px) * np.cos(th) + (yy - py) * np.sin(th), -(xx - px) * np.sin(th) + (yy - py) * np.cos(th)
        length, thick = 1 + 3 * u01(b, 1, 1), 0.6 + 1.2 * u01(b, 1, 1)
        dist = np.hypot(np.maximum(np.abs(du) - length, 0), np.abs(dv)) - thick
        present = u01(b, 1, 1) < 0.7
        blob = (np.clip(0.5 - dist, 0, 1) * present)[:, None]
        img += blob * (u01(b, 3, 1, 1) - img)

    img += (0.006 + 0.024 * u01(b, 1, 1, 1)) * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.rint(img * 255), 0, 255, out=img).astype(np.uint8)


def _shape_sdf(k, u, v, r, period, width):
    """Signed distance (px) to the shape of class k, given local coordinates u, v and half-size r (px)."""
    au, av, rad = np.abs(u), np.abs(v), np.hypot(u, v)
    box = (np.maximum(au, av) - 1) * r  # the patch that holds a pattern
    if k == 0:
        return (rad - 1) * r
    if k == 1:
        return (np.abs(rad - 0.75) - width) * r
    if k == 2:
        return (np.maximum(au, av) - 0.8) * r
    if k == 3:  # equilateral, inradius 0.5
        return np.maximum(-v - 0.5, 0.866 * au + 0.5 * v - 0.5) * r
    if k == 4:
        return np.minimum(np.maximum(au - width, av - 1), np.maximum(av - width, au - 1)) * r
    if k in (5, 6):  # stripes across v (horizontal) or u (vertical)
        return np.maximum(box, _stripes((v if k == 5 else u) * r, period))
    if k == 7:  # checkerboard: inside where both stripe tests agree
        a, b = _stripes(u * r, period), _stripes(v * r, period)
        return np.maximum(box, np.where(a * b > 0, -1, 1) * np.minimum(np.abs(a), np.abs(b)))
    if k == 8:
        return np.maximum(av - 0.8 * width, au - 1.1) * r
    fu, fv = ((_fract(t * r / period) - 0.5) * period for t in (u, v))  # k == 9: a grid of dots
    return np.maximum(box, np.hypot(fu, fv) - 0.3 * period)


def _make_split(seed: int, split: int, n: int, chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, split])
    labels = rng.permutation(np.arange(n) % len(SHAPES10_CLASSES))  # balanced
    # Each chunk has its own stream, so image i does not depend on how many images were asked for,
    # and chunks can be drawn in threads (numpy releases the GIL) with the same result.
    starts = range(0, n, chunk)
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        x = list(
            pool.map(
                lambda i: _render(np.random.default_rng([seed, split, 1 + i // chunk]), labels[i : i + chunk]), starts
            )
        )
    return (np.concatenate(x) if x else np.empty((0, 3, 32, 32), np.uint8)), labels.astype(np.int64)


def make_builtin(seed: int = 0, n_train: int = 20000, n_test: int = 4000):
    """Shapes-10: (x_train, y_train, x_test, y_test) as numpy uint8 NCHW / int64, deterministic in seed."""
    return (*_make_split(seed, 0, n_train), *_make_split(seed, 1, n_test))


def _builtin_cached(seed: int, cache_dir: str | None):
    """make_builtin's default sizes, through an .npz cache file when cache_dir is given."""
    if cache_dir is None:
        return make_builtin(seed)
    path = Path(cache_dir).expanduser() / f"shapes10-v{BUILTIN_VERSION}-seed{seed}.npz"
    try:
        with np.load(path) as z:
            arrays = tuple(z[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        if arrays[0].shape == (20000, 3, 32, 32) and arrays[2].shape == (4000, 3, 32, 32):
            return arrays
    except Exception:  # missing or corrupt: regenerate
        pass
    arrays = make_builtin(seed)
    try:
        atomic_write(path, lambda tmp: _save_npz(tmp, dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays))))
    except OSError:  # an unwritable cache only costs time
        pass
    return arrays


def _save_npz(path: Path, arrays: dict) -> None:
    with open(path, "wb") as f:  # a file object: given a name, np.savez would append ".npz" to it
        np.savez(f, **arrays)


@functools.lru_cache(maxsize=2)
def _builtin_arrays(cache_dir: str | None):
    arrays = _builtin_cached(BUILTIN_SEED, cache_dir)
    for a in arrays:
        a.flags.writeable = False
    return arrays


# ------------------------------------------------------------------------------------- Loading


def balanced_subset(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sorted indices of k items, as even across classes as the data allows, chosen by seed.

    Items are taken round-robin over the classes in a random order of each class, so a smaller
    subset is always contained in a larger one drawn with the same seed.
    """
    rng = np.random.default_rng(seed)
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[rng.permutation(idx)] = np.arange(len(idx))
    class_order = rng.permutation(int(labels.max()) + 1)
    key = rank * (len(class_order)) + class_order[labels]
    return np.sort(np.argsort(key, kind="stable")[:k])


def _check_count(field: str, value, available: int, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= available:
        raise ValueError(f"{field} must be an integer from 1 to {available} (the {what} size), got {value!r}")


def _channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std of x / 255, from a histogram of each channel (fast on uint8)."""
    levels = np.arange(256) / 255.0
    means, stds = [], []
    for ch in range(x.shape[1]):
        h = np.bincount(x[:, ch].ravel(), minlength=256) / x[:, ch].size
        m = float(h @ levels)
        means.append(m)
        stds.append(float(np.sqrt(max(h @ (levels - m) ** 2, 1e-12))))
    return tuple(means), tuple(stds)


@functools.lru_cache(maxsize=4)
def _full_stats(name: str, source: str | None):
    """Stats of a whole training set, computed once per source (the arrays themselves are cached)."""
    return _channel_stats((_read_cifar(source) if name == "cifar10" else _builtin_arrays(source))[0])


@dataclass(frozen=True)
class DatasetChoice:
    name: str  # as RunConfig.dataset expects
    title: str
    available: bool
    note: str  # where it comes from, or how to make it available
    classes: tuple[str, ...] = ()


def _cifar_dir_complete(directory: Path) -> Path | None:
    """The batches directory under ``directory`` if all six CIFAR-10 files are there."""
    for candidate in (directory / CIFAR_DIRNAME, directory):
        if all((candidate / f).is_file() for f in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)):
            return candidate
    return None


def dataset_choices(cache_dir: str | Path | None = None) -> list[DatasetChoice]:
    """The data sets this machine can train on, and which copy (rebuilt or not). Only files are checked
    here; nothing is loaded or downloaded. ``cache_dir``: also look in that data cache (a store's)."""
    choices = [
        DatasetChoice(
            "builtin",
            "Shapes-10 (built-in synthetic)",
            True,
            "Generated on this machine, no download: 10 shape classes, 20,000 training and 4,000 "
            "test images; only shape tells the classes apart, never colour.",
            SHAPES10_CLASSES,
        )
    ]
    named = resolve_data_dir(None)
    if named is not None:
        batches = _cifar_dir_complete(named) if named.is_dir() else None
        if batches is not None:
            rebuilt = any((d / "PROVENANCE.md").is_file() for d in (named, batches))
            title = "CIFAR-10 (rebuilt copy)" if rebuilt else "CIFAR-10"
            choices.append(DatasetChoice("cifar10", title, True, f"Read from {named} (${DATA_ENV}).", CIFAR10_CLASSES))
        else:
            choices.append(
                DatasetChoice(
                    "cifar10",
                    "CIFAR-10",
                    False,
                    f"${DATA_ENV} is set to {named}, but the CIFAR-10 files ({CIFAR_DIRNAME}/"
                    "data_batch_1..5, test_batch) are not there.",
                )
            )
        return choices
    caches = [DEFAULT_CACHE.expanduser()] + ([Path(cache_dir)] if cache_dir else [])
    cached = next((found for d in caches if (found := _cifar_dir_complete(d)) is not None), None)
    if cached is not None:
        choices.append(
            DatasetChoice("cifar10", "CIFAR-10", True, f"Downloaded earlier to {cached.parent}.", CIFAR10_CLASSES)
        )
    else:
        choices.append(
            DatasetChoice(
                "cifar10",
                "CIFAR-10",
                False,
                f"Not found. Set {DATA_ENV} to a directory holding {CIFAR_DIRNAME}/ "
                "(the python version of CIFAR-10) before starting the dashboard.",
            )
        )
    return choices


def load_dataset(
    name: str,
    data_dir: str | None = None,
    subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
) -> Dataset:
    """Load "cifar10" or "builtin", optionally as seeded class-balanced subsets of train and test.

    CIFAR-10 is read from ``data_dir`` (or $RESNET_LAB_DATA), else downloaded to ``cache_dir``
    (default ~/.cache/resnet-lab/data); the built-in set is generated (cached in ``cache_dir``).
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    if name == "cifar10":
        batches, title = _cifar_source(data_dir, cache_dir)
        source = str(batches.resolve())
        arrays = _read_cifar(source)
        classes = CIFAR10_CLASSES
        description = (
            "60,000 colour photos of 32x32 pixels in 10 classes (50,000 for training, 10,000 for "
            "testing): the benchmark of the paper's CIFAR-10 experiments."
        )
        if title != "CIFAR-10":
            description += (
                " This copy was rebuilt from public sources: labels are exact, pixels close to "
                "the original (see its PROVENANCE.md), so accuracies are close, not identical."
            )
    else:
        source = cache_dir
        arrays, title, classes = _builtin_arrays(source), "Shapes-10 (built-in synthetic)", SHAPES10_CLASSES
        description = (
            "24,000 generated 32x32 images (20,000 for training, 4,000 for testing) of 10 shapes and "
            "patterns (disc, ring, square, stripes, checkerboard...) at random position, size, colour and "
            "contrast over textured backgrounds with clutter: colour says nothing, only shape does. "
            "Made offline in seconds, so everything works without CIFAR-10."
        )
    x_tr, y_tr, x_te, y_te = arrays
    _check_count("subset", subset, len(y_tr), "training set")
    _check_count("test_subset", test_subset, len(y_te), "test set")
    if subset is None or subset == len(y_tr):
        stats = _full_stats(name, source)
    else:
        keep = balanced_subset(y_tr, subset, seed)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
        stats = _channel_stats(x_tr)
    if test_subset is not None and test_subset != len(y_te):
        keep = balanced_subset(y_te, test_subset, seed + 1)
        x_te, y_te = x_te[keep], y_te[keep]
    t = lambda a: torch.from_numpy(np.array(a))  # noqa: E731  (a writable copy the caller owns)
    return Dataset(name, title, description, classes, t(x_tr), t(y_tr), t(x_te), t(y_te), *stats)


# ------------------------------------------------------------------------------ Batch transforms


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The paper's augmentation on a uint8 batch [N, C, H, W]: zero-pad 4, random HxW crop, random
    horizontal flip. One gather for the whole batch, on x's device; the random draws come from
    ``generator`` (on its own device), so a seeded generator gives the same batch anywhere."""
    n, c, h, w = x.shape
    gdev = generator.device if generator is not None else x.device
    draw = lambda high: torch.randint(0, high, (n,), generator=generator, device=gdev).to(x.device)  # noqa: E731
    oy, ox, flip = draw(9), draw(9), draw(2).bool()
    padded = F.pad(x, (4, 4, 4, 4))
    # Speed: one flat index per output pixel (shared by the channels), read with torch.gather: 4-5x faster on a
    # CPU than advanced indexing with four broadcast index tensors, and the same pixels.
    cols = torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(0), cols) + ox[:, None]  # reading columns backwards mirrors the crop
    rows = (oy[:, None] + torch.arange(h, device=x.device)) * padded.shape[-1]
    index = (rows[:, :, None] + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, -1).gather(2, index).view(n, c, h, w)


def normalize(x_uint8: torch.Tensor, mean, std, channels_last: bool = True) -> torch.Tensor:
    """(x / 255 - mean) / std per channel as float32 on x's device; channels_last suits conv nets."""
    shape = (-1, 1, 1)
    m = torch.as_tensor(mean, dtype=torch.float32, device=x_uint8.device).view(shape)
    s = torch.as_tensor(std, dtype=torch.float32, device=x_uint8.device).view(shape)
    out = x_uint8.float().div_(255).sub_(m).div_(s)
    return out.contiguous(memory_format=torch.channels_last) if channels_last and out.dim() == 4 else out


# --------------------------------------------------------------------------------- Uploaded images

OPEN_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "WEBP", "BMP", "TIFF", "ICO", "AVIF")


def preprocess_image(
    data: bytes | Image.Image, max_bytes: int = 20_000_000, max_pixels: int = 50_000_000
) -> tuple[torch.Tensor, Image.Image]:
    """Turn an uploaded file (bytes) or a PIL image into what the model sees.

    Policy:
    - At most ``max_bytes`` bytes and ``max_pixels`` pixels; the pixel count is checked from the
      header, before any pixel is decoded (a decompression-bomb guard), and PIL's own bomb checks
      are turned into errors for this call only. Formats: PNG, JPEG, GIF, WebP, BMP, TIFF, ICO
      (and AVIF where PIL has it); other formats are refused rather than handed to PIL plugins.
    - The first frame of a multi-frame GIF/WebP/TIFF is used; the EXIF orientation is applied.
    - Colour: palette, greyscale, CMYK and others are converted to RGB; 16/32-bit integer greyscale
      ("I;16", "I") is scaled from 0..65535 to 0..255; transparency is composited over white.
    - Geometry: the shorter side is resized to 32 and the centre 32x32 kept (one bicubic resize of
      the central square, with reducing_gap for a clean downscale).

    Returns a uint8 tensor [3, 32, 32] and the 32x32 RGB PIL image. Any failure raises ImageError.
    PIL's global settings are left untouched.
    """
    if isinstance(data, Image.Image):
        im = data
    else:
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise ImageError(f"Expected image bytes or a PIL image, got {type(data).__name__}.")
        if not data:
            raise ImageError("The file is empty (0 bytes).")
        if len(data) > max_bytes:
            raise ImageError(f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:g} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if not isinstance(data, Image.Image):
                Image.init()
                im = Image.open(io.BytesIO(data), formats=[f for f in OPEN_FORMATS if f in Image.OPEN])
            w, h = im.size
            if w * h > max_pixels:
                raise ImageError(
                    f"The image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                    f"{max_pixels / 1e6:g} megapixels."
                )
            if w < 1 or h < 1:
                raise ImageError(f"The image has no pixels ({w}x{h}).")
            if im.format == "JPEG" and im is not data:
                im.draft(None, (32, 32))  # decode big JPEGs at a reduced scale that still covers 32x32
            im = ImageOps.exif_transpose(im)  # loads the pixels
            rgb = _to_rgb(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"The image has too many pixels (limit {max_pixels / 1e6:g} megapixels).") from None
    except Image.UnidentifiedImageError:
        raise ImageError(
            "This file is not an image that can be read (use PNG, JPEG, GIF, WebP, BMP or TIFF)."
        ) from None
    except Exception as e:  # truncated data, broken streams, odd modes
        raise ImageError(f"The image file is truncated or corrupt and cannot be decoded ({e}).") from None
    w, h = rgb.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    small = rgb.resize((32, 32), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)
    return torch.from_numpy(np.array(small)).permute(2, 0, 1).contiguous(), small


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I"):  # 16/32-bit integer greyscale: scale 0..65535 down to 0..255
        arr = np.asarray(im, dtype=np.float64) / 257.0
        im = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    elif im.mode == "F":
        im = Image.fromarray(np.clip(np.rint(np.asarray(im)), 0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")
