import json
import os
import subprocess
import sys
from pathlib import Path

from core.engine.config import RunConfig
from core.runs import sweep
from core.runs.backends import RunState
from core.runs.lifecycle import RunStatus
from core.runs.store import RunRecord

REPO = Path(__file__).resolve().parents[1]


def test_grid_is_plain_first_and_drops_duplicates():
    configs = sweep.grid([20, 56], ["none", "A"], [0, 1, 1])
    assert [(c.shortcut, c.depth, c.seed) for c in configs] == [
        ("none", 20, 0),
        ("none", 20, 1),
        ("none", 56, 0),
        ("none", 56, 1),
        ("A", 20, 0),
        ("A", 20, 1),
        ("A", 56, 0),
        ("A", 56, 1),
    ]
    assert len({c.run_id for c in configs}) == 8
    assert sweep.unique(configs + configs[:3]) == configs


def test_state_text_reads_the_record():
    c = RunConfig(depth=20, epochs=10)
    running = RunRecord(c.run_id, c, RunStatus.RUNNING, epochs_done=3)
    assert RunState(c.run_id, RunStatus.RUNNING, running).line() == "training: epoch 4/10"
    done = RunRecord(c.run_id, c, RunStatus.DONE, epochs_done=10, metrics={"test_acc": 0.877})
    assert RunState(c.run_id, RunStatus.DONE, done).line() == "done: test error 12.3%"
    queued = RunRecord(c.run_id, c, RunStatus.QUEUED, message="waiting for a worker")
    assert RunState(c.run_id, RunStatus.QUEUED, queued, place=2).line() == "queued: 2nd"
    failed = RunRecord(c.run_id, c, RunStatus.FAILED, message="ValueError: bad")
    assert RunState(c.run_id, RunStatus.FAILED, failed).line() == "failed: ValueError: bad"
    assert sweep.progress_line(0, 3, RunState(c.run_id, RunStatus.DONE, done)).startswith(f"[1/3] {c.run_id} ResNet-20")


def sweep_cli(store, *extra):
    env = {**os.environ, "RESNET_LAB_HOME": str(store), "OMP_NUM_THREADS": "1"}
    env.pop("RESNET_LAB_RAY_ADDRESS", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "sweep",
            "--depths",
            "8",
            "--shortcuts",
            "none",
            "A",
            "--seeds",
            "0",
            "--epochs",
            "1",
            "--subset",
            "128",
            "--test-subset",
            "50",
            "--probe-every",
            "0",
            "--device",
            "cpu",
            "--json",
            *extra,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_sweep_command_trains_the_grid_once_then_answers_from_the_store(tmp_path):
    first = sweep_cli(tmp_path)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["backend"] == "local" and [r["status"] for r in out["runs"]] == ["done", "done"]
    assert [r["model"] for r in out["runs"]] == ["plain-8", "ResNet-8 (A)"]
    assert sum("done: test error" in line for line in first.stderr.splitlines()) == 2  # one progress line per run's end
    trained = (tmp_path / "logs" / "worker.log").read_text().count(": training ")
    assert trained == 2
    again = sweep_cli(tmp_path)
    assert again.returncode == 0, again.stderr
    assert [r["run_id"] for r in json.loads(again.stdout)["runs"]] == [r["run_id"] for r in out["runs"]]
    log = (tmp_path / "logs" / "worker.log").read_text()
    assert log.count(": training ") == trained  # stored runs are not retrained


def test_sweep_command_refuses_a_bad_grid(tmp_path):
    r = sweep_cli(tmp_path, "--depths", "9")
    assert r.returncode == 2 and "depth" in r.stderr and "6n+2" in r.stderr
