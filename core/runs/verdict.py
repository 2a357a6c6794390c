"""Did a run learn? One short verdict, shown wherever a run is shown (pages, ``python -m core list/show``).

A run "ended near chance" when its final test accuracy is within three binomial standard errors (and
at least 5 percentage points) of guessing, 1/K for K classes: e.g. 10.3% on Shapes-10 after a deep
plain net failed to move. Such a run says nothing about its architecture except that this recipe
did not train it; pages must not draw conclusions from it without saying so.
"""

from __future__ import annotations

import math

from .lifecycle import is_done, is_running

MIN_MARGIN = 0.05  # accuracy above chance that counts as learning, at the least (a fraction)
SIGMAS = 3.0  # ...or this many standard errors of a guessing classifier on the test images


def chance_margin(n_classes: int, n_test: int | None) -> float:
    """How far above chance (a fraction) a test accuracy must be to count as learning."""
    p = 1 / n_classes
    noise = SIGMAS * math.sqrt(p * (1 - p) / n_test) if n_test else 0.0
    return max(MIN_MARGIN, noise)


def chance_verdict(metrics: dict, n_classes: int, n_test: int | None = None, ended: str = "ended") -> str | None:
    """'ended near chance: ...' for a run whose final test accuracy is within the margin of 1/K, else None.

    ``metrics`` holds ``test_acc`` (a fraction; a missing one gives None: nothing to judge yet).
    """
    acc = metrics.get("test_acc") if metrics else None
    if acc is None or not n_classes or n_classes < 2 or not math.isfinite(acc):
        return None
    chance = 1 / n_classes
    if acc > chance + chance_margin(n_classes, n_test):
        return None
    return (
        f"{ended} near chance: test accuracy {100 * acc:.1f}% where guessing gets {100 * chance:.0f}% "
        f"({n_classes} classes), so this run did not learn"
    )


def record_verdict(record) -> str | None:
    """The verdict for a stored run (a RunRecord): its classes and test-set size come from its info.

    A run still training is not judged (its first epochs are often near chance).
    """
    if is_running(record):
        return None
    info = record.info or {}
    classes = info.get("classes")
    n_classes = len(classes) if classes else 10  # every data set here has 10 classes
    return chance_verdict(record.metrics, n_classes, info.get("n_test"), "ended" if is_done(record) else "stopped")


# Before training: will this configuration get enough steps to learn? The thresholds come from runs
# measured on Shapes-10 (README, "Finding a recipe for the shipped runs").
FEW_STEPS = 100  # any network: below this, expect little learning
DEEP_SGD_STEPS = 1000  # SGD at lr >= 0.05 on nets of 44+ layers: ResNet-56 was near chance after 312 steps
DEEP_SGD_LR = 0.05
DEEP_PLAIN_STEPS = 400  # plain nets of 44+ layers: plain-56 stayed at chance for ~300 steps in every recipe tried
DEEP = 44


def steps_warning(config, n_train: int) -> str | None:
    """A warning before Start when ``config`` gets too few steps to learn, with the measurement behind it; else None."""
    c = config.resolved()
    steps = c.total_steps(n_train)
    deep = c.arch == "cifar" and c.depth >= DEEP
    if c.optimizer == "sgd" and c.lr >= DEEP_SGD_LR and deep and steps < DEEP_SGD_STEPS:
        return (
            f"Only {steps:,} steps of SGD at lr {c.lr:g} for a {c.depth}-layer net: in the pilot runs on Shapes-10 "
            '(README, "Finding a recipe"), deep nets trained this way were still near chance after a few hundred '
            f"steps. Expect a run near chance; give it {DEEP_SGD_STEPS:,} steps or more (the paper trains 64,000), or "
            "use the Adam recipe, which moves in a few hundred steps."
        )
    if deep and c.shortcut in ("none", "concat") and steps < DEEP_PLAIN_STEPS:
        return (
            f"Only {steps:,} steps for a {c.depth}-layer net without identity shortcuts: in the pilot runs on "
            "Shapes-10 (README), deep plain nets stayed at chance for their first few hundred steps. Give it at least "
            f"{DEEP_PLAIN_STEPS} steps to see it learn, slowly."
        )
    if steps < FEW_STEPS:
        return f"Only {steps:,} training steps: expect little learning. More images or epochs give more steps."
    return None
