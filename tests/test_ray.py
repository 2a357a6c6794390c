"""The Ray backend on a small local Ray (2 CPUs, no dashboard) started and stopped here, shared by these tests.

CPU sums depend on the number of threads, so the local workers get the one thread a Ray task with
num_cpus=1 gets: then the two backends must give the same losses to float precision.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

from core.engine.config import RunConfig
from core.runs import jobs, sweep
from core.runs.backends import LocalWorkers
from core.runs.lifecycle import RunStatus
from core.runs.ray_jobs import FAULT_ENV, RayBackend
from core.runs.store import RunStore

TINY = dict(dataset="builtin", subset=256, test_subset=100, batch_size=32, epochs=2, probe_every=4, device="cpu")
TIMEOUT = 600  # generous: the machine is shared; no test asserts on time
ROOT = Path(__file__).resolve().parents[1]
SMALL_SWEEP = "--depths 8 --shortcuts none A --seeds 0 --epochs 1 --subset 256 --dataset builtin --json".split()


def sweep_with_env(store: Path, **env) -> tuple[int, dict, str]:
    """``python -m core sweep`` in its own process with ``env`` added (its own local Ray, started from
    $RESNET_LAB_RAY_ADDRESS): exit status, its JSON and its stderr. The timeout keeps a hang from hanging the test."""
    done = subprocess.run(
        [sys.executable, "-m", "core", "sweep", *SMALL_SWEEP, "--store", str(store)],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return done.returncode, json.loads(done.stdout), done.stderr


# These two start a Ray of their own in a subprocess: they come before the tests that share one in this process.


def test_the_ray_address_from_the_environment_trains_a_sweep(tmp_path):
    code, out, err = sweep_with_env(tmp_path / "s", RESNET_LAB_RAY_ADDRESS="local")
    assert code == 0, err
    assert out["backend"] == "ray" and [r["status"] for r in out["runs"]] == ["done", "done"]


def test_a_ray_worker_that_dies_before_training_fails_the_run_with_the_reason(tmp_path):
    code, out, err = sweep_with_env(tmp_path / "s", RESNET_LAB_RAY_ADDRESS="local", **{FAULT_ENV: "exit"})
    assert code == 1
    reason = "its Ray worker died 2 times in a row before the run started (WorkerCrashedError"
    assert [r["status"] for r in out["runs"]] == ["failed", "failed"]
    assert all(reason in r["message"] for r in out["runs"])
    assert err.count("not done: ") == 2 and reason in err
    store = RunStore(tmp_path / "s")
    assert all(r.status == RunStatus.FAILED and reason in r.message for r in store.list())


@pytest.fixture(scope="module")
def ray_session():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 2**20,
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.fixture
def ray_backend(ray_session):
    backend = RayBackend("auto")  # Ray is already started: the backend joins it
    yield backend
    backend.shutdown()


def wait_for(predicate, timeout=TIMEOUT, poll=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("timed out")


def first_epoch_losses(store, states):
    return [float(store.epoch_history(s.run_id).train_loss.iloc[0]) for s in states]


def test_sweep_on_ray_matches_the_local_backend(tmp_path, ray_backend, monkeypatch):
    configs = sweep.grid([8], ["none", "A"], [0, 1], **TINY)
    assert len(configs) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the local worker process inherits it
    local_store, ray_store = RunStore(tmp_path / "local"), RunStore(tmp_path / "ray")
    local = LocalWorkers(workers=1)
    try:
        local_states = sweep.run(local_store, configs, local, timeout=TIMEOUT)
    finally:
        local.stop_workers()
    lines = []
    ray_states = sweep.run(ray_store, configs, ray_backend, on_line=lines.append, timeout=TIMEOUT)

    assert [s.run_id for s in ray_states] == [s.run_id for s in local_states] == [c.run_id for c in configs]
    assert [s.status for s in ray_states] == [s.status for s in local_states] == [RunStatus.DONE] * 4
    assert first_epoch_losses(ray_store, ray_states) == pytest.approx(
        first_epoch_losses(local_store, local_states), rel=1e-6
    )
    for s in ray_states:  # the whole history and the weights reached the owner's store
        h = ray_store.history(s.run_id)
        assert list(h.steps.step) == list(range(16)) and list(h.epochs.epoch) == [1, 2] and len(h.probes) > 0
        assert ray_store.weights_path(s.run_id).exists() and ray_store.load_model(s.run_id) is not None
        assert s.record.info["device"].startswith("CPU")
        assert len(ray_backend.attempts(ray_store, s.run_id)) == 1
    assert any("training" in line for line in lines) and sum("done" in line for line in lines) == 4


def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(tmp_path, ray_backend):
    config = RunConfig(depth=8, shortcut="A", **{**TINY, "epochs": 8})
    store, twin = RunStore(tmp_path / "killed"), RunStore(tmp_path / "twin")
    ray_backend.submit(twin, config)  # the same run, never interrupted (on the second CPU)
    state = ray_backend.submit(store, config)
    # the owner has written a checkpoint: the hub that relayed it holds it for a retry
    wait_for(lambda: store.checkpoint_path(state.run_id).exists())
    assert store.get(state.run_id).status == RunStatus.RUNNING  # never shown done before it is
    ((attempt, pid, node, from_epoch),) = ray_backend.attempts(store, state.run_id)
    os.kill(pid, signal.SIGKILL)

    final = ray_backend.wait(store, state.run_id, timeout=TIMEOUT)
    twin_final = ray_backend.wait(twin, state.run_id, timeout=TIMEOUT)
    assert final.status == twin_final.status == RunStatus.DONE
    attempts = ray_backend.attempts(store, state.run_id)
    assert len(attempts) == 2 and attempts[1][1] != pid and attempts[1][3] >= 1  # resumed after a finished epoch
    h, t = store.history(state.run_id), twin.history(state.run_id)
    assert list(h.epochs.epoch) == list(range(1, 9)) and list(h.steps.step) == list(range(8 * 8))
    # resuming from the checkpoint continues the same training: the curve is the uninterrupted run's
    assert list(h.epochs.train_loss) == pytest.approx(list(t.epochs.train_loss), rel=1e-6)
    assert final.record.metrics["test_acc"] == pytest.approx(twin_final.record.metrics["test_acc"])
    assert store.weights_path(state.run_id).exists()


def test_two_submissions_of_one_config_train_it_once(tmp_path, ray_backend):
    config = RunConfig(depth=8, shortcut="none", seed=3, **TINY)
    store = RunStore(tmp_path / "s")
    other = RayBackend("auto")  # e.g. a second process owning the same store
    try:
        first = ray_backend.submit(store, config, "tab-1")
        second = other.submit(store, config, "tab-2")
        assert first.run_id == second.run_id and second.live
        assert ray_backend.wait(store, first.run_id, timeout=TIMEOUT).status == RunStatus.DONE

        def trained():
            return len(ray_backend.attempts(store, first.run_id)) + len(other.attempts(store, first.run_id))

        assert trained() == 1
        again = other.submit(store, config, "tab-3")  # a stored run is answered from the store
        assert again.status == RunStatus.DONE
        time.sleep(1)
        assert trained() == 1 and len(store.list()) == 1
    finally:
        other.shutdown()


def test_cancel_reaches_the_ray_worker(tmp_path, ray_backend):
    config = RunConfig(depth=8, shortcut="A", seed=5, **{**TINY, "epochs": 30})
    store = RunStore(tmp_path / "s")
    state = ray_backend.submit(store, config)
    wait_for(lambda: store.last_step(state.run_id) >= 0)
    assert store.cancel(state.run_id) == RunStatus.RUNNING  # through the store only, as another process would
    final = ray_backend.wait(store, state.run_id, timeout=TIMEOUT)
    assert final.status == RunStatus.CANCELLED and final.record.epochs_done < 30
    assert not store.weights_path(state.run_id).exists()


def test_a_run_asking_for_more_gpus_than_the_cluster_has_fails_with_the_reason(tmp_path, ray_backend):
    store = RunStore(tmp_path / "s")
    state = ray_backend.submit(store, RunConfig(depth=8, num_gpus=1, **{**TINY, "device": "auto"}))
    final = ray_backend.wait(store, state.run_id, timeout=TIMEOUT)
    assert final.status == RunStatus.FAILED and "asks for 1 GPUs and the Ray cluster has 0" in final.record.message


def test_the_train_page_trains_on_ray_unchanged(tmp_path, ray_backend, monkeypatch):
    """The Train page's own Start button, with the Ray backend in place of the local workers."""
    from streamlit.testing.v1 import AppTest

    from dashboard import keys
    from dashboard.common import FOCUS_RUN_KEY

    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path))
    old = jobs.use(ray_backend)
    try:
        at = AppTest.from_file(
            str(Path(__file__).resolve().parents[1] / "dashboard" / "Home.py"), default_timeout=TIMEOUT
        ).run()
        at.switch_page("../pages/1_Train.py").run()
        at.selectbox(key=keys.DEPTH).select("other (6n+2)").run()
        at.number_input(key=keys.BLOCKS).set_value(1)
        at.number_input(key=keys.TRAIN_IMAGES["builtin"]).set_value(256)
        at.number_input(key=keys.TEST_IMAGES["builtin"]).set_value(200)
        at.number_input(key=keys.EPOCHS).set_value(1).run()
        at.button(key="train_start").click().run()
        assert not at.exception, [e.value for e in at.exception]
        store, run_id = RunStore(tmp_path), at.session_state[FOCUS_RUN_KEY]
        assert jobs.state(store, run_id).status in ("queued", "running")
        assert jobs.wait(store, run_id, timeout=TIMEOUT).status == "done"
        assert len(ray_backend.attempts(store, run_id)) == 1  # trained by a Ray task, not a local worker
        at.run()
        assert not at.exception and not at.error
        assert any("finished" in s.value and "ResNet-8 (A)" in s.value for s in at.success)
        titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
        assert "Training loss per step (mini-batch)" in titles
    finally:
        jobs.use(old)
