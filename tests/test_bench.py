import json

from conftest import tiny_config
from core.bench import run_bench, time_to_accuracy


def test_bench_writes_measured_numbers_side_by_side(tmp_path):
    report = run_bench(depths=(8,), batch_size=64, images=768, repeats=1, workers=0, out_dir=tmp_path, log=lambda m: None)
    saved = json.loads(open(report["path"]).read())
    (row,) = saved["results"]
    ips = row["images_per_s"]
    assert all(ips[k] > 0 for k in ("reference", "trainer", "trainer_probes_every_step"))
    assert row["speedup_vs_reference"] == ips["trainer"] / ips["reference"]
    assert {"date", "device", "versions", "setup"} <= set(saved) and saved["versions"]["torch"]


def test_time_to_accuracy_stops_once_the_target_is_met(store):
    out = time_to_accuracy(tiny_config(epochs=5), 0.0, store)
    assert out["reached"] and out["epoch"] == 1 and out["seconds"] > 0
    out = time_to_accuracy(tiny_config(epochs=1), 1.01, store)
    assert not out["reached"]
