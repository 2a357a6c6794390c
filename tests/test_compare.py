"""core.analysis.compare: grouping runs by setup and seed, seed statistics, residuals and the paper overlay."""

import math

import pytest
from conftest import tiny_config

from core.analysis import compare


def fake_run(store, config, test_acc, train_acc=None):
    """A finished run with the given per-epoch accuracies, written straight into the store (no training)."""
    train_acc = train_acc or test_acc
    store.claim(config)
    store.set_info(config.run_id, {"dataset": "Shapes-10 (built-in synthetic)"})
    writer = store.writer(config.run_id)
    for epoch, (test, train) in enumerate(zip(test_acc, train_acc), start=1):
        writer.epoch((epoch, epoch * 4, 1 - train, train, 1 - test, test, 0.1, float(epoch)))
    writer.close()
    store.weights_path(config.run_id).parent.mkdir(parents=True, exist_ok=True)
    store.weights_path(config.run_id).write_bytes(
        b""
    )  # a done run has its weights file (its contents are not read here)
    store.set_status(
        config.run_id,
        "done",
        metrics={
            "train_acc": train_acc[-1],
            "test_acc": test_acc[-1],
            "train_loss": 1 - train_acc[-1],
            "test_loss": 1 - test_acc[-1],
        },
    )
    return store.get(config.run_id)


@pytest.fixture
def runs(store):
    fake_run(store, tiny_config(epochs=2, shortcut="A", seed=0), [0.5, 0.7])
    fake_run(store, tiny_config(epochs=2, shortcut="A", seed=1), [0.6, 0.9])
    fake_run(store, tiny_config(epochs=2, shortcut="B"), [0.5, 0.8])
    fake_run(store, tiny_config(epochs=2, shortcut="none", depth=14), [0.4, 0.5])
    fake_run(store, tiny_config(epochs=3, shortcut="A"), [0.1, 0.2, 0.3])  # another setup: 3 epochs
    return store


def test_runs_differing_only_in_seed_form_one_group_within_one_setup(runs):
    groups = compare.group_runs(runs.list())
    assert len(groups) == 4
    assert len(compare.setups(groups)) == 2
    two_seeds = next(g for g in groups if len(g.records) == 2)
    assert two_seeds.seeds == [0, 1] and two_seeds.label == "ResNet-8 (A)"
    label = next(iter(compare.setups(groups).values()))  # the setup with most networks comes first
    assert label.startswith("Shapes-10") and "2 epochs" in label and "256 training images" in label
    for k in range(1, 5):  # more runs, but of one network only: the 3-network setup still comes first
        fake_run(runs, tiny_config(epochs=3, shortcut="A", seed=k), [0.1, 0.2, 0.3])
    assert "2 epochs" in next(iter(compare.setups(compare.group_runs(runs.list())).values()))


def test_a_shipped_cifar10_setup_comes_first(runs):
    from core.runs.store import RunRecord

    config = tiny_config(dataset="cifar10", subset=None, test_subset=None)
    shipped = RunRecord(
        config.run_id,
        config,
        "done",
        metrics={"train_acc": 0.5, "test_acc": 0.5},
        info={"dataset": "CIFAR-10 (rebuilt copy)"},
        reference=True,
    )
    groups = compare.group_runs([*runs.list(), shipped])
    assert next(iter(compare.setups(groups).values())).startswith("CIFAR-10")
    own = RunRecord(
        config.run_id,
        config,
        "done",
        metrics={"train_acc": 0.5, "test_acc": 0.5},
        info={"dataset": "CIFAR-10 (rebuilt copy)"},
    )  # not shipped: the biggest setup first
    assert next(iter(compare.setups(compare.group_runs([*runs.list(), own])).values())).startswith("Shapes-10")


def test_device_and_probe_frequency_do_not_split_a_group(store):
    fake_run(store, tiny_config(seed=0, probe_every=2), [0.5])
    fake_run(store, tiny_config(seed=1, probe_every=0, device="auto"), [0.6])
    assert len(compare.group_runs(store.list())) == 1


def test_seed_curves_average_and_spread(runs):
    group = next(g for g in compare.group_runs(runs.list()) if len(g.records) == 2)
    curve = compare.seed_curves(runs, group, "test_error")
    assert list(curve.epoch) == [1, 2] and list(curve.seeds) == [2, 2]
    assert curve["mean"].tolist() == pytest.approx([45.0, 20.0])
    assert curve["std"].tolist() == pytest.approx([math.sqrt(50), math.sqrt(200)])  # sample std of two seeds
    accuracy = compare.seed_curves(runs, group, "test_acc")
    assert accuracy["mean"].tolist() == pytest.approx([55.0, 80.0])


def test_depth_table_has_means_stds_and_no_paper_value_outside_cifar10(runs):
    in_setup = [g for g in compare.group_runs(runs.list()) if g.config.epochs == 2]
    table = compare.depth_table(in_setup).set_index(["shortcut", "depth"])
    assert table.loc[("A", 8), "test_error_mean"] == pytest.approx(20.0)
    assert table.loc[("A", 8), "test_error_std"] == pytest.approx(math.sqrt(200))
    assert math.isnan(table.loc[("B", 8), "test_error_std"])  # one seed: no spread
    assert table["paper_test_error"].isna().all()


def test_table6_only_beside_runs_trained_as_the_paper_did():
    from core.engine.config import RunConfig

    paper = dict(depth=56, dataset="cifar10", epochs=164)  # 390 steps an epoch: 63,960 iterations... one short
    assert compare.table6_reasons(RunConfig(**paper)) == ["63,960 iterations, the paper 64,000 (batch 128)"]
    full = RunConfig(**{**paper, "epochs": 165})
    assert compare.table6_reasons(full) == [] and compare.paper_test_error(full) == 6.97
    assert math.isnan(compare.paper_test_error(full, n_test=2000))  # a test subset is not Table 6's test set
    assert math.isnan(compare.paper_test_error(RunConfig(**{**paper, "epochs": 165, "dataset": "builtin"})))
    assert math.isnan(compare.paper_test_error(RunConfig(**{**paper, "epochs": 165, "shortcut": "none"})))
    short = RunConfig(depth=56, dataset="cifar10", epochs=3, subset=10000, lr=0.05)
    reasons = compare.table6_reasons(short)
    assert reasons == [
        "not the paper's recipe",
        "10,000 of the 50,000 training images",
        "234 iterations, the paper 64,000 (batch 128)",
    ]


def test_sum_of_squared_residuals_and_default_pair(runs):
    groups = [g for g in compare.group_runs(runs.list()) if g.config.epochs == 2]
    a, b = compare.default_pair(groups)
    assert (a.config.shortcut, b.config.shortcut) == ("A", "B")  # option A vs B at equal depth first
    curves = {g.label: compare.seed_curves(runs, g, "test_error") for g in (a, b)}
    ssr, epochs = compare.sum_squared_residuals(*curves.values())
    assert epochs == 2 and ssr == pytest.approx((45 - 50) ** 2 + (20 - 20) ** 2)
    pairs = compare.pairwise_residuals(curves)
    assert len(pairs) == 1 and pairs.ssr[0] == pytest.approx(ssr)
    assert compare.noise_ssr(*curves.values()) is None  # B has one seed: no noise estimate
    table = compare.per_epoch_table(curves)
    assert list(table.index) == [1, 2] and list(table.columns) == list(curves)
    assert len(compare.curves_long(curves, "test_error")) == 4


def test_noise_ssr_is_what_two_identical_groups_of_seeds_would_differ_by():
    import pandas as pd

    a = pd.DataFrame({"epoch": [1, 2], "mean": [50.0, 40.0], "std": [2.0, 4.0], "seeds": [5, 5]})
    b = pd.DataFrame({"epoch": [1, 2], "mean": [51.0, 40.0], "std": [2.0, 0.0], "seeds": [5, 5]})
    noise, epochs = compare.noise_ssr(a, b)
    # pooled variances 4 and 8, each times 1/5 + 1/5
    assert epochs == 2 and noise == pytest.approx((4 + 8) * 0.4)


def test_permutation_test_over_seeds_cannot_reach_5_percent_with_three_seeds_each():
    import numpy as np
    import pandas as pd

    epochs = pd.Index([1, 2, 3], name="epoch")
    rng = np.random.default_rng(0)
    noise = lambda n: rng.normal(0, 1, size=(3, n))  # noqa: E731
    far_a = pd.DataFrame(50 + noise(3), index=epochs)
    far_b = pd.DataFrame(20 + noise(3), index=epochs)
    test = compare.permutation_test(far_a, far_b)
    # Curves 30 points apart: the observed split is the most extreme of all C(6, 3) = 20, tied with its mirror.
    assert test["exact"] and test["splits"] == 20 and test["p"] == pytest.approx(0.1) and test["smallest_p"] == 0.1
    assert test["ssr"] == pytest.approx(((far_a.mean(axis=1) - far_b.mean(axis=1)) ** 2).sum())
    seeds = lambda mean, n: pd.DataFrame(mean + noise(n), index=epochs)  # noqa: E731
    five = compare.permutation_test(seeds(50, 5), seeds(20, 5))
    assert five["p"] == pytest.approx(2 / 252) and five["p"] <= compare.ALPHA
    same = compare.permutation_test(seeds(50, 5), seeds(50, 5))
    assert same["p"] > compare.ALPHA
    assert compare.seeds_needed() == 4 and compare.smallest_p(4, 4) == pytest.approx(2 / 70)
    assert compare.permutation_test(far_a, far_b.iloc[:, :1]) is None  # one seed: no test
    many = compare.permutation_test(pd.DataFrame(noise(12), index=epochs), pd.DataFrame(noise(12), index=epochs))
    assert not many["exact"] and many["splits"] == 20_000 and 0 < many["p"] <= 1
