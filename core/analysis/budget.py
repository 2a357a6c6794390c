"""One training budget per comparison: were these runs trained alike, and if not, how did they differ?

A run's *budget* is everything about its training except the network compared (architecture, depth,
shortcut) and its seed: the data set and how many of its images, the optimizer steps (epochs × steps per
epoch), the recipe and its settings, the schedule and warm-up, BN and init, and the precision. Runs are
comparable only when their budgets are equal; a chart or a sentence across depth or family uses
comparable runs, and where a user overlays others, ``differences`` says in words what differed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.config import DATASET_SIZES, RECIPE_NAMES, SAME_TRAINING, SCHEDULE_NAMES, RunConfig
from ..runs.catalog import dataset_title

# What a comparison is about: runs may differ here (and in their seed) and still share one budget.
NETWORK_FIELDS = ("arch", "depth", "shortcut")


def setup_key(config: RunConfig) -> str:
    """Equal for runs with one budget (whatever their network and seed)."""
    return config.training_key(SAME_TRAINING + NETWORK_FIELDS + ("seed",))


@dataclass(frozen=True)
class Budget:
    """How a run was trained, in the terms a person compares (each a short phrase)."""

    data: str  # 'CIFAR-10' / 'Shapes-10'
    images: str  # '50,000 training images, 10,000 test images'
    steps: str  # '7,800 steps (20 epochs of 390)'
    recipe: str  # 'SGD (paper's settings): lr 0.1, batch 128, crop + flip'
    schedule: str  # 'cosine decay, warm-up 400 steps'
    network: str  # 'BN, kaiming init' (how every network of the comparison was built)
    precision: str  # 'fp32' / 'bf16' / 'auto'

    PARTS = ("data", "images", "steps", "recipe", "schedule", "network", "precision")


def warmup_words(config: RunConfig, total_steps: int) -> str:
    steps = config.warmup_for(total_steps)
    if not steps:
        return ""
    return f", warm-up {steps:,} steps" + (" (linear ramp)" if config.warmup_ramp else " at lr/10")


def budget(config: RunConfig) -> Budget:
    c = config.resolved()
    n_train, n_test = DATASET_SIZES[c.dataset]
    train = c.subset or n_train
    per_epoch = c.total_steps(train) // c.epochs
    augment = "crop + flip" if c.augment else "no augmentation"
    return Budget(
        data=dataset_title(c.dataset),
        images=f"{train:,} training images, {c.test_subset or n_test:,} test images",
        steps=f"{c.total_steps(train):,} steps ({c.epochs} epoch{'s' * (c.epochs != 1)} of {per_epoch:,})",
        recipe=f"{RECIPE_NAMES[c.recipe]}: lr {c.lr:g}, batch {c.batch_size}, {augment}",
        schedule=SCHEDULE_NAMES[c.schedule] + warmup_words(c, c.total_steps(train)),
        network=("BN" if c.bn else "no BN") + f", {c.init} init",
        precision=c.precision,
    )


def comparable(configs: list[RunConfig]) -> bool:
    """True when every run had the same budget (one run, or none, is trivially comparable)."""
    return len({setup_key(c) for c in configs}) <= 1


def differences(named: list[tuple[str, RunConfig]]) -> list[str]:
    """What differed between the budgets of these runs, one phrase per part that differed, each value with
    the runs that had it: ['steps: 496 steps (8 epochs of 62) for plain-20, ResNet-20; 3,750 steps (15 epochs of
    250) for plain-56, ResNet-56']. Empty when they share one budget."""
    budgets = [(name, budget(c)) for name, c in named]
    out = []
    for part in Budget.PARTS:
        values: dict[str, list[str]] = {}
        for name, b in budgets:
            values.setdefault(getattr(b, part), []).append(name)
        if len(values) > 1:
            out.append(f"{part}: " + "; ".join(f"{value} for {', '.join(names)}" for value, names in values.items()))
    return out


def mixed_budget_note(named: list[tuple[str, RunConfig]]) -> str | None:
    """The sentence a chart shows beside runs of different budgets (None when they share one): it says what
    differed, and that no conclusion about depth or shortcuts can be drawn across them."""
    diff = differences(named)
    if not diff:
        return None
    return (
        "These runs were not trained with one budget, so differences between their curves may come from "
        "the training, not from depth or shortcuts: " + " — ".join(diff) + "."
    )


def largest_comparable(named: list[tuple[str, RunConfig]], prefer: str | None = None) -> list[tuple[str, RunConfig]]:
    """The largest subset of ``named`` that shares one budget (ties: the budget of ``prefer``, a name, else the
    first run's), in the given order."""
    groups: dict[str, list[tuple[str, RunConfig]]] = {}
    for item in named:
        groups.setdefault(setup_key(item[1]), []).append(item)
    if not groups:
        return []
    preferred = next((setup_key(c) for n, c in named if n == prefer), setup_key(named[0][1]))
    return max(groups.values(), key=lambda g: (len(g), setup_key(g[0][1]) == preferred))
