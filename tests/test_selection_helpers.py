"""The decisions behind the pages' selections, downloads and explanations, on data: which networks a new
Compare setup keeps, how CSVs are rounded, which step and runs Gradients shows after the pair changes,
what Classify says about a model's test accuracy, the figures' fixed percent axis, and when the plain/ResNet pair
of Lesion, Landscape and Layers is not a fair contrast."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config
from test_compare import fake_run

from core.analysis import compare, tables
from core.engine.config import RunConfig
from dashboard import figures, lesson, pairs

# ------------------------------------------------------------------------------ Compare networks


@pytest.fixture
def groups(store):
    for shortcut, depth, epochs in (
        ("A", 8, 2),
        ("B", 8, 2),
        ("none", 8, 2),
        ("A", 8, 3),
        ("none", 8, 3),
        ("A", 14, 4),
        ("none", 14, 4),
    ):
        fake_run(store, tiny_config(epochs=epochs, shortcut=shortcut, depth=depth), [0.5] * epochs)
    return compare.group_runs(store.list())


def key(epochs, shortcut, depth=8):
    return compare.group_key(tiny_config(epochs=epochs, shortcut=shortcut, depth=depth))


def setup(epochs):
    return compare.setup_key(tiny_config(epochs=epochs))


def test_a_new_setup_keeps_the_networks_it_also_has_in_the_order_chosen(groups):
    previous = [key(2, "none"), key(2, "B"), key(2, "A")]  # B is not trained in the 3-epoch setup
    assert compare.keep_selection(previous, groups, setup(3)) == [key(3, "none"), key(3, "A")]


def test_a_new_setup_without_any_of_them_falls_back_to_its_default_pair(groups):
    assert compare.keep_selection([key(2, "B")], groups, setup(3)) == [key(3, "A"), key(3, "none")]
    assert compare.keep_selection([key(2, "A")], groups, setup(4)) == [key(4, "A", 14), key(4, "none", 14)]
    assert compare.keep_selection(None, groups, setup(2)) == [key(2, "A"), key(2, "B")]  # first view: A vs B
    assert compare.keep_selection(["deleted-run"], groups, setup(2)) == [key(2, "A"), key(2, "B")]


def test_a_choice_within_its_setup_stays_even_when_emptied(groups):
    assert compare.keep_selection([key(2, "B")], groups, setup(2)) == [key(2, "B")]
    assert compare.keep_selection([], groups, setup(2)) == []


def test_a_setup_of_one_network_shows_it(store):
    fake_run(store, tiny_config(epochs=2), [0.5, 0.6])
    groups = compare.group_runs(store.list())
    assert compare.keep_selection(None, groups, setup(2)) == [key(2, "A")]


def test_setup_labels_name_the_recipe_as_the_run_labels_do():
    label = compare.setup_label(RunConfig(recipe="seed", epochs=3, subset=2000), "Shapes-10")
    assert label == "Shapes-10 · Adam (seed study), 3 epochs, 2,000 training images"


# ------------------------------------------------------------------------------------------ CSV


def test_rounded_rounds_float_columns_only_and_csv_text_drops_float_noise():
    frame = pd.DataFrame(
        {
            "model": ["plain-20", "ResNet-20"],
            "seeds": [3, 1],
            "ok": [True, False],
            "error": [8.625000000000005, 100 * (1 - 0.8)],
            "loss": [0.123456789, np.nan],
        }
    )
    out = tables.rounded(frame, {"error": 3})
    assert out["error"].tolist() == [8.625, 20.0] and out["loss"].tolist()[0] == 0.1235 and np.isnan(out["loss"][1])
    assert out["seeds"].tolist() == [3, 1] and out["model"].tolist() == frame["model"].tolist()
    assert tables.csv_text(frame, {"error": 3}).splitlines() == [
        "model,seeds,ok,error,loss",
        "plain-20,3,True,8.625,0.1235",
        "ResNet-20,1,False,20.0,",
    ]


def test_compare_csvs_round_percentages_to_3_decimals_and_losses_to_4():
    curve = pd.DataFrame({"epoch": [1, 2], "mean": [100 * (1 - 0.8), 1 / 3], "std": [2**0.5, 0.0], "seeds": [2, 2]})
    assert "19.999999" not in compare.curves_csv({"ResNet-8": curve}, "test_error")
    assert compare.curves_csv({"ResNet-8": curve}, "test_error").splitlines()[1:] == [
        "ResNet-8,test_error,1,20.0,1.414,2",
        "ResNet-8,test_error,2,0.333,0.0,2",
    ]
    assert compare.curves_csv({"ResNet-8": curve}, "test_loss").splitlines()[2] == "ResNet-8,test_loss,2,0.3333,0.0,2"
    table = compare.per_epoch_table({"ResNet-8": curve})
    assert compare.per_epoch_csv(table).splitlines() == ["epoch,ResNet-8", "1,20.0", "2,0.333"]


# ------------------------------------------------------------------------------------ Gradients


def test_the_step_goes_to_the_last_probe_when_the_pair_changes_else_stays():
    steps = [0, 2, 4, 6]
    assert lesson.step_to_show(steps, None, ("a", "b"), None) == 6  # nothing chosen yet
    assert lesson.step_to_show(steps, 2, ("a", "b"), ("a", "b")) == 2  # same pair: the step chosen
    assert lesson.step_to_show(steps, 2, ("a", "c"), ("a", "b")) == 6  # new pair: its last probe
    assert lesson.step_to_show(steps, 2, ("b", "a"), ("a", "b")) == 6  # swapped sides count as a change
    assert lesson.step_to_show(steps, 3, ("a", "b"), ("a", "b")) == 2  # not probed: the nearest (lower on a tie)
    assert lesson.step_to_show(steps, 2, ("a", "b"), None) == 2  # a first view keeps a step it was given (a link)


def test_fig7_runs_follow_the_pair():
    available = ["a", "b", "c", "d"]
    assert lesson.runs_to_show(None, ("a", "b"), None, available) == ["a", "b"]
    assert lesson.runs_to_show(["a"], ("a", "b"), ("a", "b"), available) == ["a"]  # narrowed by hand: kept
    assert lesson.runs_to_show(["a"], ("a", "c"), ("a", "b"), available) == ["a", "c"]  # new pair: follows it
    assert lesson.runs_to_show(["a", "b"], ("c", "c"), ("a", "b"), available) == ["c"]  # one run on both sides
    assert lesson.runs_to_show(["a", "b"], ("x", "y"), ("a", "b"), available) == ["a", "b"]  # pair not finished yet
    assert lesson.runs_to_show(["gone"], ("x", "y"), ("a", "b"), available) == ["a"]
    assert lesson.runs_to_show(["a", "gone"], ("a", "b"), ("a", "b"), available) == ["a"]


# ------------------------------------------------------------------------------------- Classify


def record(metrics, info, epochs_done=3, config=RunConfig(epochs=3)):
    return SimpleNamespace(metrics=metrics, info=info, epochs_done=epochs_done, config=config)


def test_test_accuracy_line_names_the_test_set_and_its_size():
    info = {"dataset": "Shapes-10", "n_test": 500}
    assert lesson.test_accuracy_line(record({"test_acc": 0.8766}, info), 4000) == (
        "Test accuracy **87.7%** on 500 of the 4,000 Shapes-10 test images, measured after its last epoch "
        "(epoch 3) and stored with the run."
    )
    assert "on all 10,000 CIFAR-10 test images" in lesson.test_accuracy_line(
        record({"test_acc": 0.9}, {"dataset": "CIFAR-10", "n_test": 10000}), 10000
    )
    assert "(how many was not recorded)" in lesson.test_accuracy_line(record({"test_acc": 0.9}, {"dataset": "X"}), 10)


@pytest.mark.parametrize("metrics", [{}, {"test_acc": None}, {"test_acc": float("nan")}, None])
def test_a_run_without_a_stored_test_accuracy_says_so(metrics):
    assert (
        lesson.test_accuracy_line(record(metrics, {"n_test": 500}), 4000) == "No test accuracy is stored for this run."
    )


# ------------------------------------------------------------------------------ percent axis


def test_percent_axis_fixes_error_and_accuracy_charts_at_0_to_100():
    rows = pd.DataFrame(
        [
            dict(
                model="ResNet-20 (A)",
                arch="cifar",
                shortcut="A",
                bn=True,
                depth=20,
                seeds=1,
                train_error_mean=3.0,
                train_error_std=np.nan,
                test_error_mean=8.0,
                test_error_std=np.nan,
            )
        ]
    )
    assert figures.depth_error_figure(rows).layout.yaxis.range is None
    assert list(figures.depth_error_figure(rows, percent_axis=True).layout.yaxis.range) == [0, 100]
    curve = pd.DataFrame({"epoch": [1, 2], "mean": [40.0, 30.0], "std": [1.0, 1.0], "seeds": [2, 2]})
    series = [figures.run_series("ResNet-20 (A)", RunConfig(), curve)]
    assert figures.seed_band_figure(series, "test error (%)").layout.yaxis.range is None
    assert list(figures.seed_band_figure(series, "test error (%)", percent_axis=True).layout.yaxis.range) == [0, 100]


# ----------------------------------------------------------------------------------- the terms


def test_every_term_is_explained_in_a_sentence_or_two():
    for term, text in lesson.TERMS.items():
        assert 40 < len(text) < 600 and text.rstrip().endswith((".", ")")), term
    assert "sum of squared residuals" in lesson.TERMS["SSR"].lower()


# ------------------------------------------------------------------ Lesion, Landscape, Layers: the pair


def test_a_pair_of_other_depths_or_other_training_is_flagged_as_no_fair_contrast():
    def run(**changes):
        return SimpleNamespace(config=tiny_config(**changes))

    assert pairs.mismatch_note(run(shortcut="none"), run(shortcut="A")) is None
    assert "differ in depth (8 vs 14)" in pairs.mismatch_note(run(shortcut="none"), run(shortcut="A", depth=14))
    for changes in (dict(epochs=2), dict(seed=1), dict(subset=512)):
        assert "trained differently" in pairs.mismatch_note(run(shortcut="none"), run(shortcut="A", **changes))
