"""The Train page's decisions, on data: advanced settings, the watched run, what training again does, the
progress line of runs a click queued, and the learning rates drawn beside the loss."""

import math

import pandas as pd
import pytest

from core.engine.config import ConfigError, RunConfig
from core.engine.models import TORCHVISION_MODEL
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
    assert same == dict(lr=None, batch_size=None, schedule=None, augment=None, warmup=None, warmup_ramp=False)
    assert RunConfig(recipe="seed", **same).label == RunConfig(recipe="seed").label
    changed = RunConfig(
        recipe="seed", **T.overrides("seed", lr=3e-4, batch_size=16, schedule="cosine", augment=True, warmup=100)
    )
    assert changed.recipe_changes() == ["lr 0.0003", "batch 16", "cosine decay", "crop + flip", "warm-up 100 steps"]
    assert all(word in changed.label for word in changed.recipe_changes())
    ramped = RunConfig(
        **T.overrides("paper", lr=None, batch_size=None, schedule=None, augment=None, warmup=400, warmup_ramp=True)
    )
    assert ramped.recipe_changes() == ["ramped warm-up 400 steps"] and ramped.run_id != RunConfig(warmup=400).run_id
    with pytest.raises(ConfigError) as err:  # a ramp with nothing to ramp: the page shows why it cannot train
        RunConfig(
            **T.overrides("paper", lr=None, batch_size=None, schedule=None, augment=None, warmup=0, warmup_ramp=True)
        )
    assert err.value.field == "warmup_ramp" and "warm-up steps" in str(err.value)


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


def choices(**changes):
    base = dict(
        arch="cifar", shortcut="A", depth=20, bn=True, init="kaiming", recipe="seed", epochs=8, seed=0, probes=60,
        dataset="builtin", subset=1000, test_subset=500,
    )  # fmt: skip
    return T.Choices(**{**base, **changes})


def test_the_widgets_choices_become_the_run_config_they_describe():
    config = T.run_config(choices(batch_size=16, lr_text="3e-4"))
    assert (config.depth, config.shortcut, config.subset, config.test_subset, config.epochs) == (20, "A", 1000, 500, 8)
    assert config.batch_size == 16 and config.lr == 3e-4  # overrides of the seed recipe's 32 and 1e-3
    assert T.run_config(choices(batch_size=32, lr_text="")).batch_size is None  # the recipe's own: not an override
    assert config.probe_every == (1000 // 16) * 8 // 60  # about 60 probes over the run
    assert T.run_config(choices(probes=0)).probe_every == 0
    whole = T.run_config(choices(subset=20_000, test_subset=4_000))
    assert whole.subset is None and whole.test_subset is None  # all of a data set's images: the default
    assert T.run_config(choices(arch=TORCHVISION_MODEL, depth=56)).depth == 18
    with pytest.raises(ConfigError) as err:
        T.run_config(choices(lr_text="fast"))
    assert err.value.field == "lr"


def test_the_line_under_the_settings_names_what_differs_from_the_recipe():
    assert T.advanced_caption(RunConfig(recipe="seed")) == "**Advanced**: the recipe's own settings."
    changed = T.advanced_caption(RunConfig(recipe="seed", batch_size=16))
    assert changed == "**Advanced** settings that differ from the recipe: batch 16."


def test_a_new_configuration_says_its_steps_and_warns_before_it_starts():
    config = RunConfig(recipe="seed", subset=1000, epochs=8, batch_size=16)
    line, warnings = T.new_config_notes(config)
    assert line == f"New configuration: {config.label}, 496 steps of 16 images."  # 62 full batches an epoch
    assert warnings == []
    _, warnings = T.new_config_notes(RunConfig(recipe="seed", subset=100, epochs=1, warmup=500))
    assert len(warnings) == 2 and "training steps" in warnings[0] and warnings[1].startswith("warmup:")


def test_polls_that_find_the_run_unchanged_are_counted_until_it_changes():
    assert T.count_unchanged(None, (1, 2)) == ((1, 2), 0)
    assert T.count_unchanged(((1, 2), 0), (1, 2)) == ((1, 2), 1)
    assert T.count_unchanged(((1, 2), 4), (1, 3)) == ((1, 3), 0)


def shipped(shortcut, depth, seed=0, recipe="seed"):
    config = RunConfig(shortcut=shortcut, depth=depth, seed=seed, recipe=recipe, subset=1000)
    return RunRecord(config.run_id, config, RunStatus.DONE, reference=True)


def test_the_fig6_runs_share_the_settings_and_only_the_untrained_are_missing():
    base = RunConfig(arch=TORCHVISION_MODEL, depth=18, shortcut="B", recipe="seed", subset=3000, seed=2)
    wanted = T.fig6_configs(base)
    assert [(c.arch, c.shortcut, c.depth) for c in wanted] == [("cifar", s, d) for s, d in T.FIG6]
    assert {(c.recipe, c.subset, c.seed) for c in wanted} == {("seed", 3000, 2)}
    done = RunRecord(wanted[0].run_id, wanted[0], RunStatus.DONE)
    failed = RunRecord(wanted[1].run_id, wanted[1], RunStatus.FAILED)
    have, missing = T.stored_and_missing(wanted, [done, failed, None, None])
    assert have == [done.run_id, failed.run_id] and missing == wanted[1:]


def test_the_overlay_opens_on_the_followed_run_else_the_shipped_fig6_set_else_the_newest():
    own = RunRecord("own", RunConfig(depth=110), RunStatus.DONE)
    fig6 = [
        shipped("A", 56),
        shipped("none", 20),
        shipped("A", 44),
        shipped("A", 20, seed=1),
        shipped("A", 20, recipe="paper"),
    ]
    assert T.overlay_defaults([own, *fig6], "mine") == ["mine"]
    assert T.overlay_defaults([own, *fig6], None) == [fig6[1].run_id, fig6[0].run_id, fig6[2].run_id]  # Fig. 6 order
    assert T.overlay_defaults([own, fig6[3]], None) == ["own"] and T.overlay_defaults([], None) == [""]


def test_a_train_the_missing_click_cut_short_says_how_far_it_got():
    assert T.queued_note(2, 4, None) is None
    note = T.queued_note(2, 4, "You have 2 runs waiting; the limit is 2.")
    assert note == (
        "Queued 2 of the 4 missing runs. You have 2 runs waiting; the limit is 2: press the button again when one "
        "has started."
    )


def test_the_history_download_has_every_run_epoch_and_step_of_a_stored_run(tmp_path):
    import io

    from core.runs.reference import install
    from core.runs.store import RunStore

    store = RunStore(tmp_path)
    install(store)
    runs = [r for r in store.list() if r.config.dataset == "cifar10"][:2]
    histories = [(r, store.history(r.run_id, kinds=("-",))) for r in runs]
    epochs = pd.read_csv(io.StringIO(T.history_csv(histories, "epoch")))
    steps = pd.read_csv(io.StringIO(T.history_csv(histories, "step")))
    assert list(epochs.columns[:4]) == ["run_id", "model", "seed", "label"] and {"test_acc", "epoch"} <= set(epochs)
    for record, history in histories:
        mine = epochs[epochs.run_id == record.run_id]
        assert len(mine) == len(history.epochs) == record.epochs_done
        assert mine["test_acc"].iloc[-1] == pytest.approx(record.metrics["test_acc"])
        assert (steps.run_id == record.run_id).sum() == len(history.steps)
        assert steps[steps.run_id == record.run_id]["loss"].tolist() == pytest.approx(history.steps["loss"].tolist())
    assert T.history_csv([], "epoch").startswith("run_id,model,seed,label")
