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
        depths=(8,), batch_size=64, images=512, repeats=1, workers=0, out_dir=tmp_path, log=lambda m: None, compile=True
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
    assert 0 < row["fraction_of_matmul_peak"]["bare_step"] and saved["cpu"]["capability"]
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
