"""The paper's Fig. 6 in two halves, read from stored runs of one budget: does the deeper plain net end with
higher training error than the shallower one while it still learns (the degradation problem), and does the
deeper ResNet end at or below the shallower one (the shortcut's answer)? He et al. 2015, Sec. 4.2 and Fig. 6.

A difference counts only beyond seed noise: the spread of the final training error over the seeds of each
network that has several, pooled (``seed_noise``); with one seed per network nothing is called a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..runs.lifecycle import is_done
from ..runs.store import EVAL_MODE_MEASURES, RunRecord
from ..runs.verdict import record_verdict
from .budget import setup_key

NOISE_MULTIPLE = 2.0  # a gap counts when it exceeds this many standard errors of the difference


def final_training_error(record: RunRecord) -> float | None:
    """Training error (%) at the end, in eval mode as the paper plots it: on every training image where the run
    measured that, else on its fixed training subset; None where neither was recorded."""
    error, how = record.final_train_error()
    return error if how in EVAL_MODE_MEASURES else None


@dataclass(frozen=True)
class Network:
    shortcut: str
    depth: int
    errors: tuple[float, ...]  # final training error (%), one per seed
    learned: bool  # every seed left chance (core.runs.verdict)

    @property
    def mean(self) -> float:
        return float(np.mean(self.errors))


@dataclass(frozen=True)
class Half:
    """One half of Fig. 6: the shallow and the deep net of one family, and what their gap shows."""

    shallow: Network
    deep: Network
    gap: float  # deep minus shallow, percentage points
    margin: float | None  # the gap seed noise could give (NOISE_MULTIPLE standard errors); None: unknown

    @property
    def beyond_noise(self) -> bool:
        return self.margin is not None and abs(self.gap) > self.margin


def seed_noise(networks: list[Network]) -> float | None:
    """The pooled standard deviation of the final training error over seeds (None with no network of 2+ seeds)."""
    squares, dof = 0.0, 0
    for n in networks:
        if len(n.errors) > 1:
            squares += float(np.var(n.errors, ddof=1)) * (len(n.errors) - 1)
            dof += len(n.errors) - 1
    return math.sqrt(squares / dof) if dof else None


def networks(records: list[RunRecord]) -> list[Network]:
    """The finished runs of one budget grouped by network (plain nets and option-A ResNets)."""
    done = [
        r for r in records if is_done(r) and r.config.shortcut in ("none", "A") and final_training_error(r) is not None
    ]
    if len({setup_key(r.config) for r in done}) > 1:
        raise ValueError("Fig. 6's halves compare runs of one budget only (core.analysis.budget)")
    by: dict[tuple[str, int], list[RunRecord]] = {}
    for r in done:
        by.setdefault((r.config.shortcut, r.config.depth), []).append(r)
    return [
        Network(s, d, tuple(final_training_error(r) for r in rs), all(record_verdict(r) is None for r in rs))
        for (s, d), rs in sorted(by.items())
    ]


def halves(records: list[RunRecord], shallow: int = 20, deep: int = 56) -> dict[str, Half]:
    """'plain' and 'resnet' halves at ``shallow`` and ``deep`` layers, where both nets of a family are stored."""
    nets = networks(records)
    noise = seed_noise(nets)
    found = {(n.shortcut, n.depth): n for n in nets}
    out = {}
    for family, shortcut in (("plain", "none"), ("resnet", "A")):
        a, b = found.get((shortcut, shallow)), found.get((shortcut, deep))
        if a and b:
            margin = (
                None if noise is None else NOISE_MULTIPLE * noise * math.sqrt(1 / len(a.errors) + 1 / len(b.errors))
            )
            out[family] = Half(a, b, b.mean - a.mean, margin)
    return out


def half_sentence(family: str, half: Half) -> str:
    """What one half shows, in words, with its numbers (and the paper's claim it tests)."""
    a, b = (f"{'plain' if family == 'plain' else 'ResNet'}-{n.depth}" for n in (half.shallow, half.deep))
    seeds = f"{len(half.shallow.errors)} and {len(half.deep.errors)} seed(s)"
    numbers = f"{a} {half.shallow.mean:.1f}%, {b} {half.deep.mean:.1f}% final training error ({seeds})"
    if half.margin is None:
        return f"{numbers}: with one seed per network, seed noise is unknown, so no gap is called a difference."
    noise = f"a gap of {half.gap:+.1f} points against {half.margin:.1f} that seed noise could give"
    if family == "plain":
        if not half.deep.learned:
            return f"{numbers}: {b} never left chance, so this shows a net that did not train, not degradation."
        if half.beyond_noise and half.gap > 0:
            return f"{numbers}, {noise}: the deeper plain net trains worse, the degradation of the paper's Fig. 6."
        return f"{numbers}, {noise}: no degradation beyond seed noise here."
    if half.gap <= 0 and half.beyond_noise:
        return f"{numbers}, {noise}: the deeper ResNet ends below the shallower one, as in the paper's Fig. 6."
    if half.gap <= 0:
        return (
            f"{numbers}, {noise}: the deeper ResNet ends at or below the shallower one, as in the paper's Fig. 6 "
            "(within seed noise, so not a difference)."
        )
    if not half.beyond_noise:
        return f"{numbers}, {noise}: the deeper ResNet is not above the shallower one beyond seed noise."
    return f"{numbers}, {noise}: the deeper ResNet ends above the shallower one here, unlike the paper's Fig. 6."
