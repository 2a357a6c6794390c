"""Lesion study (Veit, Wilber, Belongie 2016, "Residual Networks Behave Like Ensembles of Relatively
Shallow Networks"): delete blocks of a trained network at test time and measure its test error.

Deleting block i of a ResNet sets its residual branch to zero, F(x) = 0: the block's output becomes
what its shortcut carries, relu(shortcut(x)). For an identity shortcut that is x itself (x is already
the output of a ReLU); where the shape changes, option A keeps its subsample + zero-pad and option B
its 1x1 projection (+ BN). Every other layer is left as trained; BN uses its running statistics.

A plain net has no shortcut to fall back on. To give it the same chance, a deleted plain block is
replaced by the path a ResNet-A would have had: the identity where the block keeps the shape, and
subsample + zero-pad (option A's shortcut) where it halves the map and doubles the channels. The
plain net never trained with that path, which is the point of the contrast.

Paths (Veit et al.): a ResNet of n blocks unrolls into 2^n paths, one per subset of the residual
branches taken; C(n, k) of them pass through k branches, a binomial distribution of path lengths.
Which lengths carry the gradient during training is *not* measured here.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..engine.files import atomic_write_json
from ..engine.models import BasicBlock, CifarResNet, PadShortcut
from ..runs.verdict import chance_margin
from .cached import CachedResult
from .inputs import cpu_threads, fast_copy

# What a deleted block is replaced by, per shortcut kind, in words for the pages and the CLI.
LESION_RULES = {
    "A": "F(x) set to 0: identity blocks pass x through; downsampling blocks keep option A's subsample + zero-pad",
    "B": "F(x) set to 0: identity blocks pass x through; downsampling blocks keep option B's 1×1 projection + BN",
    "none": (
        "the block replaced by the identity; where it changes shape, by subsample + zero-pad (option A's "
        "shortcut), a path the plain net never trained with"
    ),
}
CHUNK = 100  # test images per forward pass: bounds the memory of the cached block inputs


class LesionError(ValueError):
    """The network cannot be lesioned (wrong architecture); the message says why."""


def residual_blocks(model: nn.Module) -> list[tuple[str, BasicBlock]]:
    """The blocks of a CIFAR network in forward order, with their stable names ('stage2.block0')."""
    if not isinstance(model, CifarResNet):
        raise LesionError(
            "only the paper's CIFAR networks (6n+2 layers) can be lesioned here, not torchvision's ResNet-18"
        )
    if model.shortcut_kind not in LESION_RULES:
        raise LesionError(
            f"a {model.shortcut_kind!r} network cannot be lesioned here: deleting a dense (concatenating) "
            "block removes channels the next layer expects"
        )
    return [
        (f"stage{s}.{name}", block) for s in (1, 2, 3) for name, block in getattr(model, f"stage{s}").named_children()
    ]


def changes_shape(block: BasicBlock) -> bool:
    return block.conv1.stride[0] != 1 or block.conv1.in_channels != block.conv1.out_channels


def skip(block: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    """The output of a deleted block (see the module docstring)."""
    if block.kind in ("A", "B"):
        return block.relu2(block.shortcut(x))
    if changes_shape(block):  # a plain block that halves the map and doubles the channels
        return PadShortcut(block.conv1.stride[0], block.conv1.out_channels - block.conv1.in_channels)(x)
    return x


def _stem(model: CifarResNet, x: torch.Tensor) -> torch.Tensor:
    return model.relu(model.bn1(model.conv1(x)))


def _head(model: CifarResNet, x: torch.Tensor) -> torch.Tensor:
    return model.fc(torch.flatten(model.pool(x), 1))


def lesion_errors(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    sets: list[tuple[int, ...]],
    limits: list[int] | None = None,
    progress=None,
) -> list[float]:
    """Test error (fraction) of ``model`` with each set of block indices deleted; ``()`` is the intact net.

    ``limits[j]``, if given, evaluates set j on the first ``limits[j]`` images only. Speed trick
    (prefix reuse): the intact forward pass stores every block's input once per chunk of images, so a
    lesioned pass starts at its first deleted block instead of at the input; a single-block sweep then
    costs about n/2 forward passes instead of n.
    """
    residual_blocks(model)  # checks the architecture before the copy
    model = fast_copy(model)
    images = images.contiguous(memory_format=torch.channels_last)
    blocks = [b for _, b in residual_blocks(model)]
    limits = limits or [len(images)] * len(sets)
    wrong = np.zeros(len(sets))
    total_work = sum(min(limit, len(images)) for limit in limits)
    done = 0
    with torch.inference_mode(), cpu_threads():
        for lo in range(0, len(images), CHUNK):
            x, y = images[lo : lo + CHUNK], labels[lo : lo + CHUNK]
            inputs, h = [], _stem(model, x)
            for block in blocks:
                inputs.append(h)
                h = block(h)
            intact = _head(model, h).argmax(1)
            for j, deleted in enumerate(sets):
                if lo >= limits[j]:
                    continue
                take = min(len(y), limits[j] - lo)
                if not deleted:
                    pred = intact[:take]
                else:
                    start, gone = min(deleted), set(deleted)
                    h = inputs[start][:take]
                    for i in range(start, len(blocks)):
                        h = skip(blocks[i], h) if i in gone else blocks[i](h)
                    pred = _head(model, h).argmax(1)
                wrong[j] += (pred != y[:take]).sum().item()
                done += take
                if progress:
                    progress(done, total_work)
    return [wrong[j] / min(limits[j], len(images)) for j in range(len(sets))]


def sweep_passes(n: int) -> float:
    """Full forward passes a single-block sweep of n blocks costs with prefix reuse: the intact pass, then
    for each block i (from 0) the n - i blocks from i on, (n + 1) / 2 passes' worth in all."""
    return 1 + (n + 1) / 2


def random_sets(n: int, draws: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``draws`` random sets of k block indices for every k = 1..n, in order of k."""
    rng = np.random.default_rng(seed)
    return [
        tuple(sorted(int(i) for i in rng.choice(n, k, replace=False))) for k in range(1, n + 1) for _ in range(draws)
    ]


@dataclass
class LesionResult(CachedResult):
    """One network's lesion study; errors are fractions of the test images used."""

    run_id: str
    model: str
    shortcut: str
    rule: str
    images: int  # test images of the single-block sweep
    k_images: int  # test images of the k-deletion curve
    draws: int
    seed: int
    intact_error: float
    blocks: list[dict]  # name, index, stage, changes_shape, error
    k_curve: list[dict]  # k, draw, blocks (deleted indices), error
    seconds: dict = field(default_factory=dict)  # sweep, k_curve

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def block_errors(self) -> np.ndarray:
        return np.array([b["error"] for b in self.blocks])


def lesion_study(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    run_id: str = "",
    model_label: str = "",
    k_images: int = 200,
    draws: int = 3,
    seed: int = 0,
    progress=None,
) -> LesionResult:
    """Single-block sweep on all ``images``, and the k-deletion curve (k = 1..n, ``draws`` random sets
    each) on the first ``k_images`` of them (``k_images=0``: no curve)."""
    named = residual_blocks(model)
    n = len(named)
    k_images = min(k_images, len(images))
    k_sets = random_sets(n, draws, seed) if k_images and draws else []
    single = [()] + [(i,) for i in range(n)]
    t0 = time.perf_counter()
    n_single = len(single) * len(images)
    n_k = len(k_sets) * k_images

    def report(done, total, offset=0):
        if progress:
            progress(offset + done, n_single + n_k)

    errors = lesion_errors(model, images, labels, single, progress=report)
    t1 = time.perf_counter()
    k_errors = (
        lesion_errors(
            model, images, labels, k_sets, [k_images] * len(k_sets), progress=lambda d, t: report(d, t, n_single)
        )
        if k_sets
        else []
    )
    t2 = time.perf_counter()
    blocks = [
        {"name": name, "index": i, "stage": int(name[5]), "changes_shape": changes_shape(b), "error": errors[i + 1]}
        for i, (name, b) in enumerate(named)
    ]
    per_draw = [
        {"k": len(s), "draw": j % draws, "blocks": list(s), "error": e}
        for j, (s, e) in enumerate(zip(k_sets, k_errors))
    ]
    return LesionResult(
        run_id,
        model_label,
        model.shortcut_kind,
        LESION_RULES[model.shortcut_kind],
        len(images),
        k_images,
        draws,
        seed,
        errors[0],
        blocks,
        per_draw,
        {"sweep": round(t1 - t0, 2), "k_curve": round(t2 - t1, 2)},
    )


def k_summary(result: LesionResult) -> list[dict]:
    """Mean, min and max error over the draws at each k (k = 0 is the intact net)."""
    rows = [{"k": 0, "mean": result.intact_error, "min": result.intact_error, "max": result.intact_error, "draws": 1}]
    by_k: dict[int, list[float]] = {}
    for row in result.k_curve:
        by_k.setdefault(row["k"], []).append(row["error"])
    rows += [
        {"k": k, "mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)), "draws": len(v)}
        for k, v in sorted(by_k.items())
    ]
    return rows


# ------------------------------------------------------------------------------------- paths


def path_lengths(n: int) -> list[dict]:
    """Veit et al.'s unrolled view: of the 2^n paths through n blocks, C(n, k) pass through k residual
    branches. Returns k, count and share for k = 0..n."""
    return [{"k": k, "count": math.comb(n, k), "share": math.comb(n, k) / 2**n} for k in range(n + 1)]


def central_range(n: int, mass: float = 0.95) -> tuple[int, int, float]:
    """The narrowest symmetric range of path lengths around n/2 holding at least ``mass`` of all paths."""
    shares = [row["share"] for row in path_lengths(n)]
    lo, hi = n // 2, (n + 1) // 2
    while sum(shares[lo : hi + 1]) < mass:
        lo, hi = max(0, lo - 1), min(n, hi + 1)
    return lo, hi, sum(shares[lo : hi + 1])


# ---------------------------------------------------------------------------------- sentences


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def sweep_summary(result: LesionResult) -> dict:
    """The numbers a sentence about one network's single-block sweep quotes."""
    errors = result.block_errors()
    worst = int(errors.argmax())
    keep = [b["error"] for b in result.blocks if not b["changes_shape"]]
    return {
        "intact": result.intact_error,
        "mean": float(errors.mean()),
        "rise": float(errors.mean() - result.intact_error),
        "worst": result.blocks[worst]["name"],
        "worst_error": float(errors[worst]),
        "mean_same_shape": float(np.mean(keep)) if keep else float("nan"),
        "n": len(errors),
    }


def lost_share(intact: float, lesioned: float, classes: int = 10) -> float:
    """Share of a net's above-chance accuracy that a lesion takes away (1 = down to chance or worse)."""
    room = (1 - 1 / classes) - intact
    if room <= 0:
        return float("nan")
    return float(np.clip((lesioned - intact) / room, -1, 1.5))


def near_chance(result: LesionResult, classes: int = 10) -> bool:
    """True when the intact network's error is within the chance margin of guessing on these images:
    it has learned nothing that a deletion could take away."""
    return (1 - 1 / classes) - sweep_summary(result)["intact"] < chance_margin(classes, result.images)


def sweep_sentence(result: LesionResult, classes: int = 10) -> str:
    """What the per-block bars of one network show, with its numbers."""
    s = sweep_summary(result)
    share = lost_share(s["intact"], s["mean"], classes)
    if near_chance(result, classes):
        return (
            f"{result.model}: intact {pct(s['intact'])} test error on {result.images} images, near chance "
            f"({pct(1 - 1 / classes)} for guessing): it did not learn, so deleting its blocks has nothing to take away "
            f"({pct(s['mean'])} on average with one deleted)."
        )
    tail = (
        ""
        if math.isnan(share) or share <= 0
        else f", taking away {100 * share:.0f}% of its accuracy above chance ({pct(1 - 1 / classes)} error)"
    )
    return (
        f"{result.model}: intact {pct(s['intact'])} test error on {result.images} images; with one of its "
        f"{s['n']} blocks "
        f"deleted, {pct(s['mean'])} on average ({100 * s['rise']:+.1f} points){tail}; the worst block to lose is "
        f"{s['worst']} ({pct(s['worst_error'])})."
    )


def contrast_sentence(resnet: LesionResult, plain: LesionResult, classes: int = 10) -> str:
    """The side-by-side verdict: how much one deletion costs each net, relative to its room above chance."""
    r, p = sweep_summary(resnet), sweep_summary(plain)
    stuck = [result.model for result in (plain, resnet) if near_chance(result, classes)]
    if stuck:
        return (
            f"This pair cannot show the contrast: {' and '.join(stuck)} never left chance, so a deletion has nothing "
            "to take away. Choose a pair in which both networks learned (in the shipped runs, the 20-layer pair)."
        )
    rs, ps = lost_share(r["intact"], r["mean"], classes), lost_share(p["intact"], p["mean"], classes)
    text = (
        f"On average one deleted block changes {resnet.model}'s test error by {100 * r['rise']:+.1f} points and "
        f"{plain.model}'s by {100 * p['rise']:+.1f} points"
    )
    if not (math.isnan(rs) or math.isnan(ps)):
        text += (
            f"; measured against how far each net was above chance, that is {100 * rs:.0f}% of the ResNet's "
            f"accuracy lost against {100 * ps:.0f}% of the plain net's"
        )
    return text + "."


def k_sentence(result: LesionResult) -> str:
    rows = k_summary(result)
    if len(rows) < 2:
        return f"{result.model}: no k-deletion curve was computed."
    by_k = {row["k"]: row for row in rows}
    n = result.n_blocks
    half = by_k.get(n // 2)
    text = f"{result.model}: {pct(by_k[1]['mean'])} error with 1 block deleted"
    if half:
        spread = (
            f" (range over {half['draws']} draws {pct(half['min'])}–{pct(half['max'])})" if half["draws"] > 1 else ""
        )
        text += f", {pct(half['mean'])} with {n // 2}{spread}"
    return text + f", {pct(by_k[n]['mean'])} with all {n} deleted ({result.k_images} test images)."


def paths_sentence(n: int) -> str:
    lo, hi, mass = central_range(n)
    return (
        f"With {n} blocks there are 2^{n} = {2**n:,} paths; {100 * mass:.0f}% of them pass through between {lo} and "
        f"{hi} residual branches, and only {math.comb(n, n)} passes through all {n}."
    )


# ------------------------------------------------------------------------------------- cache

CACHE_DIR = "lesions"


def cache_path(root: str | Path, run_id: str, images: int, k_images: int, draws: int, seed: int) -> Path:
    return Path(root) / CACHE_DIR / f"{run_id}-images{images}-k{k_images}-draws{draws}-seed{seed}.json"


def read_cached(path: Path) -> LesionResult | None:
    """The cached result at ``path``, or None if absent or unreadable (a damaged file is recomputed)."""
    try:
        return LesionResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_cached(path: Path, result: LesionResult) -> None:
    atomic_write_json(path, result.to_dict())
