"""The teaching instruments: what flows backwards and forwards through each weighted layer.

Per weighted layer (conv or linear, named as in ``models.weighted_layers``):

- ``grad_w``: norm of the loss gradient with respect to the layer's weights;
- ``grad_out``: norm of the gradient with respect to the layer's output, the back-propagated signal;
- ``response_std``: std of the layer's response after BN and before the nonlinearity (the paper's Fig. 7);
  conv layers only;
- ``weight_norm``: norm of the weights.

A probe reads them all with a single device-to-host copy, so probing often barely slows training.
"""

from contextlib import contextmanager
from functools import partial

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import load_dataset, normalize
from .models import PROBE_DEPTHS, build_model, count_params, model_name, weighted_layers

PROBE_KINDS = ("grad_w", "grad_out", "response_std", "weight_norm")


def response_modules(model: nn.Module) -> dict[str, nn.Module]:
    """For each conv, the module whose output is its response: the norm layer right after it
    (BatchNorm, or the Identity that stands in when BN is off); else the conv itself."""
    modules = list(model.named_modules())
    found = {}
    for i, (name, m) in enumerate(modules):
        if isinstance(m, nn.Conv2d):
            nxt = modules[i + 1][1] if i + 1 < len(modules) else None
            found[name] = nxt if isinstance(nxt, (nn.BatchNorm2d, nn.Identity)) else m
    return found


class LayerProbe:
    """Hooks a model for one forward/backward pass and reads every per-layer quantity at once."""

    def __init__(self, model: nn.Module):
        self.layers = weighted_layers(model)
        self.names = [name for name, _ in self.layers]
        self.responses = response_modules(model)
        self._grad_out: dict[str, torch.Tensor] = {}
        self._std: dict[str, torch.Tensor] = {}

    def _on_output(self, name, module, inputs, output):
        if output.requires_grad:
            output.register_hook(partial(self._on_grad, name))

    def _on_grad(self, name, grad):
        self._grad_out[name] = grad.detach().float().norm()

    def _on_response(self, name, module, inputs, output):
        self._std[name] = output.detach().float().std()

    @contextmanager
    def capture(self):
        """Record the next forward and backward pass made inside the block."""
        self._grad_out.clear()
        self._std.clear()
        handles = [m.register_forward_hook(partial(self._on_output, name)) for name, m in self.layers]
        handles += [m.register_forward_hook(partial(self._on_response, name)) for name, m in self.responses.items()]
        try:
            yield self
        finally:
            for h in handles:
                h.remove()

    def read(self) -> dict[str, dict[str, float]]:
        """{kind: {layer: value}} in forward order; call after backward and before the optimizer step."""
        weights = [m.weight for _, m in self.layers]
        nan = torch.tensor(float("nan"), device=weights[0].device)
        grads = [w.grad if w.grad is not None else torch.full_like(w, float("nan")) for w in weights]
        conv_names = list(self.responses)
        vectors = {
            "grad_w": torch.stack(torch._foreach_norm(grads)).float(),
            "grad_out": torch.stack([self._grad_out.get(n, nan) for n in self.names]).float(),
            "response_std": torch.stack([self._std.get(n, nan) for n in conv_names]).float(),
            "weight_norm": torch.stack(torch._foreach_norm([w.detach() for w in weights])).float(),
        }
        flat = torch.cat(list(vectors.values())).cpu().tolist()  # the one host sync of a probe
        out, i = {}, 0
        for kind, v in vectors.items():
            names = conv_names if kind == "response_std" else self.names
            out[kind] = dict(zip(names, flat[i : i + len(v)]))
            i += len(v)
        return out


def probe_model_at_init(spec: dict, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> pd.DataFrame:
    """Per-layer probe of one freshly initialised network on one batch (training-mode BN)."""
    torch.manual_seed(seed)
    model = build_model(
        spec.get("arch", "cifar"), spec["depth"], spec["shortcut"], spec.get("bn", True), spec.get("init", "kaiming")
    )
    model.train()
    probe = LayerProbe(model)
    with probe.capture():
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
    results = probe.read()
    name = model_name(spec.get("arch", "cifar"), spec["depth"], spec["shortcut"], spec.get("bn", True))
    rows = []
    for idx, layer in enumerate(probe.names):
        rows.append(
            {
                "model": name,
                "depth": spec["depth"],
                "shortcut": spec["shortcut"],
                "bn": spec.get("bn", True),
                "init": spec.get("init", "kaiming"),
                "params": count_params(model),
                "loss": loss.item(),
                "idx": idx,
                "layer": layer,
                "rel_depth": idx / max(1, len(probe.names) - 1),
                **{kind: results[kind].get(layer, float("nan")) for kind in PROBE_KINDS},
            }
        )
    return pd.DataFrame(rows)


def init_grid(
    depths=PROBE_DEPTHS, shortcuts=("none", "A"), bns=(True, False), inits=("kaiming", "default")
) -> list[dict]:
    return [dict(depth=d, shortcut=s, bn=b, init=i) for s in shortcuts for b in bns for i in inits for d in depths]


def probe_at_init(
    specs: list[dict], images: torch.Tensor, labels: torch.Tensor, seed: int = 0, progress=None
) -> pd.DataFrame:
    """The at-initialisation gradient picture for many configs; seconds on a CPU."""
    frames = []
    for i, spec in enumerate(specs):
        frames.append(probe_model_at_init(spec, images, labels, seed))
        if progress:
            progress(i + 1, len(specs))
    return pd.concat(frames, ignore_index=True)


# Thresholds for naming a gradient regime from the numbers (norms of dL/dW of one conv, one batch of 64-128 images).
LARGE_NORM = 100.0  # a conv's weight gradient above this, at an initial loss near ln 10, is exploding
SMALL_NORM = 1e-2  # ...below this, a hundredth of a BN net's (about 0.3 to 1 here): vanishing
GROWTH = 10.0  # first/last beyond this (either way) is growth or decay toward the input


def gradient_regime(first: float, last: float) -> str:
    """Name what a network's gradients do at initialisation, judged by the absolute norms and their ratio.

    The ratio alone misleads: a ResNet without BN and with He init has first/last ~0.15, which looks
    like vanishing, while both norms are 10^4 to 10^9.
    """
    if first == 0:
        return "vanishing (first conv underflows to 0)"
    ratio = first / last if last else float("inf")
    if min(first, last) > LARGE_NORM:
        return "exploding at every layer"
    if ratio > GROWTH:
        return "exploding toward the input" if first > LARGE_NORM else "growing toward the input"
    if ratio < 1 / GROWTH:
        return "vanishing toward the input" if first < SMALL_NORM else "shrinking toward the input"
    if max(first, last) < SMALL_NORM:
        return "small at every layer"
    if max(first, last) > LARGE_NORM:
        return "exploding toward the output" if last > first else "exploding toward the input"
    return "balanced (within 10×)"


def summarize_init(df: pd.DataFrame) -> pd.DataFrame:
    """One row per config: gradient norm at the first and last conv, their ratio, and the regime they name."""
    rows = []
    for keys, g in df.groupby(["model", "init", "depth", "shortcut", "bn"], sort=False):
        convs = g[g.layer != "fc"]
        first, last = convs.iloc[0], convs.iloc[-1]
        rows.append(
            {
                "model": keys[0],
                "init": keys[1],
                "depth": keys[2],
                "shortcut": keys[3],
                "bn": keys[4],
                "loss": first["loss"],
                "grad_w_first": first["grad_w"],
                "grad_w_last": last["grad_w"],
                "ratio_first_last": first["grad_w"] / last["grad_w"] if last["grad_w"] else float("nan"),
                "regime": gradient_regime(first["grad_w"], last["grad_w"]),
            }
        )
    return pd.DataFrame(rows)


def probe_batch(dataset: str = "builtin", n: int = 128, data_dir: str | None = None, seed: int = 0):
    """``n`` class-balanced normalised test images with labels, and the dataset's title."""
    ds = load_dataset(dataset, data_dir, test_subset=n, seed=seed)
    return normalize(ds.x_test, ds.mean, ds.std), ds.y_test, ds.title


def gradient_correlation(spec: dict, images: torch.Tensor, points: int = 128, seed: int = 0) -> float:
    """Shattered gradients (Balduzzi et al. 2017): how alike the input-gradients of neighbouring inputs are.

    For each image x, walk a straight line from x to x + d (d random, as long as x) in ``points`` steps,
    take the gradient of the first logit with respect to each input on the line (one batch, BN in
    training mode as during training), and average the cosine similarity of neighbouring gradients.
    Near 1: the gradient changes smoothly with the input. Near 0: it looks like white noise.
    """
    torch.manual_seed(seed)
    model = build_model(
        spec.get("arch", "cifar"), spec["depth"], spec["shortcut"], spec.get("bn", True), spec.get("init", "kaiming")
    )
    model.train()
    generator = torch.Generator().manual_seed(seed + 1)
    steps = torch.linspace(0, 1, points)[:, None, None, None]
    similarities = []
    for x in images:
        direction = torch.randn(x.shape, generator=generator)
        direction *= x.norm() / direction.norm()
        line = (x + steps * direction).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(line)[:, 0].sum(), line)
        grad = F.normalize(grad.flatten(1), dim=1)
        similarities.append((grad[1:] * grad[:-1]).sum(1).mean())
    return torch.stack(similarities).mean().item()


def shattering_table(specs: list[dict], images: torch.Tensor, points: int = 128, progress=None) -> pd.DataFrame:
    """gradient_correlation for many networks, one row each."""
    rows = []
    for i, spec in enumerate(specs):
        bn = spec.get("bn", True)
        rows.append(
            {
                "model": model_name(spec.get("arch", "cifar"), spec["depth"], spec["shortcut"], bn),
                "depth": spec["depth"],
                "shortcut": spec["shortcut"],
                "bn": bn,
                "init": spec.get("init", "kaiming"),
                "correlation": gradient_correlation(spec, images, points),
            }
        )
        if progress:
            progress(i + 1, len(specs))
    return pd.DataFrame(rows)


def response_std_note(stds: dict[str, pd.Series], bn_tolerance: float = 0.02) -> str:
    """One sentence on what a Fig. 7 chart of these runs can show, judged run by run from their 3x3 response stds.

    In training mode BN gives every channel's response the std of its learned scale gamma, so with BN on
    the stds move only as training moves gamma from its initial 1. A run whose stds all lie within
    ``bn_tolerance`` of 1 has not moved them yet; a comparison that includes one cannot show the paper's
    gap (its nets trained for 64,000 iterations), and the sentence says which runs those are.
    """
    stds = {label: v for label, v in ((label, v.dropna()) for label, v in stds.items()) if len(v)}
    if not stds:
        return ""
    unmoved = {label: v for label, v in stds.items() if (v - 1).abs().max() <= bn_tolerance}
    means = "Mean over the 3×3 layers here: " + "; ".join(f"{label}: {v.mean():.3g}" for label, v in stds.items()) + "."
    if not unmoved:
        return means
    values = pd.concat(list(unmoved.values()))
    who = "every run here" if len(unmoved) == len(stds) else ", ".join(unmoved)
    return (
        (means + " " if len(unmoved) < len(stds) else "")
        + f"For {who}, every 3×3 layer lies between {values.min():.3f} and {values.max():.3f}: in training mode BN "
        "sets each channel's response std to its learned scale γ, and training has not yet moved γ from its initial 1, "
        "so this comparison cannot show the paper's gap (its nets trained for 64,000 iterations)."
    )
