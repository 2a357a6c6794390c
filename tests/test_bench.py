import argparse
import json

import pytest
from conftest import tiny_config

from core.cli.trainer_bench import _target, run_bench, target_accuracy, time_to_accuracy


def test_bench_writes_measured_numbers_side_by_side(tmp_path, monkeypatch):
    """One bench run (bf16 forced on, so fp32 is timed beside it on any CPU) writes every number it names."""
    import core.engine.train

    monkeypatch.setattr(core.engine.train, "cpu_has_native_bf16", lambda: True)
    report = run_bench(
        depths=(8,),
        batch_size=64,
        images=512,
        steps=4,
        run_epochs=3,
        repeats=1,
        workers=0,
        out_dir=tmp_path,
        log=lambda m: None,
        compile=True,
    )
    saved = json.loads(open(report["path"]).read())
    (row,) = saved["results"]
    ips = row["images_per_s"]
    assert all(
        ips[k] > 0
        for k in (
            "reference",
            "bare_step",
            "trainer",
            "trainer_fp32",
            "trainer_default_probes",
            "trainer_probes_every_step",
            "trainer_compiled",
        )
    )
    assert row["default_probes_share_of_bare_step"] == ips["trainer_default_probes"] / ips["bare_step"]
    share, peaks = row["fraction_of_matmul_peak"], saved["matmul_peak_gflops"]
    assert peaks["bf16"] > 0 and peaks["fp32"] > 0 and saved["cpu"]["capability"]
    # Each step against the peak in its own precision: the bf16 trainer and its fp32 twin differ by their speeds only.
    assert share["trainer"] / share["trainer_fp32"] == pytest.approx(
        ips["trainer"] / ips["trainer_fp32"] * peaks["fp32"] / peaks["bf16"]
    )
    assert share["reference"] == pytest.approx(ips["reference"] * row["flops_per_image"] / (peaks["fp32"] * 1e9))
    assert row["speedup_vs_reference"] == ips["trainer"] / ips["reference"]
    assert row["compiled_speedup_vs_reference"] == ips["trainer_compiled"] / ips["reference"]
    assert row["bf16_speedup_vs_fp32"] == ips["trainer"] / ips["trainer_fp32"]
    assert "bf16 autocast" in saved["setup"]["trainer"]
    assert {"date", "device", "versions", "setup"} <= set(saved) and saved["versions"]["torch"]


def test_paper_target_is_table_6_accuracy_at_each_depth():
    assert target_accuracy("paper", 20) == 0.9125 and target_accuracy("paper", 56) == 0.9303
    assert target_accuracy(0.5, 20) == 0.5 and target_accuracy(None, 20) is None
    with pytest.raises(ValueError, match="Table 6 has no ResNet-8"):
        target_accuracy("paper", 8)
    assert _target("paper") == "paper" and _target("0.9125") == 0.9125
    for bad in ("91.25", "0", "fast"):
        with pytest.raises(argparse.ArgumentTypeError, match="fraction"):
            _target(bad)


def test_time_to_accuracy_stops_once_the_target_is_met(store):
    out = time_to_accuracy(tiny_config(epochs=5), 0.0, store)
    assert out["reached"] and out["epoch"] == 1 and out["seconds"] > 0
    out = time_to_accuracy(tiny_config(epochs=1), 1.01, store)
    assert not out["reached"]


def test_parity_trains_both_loops_alike_and_reports_their_accuracies(tmp_path):
    from core.cli.trainer_bench import parity
    from core.runs.store import RunStore

    out = parity(8, 1, 2, "builtin", None, "cpu", 0, RunStore(tmp_path), lambda m: None, images=256)
    assert len(out["runs"]["trainer"]) == len(out["runs"]["reference"]) == 2
    accs = [r["test_acc"] for side in out["runs"].values() for r in side]
    assert all(0 <= a <= 1 for a in accs) and out["seed_std"] is not None
    means = out["mean_test_acc"]
    assert out["difference"] == means["trainer"] - means["reference"]
    assert out["runs"]["reference"][0]["steps"] == 256 // 128  # the trainer's recipe: batch 128, one epoch


def test_a_step_counts_its_flops_and_the_peak_is_measured():
    from core.cli.trainer_bench import matmul_gflops, step_flops

    assert step_flops(20, 2) == 2 * step_flops(20, 1) > 0
    assert step_flops(56, 1) > 2.5 * step_flops(20, 1)  # 3x the blocks of 3x3 convolutions, the same stem and head
    assert matmul_gflops(256, repeats=2) > 0


def test_the_trainer_is_timed_inside_a_run_of_the_full_length_then_stopped(store):
    """The timed window sits in a long run (so its test points and probes come at that run's intervals); the run
    stops after the window instead of training all its epochs."""
    from core.cli.trainer_bench import WARMUP_STEPS, trainer_images_per_s
    from core.runs.lifecycle import RunStatus

    config = tiny_config(epochs=40, probe_every=50)  # 160 steps planned
    assert trainer_images_per_s(config, 3, store, None) > 0
    record = store.get(config.run_id)
    assert record.status == RunStatus.CANCELLED and record.epochs_done < 3
    assert len(store.history(config.run_id).steps) <= WARMUP_STEPS + 3 + 4  # one epoch's steps at most past the window


def test_a_timed_window_longer_than_the_run_is_refused(tmp_path):
    with pytest.raises(ValueError, match="do not fit in a 1-epoch run"):
        run_bench(depths=(8,), batch_size=64, images=512, steps=10, run_epochs=1, out_dir=tmp_path, log=lambda m: None)
