"""Images for looking inside a stored run: its test images, a fixed batch of its training images, and
the normalisation it was trained with (recorded in the run's info; the data set's own otherwise)."""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn

from ..engine.data import balanced_subset, load_dataset, normalize
from ..runs.store import RunRecord


def normalisation(record: RunRecord, dataset=None) -> tuple[tuple, tuple]:
    """The per-channel mean and std the run's inputs were normalised with."""
    info = record.info or {}
    if info.get("mean") and info.get("std"):
        return tuple(info["mean"]), tuple(info["std"])
    if dataset is None:
        raise ValueError(f"run {record.run_id} does not record its normalisation; pass its data set")
    return dataset.mean, dataset.std


def test_images(record: RunRecord, n: int, data_dir: str | None = None, cache_dir: str | None = None):
    """``n`` class-balanced test images of the run's data set (the same ones for every run and call,
    and with seed 0 inside the run's own test subset), normalised as the run was; with labels and classes."""
    ds = load_dataset(record.config.dataset, data_dir, test_subset=n, seed=0, cache_dir=cache_dir)
    mean, std = normalisation(record, ds)
    return normalize(ds.x_test, mean, std, channels_last=False), ds.y_test, ds.classes


def train_batch(record: RunRecord, n: int, data_dir: str | None = None, cache_dir: str | None = None):
    """A fixed class-balanced batch of ``n`` images from the run's own training images, normalised as in training."""
    c = record.config
    ds = load_dataset(c.dataset, data_dir, subset=c.subset, seed=c.seed, cache_dir=cache_dir)
    if n > len(ds.y_train):
        raise ValueError(f"batch must be at most {len(ds.y_train)} (the run's training images), got {n}")
    keep = torch.from_numpy(balanced_subset(ds.y_train.numpy(), n, seed=0))
    mean, std = normalisation(record, ds)
    return normalize(ds.x_train[keep], mean, std, channels_last=False), ds.y_train[keep]


@contextmanager
def cpu_threads(single: bool = False):
    """Speed trick (thread fit): on a CPU already busier than its cores (load average >= cores), or for
    work as small as one image (``single``), run PyTorch's kernels on one thread. OpenMP threads spin at
    every barrier waiting for a descheduled partner; on this shared 2-core machine one thread was 3-5x
    faster than two under load, and 10x faster for one image. Only the speed changes, never a result;
    the setting applies to the calling thread's kernels and comes back afterwards."""
    before = torch.get_num_threads()
    cores = os.cpu_count() or 1
    busy = single or (hasattr(os, "getloadavg") and os.getloadavg()[0] >= cores)
    if busy and before > 1:
        torch.set_num_threads(1)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def fast_copy(model: nn.Module) -> nn.Module:
    """A private eval-mode copy in channels_last (speed trick: oneDNN's convolutions run faster on NHWC
    on this CPU); the caller's model, perhaps shared by other pages, is left untouched."""
    return copy.deepcopy(model).eval().to(memory_format=torch.channels_last)


def display_image(image: torch.Tensor, record: RunRecord) -> np.ndarray:
    """A normalised [3, H, W] input back as the uint8 [H, W, 3] picture the run saw."""

    mean, std = normalisation(record)
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    return (image * s + m).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy().astype(np.uint8)
