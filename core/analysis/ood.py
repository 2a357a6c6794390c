"""Is an image like the data a model was trained on? Two scores, each judged against the model's own test set.

- **Maximum softmax probability** (Hendrycks & Gimpel, ICLR 2017): in-distribution images tend to get
  a higher top probability than others. On its own it misses the worst cases: a Shapes-10 net answers
  a cat photo with 99% "cross".
- **Nearest-neighbour distance in feature space** (Sun, Ming, Zhu, Li, ICML 2022): the distance from
  the image's penultimate-layer features (unit length) to its k-th nearest training image's. An image
  unlike every training image sits far from all of them, however confident the softmax is.
- **Activation statistics**: the mean and std of every channel at the end of each stage, as z-scores
  against the training images' (in the spirit of feature-statistics detectors such as Sastry & Oore,
  ICML 2020): photos and noise drive early layers like no Shapes-10 image does.

An image is flagged when a distance exceeds what 95% of the model's own test images get, or its top
probability is below what 95% of them get. Every threshold comes from the test images, never a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine.data import normalize

K_NEAREST = 10
QUANTILE = 0.95  # flagged beyond what this share of the model's own test images get
BATCH = 250


STAGES = ("stage1", "stage2", "stage3", "layer1", "layer2", "layer3", "layer4")  # CIFAR nets, torchvision's


class _Capture:
    """Forward hook that keeps the classifier's input, or a stage output's per-channel mean and std."""

    def __init__(self, stats: bool):
        self.stats, self.values = stats, []

    def __call__(self, module, inputs, output):
        if self.stats:
            flat = output.detach().float().flatten(2)
            self.values.append(torch.cat([flat.mean(2), flat.std(2)], dim=1))
        else:
            self.values.append(inputs[0].detach().float())


@torch.inference_mode()
def features_and_probs(
    model: nn.Module, images_uint8: torch.Tensor, mean, std
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit-length penultimate features (the classifier's input), per-stage activation statistics and
    softmax probabilities of uint8 images."""
    model.eval()
    head, stats = _Capture(False), [_Capture(True) for name in STAGES if hasattr(model, name)]
    hooks = [model.fc.register_forward_hook(head)]
    hooks += [
        getattr(model, name).register_forward_hook(c)
        for name, c in zip([n for n in STAGES if hasattr(model, n)], stats)
    ]
    try:
        probs = []
        for i in range(0, len(images_uint8), BATCH):
            logits = model(normalize(images_uint8[i : i + BATCH], mean, std, channels_last=False))
            probs.append(F.softmax(logits.float(), dim=1))
    finally:
        for hook in hooks:
            hook.remove()
    activation = torch.cat([torch.cat(c.values) for c in stats], dim=1)
    return F.normalize(torch.cat(head.values), dim=1), activation, torch.cat(probs)


@dataclass
class Reference:
    """What a model's own data look like to it: training features, and the test images' scores."""

    train_features: torch.Tensor
    test_distance: np.ndarray  # k-NN distance of each test image to the training features
    test_msp: np.ndarray  # top softmax probability of each test image
    stat_mean: torch.Tensor  # the training images' activation statistics: mean and std of each
    stat_std: torch.Tensor
    test_stat: np.ndarray  # activation-statistics distance of each test image

    @property
    def distance_limit(self) -> float:
        return float(np.quantile(self.test_distance, QUANTILE))

    @property
    def stat_limit(self) -> float:
        return float(np.quantile(self.test_stat, QUANTILE))

    def stat_distance(self, activation: torch.Tensor) -> np.ndarray:
        """Root mean square z-score of each row's activation statistics against the training images'."""
        return ((activation - self.stat_mean) / self.stat_std).pow(2).mean(1).sqrt().numpy()

    @property
    def msp_limit(self) -> float:
        return float(np.quantile(self.test_msp, 1 - QUANTILE))


def knn_distance(features: torch.Tensor, bank: torch.Tensor, k: int = K_NEAREST) -> np.ndarray:
    """Distance from each row of ``features`` to its k-th nearest row of ``bank`` (all unit length)."""
    d = torch.cdist(features, bank)
    return d.topk(min(k, len(bank)), dim=1, largest=False).values[:, -1].numpy()


def build_reference(model: nn.Module, x_train: torch.Tensor, x_test: torch.Tensor, mean, std) -> Reference:
    train_features, train_act, _ = features_and_probs(model, x_train, mean, std)
    test_features, test_act, test_probs = features_and_probs(model, x_test, mean, std)
    ref = Reference(
        train_features,
        knn_distance(test_features, train_features),
        test_probs.max(1).values.numpy(),
        train_act.mean(0),
        train_act.std(0).clamp_min(1e-6),
        np.empty(0),
    )
    ref.test_stat = ref.stat_distance(test_act)
    return ref


@dataclass
class Judgement:
    distance: float
    msp: float
    distance_percentile: float  # share of the model's test images closer to its training images (%)
    msp_percentile: float  # share of its test images with a lower top probability (%)
    stat_percentile: float  # share of its test images whose activation statistics are more typical (%)
    unlike_training: bool

    def sentence(self, model_name: str, dataset_title: str) -> str:
        if self.unlike_training:
            why = []
            if self.distance_percentile >= 100 * QUANTILE:
                why.append(
                    f"its features lie farther from every {dataset_title} training image than "
                    f"{self.distance_percentile:.0f}% of {dataset_title} test images do"
                )
            if self.stat_percentile >= 100 * QUANTILE:
                why.append(
                    f"its layers respond to it less typically than to {self.stat_percentile:.0f}% of "
                    f"{dataset_title} test images"
                )
            if self.msp_percentile <= 100 * (1 - QUANTILE):
                why.append(
                    f"its top probability ({100 * self.msp:.0f}%) is lower than for "
                    f"{100 - self.msp_percentile:.0f}% of the test images"
                )
            return (
                f"**{model_name}: this image is unlike its training data** ({'; '.join(why)}). Its answer below "
                "is a guess among its own classes, however confident it looks."
            )
        return (
            f"{model_name}: this image looks like its {dataset_title} data, as typical as most of its test images "
            f"by every measure here (top probability {100 * self.msp:.0f}%)."
        )


def judge(model: nn.Module, image_uint8: torch.Tensor, mean, std, reference: Reference) -> Judgement:
    features, activation, probs = features_and_probs(model, image_uint8.unsqueeze(0), mean, std)
    distance = float(knn_distance(features, reference.train_features)[0])
    stat = float(reference.stat_distance(activation)[0])
    msp = float(probs.max())
    d_pct = 100 * float((reference.test_distance < distance).mean())
    m_pct = 100 * float((reference.test_msp < msp).mean())
    s_pct = 100 * float((reference.test_stat < stat).mean())
    flagged = distance > reference.distance_limit or msp < reference.msp_limit or stat > reference.stat_limit
    return Judgement(distance, msp, d_pct, m_pct, s_pct, flagged)


WHY_CONFIDENT = (
    "Why a network can be confidently wrong here: its softmax always shares 100% among the classes it "
    "was trained on, and nothing in training told it what lies outside them, so an image unlike all its "
    "training data can land far from every decision boundary and get a high probability for some class "
    "(Nguyen, Yosinski, Clune 2015; Hendrycks & Gimpel 2017)."
)
