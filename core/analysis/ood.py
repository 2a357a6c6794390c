"""Is an image unlike the data a model was trained on? A detector calibrated on held-out test images.

Two scores per image, each turned into a percentile rank among a *calibration* split of the model's own
held-out test images (never used for reporting how well the detector works):

- **Pixel statistics**: 26 simple numbers per image (per-channel mean and spread, saturation, edge density,
  gradient energy, histogram entropy, share of flat pixels, ...), scored by their Mahalanobis distance to the
  training images' statistics. Noise, flat colours and line drawings are far from any photo or Shapes-10 image
  here, whatever the network makes of them.
- **Nearest neighbours in feature space** (Sun, Ming, Zhu, Li, ICML 2022): the distance from the image's
  penultimate-layer features (unit length) to its 10th nearest among 1,000 training images'.

An image is flagged when the larger of its two ranks exceeds one threshold, chosen so that 4% of the
calibration images are flagged. The maximum softmax probability (Hendrycks & Gimpel 2017) and the energy score
(Liu et al. 2020) are computed for comparison (``python -m bench.ood``) but not used: networks trained on
Shapes-10 are *more* confident on noise than on their own test images.

Each fit also checks the model itself on images it has never seen: uniform noise, flat colours and the other
data set's images. A model that lets many of them through cannot vouch for an image it does not flag, and its
verdicts say so (``Verdict.sentence``).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine.data import DataUnavailable, balanced_subset, load_dataset, normalize
from ..engine.files import atomic_write_bytes
from ..runs.store import RunRecord, RunStore
from . import inside
from .inputs import cpu_threads, normalisation

FORMAT = 1  # bump when the file layout or the scores change, so stale files are refitted
K_NEAREST = 10
BANK = 1000  # training images whose features the k-NN score compares with (2,000 gave the same flags)
PIXEL_FIT = 5000  # training images whose pixel statistics the Mahalanobis score is fitted on
CALIBRATION = 2000  # held-out test images that set the percentile ranks and the threshold
FLAG_SHARE = 0.04  # the share of calibration images flagged
SPLIT_SEED = 0
SELF_CHECK = 200  # images of each kind the model is checked on when it is fitted
SEPARATES = 0.95  # a model "separates" a kind of image when it flags at least this share of them
SHRINK = 0.05  # covariance shrinkage towards the identity (on standardised statistics)
BATCH = 250
SCORES = ("pixel", "knn")

PIXEL_NAMES = (
    *(f"mean_{c}" for c in "rgb"),
    *(f"std_{c}" for c in "rgb"),
    "saturation_mean",
    "saturation_std",
    "gradient_energy",
    "edge_density_low",
    "edge_density_high",
    "histogram_entropy",
    "flat_fraction",
    "colourfulness",
    "laplacian_energy",
    "high_frequency_share",
    "neighbour_corr_x",
    "neighbour_corr_y",
    "gray_p1",
    "gray_p99",
    "dark_fraction",
    "bright_fraction",
    "corr_rg",
    "corr_gb",
    "corr_rb",
    "centre_minus_border",
)


# Heavy-tailed statistics (energies, spreads, shares of pixels) enter as logarithms: a Shapes-10 net then flags
# 74% of CIFAR-10 photos instead of 33%, and a CIFAR-10 net 98% of Shapes-10 images instead of 96%, with the
# same 4% of its own held-out test images.
LOG_STATS = (
    "std_r",
    "std_g",
    "std_b",
    "gradient_energy",
    "edge_density_low",
    "edge_density_high",
    "flat_fraction",
    "colourfulness",
    "laplacian_energy",
    "high_frequency_share",
    "dark_fraction",
    "bright_fraction",
)


def _corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row Pearson correlation of two [N, M] tensors (0 where either is constant)."""
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt()
    return torch.where(den > 1e-8, (a * b).sum(1) / den.clamp_min(1e-8), torch.zeros_like(den))


def pixel_stats(images_uint8: torch.Tensor) -> np.ndarray:
    """The 26 statistics (``PIXEL_NAMES``, those in ``LOG_STATS`` as logarithms) of each uint8 image [N, 3, H, W],
    as float64 [N, 26]."""
    x = images_uint8.double() / 255
    n = len(x)
    flat = x.flatten(2)
    gray = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    hi, lo = x.max(1).values, x.min(1).values
    sat = (hi - lo) / hi.clamp_min(1e-6)
    gx, gy = gray[:, :, 1:] - gray[:, :, :-1], gray[:, 1:, :] - gray[:, :-1, :]
    grad = (gx[:, :-1, :] ** 2 + gy[:, :, :-1] ** 2).sqrt().flatten(1)
    lap = 4 * gray[:, 1:-1, 1:-1] - gray[:, :-2, 1:-1] - gray[:, 2:, 1:-1] - gray[:, 1:-1, :-2] - gray[:, 1:-1, 2:]
    hist = torch.stack([torch.histc(g, bins=16, min=0, max=1) for g in gray.float()]).double() / gray[0].numel()
    entropy = -(hist * hist.clamp_min(1e-12).log2()).sum(1)
    rg, yb = x[:, 0] - x[:, 1], 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    colourful = (rg.flatten(1).std(1) ** 2 + yb.flatten(1).std(1) ** 2).sqrt() + 0.3 * (
        rg.flatten(1).mean(1) ** 2 + yb.flatten(1).mean(1) ** 2
    ).sqrt()
    g = gray.flatten(1)
    variance = g.var(1)
    h, w = gray.shape[1:]
    centre = gray[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].flatten(1).mean(1)
    border = (g.sum(1) - centre * (h // 2) * (w // 2)) / (h * w - (h // 2) * (w // 2))
    q = torch.quantile(g.float(), torch.tensor([0.01, 0.99]), dim=1).double()
    columns = [
        *flat.mean(2).T,
        *flat.std(2).T,
        sat.flatten(1).mean(1),
        sat.flatten(1).std(1),
        grad.pow(2).mean(1),
        (grad > 0.1).double().mean(1),
        (grad > 0.3).double().mean(1),
        entropy,
        (grad < 0.01).double().mean(1),
        colourful,
        lap.flatten(1).pow(2).mean(1),
        lap.flatten(1).pow(2).mean(1) / (variance + 1e-4),
        _corr(gray[:, :, 1:].flatten(1), gray[:, :, :-1].flatten(1)),
        _corr(gray[:, 1:, :].flatten(1), gray[:, :-1, :].flatten(1)),
        q[0],
        q[1],
        (g < 0.05).double().mean(1),
        (g > 0.95).double().mean(1),
        _corr(flat[:, 0], flat[:, 1]),
        _corr(flat[:, 1], flat[:, 2]),
        _corr(flat[:, 0], flat[:, 2]),
        centre - border,
    ]
    out = np.nan_to_num(torch.stack(columns, dim=1).numpy())
    assert out.shape == (n, len(PIXEL_NAMES))
    logged = [PIXEL_NAMES.index(name) for name in LOG_STATS]
    out[:, logged] = np.log(out[:, logged] + 1e-3)
    return out


@torch.inference_mode()
def network_outputs(
    model: nn.Module, images_uint8: torch.Tensor, mean, std, scored=None
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length penultimate features (the classifier's input) and the logits of uint8 images; ``scored(n)``
    is told after each batch how many images it held (progress, and the place a cancel stops the work)."""
    model.eval()
    captured, logits = [], []
    hook = model.fc.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach()))
    try:
        for i in range(0, len(images_uint8), BATCH):
            logits.append(model(normalize(images_uint8[i : i + BATCH], mean, std, channels_last=False)).float())
            if scored:
                scored(len(logits[-1]))
    finally:
        hook.remove()
    features = F.normalize(torch.cat(captured).float().flatten(1), dim=1)
    return features.numpy(), torch.cat(logits).numpy()


def knn_distance(features: np.ndarray, bank: np.ndarray, k: int = K_NEAREST) -> np.ndarray:
    """Distance from each row of ``features`` to its k-th nearest row of ``bank`` (all unit length)."""
    d = torch.cdist(torch.from_numpy(features).float(), torch.from_numpy(bank).float())
    return d.topk(min(k, len(bank)), dim=1, largest=False).values[:, -1].numpy()


def confidence_scores(logits: np.ndarray) -> dict[str, np.ndarray]:
    """Maximum softmax probability and energy (both higher for more 'familiar' images), for comparison only."""
    t = torch.from_numpy(logits).double()
    return {"msp": t.softmax(1).max(1).values.numpy(), "energy": t.logsumexp(1).numpy()}


def calibration_split(n_test: int, n_calibration: int = CALIBRATION, seed: int = SPLIT_SEED):
    """Indices of the test images that calibrate the detector, and of the rest (the only ones a report may use)."""
    order = np.random.default_rng(seed).permutation(n_test)
    n_cal = min(n_calibration, n_test // 2)
    return np.sort(order[:n_cal]), np.sort(order[n_cal:])


@dataclass
class Detector:
    """One model's calibrated detector: what its training data look like, and its calibration scores."""

    pixel_mean: np.ndarray  # [26] the training images' statistics, mean and spread
    pixel_scale: np.ndarray
    pixel_precision: np.ndarray  # [26, 26] inverse shrunk covariance of the standardised statistics
    bank: np.ndarray  # [n, d] unit-length penultimate features of training images
    calibration: dict[str, np.ndarray]  # score name -> sorted raw scores of the calibration images
    threshold: float  # flagged when the larger percentile rank exceeds this (%)
    meta: dict = field(default_factory=dict)  # run, weights, data set, sizes, self-check

    def pixel_distance(self, stats: np.ndarray) -> np.ndarray:
        z = (stats - self.pixel_mean) / self.pixel_scale
        return np.sqrt(np.einsum("ij,jk,ik->i", z, self.pixel_precision, z).clip(0))

    def raw_scores(self, model: nn.Module, images_uint8: torch.Tensor, mean, std, scored=None) -> dict[str, np.ndarray]:
        """Every score of each image: the two the detector uses, and the confidence scores for comparison."""
        features, logits = network_outputs(model, images_uint8, mean, std, scored)
        return {
            "pixel": self.pixel_distance(pixel_stats(images_uint8)),
            "knn": knn_distance(features, self.bank),
            **confidence_scores(logits),
        }

    def ranks(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Percentile rank of each score: the share of calibration images (%) that score lower."""
        return {
            s: 100 * np.searchsorted(self.calibration[s], raw[s], side="left") / len(self.calibration[s])
            for s in SCORES
        }

    def combined(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        r = self.ranks(raw)
        return np.maximum(r["pixel"], r["knn"])

    def flags(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        return self.combined(raw) > self.threshold

    @property
    def self_check(self) -> dict[str, dict]:
        """kind -> {"title", "flagged" (share)} for the kinds of foreign image the model was checked on."""
        return self.meta.get("self_check", {})

    @property
    def blind_spots(self) -> list[dict]:
        """The checked kinds of foreign image that this model lets through too often."""
        return [c for c in self.self_check.values() if c["flagged"] < SEPARATES]

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            pixel_mean=self.pixel_mean,
            pixel_scale=self.pixel_scale,
            pixel_precision=self.pixel_precision,
            bank=np.rint(self.bank * 127).astype(np.int8),  # unit vectors: 1/254 steps
            **{f"calibration_{s}": self.calibration[s] for s in SCORES},
            threshold=np.float64(self.threshold),
            meta=np.frombuffer(json.dumps({**self.meta, "format": FORMAT}).encode(), dtype=np.uint8),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Detector:
        """A detector from its file's bytes; ValueError if damaged or written by another version."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode())
                if meta.get("format") != FORMAT:
                    raise ValueError(f"detector file format {meta.get('format')}, expected {FORMAT}")
                return cls(
                    z["pixel_mean"],
                    z["pixel_scale"],
                    z["pixel_precision"],
                    z["bank"].astype(np.float32) / 127,
                    {s: z[f"calibration_{s}"] for s in SCORES},
                    float(z["threshold"]),
                    meta,
                )
        except (OSError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"unreadable detector file ({e})") from e


def _fit_pixels(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, scale = stats.mean(0), stats.std(0) + 1e-6
    z = (stats - mean) / scale
    cov = (1 - SHRINK) * np.cov(z, rowvar=False) + SHRINK * np.eye(z.shape[1])
    return mean, scale, np.linalg.inv(cov)


def fit(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_calibration: torch.Tensor,
    mean,
    std,
    foreign: dict[str, tuple[str, torch.Tensor]] | None = None,
    meta: dict | None = None,
    progress=None,
) -> Detector:
    """Fit a model's detector: pixel statistics of up to ``PIXEL_FIT`` training images, features of a class-balanced
    bank of up to ``BANK`` of them, the scores of the calibration images, the threshold that flags ``FLAG_SHARE``
    of them, and the share of each ``foreign`` kind of image (kind -> (title, uint8 images)) that it flags.
    ``progress(done, total)`` is called with the images passed through the network so far."""
    y = y_train.numpy()
    pixel_keep = balanced_subset(y, min(PIXEL_FIT, len(y)), seed=SPLIT_SEED)
    bank_keep = balanced_subset(y, min(BANK, len(y)), seed=SPLIT_SEED)
    total = len(bank_keep) + len(x_calibration) + sum(len(images) for _, images in (foreign or {}).values())
    done = [0]

    def scored(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], total)

    features, _ = network_outputs(model, x_train[torch.from_numpy(bank_keep)], mean, std, scored)
    detector = Detector(
        *_fit_pixels(pixel_stats(x_train[torch.from_numpy(pixel_keep)])),
        np.rint(features * 127) / 127,  # as stored
        {},
        100.0,
        dict(meta or {}),
    )
    raw = detector.raw_scores(model, x_calibration, mean, std, scored)
    detector.calibration = {s: np.sort(raw[s]).astype(np.float32) for s in SCORES}
    detector.threshold = float(np.quantile(detector.combined(raw), 1 - FLAG_SHARE, method="higher"))
    detector.meta.update(bank=len(bank_keep), calibration=len(x_calibration), pixel_fit=len(pixel_keep))
    detector.meta["calibration_flagged"] = float(detector.flags(raw).mean())
    checks = {}
    for kind, (title, images) in (foreign or {}).items():
        flagged = detector.flags(detector.raw_scores(model, images, mean, std, scored))
        checks[kind] = {"title": title, "flagged": float(flagged.mean()), "images": len(images)}
    detector.meta["self_check"] = checks
    return detector


# ------------------------------------------------------------------------------------------- verdicts


def _share(percentile: float) -> str:
    """A percentile rank in words: 'all' beyond every calibration image, one decimal near the top."""
    if percentile >= 100:
        return "all"
    return f"{percentile:.1f}%" if percentile >= 99.5 else f"{percentile:.0f}%"


@dataclass(frozen=True)
class Verdict:
    """The detector's answer for one image."""

    flagged: bool
    pixel_percentile: float  # share of calibration images (%) whose pixel statistics are more typical
    knn_percentile: float  # share of calibration images (%) whose features lie nearer the training images'
    threshold: float  # the percentile above which an image is flagged
    blind_spots: tuple[tuple[str, float], ...] = ()  # (kind's title, share flagged) the model lets through

    @property
    def level(self) -> str:
        """flagged | cannot_vouch (not flagged, by a check this model cannot trust) | not_flagged"""
        return "flagged" if self.flagged else "cannot_vouch" if self.blind_spots else "not_flagged"

    def to_dict(self) -> dict:
        return {
            "flagged": self.flagged,
            "pixel_percentile": round(self.pixel_percentile, 2),
            "knn_percentile": round(self.knn_percentile, 2),
            "threshold": round(self.threshold, 2),
            "can_vouch": not self.blind_spots,
            "blind_spots": [{"kind": t, "flagged": round(f, 3)} for t, f in self.blind_spots],
        }

    def sentence(self, model_name: str, dataset_title: str) -> str:
        """What the Classify page and ``python -m core classify`` say about the image, in plain words."""
        held_out = f"held-out {dataset_title} test images"
        if self.flagged:
            why = [
                text
                for text, rank in (
                    (
                        f"its pixel statistics are more unusual than {_share(self.pixel_percentile)}",
                        self.pixel_percentile,
                    ),
                    (
                        f"its features lie farther from the training images than {_share(self.knn_percentile)}",
                        self.knn_percentile,
                    ),
                )
                if rank > self.threshold
            ]
            return (
                f"**{model_name}: this image is unlike its {dataset_title} training data**: {' and '.join(why)} of "
                f"{held_out}. Its answer below is a guess among its own classes, however confident it looks."
            )
        ranks = (
            f"pixel statistics more unusual than {_share(self.pixel_percentile)} of {held_out}, features farther from "
            f"the training images than {_share(self.knn_percentile)}; the check flags the most unusual "
            f"{100 * FLAG_SHARE:.0f}% of them"
        )
        if not self.blind_spots:
            return f"{model_name}: nothing marks this image as unlike its {dataset_title} training data ({ranks})."
        missed = " and ".join(f"only {100 * f:.0f}% of {t}" for t, f in self.blind_spots)
        return (
            f"{model_name}: not flagged, **but that does not mean it looks like {dataset_title}**: on this model the "
            f"check flags {missed}, so it cannot reliably tell such images from its own training data ({ranks})."
        )


def judge(detector: Detector, model: nn.Module, images_uint8: torch.Tensor, mean, std) -> list[Verdict]:
    """The verdict for each uint8 image [N, 3, H, W] (or one image [3, H, W])."""
    if images_uint8.dim() == 3:
        images_uint8 = images_uint8.unsqueeze(0)
    ranks = detector.ranks(detector.raw_scores(model, images_uint8, mean, std))
    blind = tuple((c["title"], c["flagged"]) for c in detector.blind_spots)
    return [
        Verdict(
            bool(max(p, k) > detector.threshold),
            float(p),
            float(k),
            detector.threshold,
            blind,
        )
        for p, k in zip(ranks["pixel"], ranks["knn"])
    ]


WHY_CONFIDENT = (
    "Why a network can be confidently wrong here: its softmax always shares 100% among the classes it "
    "was trained on, and nothing in training told it what lies outside them, so an image unlike all its "
    "training data can land far from every decision boundary and get a high probability for some class "
    "(Nguyen, Yosinski, Clune 2015; Hendrycks & Gimpel 2017). That is why the check above does not use the "
    "probability: on noise, most networks trained on Shapes-10 are more confident than on their own test images."
)


# ------------------------------------------------------------------------- foreign images, made here


def uniform_noise(n: int, seed: int = 0) -> torch.Tensor:
    """Independent uniform pixels."""
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def flat_colours(n: int, seed: int = 0) -> torch.Tensor:
    """One random colour filling the whole image."""
    colours = torch.randint(0, 256, (n, 3, 1, 1), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    return colours.expand(n, 3, 32, 32).contiguous()


def drawings(n: int, seed: int = 0) -> torch.Tensor:
    """Line drawings: a few dark outlines (circles, boxes, triangles, strokes) on a white page, drawn at 128 pixels
    and shrunk to 32 like an upload."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        page = Image.new("RGB", (128, 128), tuple(int(v) for v in rng.integers(225, 256, 3)))
        pen = ImageDraw.Draw(page)
        for _ in range(rng.integers(1, 5)):
            colour = tuple(int(v) for v in rng.integers(0, 120, 3))
            x0, y0 = rng.integers(5, 80, 2)
            x1, y1 = x0 + rng.integers(20, 45), y0 + rng.integers(20, 45)
            width = int(rng.integers(2, 7))
            shape = rng.integers(4)
            if shape == 0:
                pen.ellipse((x0, y0, x1, y1), outline=colour, width=width)
            elif shape == 1:
                pen.rectangle((x0, y0, x1, y1), outline=colour, width=width)
            elif shape == 2:
                pen.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], outline=colour, width=width)
            else:
                pen.line([tuple(int(v) for v in rng.integers(0, 128, 2)) for _ in range(3)], fill=colour, width=width)
        small = page.resize((32, 32), Image.Resampling.BICUBIC, reducing_gap=3.0)
        out.append(torch.from_numpy(np.array(small)).permute(2, 0, 1))
    return torch.stack(out).contiguous()


def photo_like(n: int, seed: int = 0) -> torch.Tensor:
    """Everyday-photo-like scenes: a sky-to-ground gradient, a natural (1/f) texture, and a few soft shaded blobs
    (objects) under one light, with a little sensor noise. Not photos, but with photos' smooth colour statistics."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    f = np.sqrt(np.fft.fftfreq(32)[:, None] ** 2 + np.fft.fftfreq(32)[None, :] ** 2)
    f[0, 0] = 1
    out = np.empty((n, 3, 32, 32))
    for i in range(n):
        top, bottom = rng.uniform(0.2, 1, 3), rng.uniform(0, 0.7, 3)
        horizon = rng.uniform(0.3, 0.8)
        blend = 1 / (1 + np.exp(-(yy - horizon) * rng.uniform(5, 30)))
        img = top[:, None, None] * (1 - blend) + bottom[:, None, None] * blend
        texture = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(32, 32))) / f ** rng.uniform(1.0, 2.0)))
        texture = texture / (texture.std() + 1e-9) * rng.uniform(0.03, 0.12)
        img = img + texture * (0.5 + blend)
        for _ in range(rng.integers(1, 4)):
            cy, cx, ry, rx = (
                rng.uniform(0.2, 0.8),
                rng.uniform(0.2, 0.8),
                rng.uniform(0.08, 0.3),
                rng.uniform(0.08, 0.3),
            )
            d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
            mask = 1 / (1 + np.exp(np.clip((d - 1) * 6, -50, 50)))
            shade = 1 - 0.5 * np.clip((yy - cy) / ry + 0.3 * (xx - cx) / rx, -1, 1)
            img = img * (1 - mask) + mask * rng.uniform(0, 1, 3)[:, None, None] * (0.6 + 0.4 * shade)
        out[i] = img + rng.normal(0, 0.01, img.shape)
    return torch.from_numpy(np.clip(np.rint(out * 255), 0, 255).astype(np.uint8))


# ------------------------------------------------------------------------------------- stored runs

CACHE_DIR = "ood"


def cache_path(store: RunStore, record: RunRecord) -> Path:
    """Where a run's detector is cached in the store, named by the run and its weights' identity (a shipped one of
    the same name is installed there first)."""
    return inside.with_shipped(store, store.root / CACHE_DIR / f"{inside.cache_key(store, record)}.npz")


def cached_detector(store: RunStore, record: RunRecord) -> Detector | None:
    """The run's fitted detector, or None when it has not been fitted for these weights (or its file is damaged)."""
    try:
        return Detector.from_bytes(cache_path(store, record).read_bytes())
    except (OSError, ValueError):
        return None


def run_data(record: RunRecord, data_dir: str | None, cache_dir: str | None):
    """The run's own training images and its data set's full test set (what a detector is fitted on)."""
    c = record.config
    train = load_dataset(c.dataset, data_dir, subset=c.subset, seed=c.seed, cache_dir=cache_dir)
    test = load_dataset(c.dataset, data_dir, cache_dir=cache_dir)
    return train, test


def other_images(dataset: str, n: int, data_dir: str | None, cache_dir: str | None) -> tuple[str, torch.Tensor]:
    """``n`` test images of the other data set (CIFAR-10 for a Shapes-10 model and the reverse); photo-like scenes
    made here when CIFAR-10 is not on this machine."""
    other = "builtin" if dataset == "cifar10" else "cifar10"
    try:
        ds = load_dataset(other, data_dir, test_subset=n, seed=SPLIT_SEED, cache_dir=cache_dir)
    except DataUnavailable:
        return "photo-like scenes", photo_like(n, seed=SPLIT_SEED)
    return ("CIFAR-10 photos" if other == "cifar10" else "Shapes-10 images"), ds.x_test


def foreign_images(dataset: str, n: int, data_dir: str | None, cache_dir: str | None) -> dict:
    """The kinds of image a model is checked on when its detector is fitted: kind -> (title, uint8 images)."""
    return {
        "noise": ("uniform-noise images", uniform_noise(n, seed=SPLIT_SEED + 1)),
        "flat": ("flat-colour images", flat_colours(n, seed=SPLIT_SEED + 1)),
        "other": other_images(dataset, n, data_dir, cache_dir),
    }


def fit_for_run(store: RunStore, record: RunRecord, data_dir: str | None = None, progress=None) -> Detector:
    """Fit the run's detector on its own data (the calibration split of its test set) and cache it in the store;
    ``progress(done, total)`` as in ``fit`` (a worker's reporter raises there when the job is cancelled)."""
    cache_dir = str(store.datasets_dir)
    train, test = run_data(record, data_dir, cache_dir)
    mean, std = normalisation(record, train)
    calibration, _ = calibration_split(len(test.x_test))
    model = store.load_model(record.run_id)
    with cpu_threads():
        detector = fit(
            model,
            train.x_train,
            train.y_train,
            test.x_test[torch.from_numpy(calibration)],
            mean,
            std,
            foreign_images(record.config.dataset, SELF_CHECK, data_dir, cache_dir),
            meta={
                "run_id": record.run_id,
                "weights": store.weights_digest(record.run_id),
                "dataset": record.config.dataset,
                "dataset_title": test.title,
                "test_images": len(test.x_test),
                "split_seed": SPLIT_SEED,
            },
            progress=progress,
        )
    atomic_write_bytes(cache_path(store, record), detector.to_bytes())
    return detector


def detector_for_run(store: RunStore, record: RunRecord, data_dir: str | None = None) -> Detector:
    """The cached detector, fitted now when there is none (the command line; the page asks a worker instead)."""
    return cached_detector(store, record) or fit_for_run(store, record, data_dir)


def auroc(inside_scores: np.ndarray, outside_scores: np.ndarray) -> float:
    """Area under the ROC curve for telling ``outside`` from ``inside`` by a score that is higher outside (the
    Mann-Whitney statistic, ties counted half): 0.5 is chance, 1.0 perfect separation."""
    a, b = np.asarray(inside_scores, float), np.asarray(outside_scores, float)
    both = np.concatenate([a, b])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inverse, ranks) / counts)[inverse]  # ties share their mean rank
    return float((ranks[len(a) :].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))
