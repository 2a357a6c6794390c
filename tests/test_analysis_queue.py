"""The analysis queue: lesion studies and landscapes as jobs computed by workers, once per question
(core.analysis.queue, the store's analyses table, dashboard.analysis_jobs)."""

import json
import multiprocessing
import os
import threading
import time

import pytest
from conftest import tiny_config

from core.analysis import inside, landscape, queue
from core.runs.lifecycle import RunStatus
from core.runs.store import RunStore
from dashboard.analysis_jobs import job_view

SLICE = dict(kind="1d", steps=5, batch=16)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A store holding one tiny trained ResNet; each test asks for other settings, so none sees another's result."""
    from core.runs.execute import train

    root = tmp_path_factory.mktemp("analysis_queue")
    record = train(tiny_config(shortcut="A", probe_every=0), RunStore(root)).record
    return root, record.run_id


@pytest.fixture
def no_spawn(monkeypatch):
    """Workers are driven by the test itself (``take_one``), not started as processes."""
    monkeypatch.setattr(queue, "ensure_worker", lambda store: None)


def quiet(*args, **kwargs):
    pass


def drain(store):
    while queue.take_one(store, log=quiet) is not None:
        pass


def test_five_sessions_asking_for_one_landscape_make_one_job_and_one_computation(trained, no_spawn, monkeypatch):
    root, run_id = trained
    computed = []
    real = landscape.compute
    monkeypatch.setattr(landscape, "compute", lambda *a, **k: computed.append(1) or real(*a, **k))
    sessions = [RunStore(root) for _ in range(5)]
    start, asked = threading.Barrier(5), []

    def ask(store):
        start.wait()
        asked.append(queue.request(store, store.get(run_id), "landscape", SLICE, requester=f"s{id(store)}"))

    threads = [threading.Thread(target=ask, args=(s,)) for s in sessions]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert len(asked) == 5 and len({j.key for j in asked}) == 1
    assert {j.status for j in asked} == {RunStatus.QUEUED} and len(sessions[0].analyses()) == 1
    workers = [threading.Thread(target=drain, args=(RunStore(root),)) for _ in range(2)]  # two workers race for it
    [w.start() for w in workers]
    [w.join(60) for w in workers]
    assert computed == [1]
    results = []
    for store in sessions:
        job, place = queue.state(store, asked[0].key)
        assert job.status == RunStatus.DONE and job.progress == 1.0 and place is None
        results.append(queue.load_result(store, job))
    assert all(r is not None and r.loss == results[0].loss and len(r.loss) == 5 for r in results)
    again = queue.request(sessions[1], sessions[1].get(run_id), "landscape", SLICE)  # a later viewer: no new job
    assert again.status == RunStatus.DONE and len(sessions[0].analyses()) == 1


def test_the_command_line_reads_the_result_a_worker_computed(trained, no_spawn, capsys):
    from core.cli import run

    root, run_id = trained
    store = RunStore(root)
    params = dict(kind="1d", steps=7, batch=16, span=0.5)
    job = queue.request(store, store.get(run_id), "landscape", params)
    drain(store)
    computed = queue.load_result(store, store.analysis(job.key))
    run(["landscape", run_id, "--grid", "7", "--batch", "16", "--span", "0.5", "--json", "--store", str(root)])
    out = json.loads(capsys.readouterr().out)
    assert out["cached"] is True and out["loss"] == computed.loss


def test_the_command_line_lists_and_cancels_analyses(trained, no_spawn, capsys):
    from core.cli import run

    root, run_id = trained
    store = RunStore(root)
    job = queue.request(store, store.get(run_id), "lesion", dict(images=20, k_images=0, draws=1), requester="tab")
    run(["queue", "--json", "--store", str(root)])
    listed = json.loads(capsys.readouterr().out)["analyses"]
    assert [(a["key"], a["place"], a["status"]) for a in listed] == [(job.key, 1, "queued")]
    assert listed[0]["state"].startswith("queued: 1st")
    run(["cancel", job.key, "--store", str(root)])
    assert store.analysis(job.key).status == RunStatus.CANCELLED


def test_a_waiting_job_and_a_running_job_can_be_cancelled(trained, no_spawn, monkeypatch):
    root, run_id = trained
    store = RunStore(root)
    waiting = queue.request(store, store.get(run_id), "lesion", dict(images=40, k_images=0, draws=1))
    assert queue.cancel(RunStore(root), waiting.key)
    assert store.analysis(waiting.key).status == RunStatus.CANCELLED and queue.take_one(store, log=quiet) is None

    def endless(model, images, labels, dirs, coords, progress=None):  # a grid that never ends unless stopped
        for i in range(10**6):
            progress(i, 10**6)
            time.sleep(0.01)

    monkeypatch.setattr(landscape, "evaluate_grid", endless)
    monkeypatch.setattr(queue, "BEAT_S", 0.0)
    running = queue.request(store, store.get(run_id), "landscape", dict(kind="1d", steps=9, batch=16))
    worker = threading.Thread(target=queue.take_one, args=(RunStore(root), quiet))
    worker.start()
    deadline = time.monotonic() + 20
    while store.analysis(running.key).progress == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.analysis(running.key).status == RunStatus.RUNNING
    assert queue.cancel(RunStore(root), running.key)
    worker.join(20)
    ended = store.analysis(running.key)
    assert not worker.is_alive() and ended.status == RunStatus.CANCELLED and "being computed" in ended.message
    assert not (root / running.key).exists()
    assert queue.request(store, store.get(run_id), "landscape", dict(kind="1d", steps=9, batch=16)).status == (
        RunStatus.QUEUED
    )  # asked again, it waits for a worker again
    assert queue.cancel(store, running.key)


def test_a_failing_job_ends_failed_with_its_reason(trained, no_spawn):
    root, run_id = trained
    store = RunStore(root)
    job = queue.request(store, store.get(run_id), "lesion", dict(images=30, k_images=0, draws=1))
    weights = store.weights_path(run_id)
    good = weights.read_bytes()
    try:
        weights.write_bytes(b"not a safetensors file")
        ended = queue.take_one(store, log=quiet)
    finally:
        store.save_file_bytes(weights, good)
    assert ended.key == job.key and ended.status == RunStatus.FAILED
    assert "StoreError" in ended.message and "unreadable" in ended.message
    view = job_view(ended)
    assert view.show == "failed" and "unreadable" in view.text and view.can_request and not view.live


def _claim_and_die(root):
    RunStore(root).claim_next_analysis()
    os._exit(0)


def test_a_dead_workers_job_is_taken_over(trained, no_spawn):
    root, run_id = trained
    store = RunStore(root)
    job = queue.request(store, store.get(run_id), "landscape", dict(kind="1d", steps=3, batch=16))
    child = multiprocessing.get_context("fork").Process(target=_claim_and_die, args=(str(root),))
    child.start()
    child.join(20)
    waiting, place = queue.state(store, job.key)
    assert waiting.status == RunStatus.QUEUED and "worker stopped" in waiting.message and place == 1
    assert queue.take_one(store, log=quiet).status == RunStatus.DONE


def test_a_job_that_kills_every_worker_that_takes_it_fails_after_a_few_tries(trained, no_spawn):
    """Out of memory or a crash kills the worker: the job is taken over, but only ANALYSIS_MAX_ATTEMPTS times in all,
    then it ends failed with why, nobody waits forever, and asking again starts the count afresh."""
    from core.runs.lifecycle import ANALYSIS_MAX_ATTEMPTS

    root, run_id = trained
    store = RunStore(root)
    params = dict(kind="1d", steps=3, batch=8)
    job = queue.request(store, store.get(run_id), "landscape", params)
    for attempt in range(ANALYSIS_MAX_ATTEMPTS):
        assert queue.state(store, job.key)[0].status == RunStatus.QUEUED, attempt
        child = multiprocessing.get_context("fork").Process(target=_claim_and_die, args=(str(root),))
        child.start()
        child.join(20)
    failed, place = queue.state(store, job.key)
    assert failed.status == RunStatus.FAILED and place is None
    assert f"stopped {ANALYSIS_MAX_ATTEMPTS} times" in failed.message and "ask for it again" in failed.message
    assert not store.has_queued_analysis() and store.claim_next_analysis() is None
    again = queue.request(store, store.get(run_id), "landscape", params)
    assert again.status == RunStatus.QUEUED and queue.take_one(store, log=quiet).status == RunStatus.DONE


def test_one_browser_may_have_only_so_many_analyses_waiting(trained, no_spawn):
    from core.runs.store import QueueFull

    root, run_id = trained
    store = RunStore(root)
    record = store.get(run_id)
    slices = [dict(kind="1d", steps=s, batch=4) for s in (3, 5, 7, 9)]
    for params in slices[:2]:
        assert queue.request(store, record, "landscape", params, "alice", limit=2).status == RunStatus.QUEUED
    with pytest.raises(QueueFull, match="you already have 2 analyses waiting"):
        queue.request(store, record, "landscape", slices[2], "alice", limit=2)
    bobs = queue.request(store, record, "landscape", slices[3], "bob", limit=2)
    assert queue.request(store, record, "landscape", slices[3], "alice", limit=2).key == bobs.key  # joining is free
    assert queue.request(store, record, "landscape", slices[2], "teacher", limit=None).status == RunStatus.QUEUED
    assert sum(j.requester == "alice" for j in store.analyses()) == 2
    for job in store.analyses():
        queue.cancel(store, job.key)


def test_requests_beyond_the_limits_are_refused(trained, no_spawn):
    root, run_id = trained
    store = RunStore(root)
    record = store.get(run_id)
    for kind, params, match in [
        ("landscape", dict(kind="2d", steps=101), "steps must be an integer from 3 to 41"),
        ("landscape", dict(batch=4096), "batch must be"),
        ("lesion", dict(images=50_000), "images must be"),
        ("lesion", dict(pixels=3), "unknown settings"),
        ("attribution", {}, "one of lesion, landscape"),
    ]:
        with pytest.raises(queue.AnalysisLimit, match=match):
            queue.request(store, record, kind, params)
    assert store.analyses() == [] or all(j.status != RunStatus.QUEUED for j in store.analyses())


def test_the_key_names_kind_settings_run_and_weights(trained):
    root, run_id = trained
    store = RunStore(root)
    record = store.get(run_id)
    key = queue.job_key(store, record, "landscape", dict(kind="2d", steps=11, span=1, batch=128))
    digest = store.weights_digest(run_id)
    assert key == f"landscapes/{run_id}-w{digest}-2d-seed0-grid11-span1-batch128.json"
    assert key == queue.job_key(store, record, "landscape", dict(batch=128, kind="2d", steps=11, span=1.0))
    assert inside.cache_key(store, record) == f"{run_id}-w{digest}"


@pytest.mark.slow  # a worker process: PyTorch imported a second time
def test_a_worker_process_computes_a_requested_analysis_and_leaves_when_idle(trained):
    from core.runs import jobs
    from core.runs.backends import LocalWorkers

    root, run_id = trained
    store = RunStore(root)
    backend = LocalWorkers(workers=1, idle_exit_s=1)
    old = jobs.use(backend)
    try:
        job = queue.request(store, store.get(run_id), "landscape", dict(kind="2d", steps=3, batch=8))
        assert len(store.live_workers()) == 1  # the request started a worker
        deadline = time.monotonic() + 60
        while queue.state(store, job.key)[0].status != RunStatus.DONE and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.analysis(job.key).status == RunStatus.DONE and (root / job.key).is_file()
        for process in backend._children:
            process.wait(timeout=60)
    finally:
        jobs.use(old)
    from core.runs.logs import log_dir

    assert f"computing {job.key}" in (log_dir(root) / "worker.log").read_text() and not store.live_workers()
