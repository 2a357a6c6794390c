"""Lesson links: every page's settings are widgets bound to the URL under a name from dashboard/keys.py, a
link opens a page set up as it says, a value the page does not offer is left out with a note, and the
"link to this view" box shows the address that reopens the view. Projector mode is one switch in the URL."""

from pathlib import Path
from urllib.parse import quote

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import common, keys

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "dashboard" / "Home.py"
PAGES = (
    "../pages/1_Train.py",
    "../pages/2_Gradients.py",
    "../pages/3_Compare.py",
    "../pages/4_Classify.py",
    "../pages/5_Lesion.py",
    "../pages/6_Landscape.py",
    "../pages/7_Layers.py",
    "../pages/8_Runs.py",
)
SETTING_WIDGETS = ("selectbox", "multiselect", "radio", "slider", "select_slider", "toggle", "checkbox", "number_input")
# Settings that do not belong in a link: the run the Train page watches (it has its own ?run=<id>) and
# "train again from scratch", an action.
NOT_BOUND = {"train_view", "train_restart"}
GRADIENTS = "../pages/2_Gradients.py"
TIMEOUT = 300


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("links_home")


@pytest.fixture
def home(shared_home, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(shared_home))
    monkeypatch.delenv("RESNET_LAB_DATA", raising=False)
    return shared_home


def open_with(page: str | None, **params) -> AppTest:
    """A fresh session opened on ``page`` with the query ``params`` in its URL (lists repeat a parameter)."""
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


# ------------------------------------------------------------------------------------ the names


def test_query_names_are_unique_short_and_clear_of_other_parameters():
    names = keys.all_keys()
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(n.replace("_", "").isalnum() and n.islower() and len(n) <= 16 for n in names), names
    # ?run=<id> (the Train page's link to one run) and Streamlit's own embedding parameters stay free
    assert not {"run", "embed", "embed_options"} & set(names)


def test_view_link_keeps_the_page_address_and_every_setting_in_order():
    params = {
        "grad_depths": ["20", "110"],
        "grad_init": ["PyTorch default"],
        "models": ["★ ResNet-20 (A) · 3 ep, 2k imgs"],
    }
    link = common.view_link("http://class:8501/Gradients?old=1#top", params)
    assert link == (
        "http://class:8501/Gradients?grad_depths=20&grad_depths=110&grad_init=PyTorch%20default"
        "&models=%E2%98%85%20ResNet-20%20%28A%29%20%C2%B7%203%20ep%2C%202k%20imgs"
    )
    assert common.view_link("http://class:8501/Train", {}) == "http://class:8501/Train"
    assert common.view_link(None, {"depth": ["56"]}) == "?depth=56"
    assert common.view_link(None, {}) == "?"


def test_ignored_values_are_those_not_offered():
    assert common.ignored_values(["a", "zz", "b"], {"a": 1, "b": 2}.keys()) == ["zz"]
    assert common.ignored_values([], ["a"]) == []


# ------------------------------------------------------------------------------------ the pages


def test_every_setting_on_every_page_is_bound_to_the_url(home):
    at = open_with(None, grad_depths=8)  # the smallest nets keep the Gradients page quick
    for page in (None, *PAGES):
        if page:
            at.switch_page(page).run()
            assert not at.exception, (page, [e.value for e in at.exception])
        for kind in SETTING_WIDGETS:
            for widget in at.get(kind):
                if widget.key in NOT_BOUND:
                    continue
                assert widget.key in keys.all_keys(), (page, kind, widget.label, widget.key)
                assert widget.proto.query_param_key == widget.key, (page, kind, widget.label)


def test_a_gradients_link_opens_that_grid_and_leaves_out_a_run_not_stored_here(home):
    # A radio's value travels as the label the page shows: read it off the page as a teacher would.
    second_quantity = open_with(GRADIENTS, grad_depths=8).radio(key=keys.GRAD_KIND).options[1]
    at = open_with(
        GRADIENTS,
        grad_depths=[8, 14],
        grad_nets="plain",
        grad_bn="off",
        grad_init="PyTorch default",
        grad_y=second_quantity,
        grad_left="★ plain-999 · not stored",
    )
    assert at.multiselect(key=keys.GRAD_DEPTHS).value == [8, 14]
    assert at.multiselect(key=keys.GRAD_NETS).value == ["plain"]
    assert at.multiselect(key=keys.GRAD_BN).value == ["off"]
    assert at.multiselect(key=keys.GRAD_INIT).value == ["default"]
    assert at.radio(key=keys.GRAD_KIND).value == "grad_out"
    note = [c for c in captions(at) if c.startswith(":material/link_off:")]
    assert note and "★ plain-999 · not stored" in note[0], captions(at)
    assert keys.GRAD_LEFT not in at.query_params  # Streamlit drops the value it could not use
    link = [c.value for c in at.code][-1]
    assert link == (
        f"?grad_depths=8&grad_depths=14&grad_nets=plain&grad_bn=off&grad_init=PyTorch%20default"
        f"&grad_y={quote(second_quantity, safe='')}"
    )


def test_a_train_link_sets_network_recipe_and_data(home):
    at = open_with(
        "../pages/1_Train.py", arch="plain", depth=110, bn="false", init="PyTorch default", epochs=3, imgs=1500, seed=2
    )
    assert at.radio(key=keys.ARCH).value == "plain"
    assert at.selectbox(key=keys.DEPTH).value == 110
    assert at.toggle(key=keys.BN).value is False
    assert at.radio(key=keys.INIT).value == "default"
    assert at.number_input(key=keys.EPOCHS).value == 3
    assert at.number_input(key=keys.TRAIN_IMAGES["builtin"]).value == 1500
    assert at.number_input(key=keys.SEED).value == 2
    assert any("plain-110" in c for c in captions(at)), captions(at)


def test_an_invalid_value_in_a_link_is_ignored_without_an_error(home):
    at = open_with("../pages/1_Train.py", depth="57", arch="no such net", epochs="many", bn="maybe")
    assert at.selectbox(key=keys.DEPTH).value == 20
    assert at.radio(key=keys.ARCH).value == "ResNet-A"
    assert at.toggle(key=keys.BN).value is True
    assert not {"depth", "arch", "epochs", "bn"} & set(at.query_params)


def test_projector_mode_comes_from_the_link_and_restyles_every_page(home):
    plain = open_with("../pages/3_Compare.py")
    assert plain.toggle(key=keys.PROJECTOR).value is False
    assert not [h for h in plain.get("html") if "data-stale" in h.proto.body]
    at = open_with("../pages/3_Compare.py", projector="true")
    assert at.toggle(key=keys.PROJECTOR).value is True
    assert [h for h in at.get("html") if common.PROJECTOR_CSS.strip() in h.proto.body]
    assert [c.value for c in at.code][-1].endswith("projector=true")
