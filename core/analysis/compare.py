"""Comparing stored runs: error vs depth, curves averaged over seeds, and the paper's Table 6.

Runs are compared at two levels:

- a *setup* is everything about training except the network (data set, subset, recipe, epochs,
  learning rate...): only runs of one setup may share a chart, or the chart would compare recipes;
- a *group* is one setup and one network, i.e. runs that differ only in their seed; its curves are
  averaged over the seeds (seed study 001 used 5 per configuration).

All errors and accuracies returned here are in percent.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..engine.config import RECIPE_NAMES, SAME_TRAINING, RunConfig
from ..runs.lifecycle import is_done
from ..runs.store import RunRecord, RunStore
from ..runs.verdict import record_verdict
from .budget import NETWORK_FIELDS, Budget, budget, comparable, setup_key
from .paper import TABLE6_BATCH, TABLE6_ITERATIONS, TABLE6_LR, TABLE6_LR_DROPS, TABLE6_TEST_ERROR
from .tables import DEFAULT_DIGITS, PERCENT_DIGITS, csv_text

# The depths this lab trains (1202 is out of a classroom's reach).
PAPER_TEST_ERROR = {d: e for d, e in TABLE6_TEST_ERROR.items() if d <= 110}
PAPER_DATASET = "cifar10"

METRICS = {  # name -> (axis title, history column, unit: "error" = 100 - acc %, "acc" = acc %, "" = as stored)
    "test_error": ("test error (%)", "test_acc", "error"),
    "train_error": ("training error (%)", "train_acc", "error"),
    "test_acc": ("test accuracy (%)", "test_acc", "acc"),
    "test_loss": ("test loss (cross-entropy, nats)", "test_loss", ""),
    "train_loss": ("training loss (cross-entropy, nats)", "train_loss", ""),
}


def group_key(config: RunConfig) -> str:
    return config.training_key(SAME_TRAINING + ("seed",))


def setup_label(config: RunConfig, dataset_title: str | None = None) -> str:
    """What the runs of a setup share, for a select box:
    'Shapes-10 · SGD (paper's settings), 10 epochs, 2,000 training images'."""
    c = config.resolved()
    parts = [RECIPE_NAMES[c.recipe], f"{c.epochs} epoch{'s' * (c.epochs != 1)}"]
    if c.subset:
        parts.append(f"{c.subset:,} training images")
    defaults = RunConfig(recipe=c.recipe).resolved()
    for name in ("batch_size", "lr", "schedule", "augment", "init", "precision"):
        if getattr(c, name) != getattr(defaults, name):
            parts.append(f"{name.replace('_', ' ')} {getattr(c, name)}")
    return f"{dataset_title or c.dataset} · " + ", ".join(parts)


@dataclass
class RunGroup:
    """Completed runs of one setup and one network that differ only in the seed."""

    key: str
    setup: str
    records: list[RunRecord] = field(default_factory=list)

    @property
    def config(self) -> RunConfig:
        return self.records[0].config.resolved()

    @property
    def label(self) -> str:
        return self.config.model_name

    @property
    def seeds(self) -> list[int]:
        return sorted(r.config.seed for r in self.records)

    @property
    def dataset(self) -> str:
        return self.config.dataset

    @property
    def dataset_title(self) -> str:
        return self.records[0].info.get("dataset") or self.dataset


def group_runs(records: list[RunRecord]) -> list[RunGroup]:
    """Completed runs grouped by (setup, network), deepest plain nets and ResNets in a stable order."""
    groups: dict[str, RunGroup] = {}
    for record in records:
        if not is_done(record):
            continue
        key = group_key(record.config)
        groups.setdefault(key, RunGroup(key, setup_key(record.config))).records.append(record)
    for g in groups.values():
        g.records.sort(key=lambda r: r.config.seed)
    return sorted(groups.values(), key=lambda g: (g.config.arch, g.config.shortcut, not g.config.bn, g.config.depth))


def setups(groups: list[RunGroup]) -> dict[str, str]:
    """Setup key -> label: shipped CIFAR-10 runs first where there are any (the paper's data), then the setup
    with the most networks (then the most runs): it draws the richest error-vs-depth picture."""
    networks: dict[str, int] = {}
    runs: dict[str, int] = {}
    labels: dict[str, str] = {}
    shipped_cifar: set[str] = set()
    for g in groups:
        networks[g.setup] = networks.get(g.setup, 0) + 1
        runs[g.setup] = runs.get(g.setup, 0) + len(g.records)
        labels[g.setup] = setup_label(g.config, g.dataset_title)
        if g.dataset == "cifar10" and any(r.reference for r in g.records):
            shipped_cifar.add(g.setup)
    return {
        k: labels[k] for k in sorted(labels, key=lambda k: (k not in shipped_cifar, -networks[k], -runs[k], labels[k]))
    }


def _metric_values(frame: pd.DataFrame, metric: str) -> pd.Series:
    _, column, unit = METRICS[metric]
    return {"error": 100 * (1 - frame[column]), "acc": 100 * frame[column]}.get(unit, frame[column])


def depth_table(groups: list[RunGroup]) -> pd.DataFrame:
    """One row per group: final training error (eval mode where recorded) and test error (%), mean and std over
    the seeds (NaN for one seed)."""
    rows = []
    for g in groups:
        # Training error as the paper plots it (eval mode, end of training) where recorded, else the running mean.
        train_err = [e for r in g.records if (e := r.final_train_error()[0]) is not None]
        test_err = [100 * (1 - r.metrics["test_acc"]) for r in g.records if r.metrics.get("test_acc") is not None]
        c = g.config
        rows.append(
            {
                "model": g.label,
                "arch": c.arch,
                "shortcut": c.shortcut,
                "bn": c.bn,
                "depth": c.depth,
                "dataset": g.dataset_title,
                "seeds": len(g.records),
                "train_error_mean": np.mean(train_err) if train_err else np.nan,
                "train_error_std": np.std(train_err, ddof=1) if len(train_err) > 1 else np.nan,
                "test_error_mean": np.mean(test_err) if test_err else np.nan,
                "test_error_std": np.std(test_err, ddof=1) if len(test_err) > 1 else np.nan,
                "paper_test_error": paper_test_error(c, g.records[0].info.get("n_test")),
                "flag": "; ".join(dict.fromkeys(v for v in map(record_verdict, g.records) if v)) or None,
            }
        )
    columns = [
        "model",
        "arch",
        "shortcut",
        "bn",
        "depth",
        "dataset",
        "seeds",
        "train_error_mean",
        "train_error_std",
        "test_error_mean",
        "test_error_std",
        "paper_test_error",
        "flag",
    ]
    return pd.DataFrame(rows, columns=columns)


CIFAR10_TRAIN_IMAGES = 50_000


def table6_reasons(config: RunConfig, n_test: int | None = None) -> list[str]:
    """Why a run cannot be set beside Table 6 (empty when it can): the paper's network, recipe, data and length.

    Table 6 is ResNets with option A, BN and He init, trained with the paper's SGD settings on all 50,000
    CIFAR-10 images for 64k iterations (batch 128) and tested on all 10,000. ``n_test`` is the number of
    test images the run used (its info's n_test), when known.
    """
    c = config.resolved()
    defaults = RunConfig(recipe="paper").resolved()
    reasons = []
    if c.dataset != PAPER_DATASET:
        reasons.append("not CIFAR-10")
    if c.arch != "cifar" or c.shortcut != "A" or not c.bn or c.init != "kaiming":
        reasons.append("not one of Table 6's networks (ResNet, option A, BN, He init)")
    elif c.depth not in PAPER_TEST_ERROR:
        reasons.append(f"depth {c.depth} is not in Table 6")
    if c.recipe != "paper" or any(
        getattr(c, k) != getattr(defaults, k) for k in ("lr", "batch_size", "schedule", "augment")
    ):
        reasons.append("not the paper's recipe")
    if c.subset is not None and c.subset < CIFAR10_TRAIN_IMAGES:
        reasons.append(f"{c.subset:,} of the 50,000 training images")
    if (c.test_subset is not None and c.test_subset < 10_000) or (n_test is not None and n_test < 10_000):
        reasons.append(f"{min(x for x in (c.test_subset, n_test) if x is not None):,} of the 10,000 test images")
    steps = (c.subset or CIFAR10_TRAIN_IMAGES) // c.batch_size * c.epochs
    if steps < TABLE6_ITERATIONS:
        reasons.append(f"{steps:,} iterations, the paper {TABLE6_ITERATIONS:,} (batch {TABLE6_BATCH})")
    return reasons


def paper_test_error(config: RunConfig, n_test: int | None = None) -> float:
    """Table 6's test error for this network, or NaN where the run is not comparable (see table6_reasons)."""
    return np.nan if table6_reasons(config, n_test) else PAPER_TEST_ERROR.get(config.depth, np.nan)


def comparability_note(groups: list[RunGroup]) -> str | None:
    """A sentence on why Table 6 is not drawn beside these runs, or None when some of them are comparable."""
    if not groups:
        return None
    if any(not table6_reasons(g.config, g.records[0].info.get("n_test")) for g in groups):
        return None
    reasons = list(dict.fromkeys(r for g in groups for r in table6_reasons(g.config, g.records[0].info.get("n_test"))))
    return (
        "The paper's Table 6 is not drawn: these runs are not comparable with it (" + "; ".join(reasons) + "). "
        "Table 6 is ResNets (option A) trained with the paper's SGD recipe on all 50,000 CIFAR-10 images for "
        f"{TABLE6_ITERATIONS:,} iterations and tested on all 10,000."
    )


def table6_schedule() -> str:
    """Table 6's own training, in words (core.analysis.paper): what its stars stand for beside any run."""
    drops = " and ".join(f"{d:,}" for d in TABLE6_LR_DROPS)
    return (
        f"the paper's own schedule: {TABLE6_ITERATIONS:,} iterations of batch {TABLE6_BATCH} on all "
        f"{CIFAR10_TRAIN_IMAGES:,} CIFAR-10 images, lr {TABLE6_LR:g} divided by 10 at iterations {drops}"
    )


def table6_caption(groups: list[RunGroup]) -> str:
    """Under the error-vs-depth chart when Table 6 is drawn: its stars are the paper's runs, trained on the
    paper's own schedule, not on this setup's budget; which of them differ from it and how."""
    ours = budget(groups[0].config)
    return (
        "Black stars: He et al. 2015, Table 6, test error of the paper's own runs, trained on "
        + table6_schedule()
        + f". They are drawn beside runs that trained at least as long with the paper's recipe ({ours.steps}; "
        f"{ours.schedule}), but with a budget of their own: read them as the paper's result, not as runs of "
        "this setup."
    )


def setup_budget(groups: list[RunGroup]) -> str:
    """The one budget every run of a setup shares, in words (core.analysis.budget); a ValueError if the groups
    were not trained alike, since no chart or sentence across depth or family may mix budgets."""
    configs = [r.config for g in groups for r in g.records]
    if not configs or not comparable(configs):
        raise ValueError("the runs of a setup must share one budget")
    b = budget(configs[0])
    return "One budget for every run compared here: " + "; ".join(getattr(b, part) for part in Budget.PARTS) + "."


def paper_table() -> pd.DataFrame:
    return pd.DataFrame({"depth": list(PAPER_TEST_ERROR), "test_error": list(PAPER_TEST_ERROR.values())})


def seed_table(store: RunStore, group: RunGroup, metric: str) -> pd.DataFrame:
    """``metric`` per epoch (rows) and run (columns, by run id) of the group's seeds."""
    per_run = {}
    for r in group.records:
        epochs = store.epoch_history(r.run_id)
        per_run[r.run_id] = pd.Series(_metric_values(epochs, metric).to_numpy(), index=epochs["epoch"].astype(int))
    table = pd.concat(per_run, axis=1)
    table.index.name = "epoch"
    return table


def seed_curves(store: RunStore, group: RunGroup, metric: str) -> pd.DataFrame:
    """Per-epoch mean and std of ``metric`` over the group's seeds: epoch, mean, std, seeds."""
    table = seed_table(store, group, metric)
    out = pd.DataFrame(
        {
            "epoch": table.index,
            "mean": table.mean(axis=1).to_numpy(),
            "std": table.std(axis=1, ddof=1).fillna(0).to_numpy(),
            "seeds": table.count(axis=1).to_numpy(),
        }
    )
    return out.reset_index(drop=True)


ALPHA = 0.05  # the level at which a difference between two networks is called one


def smallest_p(n_a: int, n_b: int) -> float:
    """The smallest p-value a permutation test over ``n_a`` + ``n_b`` seeds can give: the observed split is one
    of C(n_a + n_b, n_a), and with n_a = n_b its mirror image (the groups swapped) ties with it."""
    return (2 if n_a == n_b else 1) / math.comb(n_a + n_b, n_a)


def seeds_needed(alpha: float = ALPHA) -> int:
    """The fewest seeds per network (equal numbers) with which a permutation test can reach ``alpha``."""
    return next(n for n in range(2, 100) if smallest_p(n, n) <= alpha)


def permutation_test(runs_a: pd.DataFrame, runs_b: pd.DataFrame, draws: int = 20_000, seed: int = 0) -> dict | None:
    """Is the SSR between two mean curves larger than seed noise gives? A permutation test over the seeds.

    ``runs_a``/``runs_b`` (``seed_table``): epochs down, one column per seed. Under "the two networks are the
    same", every split of the pooled seeds into groups of n_a and n_b is as likely as the real one; p is the
    share of splits whose SSR (over the epochs every run has) is at least the observed one. All splits are
    tried when there are at most ``draws``, else ``draws`` random ones. None with fewer than 2 seeds a side.
    """
    both = runs_a.join(runs_b, how="inner", lsuffix="_a", rsuffix="_b").dropna()
    n_a, n_b = runs_a.shape[1], runs_b.shape[1]
    if n_a < 2 or n_b < 2 or both.empty:
        return None
    values = both.to_numpy(dtype=float).T  # one row per seed

    def ssr(in_a: np.ndarray) -> float:
        return float(((values[in_a].mean(axis=0) - values[~in_a].mean(axis=0)) ** 2).sum())

    observed = ssr(np.arange(n_a + n_b) < n_a)
    total = math.comb(n_a + n_b, n_a)
    if total <= draws:
        splits = itertools.combinations(range(n_a + n_b), n_a)
    else:
        rng = np.random.default_rng(seed)
        splits = (rng.permutation(n_a + n_b)[:n_a] for _ in range(draws))
    stats = []
    for chosen in splits:
        mask = np.zeros(n_a + n_b, dtype=bool)
        mask[list(chosen)] = True
        stats.append(ssr(mask))
    at_least = sum(x >= observed * (1 - 1e-9) for x in stats)
    p = at_least / total if total <= draws else (1 + at_least) / (1 + draws)
    return dict(
        ssr=observed,
        p=p,
        smallest_p=smallest_p(n_a, n_b),
        splits=min(total, draws),
        exact=total <= draws,
        n_a=n_a,
        n_b=n_b,
        epochs=len(both),
    )


def sum_squared_residuals(curve_a: pd.DataFrame, curve_b: pd.DataFrame) -> tuple[float, int]:
    """Σ (a - b)² over the epochs both mean curves have, as seed study 001 compared options A and B;
    also the number of epochs summed over."""
    both = curve_a[["epoch", "mean"]].merge(curve_b[["epoch", "mean"]], on="epoch", suffixes=("_a", "_b"))
    return float(((both["mean_a"] - both["mean_b"]) ** 2).sum()), len(both)


def noise_ssr(curve_a: pd.DataFrame, curve_b: pd.DataFrame) -> tuple[float, int] | None:
    """The sum of squared residuals two mean curves would show from seed noise alone (if the two networks
    were the same), and the epochs summed over; None without at least two seeds on each side.

    Per epoch, the seeds' spread (pooled variance s² of the two groups) makes the difference of two means
    of n_a and n_b seeds vary by s²(1/n_a + 1/n_b); summed over the epochs both curves have, that is the
    SSR to expect from noise. A measured SSR near it says the two networks cannot be told apart here.
    """
    both = curve_a.merge(curve_b, on="epoch", suffixes=("_a", "_b"))
    both = both[(both.seeds_a >= 2) & (both.seeds_b >= 2)]
    if both.empty:
        return None
    pooled = ((both.seeds_a - 1) * both.std_a**2 + (both.seeds_b - 1) * both.std_b**2) / (
        both.seeds_a + both.seeds_b - 2
    )
    return float((pooled * (1 / both.seeds_a + 1 / both.seeds_b)).sum()), len(both)


def pairwise_residuals(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The sum of squared residuals for every pair of mean curves: model_a, model_b, ssr, epochs."""
    labels = list(curves)
    rows = [(a, b, *sum_squared_residuals(curves[a], curves[b])) for i, a in enumerate(labels) for b in labels[i + 1 :]]
    return pd.DataFrame(rows, columns=["model_a", "model_b", "ssr", "epochs"])


def curves_long(curves: dict[str, pd.DataFrame], metric: str) -> pd.DataFrame:
    """Mean curves in one long table (model, metric, epoch, mean, std, seeds), for a CSV file."""
    frames = [c.assign(model=label, metric=metric) for label, c in curves.items()]
    columns = ["model", "metric", "epoch", "mean", "std", "seeds"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def per_epoch_table(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Epochs down, models across (seed study 004's layout), from mean curves by model label."""
    table = pd.DataFrame({label: c.set_index("epoch")["mean"] for label, c in curves.items()})
    table.index.name = "epoch"
    return table.sort_index()


def default_pair(groups: list[RunGroup]) -> tuple[RunGroup, RunGroup] | None:
    """Two groups worth comparing: option A vs B at one depth, else ResNet vs plain, else any two."""

    def find(shortcut, depth):
        return next(
            (
                g
                for g in groups
                if g.config.shortcut == shortcut and g.config.depth == depth and g.config.arch == "cifar"
            ),
            None,
        )

    for other in ("B", "none"):
        for g in sorted(groups, key=lambda g: -g.config.depth):
            if g.config.shortcut == "A" and g.config.arch == "cifar" and (match := find(other, g.config.depth)):
                return g, match
    return (groups[0], groups[1]) if len(groups) >= 2 else None


def network_of(config: RunConfig) -> tuple:
    """What names a network across setups: its architecture, depth and shortcut."""
    c = config.resolved()
    return tuple(getattr(c, name) for name in NETWORK_FIELDS)


def keep_selection(previous: list[str] | None, groups: list[RunGroup], setup: str) -> list[str]:
    """The networks (group keys) to show in ``setup`` after the setup or the stored runs changed.

    A choice already of this setup is kept as it is (an empty one too: the user emptied it). A choice made
    in another setup keeps the networks that this setup also has (same architecture, depth and shortcut),
    in the order chosen; if it has none of them, or there was no choice yet, the default pair
    (``default_pair``), else the setup's first network.
    """
    in_setup = [g for g in groups if g.setup == setup]
    keys = {g.key for g in in_setup}
    if previous is not None and all(k in keys for k in previous):
        return list(previous)
    by_key = {g.key: g for g in groups}
    here = {network_of(g.config): g.key for g in in_setup}
    carried = [here.get(network_of(by_key[k].config)) for k in previous or () if k in by_key]
    carried = list(dict.fromkeys(k for k in carried if k is not None))
    if carried:
        return carried
    pair = default_pair(in_setup)
    return [g.key for g in pair] if pair else [g.key for g in in_setup[:1]]


# ------------------------------------------------------------------------------- CSV downloads


def metric_digits(metric: str) -> int:
    """Decimals a CSV keeps for ``metric``: percentages to a thousandth, losses (nats) to DEFAULT_DIGITS."""
    return PERCENT_DIGITS if METRICS[metric][2] else DEFAULT_DIGITS


def depth_csv(table: pd.DataFrame) -> str:
    """depth_table as CSV: every error (mean, std, the paper's) in % to PERCENT_DIGITS decimals."""
    return csv_text(table, default=PERCENT_DIGITS)


def curves_csv(curves: dict[str, pd.DataFrame], metric: str) -> str:
    """curves_long as CSV, the mean and std rounded for the metric's unit."""
    return csv_text(curves_long(curves, metric), default=metric_digits(metric))


def per_epoch_csv(table: pd.DataFrame) -> str:
    """per_epoch_table of test accuracies (%) as CSV, epochs in the first column."""
    return csv_text(table, default=PERCENT_DIGITS, index=True)
