"""How live views poll, on data: the pace for each state and run of unchanged polls, what counts as a change,
queue places from one listing, and the snapshot every polling tab shares (reads only when the store changed)."""

from core.engine.config import RunConfig
from core.runs.backends import RunState
from core.runs.lifecycle import RunStatus
from core.runs.store import RunRecord, RunStore
from dashboard import live as L


def record(seed: int, status: RunStatus, updated: float = 1.0, queued: float | None = None) -> RunRecord:
    config = RunConfig(depth=8, subset=100, seed=seed)
    return RunRecord(config.run_id, config, status, updated=updated, queued=queued)


def state(r: RunRecord, place=None) -> RunState:
    return RunState(r.run_id, r.status, r, place)


def test_each_state_polls_at_its_pace_and_backs_off_when_nothing_changes():
    training, waiting = state(record(0, RunStatus.RUNNING)), state(record(1, RunStatus.QUEUED), 4)
    paces = [L.poll_interval(training, n) for n in (0, L.QUIET_POLLS - 1, L.QUIET_POLLS, L.IDLE_POLLS)]
    assert paces == [L.FAST_POLL_S, L.FAST_POLL_S, L.SLOW_POLL_S, L.IDLE_POLL_S]
    assert [L.poll_interval(waiting, n) for n in (0, L.IDLE_POLLS - 1, L.IDLE_POLLS)] == [
        L.QUEUE_POLL_S,
        L.QUEUE_POLL_S,
        L.IDLE_POLL_S,
    ]
    assert L.poll_interval(state(record(2, RunStatus.QUEUED), 1), 0) == L.FAST_POLL_S  # next to start
    assert L.FAST_POLL_S < L.SLOW_POLL_S < L.QUEUE_POLL_S < L.IDLE_POLL_S
    for ended in (RunStatus.DONE, RunStatus.CANCELLED, RunStatus.FAILED):
        assert L.poll_interval(state(record(2, ended)), 0) is None
    assert L.poll_interval(RunState("a" * 12, None, None), 0) is None  # deleted: no polling


def test_a_view_of_several_runs_polls_slowly_while_they_only_wait():
    running, queued, done = (state(record(i, s)) for i, s in enumerate((RunStatus.RUNNING, RunStatus.QUEUED, "done")))
    assert L.group_interval([queued, done]) == L.QUEUE_POLL_S
    assert L.group_interval([queued, running]) == L.SLOW_POLL_S
    assert L.group_interval([done]) is None and L.group_interval([]) is None


def test_new_rows_or_a_new_status_are_a_change_and_a_moving_queue_place_is_not():
    r = record(0, RunStatus.QUEUED, updated=5.0)
    assert L.fingerprint(state(r, 3)) == L.fingerprint(state(r, 2))
    assert L.fingerprint(state(record(0, RunStatus.RUNNING, updated=5.0))) != L.fingerprint(state(r))
    assert L.fingerprint(state(record(0, RunStatus.QUEUED, updated=6.0))) != L.fingerprint(state(r))
    assert L.fingerprint(RunState("a" * 12, None, None)) == ()
    polls = None
    for version in ["v1", "v1", "v1", "v2"]:
        polls = L.count_unchanged(polls, version)
    assert polls == ("v2", 0) and L.count_unchanged(("v2", 4), "v2") == ("v2", 5)


def test_a_training_runs_figures_are_rebuilt_at_most_once_per_fast_poll_for_every_tab():
    def at(updated, status=RunStatus.RUNNING):
        return L.content_version(state(record(0, status, updated=updated)))

    assert at(100.1) == at(100.1 + L.FAST_POLL_S * 0.9) != at(100.1 + L.FAST_POLL_S)
    assert at(100.1, RunStatus.DONE) != at(100.2, RunStatus.DONE)  # a finished run: by its exact version
    assert at(100.1) != at(100.1, RunStatus.DONE)


def test_queue_places_follow_the_order_the_workers_take_runs():
    records = [
        record(0, RunStatus.QUEUED, queued=20.0),
        record(1, RunStatus.RUNNING),
        record(2, RunStatus.QUEUED, queued=10.0),
        record(3, RunStatus.DONE),
    ]
    states = L.run_states(records)
    assert [states[r.run_id].place for r in records] == [2, None, 1, None]
    assert states[records[1].run_id].live and not states[records[3].run_id].live


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_shared_snapshot_reads_the_runs_only_when_the_store_changed_or_now_and_then():
    clock, reads, checks, asked = Clock(), [], [], []
    runs = {"version": (1,), "records": [record(0, RunStatus.QUEUED, queued=1.0)]}

    def read_version():
        checks.append(clock.now)
        return runs["version"]

    def read_records():
        reads.append(clock.now)
        return runs["records"]

    shared = L.SharedSnapshot(
        read_version, read_records, on_queued=asked.append, max_age=1.0, liveness=10.0, clock=clock
    )
    first = shared.get()
    assert first.state(runs["records"][0].run_id).place == 1 and len(reads) == 1
    for _ in range(30):  # 30 tabs polling within the same second: one check, one read
        assert shared.get() is first
    assert len(checks) == 1 and asked == [[runs["records"][0].run_id]]
    clock.now += 1.5  # older than max_age, store unchanged: checked, not read
    assert shared.get() is first and len(checks) == 2 and len(reads) == 1
    runs["version"], runs["records"] = (2,), [record(0, RunStatus.RUNNING)]
    assert shared.get() is first  # within max_age of the last check: not even checked
    clock.now += 1.5
    second = shared.get()
    assert second.state(runs["records"][0].run_id).status == RunStatus.RUNNING and len(reads) == 2
    clock.now += 0.2
    assert shared.get(newer_than=clock.now - 0.1) is second and len(checks) == 4  # a tab that just read: checked
    clock.now += 10.5  # liveness: read again though nothing changed (a worker may have died)
    assert shared.get() is not second and len(reads) == 3
    assert second.state("f" * 12) is None


def test_the_shared_snapshot_answers_as_the_job_backend_does(tmp_path):
    store = RunStore(tmp_path)
    first, second = RunConfig(depth=8, subset=100, seed=1), RunConfig(depth=8, subset=100, seed=2)
    store.request(first, "a")
    store.request(second, "b")
    store.claim(first)
    shared = L.SharedSnapshot(store.version, lambda: store.scan().records)
    states = shared.get().states
    assert states[first.run_id].status == RunStatus.RUNNING and states[first.run_id].place is None
    assert states[second.run_id].place == store.queue_place(second.run_id) == 1
    assert L.fingerprint(states[second.run_id]) == tuple(store.version(second.run_id))
