"""Comparing stored runs: error vs depth, curves averaged over seeds, and the paper's Table 6.

Runs are compared at two levels:

- a *setup* is everything about training except the network (data set, subset, recipe, epochs,
  learning rate...): only runs of one setup may share a chart, or the chart would compare recipes;
- a *group* is one setup and one network, i.e. runs that differ only in their seed; its curves are
  averaged over the seeds (seed study 001 used 5 per configuration).

All errors and accuracies returned here are in percent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import SAME_TRAINING, RunConfig
from .store import RunRecord, RunStore

from .paper import SOURCE as PAPER_SOURCE
from .paper import TABLE6_TEST_ERROR

# The depths this lab trains (1202 is out of a classroom's reach).
PAPER_TEST_ERROR = {d: e for d, e in TABLE6_TEST_ERROR.items() if d <= 110}
PAPER_DATASET = "cifar10"

# What may differ between the runs of one setup (the network) or one group (also the seed).
NETWORK_FIELDS = ("arch", "depth", "shortcut")
METRICS = {  # name -> (axis title, history column, unit: "error" = 100 - acc %, "acc" = acc %, "" = as stored)
    "test_error": ("test error (%)", "test_acc", "error"),
    "train_error": ("training error (%)", "train_acc", "error"),
    "test_acc": ("test accuracy (%)", "test_acc", "acc"),
    "test_loss": ("test loss (cross-entropy, nats)", "test_loss", ""),
    "train_loss": ("training loss (cross-entropy, nats)", "train_loss", ""),
}


def setup_key(config: RunConfig) -> str:
    return config.training_key(SAME_TRAINING + NETWORK_FIELDS + ("seed",))


def group_key(config: RunConfig) -> str:
    return config.training_key(SAME_TRAINING + ("seed",))


def setup_label(config: RunConfig, dataset_title: str | None = None) -> str:
    """What the runs of a setup share, for a select box: 'Shapes-10 · paper recipe, 10 epochs, 2k images'."""
    c = config.resolved()
    parts = [f"{c.recipe} recipe", f"{c.epochs} epoch{'s' * (c.epochs != 1)}"]
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
        if record.status != "done":
            continue
        key = group_key(record.config)
        groups.setdefault(key, RunGroup(key, setup_key(record.config))).records.append(record)
    for g in groups.values():
        g.records.sort(key=lambda r: r.config.seed)
    return sorted(groups.values(), key=lambda g: (g.config.arch, g.config.shortcut, not g.config.bn, g.config.depth))


def setups(groups: list[RunGroup]) -> dict[str, str]:
    """Setup key -> label, the setup with the most networks first (then the most runs): it draws the
    richest error-vs-depth picture."""
    networks: dict[str, int] = {}
    runs: dict[str, int] = {}
    labels: dict[str, str] = {}
    for g in groups:
        networks[g.setup] = networks.get(g.setup, 0) + 1
        runs[g.setup] = runs.get(g.setup, 0) + len(g.records)
        labels[g.setup] = setup_label(g.config, g.dataset_title)
    return {k: labels[k] for k in sorted(labels, key=lambda k: (-networks[k], -runs[k], labels[k]))}


def _metric_values(frame: pd.DataFrame, metric: str) -> pd.Series:
    _, column, unit = METRICS[metric]
    return {"error": 100 * (1 - frame[column]), "acc": 100 * frame[column]}.get(unit, frame[column])


def depth_table(groups: list[RunGroup]) -> pd.DataFrame:
    """One row per group: final training and test error (%), mean and std over the seeds (NaN for one seed)."""
    rows = []
    for g in groups:
        train_err = [100 * (1 - r.metrics["train_acc"]) for r in g.records if r.metrics.get("train_acc") is not None]
        test_err = [100 * (1 - r.metrics["test_acc"]) for r in g.records if r.metrics.get("test_acc") is not None]
        c = g.config
        rows.append({"model": g.label, "arch": c.arch, "shortcut": c.shortcut, "bn": c.bn, "depth": c.depth,
                     "dataset": g.dataset_title,
                     "seeds": len(g.records),
                     "train_error_mean": np.mean(train_err) if train_err else np.nan,
                     "train_error_std": np.std(train_err, ddof=1) if len(train_err) > 1 else np.nan,
                     "test_error_mean": np.mean(test_err) if test_err else np.nan,
                     "test_error_std": np.std(test_err, ddof=1) if len(test_err) > 1 else np.nan,
                     "paper_test_error": paper_test_error(c)})
    columns = ["model", "arch", "shortcut", "bn", "depth", "dataset", "seeds", "train_error_mean", "train_error_std",
               "test_error_mean", "test_error_std", "paper_test_error"]
    return pd.DataFrame(rows, columns=columns)


def paper_test_error(config: RunConfig) -> float:
    """Table 6's test error for this network on CIFAR-10, or NaN where the paper has none to compare."""
    c = config.resolved()
    comparable = c.dataset == PAPER_DATASET and c.arch == "cifar" and c.shortcut == "A" and c.bn
    return PAPER_TEST_ERROR.get(c.depth, np.nan) if comparable else np.nan


def paper_table() -> pd.DataFrame:
    return pd.DataFrame({"depth": list(PAPER_TEST_ERROR), "test_error": list(PAPER_TEST_ERROR.values())})


def seed_curves(store: RunStore, group: RunGroup, metric: str) -> pd.DataFrame:
    """Per-epoch mean and std of ``metric`` over the group's seeds: epoch, mean, std, seeds."""
    per_run = []
    for r in group.records:
        epochs = store.epoch_history(r.run_id)
        per_run.append(pd.Series(_metric_values(epochs, metric).to_numpy(), index=epochs["epoch"].astype(int)))
    table = pd.concat(per_run, axis=1)
    out = pd.DataFrame({"epoch": table.index, "mean": table.mean(axis=1).to_numpy(),
                        "std": table.std(axis=1, ddof=1).fillna(0).to_numpy(), "seeds": table.count(axis=1).to_numpy()})
    return out.reset_index(drop=True)


def sum_squared_residuals(curve_a: pd.DataFrame, curve_b: pd.DataFrame) -> tuple[float, int]:
    """Σ (a - b)² over the epochs both mean curves have, as seed study 001 compared options A and B;
    also the number of epochs summed over."""
    both = curve_a[["epoch", "mean"]].merge(curve_b[["epoch", "mean"]], on="epoch", suffixes=("_a", "_b"))
    return float(((both["mean_a"] - both["mean_b"]) ** 2).sum()), len(both)


def pairwise_residuals(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The sum of squared residuals for every pair of mean curves: model_a, model_b, ssr, epochs."""
    labels = list(curves)
    rows = [(a, b, *sum_squared_residuals(curves[a], curves[b])) for i, a in enumerate(labels) for b in labels[i + 1:]]
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
        return next((g for g in groups if g.config.shortcut == shortcut and g.config.depth == depth
                     and g.config.arch == "cifar"), None)
    for other in ("B", "none"):
        for g in sorted(groups, key=lambda g: -g.config.depth):
            if g.config.shortcut == "A" and g.config.arch == "cifar" and (match := find(other, g.config.depth)):
                return g, match
    return (groups[0], groups[1]) if len(groups) >= 2 else None
