import argparse
import json

import pytest
from conftest import tiny_config

from core.cli.trainer_bench import _target, run_bench, target_accuracy, time_to_accuracy


def test_bench_writes_measured_numbers_side_by_side(tmp_path):
    report = run_bench(
        depths=(8,), batch_size=64, images=768, repeats=1, workers=0, out_dir=tmp_path, log=lambda m: None, compile=True
    )
    saved = json.loads(open(report["path"]).read())
    (row,) = saved["results"]
    ips = row["images_per_s"]
    assert all(ips[k] > 0 for k in ("reference", "trainer", "trainer_probes_every_step", "trainer_compiled"))
    assert row["speedup_vs_reference"] == ips["trainer"] / ips["reference"]
    assert row["compiled_speedup_vs_reference"] == ips["trainer_compiled"] / ips["reference"]
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


def test_bench_times_fp32_beside_the_bf16_default(tmp_path, monkeypatch):
    import core.engine.train

    monkeypatch.setattr(core.engine.train, "cpu_has_native_bf16", lambda: True)
    report = run_bench(
        depths=(8,), batch_size=64, images=512, repeats=1, workers=0, out_dir=tmp_path, log=lambda m: None
    )
    (row,) = report["results"]
    ips = row["images_per_s"]
    assert ips["trainer_fp32"] > 0 and row["bf16_speedup_vs_fp32"] == ips["trainer"] / ips["trainer_fp32"]
    assert "bf16 autocast" in report["setup"]["trainer"]
