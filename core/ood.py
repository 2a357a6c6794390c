"""Is an image like the data a model was trained on? Two scores, each judged against the model's own test set.

- **Maximum softmax probability** (Hendrycks & Gimpel, ICLR 2017): in-distribution images tend to get
  a higher top probability than others. On its own it misses the worst cases: a Shapes-10 net answers
  a cat photo with 99% "cross".
- **Nearest-neighbour distance in feature space** (Sun, Ming, Zhu, Li, ICML 2022): the distance from
  the image's penultimate-layer features (unit length) to its k-th nearest training image's. An image
  unlike every training image sits far from all of them, however confident the softmax is.

An image is flagged when its distance exceeds what 95% of the model's own test images get, or its top
probability is below what 95% of them get. Both thresholds come from the test images, never a constant.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import normalize

K_NEAREST = 10
QUANTILE = 0.95   # flagged beyond what this share of the model's own test images get
BATCH = 250


@torch.inference_mode()
def features_and_probs(model: nn.Module, images_uint8: torch.Tensor, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-length penultimate features (the classifier's input) and softmax probabilities of uint8 images."""
    model.eval()
    head = model.fc
    captured = []
    hook = head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach()))
    try:
        probs = []
        for i in range(0, len(images_uint8), BATCH):
            logits = model(normalize(images_uint8[i:i + BATCH], mean, std, channels_last=False))
            probs.append(F.softmax(logits.float(), dim=1))
    finally:
        hook.remove()
    return F.normalize(torch.cat(captured).float(), dim=1), torch.cat(probs)


@dataclass
class Reference:
    """What a model's own data look like to it: training features, and the test images' scores."""
    train_features: torch.Tensor
    test_distance: np.ndarray   # k-NN distance of each test image to the training features
    test_msp: np.ndarray        # top softmax probability of each test image

    @property
    def distance_limit(self) -> float:
        return float(np.quantile(self.test_distance, QUANTILE))

    @property
    def msp_limit(self) -> float:
        return float(np.quantile(self.test_msp, 1 - QUANTILE))


def knn_distance(features: torch.Tensor, bank: torch.Tensor, k: int = K_NEAREST) -> np.ndarray:
    """Distance from each row of ``features`` to its k-th nearest row of ``bank`` (all unit length)."""
    d = torch.cdist(features, bank)
    return d.topk(min(k, len(bank)), dim=1, largest=False).values[:, -1].numpy()


def build_reference(model: nn.Module, x_train: torch.Tensor, x_test: torch.Tensor, mean, std) -> Reference:
    train_features, _ = features_and_probs(model, x_train, mean, std)
    test_features, test_probs = features_and_probs(model, x_test, mean, std)
    return Reference(train_features, knn_distance(test_features, train_features), test_probs.max(1).values.numpy())


@dataclass
class Judgement:
    distance: float
    msp: float
    distance_percentile: float   # share of the model's test images closer to its training images (%)
    msp_percentile: float        # share of its test images with a lower top probability (%)
    unlike_training: bool

    def sentence(self, model_name: str, dataset_title: str) -> str:
        if self.unlike_training:
            why = []
            if self.distance_percentile >= 100 * QUANTILE:
                why.append(f"its features lie farther from every {dataset_title} training image than "
                           f"{self.distance_percentile:.0f}% of {dataset_title} test images do")
            if self.msp_percentile <= 100 * (1 - QUANTILE):
                why.append(f"its top probability ({100 * self.msp:.0f}%) is lower than for "
                           f"{100 - self.msp_percentile:.0f}% of the test images")
            return (f"**{model_name}: this image is unlike its training data** ({'; '.join(why)}). Its answer below "
                    "is a guess among its own classes, however confident it looks.")
        return (f"{model_name}: this image looks like its {dataset_title} data (closer to its training images than "
                f"{100 - self.distance_percentile:.0f}% of test images are not; top probability {100 * self.msp:.0f}%).")


def judge(model: nn.Module, image_uint8: torch.Tensor, mean, std, reference: Reference) -> Judgement:
    features, probs = features_and_probs(model, image_uint8.unsqueeze(0), mean, std)
    distance = float(knn_distance(features, reference.train_features)[0])
    msp = float(probs.max())
    d_pct = 100 * float((reference.test_distance < distance).mean())
    m_pct = 100 * float((reference.test_msp < msp).mean())
    flagged = distance > reference.distance_limit or msp < reference.msp_limit
    return Judgement(distance, msp, d_pct, m_pct, flagged)


WHY_CONFIDENT = ("Why a network can be confidently wrong here: its softmax always shares 100% among the classes it "
                 "was trained on, and nothing in training told it what lies outside them, so an image unlike all its "
                 "training data can land far from every decision boundary and get a high probability for some class "
                 "(Nguyen, Yosinski, Clune 2015; Hendrycks & Gimpel 2017).")
