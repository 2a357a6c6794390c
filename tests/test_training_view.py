"""The Train page's decisions, on data: advanced settings, the watched run, what training again does, the
progress line of runs a click queued, and the learning rates drawn beside the loss."""

import math

import pandas as pd
import pytest

from core.engine.config import ConfigError, RunConfig
from core.engine.train import lr_at
from core.runs.backends import RunState
from core.runs.lifecycle import RunStatus
from core.runs.store import RunRecord
from dashboard import training as T


def test_a_typed_learning_rate_is_a_number_or_a_message_naming_the_field():
    assert T.parse_lr("") is None and T.parse_lr("  ") is None and T.parse_lr(None) is None
    assert T.parse_lr("3e-4") == 3e-4 and T.parse_lr(" 0.1 ") == 0.1
    with pytest.raises(ConfigError) as err:
        T.parse_lr("fast")
    assert err.value.field == "lr" and "'fast'" in str(err.value)
    with pytest.raises(ConfigError, match=r"^lr: must be a number in \(0, 10\]"):
        RunConfig(
            **T.overrides("paper", lr=T.parse_lr("20"), batch_size=None, schedule=None, augment=None, warmup=None)
        )


def test_settings_equal_to_the_recipes_leave_the_run_and_its_label_as_the_recipes():
    same = T.overrides("seed", lr=1e-3, batch_size=32, schedule="constant", augment=False, warmup=None)
    assert same == dict(lr=None, batch_size=None, schedule=None, augment=None, warmup=None)
    assert RunConfig(recipe="seed", **same).label == RunConfig(recipe="seed").label
    changed = RunConfig(
        recipe="seed", **T.overrides("seed", lr=3e-4, batch_size=16, schedule="cosine", augment=True, warmup=100)
    )
    assert changed.recipe_changes() == ["lr 0.0003", "batch 16", "cosine decay", "crop + flip", "warm-up 100 steps"]
    assert all(word in changed.label for word in changed.recipe_changes())


def test_the_recipes_settings_are_named_in_words():
    assert T.recipe_setting_text("paper", "lr") == "the recipe's: 0.1"
    assert T.recipe_setting_text("seed", "augment") == "the recipe's (none)"
    assert "400 steps" in T.recipe_setting_text("paper", "warmup", depth=110)
    assert T.recipe_setting_text("paper", "warmup", depth=20) == "the recipe's: none"


def test_a_warmup_over_the_whole_run_is_warned_about():
    config = RunConfig(warmup=500, lr=0.2)
    assert "whole run (450 steps)" in T.warmup_warning(config, 450) and "0.02" in T.warmup_warning(config, 450)
    assert T.warmup_warning(config, 501) is None and T.warmup_warning(RunConfig(), 10) is None


def test_a_tab_watches_the_run_it_follows_and_never_another_tabs_run_while_that_exists():
    ids, live = ["mine", "theirs", "old"], ["theirs"]
    assert T.watched_run("mine", ids, live) == "mine"
    assert T.watched_run(None, ids, live) == "theirs"  # a tab that follows nothing sees what trains now
    assert T.watched_run("deleted", ids, []) == "mine"  # ...else the newest stored run
    assert T.watched_run(None, [], []) is None


@pytest.mark.parametrize(
    "reference,teacher,status,words,absent",
    [
        (True, False, "done", ["only the teacher"], ["deleted"]),
        (True, True, "done", ["deleted", "no longer marked ★", "puts the shipped run back", "same seed"], ["resuming"]),
        (False, False, "done", ["deleted", "same seed", "same id"], ["★"]),
        (False, False, "cancelled", ["instead of resuming after the 2 of 8 epochs"], ["★"]),
    ],
)
def test_training_again_from_scratch_says_what_the_store_does(reference, teacher, status, words, absent):
    text = T.restart_text(reference=reference, teacher=teacher, status=status, epochs_done=2, epochs=8)
    assert all(w in text for w in words) and not any(w in text for w in absent), text


def record(status, epochs_done=0, subset=1000):
    config = RunConfig(subset=subset, epochs=8)
    return RunRecord(config.run_id, config, status, epochs_done=epochs_done)


def test_the_runs_a_click_queued_are_summed_up_with_queue_place_and_epoch():
    states = [
        RunState("a", RunStatus.DONE, record(RunStatus.DONE, 8)),
        RunState("b", RunStatus.RUNNING, record(RunStatus.RUNNING, 2, subset=1100)),
        RunState("c", RunStatus.QUEUED, record(RunStatus.QUEUED, subset=1200), place=3),
        RunState("d", RunStatus.QUEUED, record(RunStatus.QUEUED, subset=1300), place=2),
    ]
    assert T.started_summary(states) == "1 of 4 done; 1 training (epoch 3 of 8); 2 queued (the next is 2nd in line)"
    gone = T.started_summary(
        [RunState("e", None, None), RunState("f", RunStatus.CANCELLED, record(RunStatus.CANCELLED, 1))]
    )
    assert gone.startswith("0 of 2 done") and "run e is no longer stored" in gone and ": cancelled" in gone


def test_learning_rates_as_recorded_else_by_the_trainers_own_schedule():
    config = RunConfig(depth=20)  # paper: step schedule, lr 0.1
    recorded = pd.DataFrame({"step": [0, 1], "loss": [2.0, 1.9], "lr": [0.5, 0.25]})
    assert T.lr_frame(config, recorded, 100)["lr"].tolist() == [0.5, 0.25]
    old = pd.DataFrame({"step": range(0, 100, 10), "loss": 1.0, "lr": math.nan})
    computed = T.lr_frame(config, old, 100)
    assert computed["lr"].tolist() == pytest.approx([lr_at(config.resolved(), s, 100) for s in range(0, 100, 10)])
    assert computed["lr"].tolist()[:5] == pytest.approx([0.1] * 5) and computed["lr"].iloc[-1] == pytest.approx(0.001)
