"""Per-class test accuracy and the confusion matrix of one trained run, on every test image of its data set.

``matrix[i][j]`` counts the test images of true class i that the run predicts as class j (rows: truth,
columns: prediction); the diagonal over a row's sum is that class's accuracy. Computed once per run and
weights (by a worker, ``python -m core confusion RUN``, or shipped for the shipped runs) and cached as JSON
under ``<store root>/confusion/<run>-w<weights digest>-test<images>.json``: 10,000 CIFAR-10 test images through
a ResNet-56 take longer than a page may wait.

``more_confused`` answers a class's question, "which classes does plain-56 confuse that ResNet-56 does not?",
from two matrices: the (true, predicted) pairs one run gets wrong more often than the other, kept only where the
gap is beyond what the sampling of test images alone gives (two counts of a rare error differ by about
√(a + b) by chance). Each matrix is one run (one seed): how far the counts move between seeds is not measured
here, and the sentence says so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..engine.files import atomic_write_json
from .cached import CachedResult
from .inputs import cpu_threads, fast_copy

CACHE_DIR = "confusion"
NOISE_SIGMAS = 2.0  # a gap between two counts of the same error is called one beyond this many √(a + b)


@dataclass
class Confusion(CachedResult):
    run_id: str
    model: str
    dataset: str
    classes: list[str]
    matrix: list[list[int]]  # [true][predicted]
    images: int
    seconds: float = 0.0
    cached: bool = field(default=False, compare=False)

    @property
    def accuracy(self) -> float:
        m = np.asarray(self.matrix)
        return float(np.trace(m) / m.sum()) if m.sum() else float("nan")


def confusion_matrix(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, classes: int, batch: int = 500, progress=None
) -> np.ndarray:
    """Counts [true, predicted] of ``model`` (eval mode, a private copy) over ``images``."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    net = fast_copy(model)
    with torch.inference_mode(), cpu_threads():
        for start in range(0, len(images), batch):
            x = images[start : start + batch].contiguous(memory_format=torch.channels_last)
            predicted = net(x).argmax(dim=1).numpy()
            np.add.at(counts, (labels[start : start + batch].numpy(), predicted), 1)
            if progress is not None:
                progress(min(start + batch, len(images)), len(images))
    return counts


def compute(
    model: nn.Module, images, labels, classes: list[str], *, run_id: str, model_label: str, dataset: str, progress=None
) -> Confusion:
    t0 = time.perf_counter()
    matrix = confusion_matrix(model, images, labels, len(classes), progress=progress)
    return Confusion(
        run_id,
        model_label,
        dataset,
        list(classes),
        matrix.tolist(),
        int(matrix.sum()),
        round(time.perf_counter() - t0, 2),
    )


def cache_path(root: str | Path, key: str, images: int) -> Path:
    return Path(root) / CACHE_DIR / f"{key}-test{images}.json"


def read_cached(path: Path) -> Confusion | None:
    """The cached result at ``path``, or None if absent or unreadable (a damaged file is recomputed)."""
    return Confusion.read(path)


def write_cached(path: Path, result: Confusion) -> None:
    atomic_write_json(path, result.to_dict())


def per_class_accuracy(result: Confusion) -> dict[str, float]:
    """Each class's test accuracy: its diagonal count over its row (its test images)."""
    m = np.asarray(result.matrix, dtype=float)
    rows = m.sum(axis=1)
    return {c: float(m[i, i] / rows[i]) if rows[i] else float("nan") for i, c in enumerate(result.classes)}


def more_confused(a: Confusion, b: Confusion, top: int = 3) -> list[dict]:
    """The (true, predicted) errors ``a`` makes more often than ``b``, largest gap first, only those beyond
    sampling noise (gap > NOISE_SIGMAS · √(count_a + count_b)): true, predicted, a, b, of (the true class's
    test images)."""
    if a.classes != b.classes:
        raise ValueError("the two runs were tested on different classes")
    ma, mb = np.asarray(a.matrix), np.asarray(b.matrix)
    found = []
    for i, j in zip(*np.nonzero(~np.eye(len(a.classes), dtype=bool))):
        ca, cb = int(ma[i, j]), int(mb[i, j])
        if ca - cb > NOISE_SIGMAS * math.sqrt(ca + cb):
            found.append(dict(true=a.classes[i], predicted=a.classes[j], a=ca, b=cb, of=int(ma[i].sum())))
    return sorted(found, key=lambda d: d["b"] - d["a"])[:top]


def question_sentence(a: Confusion, b: Confusion, top: int = 3) -> str:
    """'Which classes does plain-56 confuse that ResNet-56 does not?', answered from the two matrices."""
    pairs = more_confused(a, b, top)
    head = f"**Which classes does {a.model} confuse that {b.model} does not?** "
    if not pairs:
        return head + (
            f"None beyond sampling noise: no error of {a.model} is more frequent than {b.model}'s by more than "
            f"{NOISE_SIGMAS:g} √(a + b) on these {a.images:,} test images."
        )
    listed = "; ".join(
        f"{p['true']} taken for {p['predicted']}: {p['a']} of {p['of']:,} {p['true']} images against {p['b']}"
        for p in pairs
    )
    return head + (
        f"{listed}. Each gap is more than {NOISE_SIGMAS:g} √(a + b), beyond what the sampling of test images gives; "
        "each matrix is one run, so how much these counts move between seeds is not measured here."
    )
