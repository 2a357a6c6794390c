"""Decisions the Train page makes, kept here (no Streamlit) so they are tested on data: the widgets' choices
read as a RunConfig (the advanced settings as a run's overrides), what a new configuration will do, which run a
tab watches and how often it polls, what "train again from scratch" really does, the Fig. 6 overlay's runs and
where the runs a "train the missing" click started stand, and the learning rates drawn beside the loss."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from core.analysis.budget import largest_comparable, mixed_budget_note, setup_key
from core.engine.config import DATASET_SIZES, RECIPE_DEFAULTS, ConfigError, RunConfig, exact_number, steps_per_epoch
from core.engine.models import TORCHVISION_MODEL
from core.engine.train import learning_rates
from core.runs.backends import RunState
from core.runs.lifecycle import (
    RunStatus,
    allowed,
    counts_as_trained,
    current_epoch,
    is_done,
    is_queued,
    is_running,
    ordinal,
)
from core.runs.reference import SHAPES10_LESSON as LESSON
from core.runs.reference import cifar10_fig6
from core.runs.verdict import steps_warning

RUN_PARAM = "run"  # ?run=<id>: the run the Watch view shows (written by the page, not a widget's binding)
FIG6 = (("none", 20), ("none", 56), ("A", 20), ("A", 56))  # the paper's Fig. 6 in miniature: (shortcut, depth)
# ...opened with plain-32 and ResNet-44 too: the deepest nets of each family that the shipped runs show
# learning in order
OVERLAY_FIRST = FIG6 + (("none", 32), ("A", 44))


# ------------------------------------------------------------------------------ the configuration


@dataclass(frozen=True)
class Choices:
    """What the Train page's widgets say, as read: a run's settings before RunConfig checks them."""

    arch: str
    shortcut: str
    depth: int  # ignored for torchvision's ResNet-18, which has its own
    bn: bool
    init: str
    recipe: str
    epochs: int
    seed: int
    probes: int  # gradient probes spread over the run (0: none)
    dataset: str
    subset: int  # training images; all of the data set's means the default (None)
    test_subset: int
    lr_text: str | None = None  # the advanced settings: None (or '') keeps the recipe's
    batch_size: int | None = None
    schedule: str | None = None
    augment: bool | None = None
    warmup: int | None = None
    warmup_ramp: bool = False


def run_config(c: Choices) -> RunConfig:
    """The RunConfig the widgets describe; a ConfigError naming the field if it cannot be trained."""
    n_train, n_test = DATASET_SIZES[c.dataset]
    batch = c.batch_size or RECIPE_DEFAULTS[c.recipe]["batch_size"]
    total_steps = steps_per_epoch(int(c.subset), batch) * int(c.epochs)
    advanced = overrides(
        c.recipe,
        lr=parse_lr(c.lr_text),
        batch_size=c.batch_size,
        schedule=c.schedule,
        augment=c.augment,
        warmup=None if c.warmup is None else int(c.warmup),
        warmup_ramp=bool(c.warmup_ramp),
    )
    return RunConfig(
        arch=c.arch,
        depth=18 if c.arch == TORCHVISION_MODEL else int(c.depth),
        shortcut=c.shortcut,
        bn=bool(c.bn),
        init=c.init,
        dataset=c.dataset,
        subset=None if c.subset == n_train else int(c.subset),
        test_subset=None if c.test_subset == n_test else int(c.test_subset),
        recipe=c.recipe,
        epochs=int(c.epochs),
        seed=int(c.seed),
        **advanced,
        probe_every=max(1, total_steps // c.probes) if c.probes else 0,
    )


def advanced_caption(config: RunConfig) -> str:
    """The line under the settings: which advanced settings differ from the recipe, if any."""
    changes = config.recipe_changes()
    if changes:
        return "**Advanced** settings that differ from the recipe: " + ", ".join(changes) + "."
    return "**Advanced**: the recipe's own settings."


def new_config_notes(config: RunConfig) -> tuple[str, list[str]]:
    """What Start will train for a configuration that is not stored (its steps and batch), and the warnings
    before it: too few steps to learn, or a warm-up over the whole run."""
    n = config.subset or DATASET_SIZES[config.dataset][0]
    resolved = config.resolved()
    steps = resolved.total_steps(n)
    line = f"New configuration: {config.label}, {steps:,} steps of {min(resolved.batch_size, n)} images."
    return line, [w for w in (steps_warning(config, n), warmup_warning(config, steps)) if w]


# ------------------------------------------------------------------------------ advanced settings


def parse_lr(text: str | None) -> float | None:
    """The learning rate typed in the advanced settings: '' keeps the recipe's (None); '0.1' and '3e-4' are
    numbers; anything else is a ConfigError naming the field (its range is RunConfig's to check)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError("lr", f"must be a number such as 0.1 or 3e-4, got {text!r}") from None


def overrides(
    recipe: str,
    *,
    lr: float | None,
    batch_size: int | None,
    schedule: str | None,
    augment: bool | None,
    warmup: int | None,
    warmup_ramp: bool = False,
) -> dict:
    """RunConfig fields for the advanced settings: a value equal to the recipe's is left unset, so the run is
    the recipe's own (same id, same label) and only real changes show in its label."""
    defaults = RECIPE_DEFAULTS[recipe]
    chosen = dict(lr=lr, batch_size=batch_size, schedule=schedule, augment=augment)
    fields = {k: (None if v == defaults[k] else v) for k, v in chosen.items()}
    return {**fields, "warmup": warmup, "warmup_ramp": warmup_ramp}


def recipe_setting_text(recipe: str, field: str, depth: int = 20) -> str:
    """What 'the recipe's' means for one field, for the widgets' placeholders and menus."""
    if field == "warmup":
        return (
            "the recipe's: 400 steps at lr/10 (at most a tenth of the run)"
            if RunConfig(recipe=recipe, depth=depth).recipe_warmup
            else "the recipe's: none"
        )
    value = RECIPE_DEFAULTS[recipe][field]
    if field == "lr":
        return f"the recipe's: {exact_number(value)}"
    if field == "augment":
        return f"the recipe's ({'crop + flip' if value else 'none'})"
    return f"the recipe's ({value})"


# ------------------------------------------------------------------------------------ which run


def watched_run(focus: str | None, ids: list[str], live_ids: list[str]) -> str | None:
    """The run a tab's Watch view shows: the one it follows (started or opened here, or named by ?run=), while
    it exists; else, for a tab that follows none, a run training now, else the newest stored run."""
    if focus in ids:
        return focus
    if live_ids:
        return live_ids[0]
    return ids[0] if ids else None


def count_unchanged(previous: tuple | None, version) -> tuple:
    """(the watched run's version, how many polls in a row found it unchanged), after one more poll."""
    last, polls = previous or (None, 0)
    return version, polls + 1 if last == version else 0


# --------------------------------------------------------------------------- train again from scratch


def restart_text(
    *, reference: bool, teacher: bool, status: RunStatus | None, epochs_done: int = 0, epochs: int = 0
) -> str:
    """What ticking "train again from scratch" does to this stored run, as the store does it (``request`` with
    ``restart``, then the worker's fresh claim), and who may tick it."""
    if reference and not teacher:
        return (
            "This is a shipped reference run (★): only the teacher can train it again (teacher passphrase in the "
            "sidebar), because every tab and page of the class shows it."
        )
    what = (
        "When a worker takes it, this run's stored curves, gradient probes and weights are deleted and the same "
        "configuration, with the same seed, trains from its first step"
    )
    if allowed(status).resume:
        what += f", instead of resuming after the {epochs_done} of {epochs} epochs it finished"
    what += ". Every tab and page then shows the new run under the same id."
    if reference:
        what += (
            " It is no longer marked ★ as a shipped run. The shipped copy in the app's core/runs/shipped/ folder stays "
            "as it is: if the new training does not finish, the next start of the dashboard puts the shipped run "
            "back; once it finishes, it stays."
        )
    return what


# ------------------------------------------------------------------------------ the Fig. 6 overlay


def fig6_configs(base: RunConfig) -> list[RunConfig]:
    """plain-20, plain-56, ResNet-20 and ResNet-56 with the data and recipe settings of ``base``."""
    return [dataclasses.replace(base, arch="cifar", shortcut=shortcut, depth=depth) for shortcut, depth in FIG6]


def stored_and_missing(configs: list[RunConfig], found: list) -> tuple[list[str], list[RunConfig]]:
    """Of ``configs`` and the stored run that answers each (or None): the ids of the stored runs, and the
    configs still to train (not stored, or stored but neither finished nor on its way)."""
    have = [r.run_id for r in found if r is not None]
    missing = [c for c, r in zip(configs, found) if not counts_as_trained(r)]
    return have, missing


def shipped_cifar_fig6(records: list) -> list[str]:
    """The shipped CIFAR-10 Fig. 6 set (core.runs.reference.cifar10_fig6, seed 0) when all four nets are stored,
    else []: the paper's data, one budget."""
    key = setup_key(cifar10_fig6()[0])
    found = {
        (r.config.shortcut, r.config.depth): r.run_id
        for r in records
        if r.reference and r.config.seed == 0 and r.config.dataset == "cifar10" and setup_key(r.config) == key
    }
    return [found[pair] for pair in FIG6] if all(pair in found for pair in FIG6) else []


def overlay_defaults(records: list, focus: str | None) -> list[str]:
    """The runs the overlay opens on, all of one budget: the run this tab follows; else the shipped CIFAR-10 Fig. 6
    set; else the shipped Fig. 6 set in the lesson's recipe (seed 0) with plain-32 and ResNet-44, the largest
    group of them that shares one budget (core.analysis.budget.largest_comparable); else the newest run ('' with
    none stored)."""
    if focus:
        return [focus]
    if cifar := shipped_cifar_fig6(records):
        return cifar
    lesson_runs = [
        (r.run_id, r.config)
        for r in records
        if r.reference
        and r.config.seed == 0
        and r.config.recipe == LESSON["recipe"]
        and (r.config.shortcut, r.config.depth) in OVERLAY_FIRST
    ]
    one_budget = largest_comparable(lesson_runs)
    shipped = [next((i for i, c in one_budget if (c.shortcut, c.depth) == pair), None) for pair in OVERLAY_FIRST]
    return [i for i in shipped if i] or [records[0].run_id if records else ""]


def overlay_after_adding(current: list[str], added: list[str], records: list) -> list[str]:
    """The overlay after the page adds runs (a run this tab opened or started, a "train the missing" click):
    the runs already shown that share the added runs' budget, then the added runs, so what the page puts on
    the chart is one budget; a user who adds runs of other budgets in the picker gets ``overlay_note``."""
    configs = {r.run_id: r.config for r in records}
    keys = {setup_key(configs[i]) for i in added if i in configs}
    kept = [i for i in current if i in configs and (not keys or setup_key(configs[i]) in keys)]
    return list(dict.fromkeys([*kept, *added]))


def overlay_note(chosen: list) -> str | None:
    """Beside an overlay of runs of different budgets: what differed (core.analysis.budget.mixed_budget_note),
    None when they share one budget."""
    return mixed_budget_note([(r.config.model_name, r.config) for r in chosen])


def queued_note(queued: int, missing: int, refused: str | None) -> str | None:
    """After a "train the missing" click that the queue limit cut short: how many it queued, and why it stopped."""
    if not refused:
        return None
    return (
        f"Queued {queued} of the {missing} missing runs. {refused.rstrip('.')}: press the button again when one "
        "has started."
    )


# ------------------------------------------------------------------------- runs a click started


def started_summary(states: list[RunState]) -> str:
    """One line on the runs a "train the missing" click queued: how many are done, training, queued (first
    place in the queue) or ended otherwise."""
    done = sum(is_done(s.record) for s in states)
    training = [s for s in states if is_running(s.record)]
    queued = sorted((s for s in states if is_queued(s.record)), key=lambda s: s.place or 10**9)
    other = [s for s in states if not (is_done(s.record) or is_running(s.record) or is_queued(s.record))]
    parts = [f"{done} of {len(states)} done"]
    if training:
        r = training[0].record
        parts.append(
            f"{len(training)} training"
            + (f" (epoch {current_epoch(r)} of {r.config.epochs})" if len(training) == 1 and r else "")
        )
    if queued:
        first = queued[0].place
        parts.append(f"{len(queued)} queued" + (f" (the next is {ordinal(first)} in line)" if first else ""))
    for s in other:  # cancelled, interrupted, diverged, failed, or deleted since
        parts.append(f"{s.record.config.label}: {s.status}" if s.record else f"run {s.run_id} is no longer stored")
    return "; ".join(parts)


def warmup_warning(config: RunConfig, total_steps: int) -> str | None:
    """A warning when a chosen warm-up takes the whole run (every step then trains at lr/10)."""
    if config.warmup and config.warmup >= total_steps:
        return (
            f"warmup: {config.warmup:,} warm-up steps cover the whole run ({total_steps:,} steps), so every step "
            f"trains at a tenth of the learning rate ({exact_number(config.resolved().lr / 10)})."
        )
    return None


# ------------------------------------------------------------------------------- learning rate


def lr_frame(config: RunConfig, steps: pd.DataFrame, total_steps: int | None) -> pd.DataFrame:
    """Step and learning rate of a run's steps: as recorded, else (a history without it) from the config's
    schedule by ``core.engine.train.lr_at``, the trainer's own function."""
    if "lr" in steps and steps["lr"].notna().all():
        return steps[["step", "lr"]]
    total = int(total_steps or (int(steps["step"].max()) + 1 if len(steps) else 0))
    rates = learning_rates(config.resolved(), total, steps["step"]) if total else []
    return pd.DataFrame({"step": steps["step"].to_numpy(), "lr": rates})


HISTORY_KINDS = {"epoch": "per-epoch", "step": "per-step"}


def history_frame(runs: list[tuple], per: str) -> pd.DataFrame:
    """The history of every run in one table, for a CSV download: ``runs`` are (record, History) pairs; ``per``
    'epoch' gives one row per run and epoch (the History's epochs table: running training-mode means, eval-mode
    training subset, test), 'step' one row per run and optimizer step (step, epoch, loss, acc, lr). The first
    columns name the run: run_id, model, seed, label."""
    frames = []
    for record, history in runs:
        table = history.epochs if per == "epoch" else history.steps
        named = {"run_id": record.run_id, "model": record.config.model_name, "seed": record.config.seed}
        frames.append(table.assign(**named, label=record.config.label))
    columns = ["run_id", "model", "seed", "label"]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    return out[columns + [c for c in out.columns if c not in columns]]


def history_csv(runs: list[tuple], per: str) -> str:
    return history_frame(runs, per).to_csv(index=False)
