"""Loss landscapes (Li, Xu, Taylor, Studer, Goldstein 2018, "Visualizing the Loss Landscape of Neural Nets").

Around a trained network's weights θ, draw random directions δ (and η) in weight space and evaluate the
loss at θ + αδ (a 1-D slice) or θ + αδ + βη (a 2-D plane) on a fixed batch of training images.

- **Filter normalisation** (the paper's Sec. 4): each filter of a direction (one output channel of a
  conv, one row of the linear layer) is rescaled to the norm of the corresponding filter of θ, so that
  a step of α = 1 is as large as the weights themselves in every layer, whatever their scale.
- BN scales and shifts and every bias get a zero direction (the paper leaves them unperturbed).
- BN is in eval mode and normalises with the running statistics stored with the weights; the paper
  evaluates the loss the same way, with the statistics fixed.
- Smoothness of a 1-D slice is measured two ways. Steepness: the Lipschitz constant of log10 loss along
  the slice, max |Δ log10 L| / Δα over neighbouring points, in decades of loss per unit of α (the
  smaller, the smoother; it grows when a weight perturbation is amplified layer after layer). And the
  number of strict local minima along the slice (a convex bowl has one).

Results are cached as JSON under ``<store root>/landscapes/`` keyed by run, directions seed, grid,
span and batch: a second request (the page, another viewer, the CLI) answers instantly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from ..engine.files import atomic_write_json
from .cached import CachedResult
from .inputs import cpu_threads, fast_copy

CACHE_DIR = "landscapes"
MAX_STEPS = 101
MAX_BATCH = 2048


class LandscapeError(ValueError):
    """A request that cannot be computed (grid, span or batch out of range); the message says which."""


def _is_filtered(name: str, p: torch.Tensor) -> bool:
    """Conv and linear weights get a direction; BN parameters (1-D) and biases are left unperturbed."""
    return p.dim() > 1 and not name.endswith("bias")


def random_direction(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A filter-normalised Gaussian direction: {parameter name: tensor}, zero for BN parameters and biases."""
    generator = torch.Generator().manual_seed(seed)
    direction = {}
    for name, p in model.named_parameters():
        if not _is_filtered(name, p):
            direction[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        w = p.detach().reshape(p.shape[0], -1)
        d_flat = d.reshape(p.shape[0], -1)
        d_flat *= (w.norm(dim=1) / d_flat.norm(dim=1).clamp_min(1e-12))[:, None]
        direction[name] = d_flat.reshape(p.shape)
    return direction


def directions(model: nn.Module, seed: int, count: int = 2) -> list[dict[str, torch.Tensor]]:
    """``count`` independent filter-normalised directions; the first is the same whatever ``count`` is."""
    return [random_direction(model, seed * 1000 + i) for i in range(count)]


def check_request(steps: int, span: float, batch: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 3 <= steps <= MAX_STEPS:
        raise LandscapeError(f"grid must be an integer from 3 to {MAX_STEPS} points per axis, got {steps!r}")
    if not isinstance(span, (int, float)) or not 0 < span <= 5:
        raise LandscapeError(f"span must be a number in (0, 5] (α and β run from −span to +span), got {span!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise LandscapeError(f"batch must be an integer from 1 to {MAX_BATCH} training images, got {batch!r}")


def evaluate_grid(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    dirs: list[dict[str, torch.Tensor]],
    coords: list[tuple[float, ...]],
    progress=None,
) -> tuple[list[float], list[float]]:
    """Loss (mean cross-entropy, nats) and accuracy at θ + Σ c_i d_i for every coordinate tuple.

    Speed tricks: the whole grid runs under ``inference_mode`` on one private channels_last copy, and
    ``torch.func.functional_call`` swaps in each point's weights as a dict of tensors: no weights are
    copied into the module and no autograd graph is built, so one grid point costs one forward pass.
    """
    net = fast_copy(model)
    images = images.contiguous(memory_format=torch.channels_last)
    base = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v for k, v in net.named_buffers()}  # BN running statistics, used as they are (eval mode)
    moving = [k for k in base if any(d[k].any() for d in dirs)]
    losses, accs = [], []
    with torch.inference_mode(), cpu_threads():
        for i, c in enumerate(coords):
            params = dict(base)
            for k in moving:
                params[k] = base[k] + sum(ci * d[k] for ci, d in zip(c, dirs))
            logits = functional_call(net, {**params, **buffers}, (images,))
            losses.append(F.cross_entropy(logits, labels).item())
            accs.append((logits.argmax(1) == labels).float().mean().item())
            if progress:
                progress(i + 1, len(coords))
    return losses, accs


@dataclass
class Landscape(CachedResult):
    run_id: str
    model: str
    kind: str  # '1d' or '2d'
    seed: int
    steps: int
    span: float
    batch: int
    alphas: list[float]
    betas: list[float]  # [] for a 1-D slice
    loss: list  # 1-D: [steps]; 2-D: [steps (β)][steps (α)]
    acc: list
    seconds: float = 0.0
    cached: bool = field(default=False, compare=False)

    @property
    def centre_loss(self) -> float:
        a = np.asarray(self.loss, dtype=float)
        return float(a[len(a) // 2] if a.ndim == 1 else a[a.shape[0] // 2, a.shape[1] // 2])


def cache_path(root: str | Path, run_id: str, kind: str, seed: int, steps: int, span: float, batch: int) -> Path:
    key = f"{run_id}-{kind}-seed{seed}-grid{steps}-span{span:g}-batch{batch}"
    return Path(root) / CACHE_DIR / f"{key}.json"


def read_cached(path: Path) -> Landscape | None:
    """The cached landscape at ``path``, or None if absent or unreadable (a damaged file is recomputed)."""
    return Landscape.read(path)


def compute(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    kind: str,
    seed: int,
    steps: int,
    span: float,
    run_id: str = "",
    model_label: str = "",
    progress=None,
) -> Landscape:
    """A 1-D slice (``kind='1d'``) or a 2-D plane (``'2d'``) of ``steps`` points per axis over [−span, span]."""
    if kind not in ("1d", "2d"):
        raise LandscapeError(f"kind must be '1d' or '2d', got {kind!r}")
    check_request(steps, span, len(images))
    axis = np.linspace(-span, span, steps).round(6).tolist()
    dirs = directions(model, seed, 1 if kind == "1d" else 2)
    coords = [(a,) for a in axis] if kind == "1d" else [(a, b) for b in axis for a in axis]
    t0 = time.perf_counter()
    losses, accs = evaluate_grid(model, images, labels, dirs, coords, progress)
    seconds = round(time.perf_counter() - t0, 2)
    if kind == "2d":
        losses = np.array(losses).reshape(steps, steps).tolist()
        accs = np.array(accs).reshape(steps, steps).tolist()
    return Landscape(
        run_id,
        model_label,
        kind,
        seed,
        steps,
        float(span),
        len(images),
        axis,
        axis if kind == "2d" else [],
        losses,
        accs,
        seconds,
    )


def cached_compute(
    root: str | Path,
    run_id: str,
    load,
    *,
    kind: str,
    seed: int,
    steps: int,
    span: float,
    batch: int,
    progress=None,
    key: str | None = None,
) -> Landscape:
    """The landscape from the disk cache, or computed and cached. ``load()`` gives (model, images, labels,
    model label) and is called only on a cache miss; ``key`` (default the run id) names the cache file."""
    check_request(steps, span, batch)
    path = cache_path(root, key or run_id, kind, seed, steps, span, batch)
    if (hit := read_cached(path)) is not None:
        return hit
    model, images, labels, label = load()
    result = compute(
        model,
        images,
        labels,
        kind=kind,
        seed=seed,
        steps=steps,
        span=span,
        run_id=run_id,
        model_label=label,
        progress=progress,
    )
    atomic_write_json(path, result.to_dict())
    return result


# ------------------------------------------------------------------------------ smoothness


def local_minima(values) -> int:
    """Strict local minima along a 1-D slice (ends count when lower than their one neighbour)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return len(v)
    left = np.r_[np.inf, v[:-1]]
    right = np.r_[v[1:], np.inf]
    return int(((v < left) & (v < right)).sum())


def log_slope(alphas, values) -> float:
    """Steepness of a slice: max |Δ log10 L| / Δα between neighbouring points (decades per unit α)."""
    a, v = np.asarray(alphas, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 2:
        return float("nan")
    a, logs = a[ok], np.log10(v[ok])
    return float(np.max(np.abs(np.diff(logs)) / np.diff(a)))


def curvature(alphas, values) -> float:
    """Roughness of a slice: the mean |second difference| of the loss over evenly spaced points, per unit α²
    (nats/α²); triples with a non-finite point are skipped. Unlike steepness in decades, a deep minimum near
    zero loss does not inflate it."""
    a, v = np.asarray(alphas, dtype=float), np.asarray(values, dtype=float)
    if len(v) < 3:
        return float("nan")
    second = (v[2:] - 2 * v[1:-1] + v[:-2]) / np.diff(a)[:-1] ** 2
    second = second[np.isfinite(second)]
    return float(np.abs(second).mean()) if second.size else float("nan")


def smoothness(result: Landscape) -> dict:
    """The three measures for a 1-D slice, or for the β = 0 row of a 2-D plane."""
    loss = np.asarray(result.loss, dtype=float)
    line = loss if loss.ndim == 1 else loss[loss.shape[0] // 2]
    return {
        "log_slope": log_slope(result.alphas, line),
        "curvature": curvature(result.alphas, line),
        "local_minima": local_minima(line),
        "points": len(line),
        "min_loss": float(line.min()),
        "max_loss": float(line.max()),
        "centre_loss": result.centre_loss,
    }


def slice_sentence(results: list[Landscape]) -> str:
    """What the 1-D slices show, each number from the slices themselves."""
    parts = []
    for r in results:
        s = smoothness(r)
        minima = f"{s['local_minima']} local minim{'um' if s['local_minima'] == 1 else 'a'}"
        parts.append(
            f"{r.model}: loss {s['centre_loss']:.3g} nats at the trained weights, rising by up to "
            f"{s['log_slope']:.3g} decades per unit of α, {minima} over {s['points']} points"
        )
    return "; ".join(parts) + "."


def smoothness_verdict(resnet: Landscape, plain: Landscape) -> str:
    """Which slice is smoother by each measure, said plainly, including when a measure does not separate them."""
    r, p = smoothness(resnet), smoothness(plain)
    steep = r["log_slope"] / p["log_slope"] if p["log_slope"] else float("nan")
    if r["log_slope"] < p["log_slope"]:
        text = (
            f"By steepness the ResNet's slice is the smoother: {r['log_slope']:.3g} against {p['log_slope']:.3g} "
            f"decades per unit of α ({steep:.2f}×)"
        )
    else:
        text = (
            f"By steepness the ResNet's slice is not the smoother here: {r['log_slope']:.3g} against "
            f"{p['log_slope']:.3g} decades per unit of α"
        )
        if r["min_loss"] < p["min_loss"] / 100:
            text += (
                f" (its loss at the bottom, {r['min_loss']:.2g} nats, is so near zero that each step away climbs "
                "decades)"
            )
    if r["curvature"] < p["curvature"]:
        text += (
            f"; by curvature it is the smoother: {r['curvature']:.3g} against {p['curvature']:.3g} nats per unit "
            f"α² ({r['curvature'] / p['curvature']:.2g}×)"
        )
    elif np.isfinite(r["curvature"]) and np.isfinite(p["curvature"]):
        text += f"; by curvature it is not: {r['curvature']:.3g} against {p['curvature']:.3g} nats per unit α²"
    if r["local_minima"] < p["local_minima"]:
        text += f"; it has fewer local minima ({r['local_minima']} against {p['local_minima']})"
    elif r["local_minima"] == p["local_minima"]:
        text += f"; both have {r['local_minima']} local minim{'um' if r['local_minima'] == 1 else 'a'}"
    else:
        text += (
            f"; but it has more local minima ({r['local_minima']} against {p['local_minima']}), so on these runs "
            "that count does not show the paper's contrast"
        )
    return text + "."


CHANCE_LOSS = float(np.log(10))  # the cross-entropy of an unbiased guess among the 10 classes of both data sets


def plane_summary(result: Landscape) -> dict:
    """Absolute numbers of a 2-D plane: points, finite points, min, max and median loss (nats), and the share
    of points below ``CHANCE_LOSS`` (an overflowed point counts as above it)."""
    loss = np.asarray(result.loss, dtype=float).ravel()
    finite = loss[np.isfinite(loss)]
    return dict(
        points=loss.size,
        finite=finite.size,
        min=float(finite.min()) if finite.size else float("nan"),
        max=float(finite.max()) if finite.size else float("nan"),
        median=float(np.median(np.where(np.isfinite(loss), loss, np.inf))) if loss.size else float("nan"),
        below_chance=float((finite < CHANCE_LOSS).sum() / loss.size) if loss.size else float("nan"),
    )


def _nats(x: float) -> str:
    """3 significant digits, written out up to a million (2,040 rather than 2.04e+03)."""
    return f"{float(f'{x:.3g}'):,.0f}" if 1000 <= abs(x) < 1e6 else f"{x:.3g}"


def contour_sentence(result: Landscape) -> str:
    s = plane_summary(result)
    if not s["finite"]:
        return f"{result.model}: every loss on this plane overflowed."
    return (
        f"{result.model}: loss from {s['min']:.3g} to {s['max']:.3g} nats over the {result.steps}×{result.steps} "
        f"plane (median {_nats(s['median'])}; {result.centre_loss:.3g} at the trained weights); "
        f"{100 * s['below_chance']:.0f}% of the points lie below ln 10 ≈ {CHANCE_LOSS:.2f} nats, "
        "the loss of an unbiased guess among 10 classes."
    )
