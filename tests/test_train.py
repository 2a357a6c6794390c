import dataclasses
import itertools
import math
import threading

import pytest
import torch
from conftest import tiny_config

from core.engine.config import RunConfig
from core.engine.train import learning_rates, lr_at
from core.runs.execute import train


def test_training_stores_config_history_metrics_and_weights(store):
    result = train(tiny_config(epochs=2), store)
    rec = result.record
    assert not result.cached and rec.status == "done" and rec.epochs_done == 2
    assert 0 <= rec.metrics["test_acc"] <= 1 and math.isfinite(rec.metrics["train_loss"])
    h = store.history(rec.run_id)
    assert list(h.epochs.epoch) == [1, 2]
    assert list(h.steps.step) == list(range(8))  # 256 images / batch 64 = 4 steps an epoch
    assert set(h.probes.kind) == {"grad_w", "grad_out", "response_std", "weight_norm"}
    assert sorted(h.probes.step.unique()) == [0, 2, 4, 6]  # probe_every=2
    first = h.probes[(h.probes.step == 0) & (h.probes.kind == "grad_w")]
    assert list(first.layer)[:2] == ["conv1", "stage1.block0.conv1"] and list(first.layer)[-1] == "fc"
    model = store.load_model(rec.run_id)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_a_stored_config_answers_from_the_store(store):
    first = train(tiny_config(), store)
    again = train(tiny_config(device="auto"), store)  # the device is not part of the run id
    assert again.cached and again.record.run_id == first.record.run_id
    assert again.record.metrics == first.record.metrics


def test_same_config_and_seed_give_the_same_first_epoch_losses(tmp_path):
    from core.runs.store import RunStore

    losses = []
    for name in ("a", "b"):
        s = RunStore(tmp_path / name)
        rec = train(tiny_config(), s).record
        losses.append(list(s.history(rec.run_id).steps.loss))
    assert losses[0] == losses[1]
    other = RunStore(tmp_path / "c")
    rec = train(tiny_config(seed=1), other).record
    assert list(other.history(rec.run_id).steps.loss) != losses[0]


def test_a_diverging_run_ends_as_diverged_with_a_message(store):
    rec = train(tiny_config(shortcut="none", bn=False, lr=10.0, epochs=3), store).record
    assert rec.status == "diverged"
    assert "loss became" in rec.message and "learning rate" in rec.message
    assert not store.weights_path(rec.run_id).exists()


def test_cancel_then_resume_matches_an_uninterrupted_run(tmp_path):
    from core.runs.store import RunStore

    config = tiny_config(epochs=3)
    straight = RunStore(tmp_path / "straight")
    expected = train(config, straight).record

    store = RunStore(tmp_path / "resumed")
    stop = threading.Event()

    def stop_in_second_epoch(event):
        if event["kind"] == "step" and event["step"] == 6:
            stop.set()

    rec = train(config, store, stop=stop, progress=stop_in_second_epoch).record
    assert rec.status == "cancelled" and rec.epochs_done == 1
    assert store.checkpoint_path(rec.run_id).exists() and not store.weights_path(rec.run_id).exists()
    resumed = train(config, store).record
    assert resumed.status == "done" and resumed.epochs_done == 3
    assert list(store.history(rec.run_id).steps.step) == list(range(12))
    assert resumed.metrics["test_loss"] == pytest.approx(expected.metrics["test_loss"], rel=1e-5)


def test_paper_schedule_divides_by_ten_at_half_and_three_quarters():
    c = RunConfig(depth=20).resolved()
    assert [lr_at(c, s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    deep = RunConfig(depth=110).resolved()
    assert lr_at(deep, 0, 64000) == pytest.approx(0.01) and lr_at(deep, 400, 64000) == pytest.approx(0.1)


def test_a_ramped_warmup_rises_linearly_to_the_schedule_without_a_jump():
    c = RunConfig(depth=20, warmup=4, warmup_ramp=True, schedule="cosine").resolved()
    assert [lr_at(c, s, 100) for s in range(4)] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert lr_at(c, 4, 100) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 4 / 100)))
    jumps = [abs(b - a) for a, b in itertools.pairwise(lr_at(c, s, 100) for s in range(10))]
    assert max(jumps) <= 0.025 + 1e-9  # no step changes the lr by more than one ramp increment


def test_a_chosen_warmup_trains_its_steps_at_a_tenth_and_is_recorded(store):
    config = tiny_config(epochs=2, warmup=3, schedule="cosine", lr=0.05, probe_every=0)
    rec = train(config, store).record
    recorded = store.history(rec.run_id).steps["lr"].tolist()
    assert recorded[:3] == pytest.approx([0.005] * 3) and recorded[3] == pytest.approx(
        0.05 * 0.5 * (1 + math.cos(math.pi * 3 / 8))
    )
    assert recorded == pytest.approx(learning_rates(config.resolved(), rec.info["total_steps"]))


def test_cifar10_paper_recipe_learns(store, cifar_dir):
    config = RunConfig(depth=8, dataset="cifar10", subset=2000, test_subset=1000, epochs=1, probe_every=0, device="cpu")
    rec = train(config, store, data_dir=cifar_dir).record
    assert rec.status == "done" and rec.info["dataset"] == "CIFAR-10 (rebuilt copy)"
    assert rec.metrics["test_acc"] > 0.15  # chance is 0.10


def test_compiled_training_is_the_same_run_and_still_probes(tmp_path):
    from core.runs.store import RunStore

    eager, compiled = RunStore(tmp_path / "eager"), RunStore(tmp_path / "compiled")
    config = tiny_config(probe_every=3)
    a = train(config, eager).record
    torch._dynamo.reset()  # graphs compiled by earlier tests would be reused and not counted
    torch._dynamo.utils.counters.clear()
    b = train(dataclasses.replace(config, compile=True), compiled).record
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it really compiled
    assert b.run_id == a.run_id and b.status == "done"
    # The same maths, fused differently: the losses agree to rounding.
    assert list(compiled.history(b.run_id).steps.loss) == pytest.approx(
        list(eager.history(a.run_id).steps.loss), rel=1e-3
    )
    probes = compiled.history(b.run_id).probes
    assert sorted(probes.step.unique()) == [0, 3] and probes["value"].notna().all()  # probe steps run the eager net


def test_training_error_in_eval_mode_and_test_points_during_training(store):
    """The paper's curves: eval-mode training error at epoch ends, and >= 20 test points for a short run."""
    from core.engine.train import TEST_EVAL_POINTS

    rec = train(tiny_config(epochs=5, probe_every=0), store).record  # 4 steps an epoch, 20 steps in all
    h = store.history(rec.run_id)
    assert h.epochs.train_eval_acc.between(0, 1).all() and h.epochs.train_eval_loss.notna().all()
    assert rec.metrics["train_eval_acc"] == h.epochs.train_eval_acc.iloc[-1]
    assert len(h.evals) >= 20 and TEST_EVAL_POINTS >= 20
    assert h.evals.step.iloc[0] == 0 and h.evals.step.is_monotonic_increasing
    ends = h.evals[h.evals.step.isin(h.epochs.step)]
    assert list(ends.acc) == list(h.epochs.test_acc) and (ends.images == 200).all()  # epoch ends: the full test set
    assert (h.evals[~h.evals.step.isin(h.epochs.step)].images == 200).all()  # test_subset 200 < 500: all of it


def test_a_store_from_before_the_eval_columns_opens_and_gains_them(tmp_path):
    import sqlite3

    from core.runs.store import RunStore

    root = tmp_path / "old"
    root.mkdir()
    with sqlite3.connect(root / "runs.sqlite") as db:
        db.execute(
            "CREATE TABLE epochs (run_id TEXT, epoch INTEGER, step INTEGER, train_loss REAL, train_acc REAL, "
            "test_loss REAL, test_acc REAL, lr REAL, seconds REAL, PRIMARY KEY (run_id, epoch)) WITHOUT ROWID"
        )
        db.execute("INSERT INTO epochs VALUES ('0123456789ab', 1, 4, 2.0, 0.2, 2.1, 0.15, 0.1, 3.0)")
    s = RunStore(root)
    h = s.history("0123456789ab")
    assert h.epochs.test_acc.tolist() == [0.15] and h.epochs.train_eval_acc.isna().all() and h.evals.empty
    rec = train(tiny_config(probe_every=0), s).record
    assert s.history(rec.run_id).epochs.train_eval_acc.notna().all()


def test_auto_precision_is_bf16_on_gpus_and_on_cpus_with_native_bf16(monkeypatch, store):
    import core.engine.train

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    auto = tiny_config()
    assert core.engine.train.uses_bf16(auto, cuda) and not core.engine.train.uses_bf16(
        dataclasses.replace(auto, precision="fp32"), cuda
    )
    monkeypatch.setattr(core.engine.train, "cpu_has_native_bf16", lambda: False)
    assert not core.engine.train.uses_bf16(auto, cpu) and core.engine.train.uses_bf16(
        dataclasses.replace(auto, precision="bf16"), cpu
    )
    monkeypatch.setattr(core.engine.train, "cpu_has_native_bf16", lambda: True)
    assert core.engine.train.uses_bf16(auto, cpu)
    # The run records what it trained in, and the convolutions really run in bf16.
    seen = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, out: seen.append(out.dtype) if isinstance(module, torch.nn.Conv2d) else None
    )
    try:
        record = train(auto, store).record
    finally:
        handle.remove()
    assert record.info["precision"] == "bf16" and torch.bfloat16 in seen
    record = train(dataclasses.replace(auto, precision="fp32"), store).record
    assert record.info["precision"] == "fp32"


def test_evaluation_does_not_depend_on_its_batch_size(monkeypatch):
    # The CPU evaluates in smaller batches than a GPU, for speed; the numbers are the same up to float noise.
    import core.engine.train as T
    from core.engine.models import build_model

    torch.manual_seed(0)
    model = build_model(depth=8).to(memory_format=torch.channels_last)
    x = torch.randint(0, 256, (450, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (450,), generator=torch.Generator().manual_seed(2))
    args = (model, x, y, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), T.nullcontext())
    results = []
    for bs in (1000, 200, 64):
        monkeypatch.setattr(T, "EVAL_BATCH_CPU", bs)
        results.append(T.evaluate(*args))
    for loss, acc in results[1:]:
        assert loss == pytest.approx(results[0][0], rel=1e-5) and acc == results[0][1]
