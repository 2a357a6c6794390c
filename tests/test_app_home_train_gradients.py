"""The Home, Train and Gradients pages in Streamlit's AppTest: they render, their widgets exist, and a
tiny run started from the Train page trains in the background and shows up in the charts."""

import json
import threading
from pathlib import Path

import pytest
from conftest import tiny_config
from streamlit.testing.v1 import AppTest

from core.engine.config import RunConfig
from core.runs import jobs
from core.runs.execute import train
from core.runs.store import RunStore
from dashboard import keys
from dashboard.common import FOCUS_RUN_KEY

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "dashboard" / "Home.py"
TRAIN, GRADIENTS = "../pages/1_Train.py", "../pages/2_Gradients.py"  # relative to Home.py, as switch_page wants
TIMEOUT = 180  # a shared CPU can be slow; the pages themselves are quick


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One store for the module, so the built-in data set is generated once."""
    return tmp_path_factory.mktemp("resnet_lab_home")


@pytest.fixture
def home(shared_home, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(shared_home))
    monkeypatch.delenv("RESNET_LAB_DATA", raising=False)
    return shared_home


@pytest.fixture(scope="module")
def probed_pair(shared_home):
    """A plain-8 and a ResNet-8 trained for two epochs with probes, straight through core."""
    store = RunStore(shared_home)
    return [train(tiny_config(shortcut=s, epochs=2), store).record for s in ("none", "A")]


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_titles(at: AppTest) -> list[str]:
    return [c["layout"].get("title", {}).get("text", "") for c in charts(at)]


def test_home_renders_concepts_machine_and_lesson(home):
    at = open_page()
    assert at.title[0].value == "ResNet Lab"
    titles = chart_titles(at)
    assert any("Plain block vs residual block" in t for t in titles)
    assert any("CIFAR-10" in t or "ResNets" in t for t in titles)
    text = " ".join(m.value for m in at.markdown)
    assert "F</i>(<i>x</i>) + <i>x</i>" not in text  # the diagram's HTML stays inside the chart
    assert "degradation problem" in text.lower() and "Shapes-10" in text
    assert "CPU:" in text or "GPU:" in text
    assert "A 10-minute lesson" in [s.value for s in at.subheader]
    assert not at.error


def test_train_page_widgets(home):
    at = open_page(TRAIN)
    assert at.radio(key=keys.ARCH).options == [
        "plain",
        "ResNet-A",
        "ResNet-B",
        "concat + 1×1 merge",
        "torchvision ResNet-18",
    ]
    assert at.selectbox(key=keys.DEPTH).options == ["20", "32", "44", "56", "110", "other (6n+2)"]
    assert at.toggle(key=keys.BN).value is True
    assert at.radio(key=keys.INIT).value == "kaiming"
    # The defaults are the shipped Shapes-10 set's recipe, so the lesson's runs open from it.
    from core.runs.reference import SHAPES10_LESSON

    assert at.radio(key=keys.RECIPE).value == SHAPES10_LESSON["recipe"]
    assert at.number_input(key=keys.EPOCHS).value == SHAPES10_LESSON["epochs"]
    assert at.selectbox(key=keys.SCHEDULE).value == SHAPES10_LESSON["schedule"]
    assert at.selectbox(key=keys.BATCH).value == SHAPES10_LESSON["batch_size"]
    assert at.number_input(key=keys.TRAIN_IMAGES["builtin"]).value == SHAPES10_LESSON["subset"]
    assert at.number_input(key=keys.SEED).value == 0
    # ...so ResNet-20 with the defaults is a shipped run, which opens instantly.
    assert at.button(key="train_start").label == "Open stored run"
    assert any("shipped reference run" in i.value for i in at.info)
    # A custom depth: n blocks per stage give 6n+2 layers.
    at.selectbox(key=keys.DEPTH).select("other (6n+2)").run()
    at.number_input(key=keys.BLOCKS).set_value(2).run()
    assert any("**14**" in c.value for c in at.caption)


def test_missing_cifar_is_explained_and_cannot_start(home, tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_DATA", str(tmp_path / "no-cifar-here"))
    at = open_page(TRAIN)
    at.selectbox(key=keys.DATASET).select("cifar10").run()
    assert any("no-cifar-here" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled


def test_tiny_run_from_the_train_page(home):
    at = open_page(TRAIN)
    at.selectbox(key=keys.DEPTH).select("other (6n+2)").run()
    at.number_input(key=keys.BLOCKS).set_value(1)
    at.number_input(key=keys.TRAIN_IMAGES["builtin"]).set_value(256)
    at.number_input(key=keys.TEST_IMAGES["builtin"]).set_value(200)
    at.number_input(key=keys.EPOCHS).set_value(1).run()
    assert any("New configuration: ResNet-8 (A)" in c.value for c in at.caption)
    at.button(key="train_start").click().run()
    assert not at.exception
    store = RunStore(home)
    run_id = at.session_state[FOCUS_RUN_KEY]
    assert jobs.state(store, run_id).status in ("queued", "running")  # a worker process trains it, not the page
    assert jobs.wait(store, run_id, timeout=600).status == "done"
    at.run()
    assert not at.exception and not at.error
    assert any("finished" in s.value and "ResNet-8 (A)" in s.value for s in at.success)
    live = {c["layout"]["title"]["text"]: c for c in charts(at)}
    step_loss = live["Training loss per step (mini-batch)"]
    assert step_loss["layout"]["xaxis"]["title"]["text"] == "training step"
    assert any(t.get("name", "").startswith("ResNet-8 (A)") for t in step_loss["data"])
    assert "Error during training" in live and "Loss during training" in live
    assert {m.label for m in at.metric} >= {"epochs finished", "test accuracy"}
    assert any(m.value == "1 / 1" for m in at.metric)

    # The same settings again open the stored run instead of training it a second time.
    at.run()
    assert any("already stored" in i.value for i in at.info)
    assert at.button(key="train_start").label == "Open stored run"
    at.button(key="train_start").click().run()
    assert any("nothing was retrained" in s.value for s in at.success)
    assert not jobs.active(store)


def test_cancelled_run_offers_resume_and_diverged_run_explains(home):
    store = RunStore(home)
    stop = threading.Event()
    stop.set()  # cancelled before its first step
    # The config the Train page builds for depth 8, 256 + 200 images, 2 epochs, its default recipe (probing every step).
    from core.runs.reference import SHAPES10_LESSON as lesson

    recipe = {k: lesson[k] for k in ("recipe", "schedule", "batch_size", "augment")}
    cancelled = train(
        RunConfig(depth=8, subset=256, test_subset=200, epochs=2, probe_every=1, **recipe), store, stop=stop
    ).record
    assert cancelled.status == "cancelled"
    diverged = RunConfig(depth=8, shortcut="none", bn=False, subset=256, test_subset=200, epochs=1).resolved()
    store.claim(diverged)
    store.set_status(diverged.run_id, "diverged", "the loss became nan at step 1 (epoch 1, lr 0.1).")

    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT).run()
    at.session_state[FOCUS_RUN_KEY] = diverged.run_id
    at.switch_page(TRAIN).run()
    assert any("diverged" in e.value and "loss became nan" in e.value for e in at.error)
    at.selectbox(key=keys.DEPTH).select("other (6n+2)").run()
    at.number_input(key=keys.BLOCKS).set_value(1)
    at.number_input(key=keys.TRAIN_IMAGES["builtin"]).set_value(256)
    at.number_input(key=keys.TEST_IMAGES["builtin"]).set_value(200)
    at.number_input(key=keys.EPOCHS).set_value(2).run()
    assert at.button(key="train_start").label == "Resume"
    assert any("cancelled after 0 of 2 epochs" in i.value for i in at.info)


def test_gradients_page_at_initialisation(home):
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT).run()
    at.session_state[keys.GRAD_DEPTHS] = [8, 14]  # small nets keep the probe to seconds
    at.switch_page(GRADIENTS).run()
    assert not at.exception and not at.error
    for key in (keys.GRAD_DEPTHS, keys.GRAD_NETS, keys.GRAD_BN, keys.GRAD_INIT):
        assert at.multiselect(key=key).value
    titles = chart_titles(at)
    assert any("at initialisation" in t for t in titles)
    assert any("Gradients at initialisation: size" in t for t in titles)
    findings = [m.value for m in at.markdown if m.value.startswith("- **")]
    assert findings and all("first conv" in f or "initial loss" in f for f in findings[0].splitlines())
    assert any("Balduzzi" in m.value for m in at.markdown)
    assert not any("size* of their gradients" in m.value for m in at.markdown)
    # The back-propagated signal is one click away.
    at.radio(key=keys.GRAD_KIND).set_value("grad_out").run()
    assert any("‖∂L/∂y‖" in t for t in chart_titles(at))
    # Shattered gradients are measured on request, and the caption quotes the measured numbers.
    at.toggle(key=keys.SHATTER).set_value(True).run()
    assert not at.exception
    assert any("Shattered gradients" in t for t in chart_titles(at))
    assert any("plain-56 gives" in c.value and "ResNet-56" in c.value for c in at.caption)


def test_gradients_page_with_trained_runs(home, probed_pair):
    plain, resnet = probed_pair
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT).run()
    at.session_state[keys.GRAD_DEPTHS] = [8]
    at.switch_page(GRADIENTS).run()
    assert not at.exception and not at.error
    at.selectbox(key=keys.GRAD_LEFT).select(plain.run_id)
    at.selectbox(key=keys.GRAD_RIGHT).select(resnet.run_id).run()
    specs = {c["layout"]["title"]["text"]: c for c in charts(at)}
    heatmaps = [specs[r.config.label] for r in (plain, resnet)]
    assert all(h["data"][0]["type"] == "heatmap" for h in heatmaps)
    assert heatmaps[0]["data"][0]["zmin"] == heatmaps[1]["data"][0]["zmin"]  # one colour scale for both
    assert any(t.startswith("‖∂L/∂W‖ per layer at step") for t in specs)
    assert any("Fig. 7" in t for t in specs)
    assert any(plain.config.label in c.value and "first conv" in c.value for c in at.caption)


def test_teacher_actions_need_the_passphrase(home, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_TEACHER_PASSPHRASE", "barn owl")
    at = open_page()
    assert "Teacher tools" not in [e.label for e in at.expander]
    at.text_input(key="teacher_passphrase_input").input("owl").run()
    assert any("not the teacher passphrase" in e.value for e in at.error)
    assert "Teacher tools" not in [e.label for e in at.expander]
    at.text_input(key="teacher_passphrase_input").input("barn owl").run()
    assert not at.exception and "Teacher tools" in [e.label for e in at.expander]
    at.number_input(key="teacher_queue_limit").set_value(5).run()
    assert RunStore(home).setting("queue_limit") == "5"


def test_live_views_poll_slower_when_nothing_changes():
    from core.runs.backends import RunState
    from core.runs.lifecycle import RunStatus, queue_text
    from core.runs.store import RunRecord
    from dashboard.common import FAST_POLL_S, IDLE_POLL_S, QUEUE_POLL_S, SLOW_POLL_S, poll_interval
    from dashboard.live import IDLE_POLLS

    def state(status, place=None):
        return RunState("a" * 12, status, RunRecord("a" * 12, RunConfig(), status), place=place)

    running, queued = state(RunStatus.RUNNING), state(RunStatus.QUEUED, place=3)
    assert poll_interval(running, 0) == FAST_POLL_S and poll_interval(running, 3) == SLOW_POLL_S
    assert 2 <= FAST_POLL_S < SLOW_POLL_S <= 5
    assert poll_interval(queued, 0) == QUEUE_POLL_S and 10 <= QUEUE_POLL_S <= 15  # a place moves when a run ends
    assert poll_interval(running, IDLE_POLLS) == poll_interval(queued, IDLE_POLLS) == IDLE_POLL_S > QUEUE_POLL_S
    assert poll_interval(state(RunStatus.DONE), 0) is None
    assert queue_text(queued.place).startswith("queued: 3rd (2 runs go first")


def n_points(values) -> int:
    """Points in a plotly trace array (a list, or numpy's base64 form in newer plotly)."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return len(np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]))
    return len(values)


def test_train_overlay_opens_on_the_shipped_fig6_set_with_20_points_a_curve(home):
    at = open_page(TRAIN)
    overlay = [
        c
        for c in charts(at)
        if c["layout"]["title"]["text"] == "Error during training"
        and sum(t.get("name", "").endswith("· test") for t in c["data"]) >= 4
    ]
    assert overlay, "the overlay did not open on the shipped runs"
    tests = [t for t in overlay[-1]["data"] if t.get("name", "").endswith("· test")]
    for net in ("plain-20 ·", "plain-56 ·", "ResNet-20 (A) ·", "ResNet-56 (A) ·"):
        trace = next(t for t in tests if t["name"].startswith(net))
        assert n_points(trace["x"]) >= 20, net
    said = " ".join(m.value for m in at.markdown)
    assert "plain-56 ends at" in said and "ResNet-56 (A) ends at" in said and "training error (eval mode" in said
