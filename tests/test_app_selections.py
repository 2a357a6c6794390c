"""Selections that follow what the user changed: Compare's networks when the training setup changes,
Gradients' step slider and Fig. 7 runs when the during-training pair changes; and Compare's fixed
percent axis and rounded CSV downloads. Streamlit's AppTest on stores written straight through core."""
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import tiny_config
from test_compare import fake_run

ROOT = Path(__file__).resolve().parents[1]
COMPARE = str(ROOT / "pages" / "3_Compare.py")
GRADIENTS = str(ROOT / "pages" / "2_Gradients.py")
TIMEOUT = 180  # a shared CPU can be slow


@pytest.fixture
def no_reference_runs(monkeypatch):
    from core import reference
    monkeypatch.setattr(reference, "install", lambda store, *args, **kwargs: 0)


@pytest.fixture
def setups_home(store, no_reference_runs):
    """Three setups (2, 3 and 4 epochs): plain-8, ResNet-8 A (two seeds) and B; plain-8 and ResNet-8 A;
    plain-14 and ResNet-14 A. Seed means like (0.5 + 0.6) / 2 carry float noise into the tables."""
    fake_run(store, tiny_config(epochs=2, shortcut="A", seed=0), [0.5, 0.7])
    fake_run(store, tiny_config(epochs=2, shortcut="A", seed=1), [0.6, 0.9])
    fake_run(store, tiny_config(epochs=2, shortcut="none"), [0.45, 0.8])
    fake_run(store, tiny_config(epochs=2, shortcut="B"), [0.5, 0.8])
    fake_run(store, tiny_config(epochs=3, shortcut="A"), [0.1, 0.2, 0.3])
    fake_run(store, tiny_config(epochs=3, shortcut="none"), [0.1, 0.2, 0.25])
    fake_run(store, tiny_config(epochs=4, shortcut="A", depth=14), [0.1, 0.2, 0.3, 0.4])
    fake_run(store, tiny_config(epochs=4, shortcut="none", depth=14), [0.1, 0.2, 0.3, 0.35])
    return store


def run_compare() -> AppTest:
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def network(epochs: int, shortcut: str, depth: int = 8) -> str:
    """The Networks box's value for one of setups_home's networks."""
    from core.compare import group_key
    return group_key(tiny_config(epochs=epochs, shortcut=shortcut, depth=depth))


def choose_setup(at: AppTest, epochs: int) -> AppTest:
    from core.compare import setup_key
    at.selectbox[0].set_value(setup_key(tiny_config(epochs=epochs))).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_compare_keeps_the_networks_a_new_setup_also_has_else_the_default_pair(setups_home):
    at = run_compare()
    assert "2 epochs" in at.selectbox[0].options[at.selectbox[0].index]  # the setup with the most networks first
    networks = at.multiselect(key="compare_networks")
    assert networks.values == ["ResNet-8 (A) (2 seeds)", "ResNet-8 (B) (1 seed)"]  # the default pair: A vs B
    networks.set_value([network(2, "A"), network(2, "none")]).run()
    assert at.multiselect(key="compare_networks").values == ["ResNet-8 (A) (2 seeds)", "plain-8 (1 seed)"]
    # The 3-epoch setup has both networks: the choice stays, in its order.
    choose_setup(at, 3)
    assert at.multiselect(key="compare_networks").values == ["ResNet-8 (A) (1 seed)", "plain-8 (1 seed)"]
    assert list(at.dataframe[-1].value.columns) == ["ResNet-8 (A) (1 seed)", "plain-8 (1 seed)"]
    # The 4-epoch setup has neither: its default pair (ResNet-14 vs plain-14), never an empty box.
    choose_setup(at, 4)
    assert at.multiselect(key="compare_networks").values == ["ResNet-14 (A) (1 seed)", "plain-14 (1 seed)"]
    assert not any("Choose at least one network" in i.value for i in at.info)
    # A box the user emptied stays empty in its own setup.
    at.multiselect(key="compare_networks").set_value([]).run()
    assert at.multiselect(key="compare_networks").value == []
    assert any("Choose at least one network" in i.value for i in at.info)



@pytest.fixture
def downloads(monkeypatch):
    """What the page's download buttons hold: AppTest keeps them in a media storage made per run."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test
    made = []

    class Kept(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Kept)

    def read(at: AppTest, key: str) -> pd.DataFrame:
        url = next(b.proto.url for b in at.get("download_button") if b.proto.id.endswith(key))
        return pd.read_csv(io.BytesIO(made[-1].get_file(url.rsplit("/", 1)[1]).content))
    return read


def y_ranges(at: AppTest) -> list:
    return [json.loads(c.proto.spec)["layout"]["yaxis"].get("range") for c in at.get("plotly_chart")]


def test_compare_csv_downloads_carry_rounded_numbers_and_the_axis_can_be_fixed(setups_home, downloads):
    at = run_compare()
    assert y_ranges(at) == [None, None]  # each chart zooms to its data by default
    depth = downloads(at, "download_depth").set_index("model")
    # ResNet-8 (A): test errors 30% and 10% (two seeds) -> mean 20, std 14.142...: 3 decimals, no float noise
    assert depth.loc["ResNet-8 (A)", "test_error_mean"] == 20.0
    assert depth.loc["ResNet-8 (A)", "test_error_std"] == 14.142
    curves = downloads(at, "download_curves")
    assert set(curves["mean"]) == {45.0, 20.0, 50.0}  # B at epoch 2: 100 × (1 − 0.8) = 19.999999999999996 unrounded
    assert curves["std"].max() == 14.142
    epochs = downloads(at, "download_epochs")
    assert epochs.iloc[0].tolist() == [1, 55.0, 50.0]
    text = "".join(str(v) for frame in (depth, curves, epochs) for v in frame.to_numpy().ravel())
    assert "0000000" not in text and "9999999" not in text
    at.checkbox(key="cmp_pct").check().run()
    assert y_ranges(at) == [[0, 100], [0, 100]]
    at.radio(key="compare_metric").set_value("test_loss").run()  # a loss keeps its own scale
    assert y_ranges(at) == [[0, 100], None]
