"""The Train page in Streamlit's AppTest: the advanced settings (validated with the field named, in the URL,
in the label only when changed), a ?run=<id> link, what training a shipped run again does, the chart
settings, and "train the missing N" following the runs it queued."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runs import jobs
from core.runs.store import RunStore
from dashboard import keys, training
from dashboard.common import FOCUS_RUN_KEY

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "pages" / "1_Train.py"
TIMEOUT = 300  # a shared CPU can be slow


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("train_advanced_home")


@pytest.fixture
def home(shared_home, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(shared_home))
    monkeypatch.delenv("RESNET_LAB_DATA", raising=False)
    monkeypatch.delenv("RESNET_LAB_TEACHER_PASSPHRASE", raising=False)
    return shared_home


def train_page(run: str | None = None) -> AppTest:
    at = AppTest.from_file(str(TRAIN), default_timeout=TIMEOUT)
    if run:
        at.query_params[training.RUN_PARAM] = run
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def new_config_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("New configuration"))


def test_advanced_settings_are_validated_with_the_field_named_and_change_the_label(home):
    at = train_page()
    assert any("differ from the recipe: batch 16, cosine decay, crop + flip" in c.value for c in at.caption)
    at.text_input(key=keys.LR).input("fast").run()
    assert any("**lr**" in e.value and "'fast'" in e.value for e in at.error)
    at.text_input(key=keys.LR).input("50").run()
    assert any("**lr**" in e.value and "(0, 10]" in e.value for e in at.error)
    at.text_input(key=keys.LR).input("0.001").run()  # the recipe's own: not in the label
    assert not at.error
    at.number_input(key=keys.EPOCHS).set_value(3).run()
    assert "lr" not in new_config_caption(at).split(" · ")[1]
    at.text_input(key=keys.LR).input("3e-4").run()
    at.number_input(key=keys.WARMUP).set_value(40).run()
    at.selectbox(key=keys.SCHEDULE).select("constant").run()
    caption = new_config_caption(at)
    assert "lr 0.0003" in caption and "warm-up 40 steps" in caption and "cosine" not in caption
    assert "constant" not in caption  # the seed recipe's own schedule
    for widget in (at.text_input(key=keys.LR), at.number_input(key=keys.WARMUP), at.selectbox(key=keys.SCHEDULE)):
        assert widget.proto.query_param_key == widget.key  # kept in the address: a lesson link restores it


def test_a_link_opens_its_run_and_a_shipped_run_says_who_may_train_it_again(home):
    store = RunStore(home)
    shipped = [r for r in store.list() if r.reference]
    assert shipped, "the shipped reference runs are installed on first open"
    at = train_page(run=shipped[-1].run_id)
    assert at.session_state[FOCUS_RUN_KEY] == shipped[-1].run_id
    assert at.selectbox(key="train_view").value == shipped[-1].run_id
    # The page's defaults are a shipped run: training it again is the teacher's, and the page says why.
    assert at.checkbox(key="train_restart").disabled
    assert any("only the teacher can train it again" in c.value for c in at.caption)
    missing = train_page(run="0123456789ab")
    assert any("0123456789ab" in w.value for w in missing.warning)


def test_chart_settings_smooth_and_fix_the_axis_and_captions_follow(home):
    at = train_page()
    at.slider(key=keys.SMOOTHING).set_value(0.9)
    at.toggle(key=keys.FULL_PERCENT).set_value(True).run()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert "Learning rate per step" in titles
    accuracy = specs[titles.index("Training accuracy per step (mini-batch)")]
    assert accuracy["layout"]["yaxis"]["range"] == [0, 100]
    assert any("smoothing 0.90" in c.value for c in at.caption)
    at.radio(key=keys.OVERLAY_X).set_value("step").run()
    captions = [c.value for c in at.caption]
    assert any("No test curve in this view" in c for c in captions)


def test_train_the_missing_follows_the_runs_it_queued(home):
    store = RunStore(home)
    at = train_page()
    at.number_input(key=keys.TRAIN_IMAGES["builtin"]).set_value(100)
    at.number_input(key=keys.EPOCHS).set_value(1).run()
    button = at.button(key="train_fig6_train")
    assert button.label == "Train the missing 4 of them in the background"
    button.click().run()
    try:
        started = at.session_state["train_started_ids"]
        assert len(started) == 2  # a student may have two runs waiting: the rest are refused, and the page says so
        assert any(
            "Queued 2 of the 4 missing runs" in w.value and "press the button again" in w.value for w in at.warning
        )
        assert any("The runs this tab queued" in m.value for m in at.markdown)
        assert set(started) <= set(at.session_state[keys.OVERLAY])
    finally:
        for run_id in at.session_state["train_started_ids"]:
            jobs.cancel(store, run_id)
