"""What each layer sees: feature maps of one image inside a stored network, read with forward hooks.

For every block of a CIFAR network the hooks record, for one image (BN in eval mode):

- ``F(x)``: the residual branch, the output of the block's second BN (before any addition);
- ``x (shortcut)``: what the shortcut carries: x itself, or its subsampled zero-padded (A) or projected
  (B) version; a plain block has none;
- ``F(x) + x``: their sum, the input of the block's final ReLU (for a plain block this is F(x) itself);
- ``output``: the block's output after the ReLU.

``response_std`` is the paper's Fig. 7 for this image: the std of every 3x3 layer's response (after BN,
before the ReLU or the addition).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..engine.probes import response_modules
from .inputs import cpu_threads
from .lesion import residual_blocks

PARTS = ("F(x)", "x (shortcut)", "F(x) + x", "output")


@dataclass
class BlockView:
    """One image's maps inside one block: part name -> array [channels, H, W] (absent parts are missing)."""

    block: str
    parts: dict[str, np.ndarray]
    has_shortcut: bool


def layer_names(model: nn.Module) -> list[str]:
    """Where feature maps can be read: the stem and every block's output, in forward order."""
    return ["stem"] + [name for name, _ in residual_blocks(model)]


def _record(store: dict, key: str, module, inputs, output) -> None:
    store[key] = output.detach()


def _record_input(store: dict, key: str, module, inputs) -> None:
    store[key] = inputs[0].detach()


def inspect(
    model: nn.Module, image: torch.Tensor, block: str | None = None
) -> tuple[dict[str, np.ndarray], BlockView | None, pd.DataFrame]:
    """One forward pass of one normalised image [3, 32, 32] with hooks; returns the output maps of the
    stem and of every block ({name: [C, H, W]}), the parts of ``block`` (if named), and the per-layer
    response std (columns idx, layer, value)."""
    named = residual_blocks(model)
    by_name = dict(named)
    if block is not None and block not in by_name:
        raise ValueError(f"no block {block!r}; blocks are {', '.join(by_name)}")
    seen: dict[str, torch.Tensor] = {}
    handles = [model.relu.register_forward_hook(partial(_record, seen, "stem"))]
    handles += [b.register_forward_hook(partial(_record, seen, name)) for name, b in named]
    responses = response_modules(model)
    handles += [m.register_forward_hook(partial(_record, seen, f"response:{name}")) for name, m in responses.items()]
    if block is not None:
        b = by_name[block]
        handles.append(b.bn2.register_forward_hook(partial(_record, seen, "part:F(x)")))
        handles.append(b.relu2.register_forward_pre_hook(partial(_record_input, seen, "part:F(x) + x")))
        if b.kind != "none":
            handles.append(b.shortcut.register_forward_hook(partial(_record, seen, "part:x (shortcut)")))
    model.eval()
    try:
        with torch.inference_mode(), cpu_threads(single=True):
            model(image.unsqueeze(0))
    finally:
        for h in handles:
            h.remove()
    maps = {name: seen[name][0].float().numpy() for name in ["stem"] + [n for n, _ in named]}
    view = None
    if block is not None:
        parts = {p: seen[f"part:{p}"][0].float().numpy() for p in PARTS[:3] if f"part:{p}" in seen}
        parts["output"] = maps[block]
        view = BlockView(block, parts, by_name[block].kind != "none")
    stds = pd.DataFrame(
        [
            {"idx": i, "layer": name, "value": seen[f"response:{name}"].float().std().item()}
            for i, name in enumerate(responses)
        ]
    )
    return maps, view, stds


def strongest_channels(maps: np.ndarray, k: int = 8) -> list[int]:
    """The ``k`` channels with the largest mean absolute activation, strongest first."""
    energy = np.abs(maps).reshape(len(maps), -1).mean(1)
    return [int(i) for i in np.argsort(-energy, kind="stable")[:k]]


def part_sizes(view: BlockView) -> dict[str, float]:
    """RMS of each part of a block: how large F(x) is next to the x the shortcut carries."""
    return {p: float(np.sqrt(np.mean(np.square(a)))) for p, a in view.parts.items()}


def parts_sentence(label: str, view: BlockView) -> str:
    """What the block's parts show for this image, with their sizes."""
    s = part_sizes(view)
    if not view.has_shortcut:
        return (
            f"{label}, {view.block}: a plain block has no shortcut, so its output is the new signal H(x) alone "
            f"(RMS {s['F(x)']:.3g} before the ReLU)."
        )
    ratio = s["F(x)"] / s["x (shortcut)"] if s["x (shortcut)"] else float("inf")
    return (
        f"{label}, {view.block}: the residual F(x) has RMS {s['F(x)']:.3g} against {s['x (shortcut)']:.3g} for the "
        f"shortcut x (ratio {ratio:.2f}); their sum has RMS {s['F(x) + x']:.3g}."
    )


def maps_sentence(layer: str, maps: dict[str, np.ndarray]) -> str:
    """How many maps of which size each network hands on at ``layer``, and how many are silent for this image."""
    parts = []
    for label, a in maps.items():
        silent = int((np.abs(a).reshape(len(a), -1).max(1) == 0).sum())
        parts.append(f"{label} hands on {len(a)} maps of {a.shape[1]}×{a.shape[2]} pixels, {silent} of them all zero")
    return f"At {layer}, " + "; ".join(parts) + "."


def response_sentence(stds: dict[str, pd.Series], resnet: str | None = None) -> str:
    """Mean response std per network for this one image and, given the ResNet's label, whether its
    responses are the smaller ones as the paper found."""
    stds = {label: v for label, v in stds.items() if len(v)}
    parts = [f"{label}: mean {v.mean():.3g} over its {len(v)} 3×3 layers" for label, v in stds.items()]
    if not parts:
        return ""
    text = "For this image, " + "; ".join(parts) + "."
    others = [v.mean() for label, v in stds.items() if label != resnet]
    if resnet in stds and others:
        smaller = stds[resnet].mean() < min(others)
        text += (
            " Here the ResNet's responses are the smaller, as in the paper."
            if smaller
            else " Here the ResNet's responses are not the smaller: this image and these runs do not show the "
            "paper's finding."
        )
    return text
