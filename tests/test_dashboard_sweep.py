"""The Train page's sweep panel: its helpers on data, and the panel in AppTest (runs queued, never trained here)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runs import jobs
from core.runs.backends import RunState, StoreQueue
from core.runs.lifecycle import RunStatus
from core.runs.reference import SHAPES10_LESSON as LESSON
from core.runs.store import RunRecord, RunStore
from dashboard import keys, sweep_panel
from dashboard.common import DEFAULT_QUEUE_LIMIT, QUEUE_LIMIT_SETTING

HOME = Path(__file__).resolve().parents[1] / "dashboard" / "Home.py"
TRAIN = "../pages/1_Train.py"


def test_fig6_with_three_seeds_is_24_lesson_runs():
    configs = sweep_panel.sweep_configs("fig6", 3, "builtin")
    assert len(configs) == 24 and len({c.run_id for c in configs}) == 24
    assert {(c.shortcut, c.depth) for c in configs} == {(s, d) for s in ("none", "A") for d in (20, 32, 44, 56)}
    assert {c.seed for c in configs} == {0, 1, 2}
    assert all(
        c.recipe == LESSON["recipe"] and c.epochs == LESSON["epochs"] and c.subset == LESSON["subset"] for c in configs
    )


def test_rows_and_summary_say_what_the_states_hold():
    a, b, c = sweep_panel.sweep_configs("fig6_ends", 1, "builtin")[:3]
    done = RunRecord(a.run_id, a, RunStatus.DONE, epochs_done=8, metrics={"test_acc": 0.75})
    running = RunRecord(b.run_id, b, RunStatus.RUNNING, epochs_done=2)
    states = [
        RunState(a.run_id, RunStatus.DONE, done),
        RunState(b.run_id, RunStatus.RUNNING, running),
        RunState(c.run_id, None, None),
    ]
    rows = sweep_panel.sweep_rows([a, b, c], states)
    assert [r["state"] for r in rows] == ["done: test error 25.0%", "training: epoch 3/8", "not trained yet"]
    assert [r["test error (%)"] for r in rows] == [25.0, None, None]
    assert [r["epochs"] for r in rows] == ["8/8", "2/8", "0/8"]
    assert sweep_panel.sweep_summary(states) == "3 runs: 1 done, 1 training, 1 not trained yet"


class QueueOnly(StoreQueue):
    """Queues runs in the store and starts nothing (the panel's job ends at the queue)."""

    def ensure(self, store):
        pass

    def submit(self, store, config, requester="", *, restart=False, limit=None, teacher=False):
        return self.state(store, store.request(config, requester, restart=restart, limit=limit, teacher=teacher).run_id)


@pytest.fixture
def queue_only(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path))
    old = jobs.use(QueueOnly())
    yield RunStore(tmp_path)
    jobs.use(old)


def test_panel_shows_the_shipped_runs_and_queues_only_the_missing_seeds(queue_only):
    at = AppTest.from_file(str(HOME), default_timeout=180).run()
    at.switch_page(TRAIN).run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key=keys.SWEEP_PRESET).set_value("fig6_ends")
    at.number_input(key=keys.SWEEP_SEEDS).set_value(4)
    at.run()
    # seeds 0-2 of these four networks are shipped: 12 done; seed 3 of each is not stored
    assert any("16 runs: 12 done, 4 not trained yet" in m.value for m in at.markdown)
    at.button(key=keys.SWEEP_START).click().run()
    assert not at.exception, [e.value for e in at.exception]
    # a student may have DEFAULT_QUEUE_LIMIT runs waiting: the rest are refused, with the reason
    assert any(
        f"16 runs: 12 done, {DEFAULT_QUEUE_LIMIT} queued, {4 - DEFAULT_QUEUE_LIMIT} not trained yet" in m.value
        for m in at.markdown
    )
    assert any("the limit is" in w.value for w in at.warning)
    queue_only.set_setting(QUEUE_LIMIT_SETTING, 10)  # a teacher raises the limit; starting again queues the rest
    at.button(key=keys.SWEEP_START).click().run()
    assert any("16 runs: 12 done, 4 queued" in m.value for m in at.markdown)
    queued = queue_only.queue()
    assert sorted((r.config.shortcut, r.config.depth, r.config.seed) for r in queued) == [
        ("A", 20, 3),
        ("A", 56, 3),
        ("none", 20, 3),
        ("none", 56, 3),
    ]
    table = at.dataframe[-1].value
    assert list(table["state"]).count("queued: 1st") == 1 and table["state"].str.startswith("done").sum() == 12
