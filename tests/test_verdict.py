"""The near-chance flag: one verdict in core, shown by the CLI and the pages."""

import json

import pytest
from conftest import tiny_config

from core.runs.verdict import chance_margin, chance_verdict, record_verdict


def test_a_run_at_chance_is_flagged_and_one_that_learned_is_not():
    flag = chance_verdict({"test_acc": 0.103}, 10, 4000)
    assert flag.startswith("ended near chance") and "10.3%" in flag and "10%" in flag and "10 classes" in flag
    assert chance_verdict({"test_acc": 0.50}, 10, 4000) is None
    assert chance_verdict({"test_acc": 0.149}, 10, 4000) is not None  # within the 5-point floor
    assert chance_verdict({"test_acc": 0.151}, 10, 4000) is None
    assert chance_verdict({}, 10, 4000) is None and chance_verdict({"test_acc": None}, 10) is None


def test_the_margin_grows_with_fewer_test_images():
    assert chance_margin(10, 10_000) == pytest.approx(0.05)
    assert chance_margin(10, 50) == pytest.approx(3 * (0.1 * 0.9 / 50) ** 0.5)  # 12.7 points on 50 images
    assert chance_verdict({"test_acc": 0.2}, 10, 50) is not None and chance_verdict({"test_acc": 0.2}, 10, 5000) is None
    assert chance_verdict({"test_acc": 0.56}, 2, 10_000) is None and chance_verdict({"test_acc": 0.52}, 2, 10_000)


def _finish(store, config, test_acc, status="done"):
    from core.engine.models import build_model

    store.claim(config)
    store.set_info(config.run_id, {"classes": list("abcdefghij"), "n_test": 1000})
    store.save_weights(config.run_id, build_model(depth=config.depth))  # a finished run has its weights
    store.set_status(config.run_id, status, metrics={"test_acc": test_acc, "train_acc": test_acc})
    return store.get(config.run_id)


def test_record_verdict_reads_classes_and_test_size_and_skips_running_runs(store):
    assert record_verdict(_finish(store, tiny_config(seed=1), 0.11)).startswith("ended near chance")
    assert record_verdict(_finish(store, tiny_config(seed=2), 0.11, "cancelled")).startswith("stopped near chance")
    assert record_verdict(_finish(store, tiny_config(seed=3), 0.11, "running")) is None
    assert record_verdict(_finish(store, tiny_config(seed=4), 0.80)) is None


def test_cli_list_and_show_carry_the_flag(store):
    from test_cli import cli

    stuck = _finish(store, tiny_config(seed=1), 0.10)
    _finish(store, tiny_config(seed=2), 0.90)
    rows = {r["run_id"]: r for r in json.loads(cli("list", "--no-shipped", "--json", store=store.root).stdout)["runs"]}
    assert rows[stuck.run_id]["flag"].startswith("ended near chance")
    assert [r["flag"] for i, r in rows.items() if i != stuck.run_id] == [None]
    assert "! near chance" in cli("list", "--no-shipped", store=store.root).stdout
    shown = cli("show", stuck.run_id, store=store.root).stdout
    assert "ended near chance: test accuracy 10.0%" in shown


def test_steps_warning_before_start():
    from core.engine.config import RunConfig
    from core.runs.verdict import steps_warning

    paper_deep = RunConfig(depth=56, shortcut="A", subset=2000, epochs=3)  # 15 steps an epoch: 45
    warning = steps_warning(paper_deep, 2000)
    assert "SGD at lr 0.1" in warning and "1,000 steps or more" in warning
    assert steps_warning(RunConfig(depth=56, epochs=100, subset=20000), 20000) is None  # 15,600 steps
    plain = RunConfig(depth=56, shortcut="none", recipe="seed", subset=2000, epochs=3)  # 62 an epoch: 186
    assert "without identity shortcuts" in steps_warning(plain, 2000)
    assert steps_warning(RunConfig(depth=56, shortcut="none", recipe="seed", subset=2000, epochs=8), 2000) is None
    assert steps_warning(RunConfig(depth=20, recipe="seed", subset=2000, epochs=8), 2000) is None
    assert "Only 31 training steps" in steps_warning(RunConfig(depth=20, recipe="seed", subset=1000, epochs=1), 1000)
