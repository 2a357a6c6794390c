"""Fig. 6's two halves read from runs of one budget (core.analysis.fig6), on made-up records."""

import pytest

from core.analysis import fig6
from core.engine.config import RunConfig
from core.runs.store import RunRecord


def run(shortcut, depth, train_acc, seed=0, epochs=6, test_acc=0.7):
    config = RunConfig(depth=depth, shortcut=shortcut, dataset="cifar10", epochs=epochs, seed=seed)
    metrics = {"train_full_acc": train_acc, "train_eval_acc": train_acc - 0.01, "test_acc": test_acc}
    info = {"classes": list("abcdefghij"), "n_test": 10000}
    return RunRecord(config.run_id, config, "done", metrics=metrics, info=info, reference=True)


def test_both_halves_with_two_seeds_each():
    records = [
        *(run("none", 20, a, k) for k, a in enumerate((0.80, 0.81))),
        *(run("none", 56, a, k) for k, a in enumerate((0.60, 0.61))),
        *(run("A", 20, a, k) for k, a in enumerate((0.82, 0.83))),
        *(run("A", 56, a, k) for k, a in enumerate((0.84, 0.845))),
    ]
    halves = fig6.halves(records)
    plain, resnet = halves["plain"], halves["resnet"]
    assert plain.gap == pytest.approx(20.0) and plain.beyond_noise and plain.deep.learned
    assert "the degradation of the paper's Fig. 6" in fig6.half_sentence("plain", plain)
    assert resnet.gap == pytest.approx(-1.75) and resnet.beyond_noise
    assert "the deeper ResNet ends below the shallower one, as in" in fig6.half_sentence("resnet", resnet)
    close = fig6.Half(resnet.shallow, resnet.deep, -0.5, resnet.margin)  # a gap seed noise could give
    assert "at or below the shallower one, as in the paper's Fig. 6 (within seed noise, so not a difference)" in (
        fig6.half_sentence("resnet", close)
    )
    assert "plain-20 19.5%, plain-56 39.5%" in fig6.half_sentence("plain", plain)


def test_one_seed_each_calls_nothing_a_difference():
    records = [run("none", 20, 0.8), run("none", 56, 0.6), run("A", 20, 0.82), run("A", 56, 0.84)]
    plain = fig6.halves(records)["plain"]
    assert plain.margin is None and not plain.beyond_noise
    assert "seed noise is unknown" in fig6.half_sentence("plain", plain)


def test_a_deep_plain_net_at_chance_is_not_degradation():
    records = [run("none", 20, a, k) for k, a in enumerate((0.8, 0.81))]
    records += [run("none", 56, 0.1, k, test_acc=0.1) for k in (0, 1)]
    half = fig6.halves(records)["plain"]
    assert "never left chance" in fig6.half_sentence("plain", half)


def test_runs_of_two_budgets_are_refused():
    with pytest.raises(ValueError, match="one budget"):
        fig6.halves([run("none", 20, 0.8), run("none", 56, 0.6, epochs=15)])


def test_a_deeper_resnet_slightly_above_within_noise_is_not_called_worse_or_better():
    records = [
        *(run("A", 20, a, k) for k, a in enumerate((0.80, 0.82))),
        *(run("A", 56, a, k) for k, a in enumerate((0.795, 0.81))),
    ]
    half = fig6.halves(records)["resnet"]
    assert half.gap > 0 and not half.beyond_noise
    assert "not above the shallower one beyond seed noise" in fig6.half_sentence("resnet", half)


def test_a_run_at_zero_training_error_counts():
    records = [run("A", 20, 1.0, k) for k in (0, 1)] + [run("A", 56, 1.0, k) for k in (0, 1)]
    assert fig6.halves(records)["resnet"].margin is not None


def test_the_final_training_error_is_read_one_way_everywhere():
    from core.analysis.compare import depth_table, group_runs
    from core.analysis.questions import final_error

    config = RunConfig(depth=20, dataset="cifar10")
    measures = [
        ({"train_full_acc": 0.9, "train_eval_acc": 0.8, "train_acc": 0.7}, 10.0, "eval mode, every training image"),
        ({"train_eval_acc": 0.8, "train_acc": 0.7}, 20.0, "eval mode"),
        ({"train_acc": 0.7}, 30.0, "running mean"),
        ({}, None, ""),
    ]
    for metrics, error, how in measures:
        record = RunRecord(config.run_id, config, "done", metrics={**metrics, "test_acc": 0.5})
        value, said = record.final_train_error()
        assert (value, said) == (pytest.approx(error) if error else None, how)
        assert final_error(record, "train_error") == value  # the questions' answer
        if value is not None:
            assert depth_table(group_runs([record])).iloc[0]["train_error_mean"] == pytest.approx(value)  # Compare's
        # Fig. 6's halves take only eval-mode measures, as the paper plots them
        assert fig6.final_training_error(record) == (value if how.startswith("eval mode") else None)
