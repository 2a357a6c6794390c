"""Selections that follow what the user changed: Compare's networks when the training setup changes,
Gradients' step slider and Fig. 7 runs when the during-training pair changes; and Compare's fixed
percent axis and rounded CSV downloads. Streamlit's AppTest on stores written straight through core."""

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_config
from streamlit.testing.v1 import AppTest
from test_compare import fake_run

ROOT = Path(__file__).resolve().parents[1]
COMPARE = str(ROOT / "pages" / "3_Compare.py")
GRADIENTS = str(ROOT / "pages" / "2_Gradients.py")
TIMEOUT = 180  # a shared CPU can be slow


@pytest.fixture
def no_reference_runs(monkeypatch):
    from core.runs import reference

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
    from core.analysis.compare import group_key

    return group_key(tiny_config(epochs=epochs, shortcut=shortcut, depth=depth))


def choose_setup(at: AppTest, epochs: int) -> AppTest:
    from core.analysis.compare import setup_key

    at.selectbox[0].set_value(setup_key(tiny_config(epochs=epochs))).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_compare_keeps_the_networks_a_new_setup_also_has_else_the_default_pair(setups_home):
    at = run_compare()
    assert "2 epochs" in at.selectbox[0].options[at.selectbox[0].index]  # the setup with the most networks first
    networks = at.multiselect(key="cmp_nets")
    assert networks.values == ["ResNet-8 (A) (2 seeds)", "ResNet-8 (B) (1 seed)"]  # the default pair: A vs B
    networks.set_value([network(2, "A"), network(2, "none")]).run()
    assert at.multiselect(key="cmp_nets").values == ["ResNet-8 (A) (2 seeds)", "plain-8 (1 seed)"]
    # The 3-epoch setup has both networks: the choice stays, in its order.
    choose_setup(at, 3)
    assert at.multiselect(key="cmp_nets").values == ["ResNet-8 (A) (1 seed)", "plain-8 (1 seed)"]
    assert list(at.dataframe[-1].value.columns) == ["ResNet-8 (A) (1 seed)", "plain-8 (1 seed)"]
    # The 4-epoch setup has neither: its default pair (ResNet-14 vs plain-14), never an empty box.
    choose_setup(at, 4)
    assert at.multiselect(key="cmp_nets").values == ["ResNet-14 (A) (1 seed)", "plain-14 (1 seed)"]
    assert not any("Choose at least one network" in i.value for i in at.info)
    # A box the user emptied stays empty in its own setup.
    at.multiselect(key="cmp_nets").set_value([]).run()
    assert at.multiselect(key="cmp_nets").value == []
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
    # The page explains its terms where they appear, and never names a study by number alone.
    shown = [e.value for kind in ("markdown", "caption", "info") for e in getattr(at, kind)]
    helps = [w.help or "" for w in (*at.multiselect, *at.selectbox, *at.metric, *at.caption)]
    assert not any("seed study 00" in t.lower() for t in shown + helps)
    assert "Biéchy & Cavalier" in at.multiselect(key="cmp_nets").help
    ssr = next(m for m in at.metric if "(SSR)" in m.label)
    assert "at every epoch both have, take the difference" in ssr.help
    at.checkbox(key="cmp_pct").check().run()
    assert y_ranges(at) == [[0, 100], [0, 100]]
    at.radio(key="cmp_y").set_value("test_loss").run()  # a loss keeps its own scale
    assert y_ranges(at) == [[0, 100], None]


# ------------------------------------------------------------------------------------ Gradients


@pytest.fixture(scope="module")
def probed_runs(tmp_path_factory):
    """plain-8 and ResNet-8 probed every 2 steps, and a ResNet-8 of another seed probed every 3: two epochs
    of 4 steps each, so the pairs have different probed steps."""
    from core.runs.execute import train
    from core.runs.store import RunStore

    home = tmp_path_factory.mktemp("probed_home")
    store = RunStore(home)
    runs = [
        train(tiny_config(shortcut=shortcut, seed=seed, probe_every=every, epochs=2), store).record
        for shortcut, seed, every in (("none", 0, 2), ("A", 0, 2), ("A", 1, 3))
    ]
    assert all(r.status == "done" for r in runs)
    return home, runs


def profile_title(at: AppTest) -> str:
    return next(
        t
        for t in (json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart"))
        if "per layer at step" in t
    )


def test_gradients_step_resets_and_fig7_follows_when_the_pair_changes(probed_runs, monkeypatch, no_reference_runs):
    home, (plain, resnet, other) = probed_runs
    monkeypatch.setenv("RESNET_LAB_HOME", str(home))
    at = AppTest.from_file(GRADIENTS, default_timeout=TIMEOUT)
    at.session_state["grad_depths"] = [8]  # keep the at-initialisation probe small
    at.session_state["grad_nets"] = ["plain"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="grad_left").set_value(plain.run_id)
    at.selectbox(key="grad_right").set_value(resnet.run_id).run()
    assert at.multiselect(key="std_runs").value == [plain.run_id, resnet.run_id]  # Fig. 7 shows the pair
    steps = at.select_slider(key="grad_step").options
    last = steps[-1]
    assert profile_title(at).endswith(f"at step {last}")
    # An earlier step, kept while the pair stays (another quantity is a rerun with the same pair).
    at.select_slider(key="grad_step").set_value(2).run()
    at.radio(key="grad_train_y").set_value("grad_out").run()
    assert at.select_slider(key="grad_step").value == 2 and profile_title(at).endswith("at step 2")
    at.multiselect(key="std_runs").set_value([plain.run_id]).run()  # the teacher narrows Fig. 7
    # A new right-hand run: the step goes to the new pair's last probe, Fig. 7 to the new pair.
    at.selectbox(key="grad_right").set_value(other.run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    new_last = int(at.select_slider(key="grad_step").options[-1])
    assert at.select_slider(key="grad_step").value == new_last != 2
    assert profile_title(at).endswith(f"at step {new_last}")
    assert at.multiselect(key="std_runs").value == [plain.run_id, other.run_id]


# ------------------------------------------------------------------------------------- Classify

CLASSIFY = str(ROOT / "pages" / "4_Classify.py")


def accuracy_captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if "test accuracy" in c.value.lower()]


def test_classify_shows_each_models_stored_test_accuracy_beside_its_predictions(
    probed_runs, tmp_path, monkeypatch, no_reference_runs
):
    import shutil

    from core.runs.store import RunStore

    source, (plain, resnet, other) = probed_runs
    home = tmp_path / "home"
    shutil.copytree(source, home)
    RunStore(home).set_status(other.run_id, "done", metrics={"train_loss": 1.0, "train_acc": 0.5})  # no test accuracy
    monkeypatch.setenv("RESNET_LAB_HOME", str(home))
    at = AppTest.from_file(CLASSIFY, default_timeout=TIMEOUT)
    at.session_state["methods"] = []  # no attribution maps: this test is about the predictions
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="models").value == [plain.run_id, resnet.run_id]
    captions = accuracy_captions(at)
    assert len(captions) == 2
    for record, caption in zip((plain, resnet), captions):
        assert f"**{100 * record.metrics['test_acc']:.1f}%**" in caption
        assert "200 of the 4,000 Shapes-10" in caption and "epoch 2" in caption
    at.multiselect(key="models").set_value([plain.run_id, other.run_id]).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption if "test accuracy" in c.value.lower()]
    assert captions[1] == "No test accuracy is stored for this run."
