"""How live views poll, decided on data (no Streamlit here): the pace of a view for a run's state and the polls
that found nothing new, the fingerprint that says whether anything changed, and one snapshot of every run's state
that all polling tabs of a server share.

A class of 30-60 tabs on one small server: each tab that watches a run reruns a fragment every few seconds. What a
rerun costs the server is Streamlit's own bookkeeping plus whatever the page reads; here a rerun that finds its run
unchanged reads nothing at all (the shared snapshot answers it), and tabs whose run cannot change soon poll slowly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.runs.backends import RunState
from core.runs.lifecycle import is_queued, is_running
from core.runs.store import RunRecord

FAST_POLL_S = 2.0  # a run that trains and keeps writing rows: its curves grow
SLOW_POLL_S = 5.0  # a training run that has written nothing for QUIET_POLLS polls
QUEUE_POLL_S = 12.0  # a run waiting in the queue: its place changes only when a run ends
IDLE_POLL_S = 30.0  # nothing has changed for a long while (a forgotten tab, a stalled run)
QUIET_POLLS = 3  # polls without new rows before a training run's view slows to SLOW_POLL_S
IDLE_POLLS = 25  # polls without any change before a view slows to IDLE_POLL_S (5 min in the queue, 2 min training)
SNAPSHOT_MAX_AGE_S = 1.0  # polling tabs share one read of the store's runs, at most this old
SNAPSHOT_LIVENESS_S = 10.0  # ...re-read this often even when the store did not change (a dead worker's run)


def poll_interval(state: RunState, unchanged_polls: int) -> float | None:
    """Seconds between refreshes of a live view; None (no polling) once the run has ended.

    Training: every FAST_POLL_S while its rows keep coming, SLOW_POLL_S after QUIET_POLLS polls without any.
    Queued: every QUEUE_POLL_S (its place moves only when a run ends), FAST_POLL_S when it is the next to start.
    Either: IDLE_POLL_S once IDLE_POLLS polls in a row found nothing new (Streamlit cannot see whether a tab is
    hidden; a tab nobody looks at ends up here)."""
    if not state.live:
        return None
    if unchanged_polls >= IDLE_POLLS:
        return IDLE_POLL_S
    if is_running(state.record):
        return FAST_POLL_S if unchanged_polls < QUIET_POLLS else SLOW_POLL_S
    if state.place == 1:  # next to start: its tab sees it start within FAST_POLL_S (one tab in the class polls so)
        return FAST_POLL_S
    return QUEUE_POLL_S


def group_interval(states: Iterable[RunState]) -> float | None:
    """The pace of a view of several runs (an overlay, a list of queued runs): SLOW_POLL_S while one of them trains,
    QUEUE_POLL_S while they only wait, None once none is live."""
    live = [s for s in states if s.live]
    if not live:
        return None
    return SLOW_POLL_S if any(is_running(s.record) for s in live) else QUEUE_POLL_S


def fingerprint(state: RunState) -> tuple:
    """What a live view compares between polls: the run's last write and status (as ``RunStore.version(run_id)``).
    Its place in the queue is left out on purpose: it is redrawn at every poll, but a place that moves (every
    time any run ends, for every waiting tab at once) must not set every tab back to its faster pace."""
    record = state.record
    return (record.updated, str(record.status)) if record is not None else ()


def content_version(state: RunState) -> tuple:
    """What a run's facts and figures are cached by. A training run writes rows several times a second, so its
    version would change at every poll of every tab: its figures are rebuilt at most once per FAST_POLL_S for all
    the tabs watching it (building them costs far more than drawing them), any other run's once per change."""
    record = state.record
    if not is_running(record):
        return fingerprint(state)
    return (int(record.updated // FAST_POLL_S), str(record.status))


def count_unchanged(previous: tuple | None, current: tuple) -> tuple:
    """(the fingerprint, how many polls in a row found it unchanged), after one more poll."""
    last, polls = previous or (None, 0)
    return current, polls + 1 if last == current else 0


def queue_places(records: Iterable[RunRecord]) -> dict[str, int]:
    """1 for the queued run a worker takes next, 2 for the one after, ... (``RunStore.queue_place``'s order)."""
    queued = sorted((r for r in records if is_queued(r)), key=lambda r: (r.queued or 0.0, r.run_id))
    return {r.run_id: i for i, r in enumerate(queued, 1)}


def run_states(records: Iterable[RunRecord]) -> dict[str, RunState]:
    """Every run's state, as the job backends answer it for one run (``StoreQueue.state``), from one listing."""
    records = list(records)
    places = queue_places(records)
    return {r.run_id: RunState(r.run_id, r.status, r, places.get(r.run_id)) for r in records}


@dataclass(frozen=True)
class Snapshot:
    version: tuple  # the store's version when it was read
    taken: float  # when it was read (the snapshot's clock)
    states: dict[str, RunState] = field(default_factory=dict)

    def state(self, run_id: str) -> RunState | None:
        return self.states.get(run_id)


class SharedSnapshot:
    """Every run's state, shared by all the tabs of a server. A tab asking for it costs nothing when it was
    checked less than ``max_age`` seconds ago; otherwise the store's version is read (one small query) and the
    runs are read again only if it changed, or every ``liveness`` seconds (a worker that died changes no row).

    ``on_queued`` is called with the queued run ids at each check that finds some: the job backend's own check that
    a worker serves the queue, which a page's poll used to make for its run."""

    def __init__(
        self,
        read_version: Callable[[], tuple],
        read_records: Callable[[], list[RunRecord]],
        *,
        on_queued: Callable[[list[str]], object] | None = None,
        max_age: float = SNAPSHOT_MAX_AGE_S,
        liveness: float = SNAPSHOT_LIVENESS_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.read_version, self.read_records, self.on_queued = read_version, read_records, on_queued
        self.max_age, self.liveness, self.clock = max_age, liveness, clock
        self._lock = threading.Lock()
        self._current: Snapshot | None = None
        self._checked = float("-inf")

    def get(self, newer_than: float | None = None) -> Snapshot:
        """The snapshot, checked against the store if it is older than ``max_age`` (or than ``newer_than``, on the
        snapshot's clock: a tab that has just read the store itself never goes back to an older view)."""
        with self._lock:  # one tab checks, the others wait for its answer instead of reading too
            now = self.clock()
            fresh_enough = now - self._checked < self.max_age and (newer_than is None or self._checked >= newer_than)
            if self._current is not None and fresh_enough:
                return self._current
            version = self.read_version()
            current = self._current
            if current is None or version != current.version or now - current.taken >= self.liveness:
                current = self._current = Snapshot(version, now, run_states(self.read_records()))
            self._checked = now
            queued = [i for i, s in current.states.items() if is_queued(s.record)]
        if queued and self.on_queued is not None:
            self.on_queued(queued)
        return current
