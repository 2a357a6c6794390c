"""Decisions the Train page makes, kept here (no Streamlit) so they are tested on data: the advanced
settings read as a run's overrides, which run a tab watches, what "train again from scratch" really does,
where the runs a "train the missing" click started stand, and the learning rates drawn beside the loss."""

from __future__ import annotations

import pandas as pd

from core.engine.config import RECIPE_DEFAULTS, ConfigError, RunConfig, exact_number
from core.engine.train import learning_rates
from core.runs.backends import RunState
from core.runs.lifecycle import RunStatus, allowed, current_epoch, is_done, is_queued, is_running, ordinal

RUN_PARAM = "run"  # ?run=<id>: the run the Watch view shows (written by the page, not a widget's binding)


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
) -> dict:
    """RunConfig fields for the advanced settings: a value equal to the recipe's is left unset, so the run is
    the recipe's own (same id, same label) and only real changes show in its label."""
    defaults = RECIPE_DEFAULTS[recipe]
    chosen = dict(lr=lr, batch_size=batch_size, schedule=schedule, augment=augment)
    fields = {k: (None if v == defaults[k] else v) for k, v in chosen.items()}
    return {**fields, "warmup": warmup}


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
