"""The Lesion, Landscape and Layers pages under streamlit.testing.v1.AppTest: an empty store, and a store
with a tiny plain net and ResNet (a button press queues the computation, a worker computes it, and the page then
answers from the disk cache)."""

import pytest
from conftest import ROOT, tiny_config
from streamlit.testing.v1 import AppTest
from test_app_compare_classify import texts

from dashboard import keys

LESION = str(ROOT / "pages" / "5_Lesion.py")
LANDSCAPE = str(ROOT / "pages" / "6_Landscape.py")
LAYERS = str(ROOT / "pages" / "7_Layers.py")
TIMEOUT = 300  # seconds per script run: lesion sweeps and landscapes on a shared 2-core CPU


@pytest.fixture(scope="module")
def pair_home(tmp_path_factory):
    from core.runs.execute import train
    from core.runs.store import RunStore

    home = tmp_path_factory.mktemp("inside_home")
    store = RunStore(home)
    for shortcut in ("none", "A"):
        assert train(tiny_config(shortcut=shortcut, probe_every=0), store).record.status == "done"
    return home


@pytest.fixture
def no_reference_runs(monkeypatch):
    from core.runs import reference

    monkeypatch.setattr(reference, "install", lambda store, *args, **kwargs: 0)


@pytest.fixture
def home(pair_home, monkeypatch, no_reference_runs):
    from core.analysis import queue

    monkeypatch.setenv("RESNET_LAB_HOME", str(pair_home))
    monkeypatch.setattr(queue, "ensure_worker", lambda store: None)  # the test is the worker (``work``)
    return pair_home


def work(home) -> None:
    """What a worker process does: compute every waiting analysis."""
    from core.analysis import queue
    from core.runs.store import RunStore

    store = RunStore(home)
    while queue.take_one(store, log=lambda *a, **k: None) is not None:
        pass


def run(path: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", [LESION, LANDSCAPE, LAYERS])
def test_with_an_empty_store_each_page_says_what_is_missing(tmp_path, monkeypatch, no_reference_runs, page):
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "empty"))
    at = run(page)
    assert "No finished run of a plain net and a ResNet" in texts(at)
    assert not at.get("plotly_chart")


def test_lesion_page_computes_on_request_then_answers_from_the_cache(home):
    at = run(LESION)
    assert not at.get("plotly_chart") and "Not computed yet for plain-8 and ResNet-8 (A)" in texts(at)
    at.select_slider(key=keys.LESION_IMAGES).set_value(200)
    at.select_slider(key=keys.LESION_K_IMAGES).set_value(100)
    at.slider(key=keys.LESION_DRAWS).set_value(2).run()
    click(at, "lesion_run_ask")
    assert "plain-8**: queued: 1st (next in line" in texts(at) and not at.get("plotly_chart")
    assert [b.label for b in at.button] == ["Cancel", "Cancel"]  # whoever asked may cancel
    work(home)
    at.run()  # the results are on disk now: the page draws them without a button
    assert len(at.get("plotly_chart")) == 3  # per-block bars, k-curve, path lengths
    captions = texts(at)
    assert "plain-8: intact" in captions and "ResNet-8 (A): intact" in captions and "on 200 images" in captions
    assert "2^3 = 8 paths" in captions and "*not* measured here" in captions

    fresh = run(LESION)  # a second viewer with the same settings gets the cached results at once
    fresh.select_slider(key=keys.LESION_IMAGES).set_value(200)
    fresh.select_slider(key=keys.LESION_K_IMAGES).set_value(100)
    fresh.slider(key=keys.LESION_DRAWS).set_value(2).run()
    assert len(fresh.get("plotly_chart")) == 3 and not fresh.button


def test_landscape_page_computes_slices_and_planes(home):
    at = run(LANDSCAPE)
    at.select_slider(key=keys.LAND_BATCH).set_value(64)
    at.select_slider(key=keys.SLICE_POINTS).set_value(21).run()
    click(at, "landscape_run_1d_ask")
    work(home)
    at.run()
    assert len(at.get("plotly_chart")) == 1 and "decades per unit of α" in texts(at)
    click(at, "landscape_run_2d_ask")
    work(home)
    at.run()
    assert len(at.get("plotly_chart")) == 2 and "11×11 plane" in texts(at)
    assert "running statistics" in texts(at)


def test_layers_page_shows_both_nets_inside_a_block(home):
    at = run(LAYERS)
    assert len(at.get("plotly_chart")) == 3  # feature maps, block parts, response std
    captions = texts(at)
    assert "plain-8, stage2.block0: a plain block has no shortcut" in captions
    assert "ResNet-8 (A), stage2.block0: the residual F(x) has RMS" in captions
    at.selectbox(key=keys.BLOCK).set_value("stage3.block0")
    at.slider(key=keys.LAYERS_IMAGE).set_value(7).run()
    assert not at.exception and "ResNet-8 (A), stage3.block0" in texts(at)
