"""Why did the network say that? Predictions and Captum attributions for one 32x32 image.

Every method explains the score (logit) of one class for one image and returns a 32x32 float
numpy heatmap in [0, 1], 1 = most important, so all of them can be drawn with one colour scale:

- Integrated Gradients: gradients summed along a straight path from a baseline (the data set's
  mean colour, i.e. zero after normalisation) to the image; |attribution| summed over channels.
- Saliency: |gradient of the class score w.r.t. each pixel|, the largest over the channels.
- Grad-CAM: the last stage's feature maps weighted by their average gradient, ReLU'd, upsampled
  from 8x8 (CIFAR nets, ``stage3``) or 4x4 (torchvision ResNet-18, ``layer4``) to 32x32.
- Occlusion: how much the class score drops when an 8x8 patch is replaced by the mean colour.

Gradient maps are spiky, so they are scaled by their 99th percentile (and clipped) rather than
their maximum: one hot pixel would otherwise make the rest of the map look empty.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency

from ..engine.data import normalize

METHODS = ("Integrated Gradients", "Saliency", "Grad-CAM", "Occlusion")
METHOD_NOTES = {
    "Integrated Gradients": "pixels whose change from the mean colour moved the class score most "
    "(gradients summed along the path)",
    "Saliency": "pixels where a tiny change would move the class score most (one gradient)",
    "Grad-CAM": "regions the last stage's feature maps respond to for this class (coarse: 8x8 for the CIFAR nets)",
    "Occlusion": "regions whose covering with an 8x8 patch of the mean colour lowers the class score most",
}
IG_STEPS = 32  # Gauss-Legendre points: enough for a smooth map, one batch of 32 on CPU
OCCLUSION_WINDOW = 8  # px, a quarter of the image side
OCCLUSION_STRIDE = 4  # px: 7x7 = 49 patch positions, evaluated in one batch
SIZE = 32


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def model_input(model: nn.Module, image: torch.Tensor, mean, std) -> torch.Tensor:
    """The normalised float batch [1, 3, 32, 32] the model is fed, from a uint8 image [3, 32, 32]."""
    if image.dtype != torch.uint8 or tuple(image.shape) != (3, SIZE, SIZE):
        raise ValueError(f"expected a uint8 image tensor of shape [3, 32, 32], got {image.dtype} {tuple(image.shape)}")
    return normalize(image.unsqueeze(0).to(model_device(model)), mean, std, channels_last=False)


def seen_image(image: torch.Tensor) -> np.ndarray:
    """What the model actually saw, as a 32x32x3 uint8 array for display."""
    return image.permute(1, 2, 0).cpu().numpy().astype(np.uint8)


@torch.no_grad()
def class_probabilities(model: nn.Module, image: torch.Tensor, mean, std) -> np.ndarray:
    """Softmax probabilities over the model's classes for one uint8 image."""
    model.eval()
    return F.softmax(model(model_input(model, image, mean, std)).float(), dim=1)[0].cpu().numpy()


def predict_topk(
    model: nn.Module, image_tensor: torch.Tensor, mean, std, classes, k: int = 5
) -> list[tuple[str, float]]:
    """The k most probable classes as (class name, probability), most probable first."""
    probs = class_probabilities(model, image_tensor, mean, std)
    if len(probs) != len(classes):
        raise ValueError(f"the model has {len(probs)} outputs but {len(classes)} class names were given")
    order = np.argsort(-probs, kind="stable")[: max(1, min(k, len(classes)))]
    return [(classes[i], float(probs[i])) for i in order]


def last_stage(model: nn.Module) -> nn.Module:
    """The last convolutional stage, where Grad-CAM looks: ``stage3`` (CIFAR nets) or ``layer4`` (torchvision)."""
    for name in ("stage3", "layer4"):
        if hasattr(model, name):
            return getattr(model, name)
    raise ValueError(f"{type(model).__name__} has neither a 'stage3' nor a 'layer4' module for Grad-CAM")


def scale_for_display(heatmap: torch.Tensor | np.ndarray, percentile: float = 100.0) -> np.ndarray:
    """A non-negative map scaled to [0, 1] by its ``percentile`` (clipped above); all-zero stays zero."""
    a = np.nan_to_num(np.asarray(heatmap.detach().cpu() if torch.is_tensor(heatmap) else heatmap, dtype=np.float64))
    a = np.clip(a, 0, None)
    top = np.percentile(a, percentile) if percentile < 100 else a.max()
    if top <= 0:
        top = a.max()
    return (np.clip(a / top, 0, 1) if top > 0 else np.zeros_like(a)).astype(np.float32)


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: int, n_steps: int = IG_STEPS) -> np.ndarray:
    attr = IntegratedGradients(model).attribute(
        x, baselines=torch.zeros_like(x), target=target, n_steps=n_steps, internal_batch_size=n_steps
    )
    return scale_for_display(attr[0].abs().sum(0), 99)


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    attr = Saliency(model).attribute(x.clone().requires_grad_(), target=target, abs=True)
    return scale_for_display(attr[0].max(0).values, 99)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    cam = LayerGradCam(model, last_stage(model)).attribute(x, target=target, relu_attributions=True)
    return scale_for_display(LayerAttribution.interpolate(cam, (SIZE, SIZE), "bilinear")[0, 0])


def occlusion(
    model: nn.Module, x: torch.Tensor, target: int, window: int = OCCLUSION_WINDOW, stride: int = OCCLUSION_STRIDE
) -> np.ndarray:
    positions = ((SIZE - window) // stride + 1) ** 2
    attr = Occlusion(model).attribute(
        x,
        sliding_window_shapes=(3, window, window),
        strides=(3, stride, stride),
        baselines=0.0,
        target=target,
        perturbations_per_eval=positions,
    )
    return scale_for_display(attr[0].sum(0))  # positive = covering it lowered the score


_METHOD_FUNCTIONS = {
    "Integrated Gradients": integrated_gradients,
    "Saliency": saliency,
    "Grad-CAM": grad_cam,
    "Occlusion": occlusion,
}


def attribute(model: nn.Module, image: torch.Tensor, mean, std, method: str, target: int) -> np.ndarray:
    """One method's 32x32 heatmap in [0, 1] for class index ``target`` of a uint8 image [3, 32, 32]."""
    if method not in _METHOD_FUNCTIONS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    model.eval()  # BN uses its running statistics: a single image must not be normalised by itself
    x = model_input(model, image, mean, std)
    with torch.enable_grad():
        return _METHOD_FUNCTIONS[method](model, x, int(target))


def explain(
    model: nn.Module, image: torch.Tensor, mean, std, target: int | None = None, methods=METHODS
) -> dict[str, np.ndarray]:
    """Heatmaps of several methods for ``target`` (default: the predicted class), by method name."""
    if target is None:
        target = int(np.argmax(class_probabilities(model, image, mean, std)))
    return {m: attribute(model, image, mean, std, m, target) for m in methods}
