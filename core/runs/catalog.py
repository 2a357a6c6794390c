"""Finding runs in the store: the facets a teacher filters by (data set, family, depth, recipe, tag).

One filter serves the Runs page, ``python -m core list`` and ``export-lesson``: within a facet any chosen
value matches, across facets all must (an empty facet matches everything).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..engine.config import RECIPE_NAMES, RunConfig
from ..engine.models import TORCHVISION_MODEL
from .store import RunRecord
from .verdict import record_verdict

# The family of a network: how its blocks are wired, whatever its depth.
FAMILIES = {"none": "plain", "A": "ResNet A", "B": "ResNet B", "concat": "concat-merge"}
TORCHVISION_FAMILY = "torchvision ResNet-18"
FAMILY_NAMES = (*FAMILIES.values(), TORCHVISION_FAMILY)
DATASET_TITLES = {"builtin": "Shapes-10", "cifar10": "CIFAR-10"}
# Short names for the command line (the shortcut options' own names too).
FAMILY_ALIASES = {
    "plain": "plain",
    "A": "ResNet A",
    "B": "ResNet B",
    "concat": "concat-merge",
    "torchvision": TORCHVISION_FAMILY,
}


def family(config: RunConfig) -> str:
    """'plain', 'ResNet A', 'ResNet B', 'concat-merge' or 'torchvision ResNet-18'."""
    return TORCHVISION_FAMILY if config.arch == TORCHVISION_MODEL else FAMILIES[config.shortcut]


def dataset_title(name: str) -> str:
    return DATASET_TITLES.get(name, name)


def recipe_name(recipe: str) -> str:
    return RECIPE_NAMES.get(recipe, recipe)


def parse_family(text: str) -> str:
    """A family from its name or short name, any case ('plain', 'a', 'ResNet A', 'none', 'torchvision'); else a
    ValueError."""
    wanted = text.strip().lower()
    names = {
        **{k.lower(): v for k, v in FAMILY_ALIASES.items()},
        **{v.lower(): v for v in FAMILY_NAMES},
        "none": "plain",
    }
    if wanted not in names:
        raise ValueError(
            f"{text!r} is not a network family; one of: {', '.join(FAMILY_ALIASES)} (or {', '.join(FAMILY_NAMES)})"
        )
    return names[wanted]


def depth(config: RunConfig) -> int:
    return config.resolved().depth


def facet_values(record: RunRecord) -> dict[str, tuple]:
    """The values one run has in each facet (a run has several tags, one value elsewhere)."""
    c = record.config
    return {
        "datasets": (c.dataset,),
        "families": (family(c),),
        "depths": (depth(c),),
        "recipes": (c.recipe,),
        "tags": tuple(record.tags),
    }


@dataclass(frozen=True)
class RunFilter:
    datasets: tuple[str, ...] = ()  # 'builtin', 'cifar10'
    families: tuple[str, ...] = ()  # FAMILY_NAMES
    depths: tuple[int, ...] = ()
    recipes: tuple[str, ...] = ()  # 'paper', 'seed'
    tags: tuple[str, ...] = ()

    def __post_init__(self):
        for f in fields(self):  # lists from a page or argparse become tuples, so filters compare and hash
            object.__setattr__(self, f.name, tuple(getattr(self, f.name) or ()))

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def matches(self, record: RunRecord) -> bool:
        values = facet_values(record)
        return all(
            not chosen or set(chosen) & set(values[name])
            for name, chosen in ((f.name, getattr(self, f.name)) for f in fields(self))
        )

    def apply(self, records: list[RunRecord]) -> list[RunRecord]:
        return [r for r in records if self.matches(r)]

    def to_dict(self) -> dict:
        return {f.name: list(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)}

    def text(self) -> str:
        """'CIFAR-10 · plain, ResNet A · depth 20, 56 · tag week-3', or 'all runs'."""
        if self.empty:
            return "all runs"
        parts = [
            ", ".join(map(dataset_title, self.datasets)),
            ", ".join(self.families),
            ("depth " + ", ".join(map(str, self.depths))) if self.depths else "",
            ", ".join(map(recipe_name, self.recipes)),
            ("tag " + ", ".join(self.tags)) if self.tags else "",
        ]
        return " · ".join(p for p in parts if p)


def facets(records: list[RunRecord]) -> dict[str, list]:
    """Every value present in ``records`` per facet, sorted (depths numerically, families in FAMILY_NAMES order)."""
    seen: dict[str, set] = {f.name: set() for f in fields(RunFilter)}
    for record in records:
        for name, values in facet_values(record).items():
            seen[name].update(values)
    order = {name: i for i, name in enumerate(FAMILY_NAMES)}
    return {name: sorted(values, key=(order.get if name == "families" else None)) for name, values in seen.items()}


def table_row(record: RunRecord) -> dict:
    """One run as the Runs page lists it (rounded numbers, names a person reads)."""
    c = record.config
    acc = record.metrics.get("test_acc")
    return {
        "run": ("★ " if record.reference else "") + (record.name or c.label),
        "status": str(record.status),
        "data set": dataset_title(c.dataset),
        "family": family(c),
        "depth": depth(c),
        "recipe": recipe_name(c.recipe),
        "tags": ", ".join(record.tags),
        "epochs": f"{record.epochs_done}/{c.epochs}",
        "test accuracy (%)": None if acc is None or acc != acc else round(100 * acc, 2),
        "training time (s)": round(record.seconds, 1),
        "flag": record_verdict(record) or "",
        "id": record.run_id,
    }
