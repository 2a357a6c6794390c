"""The Compare and Classify pages under streamlit.testing.v1.AppTest: an empty store, a store with a
few tiny trained runs, uploads of good and bad images."""

import io

import numpy as np
import pytest
from conftest import ROOT, tiny_config
from PIL import Image
from streamlit.testing.v1 import AppTest

from dashboard import keys

COMPARE = str(ROOT / "pages" / "3_Compare.py")
CLASSIFY = str(ROOT / "pages" / "4_Classify.py")
TIMEOUT = 120  # seconds per script run: attributions on a shared 2-core CPU


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory):
    """A store with plain-8 and ResNet-8 (two seeds): 1 epoch on 256 Shapes-10 images each."""
    from core.runs.execute import train
    from core.runs.store import RunStore

    home = tmp_path_factory.mktemp("trained_home")
    store = RunStore(home)
    for shortcut, seed in (("none", 0), ("A", 0), ("A", 1)):
        assert train(tiny_config(shortcut=shortcut, seed=seed, probe_every=0), store).record.status == "done"
    return home


@pytest.fixture
def no_reference_runs(monkeypatch):
    """Keep the shipped reference runs out, so each test sees only the runs it made."""
    from core.runs import reference

    monkeypatch.setattr(reference, "install", lambda store, *args, **kwargs: 0)


@pytest.fixture
def empty_home(tmp_path, monkeypatch, no_reference_runs):
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "empty"))
    return tmp_path / "empty"


@pytest.fixture
def home(trained_home, monkeypatch, no_reference_runs):
    monkeypatch.setenv("RESNET_LAB_HOME", str(trained_home))
    return trained_home


def run(path: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def png_bytes(mode="RGB", size=(64, 48), bits16=False) -> bytes:
    rng = np.random.default_rng(0)
    if bits16:
        image = Image.fromarray(rng.integers(0, 65535, size[::-1], dtype=np.uint16))
    else:
        channels = len(mode)
        image = Image.fromarray(rng.integers(0, 255, (*size[::-1], channels), dtype=np.uint8).squeeze(), mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encoded(fmt: str, mode: str = "RGB", size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("1", "L", "P") else (200, 120, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("info", "error", "warning", "markdown", "caption") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def top5_tables(at: AppTest):
    return [d.value for d in at.dataframe if "probability" in d.value.columns]


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.radio(key=keys.IMAGE_SOURCE).set_value("Upload your own").run()
    at.file_uploader(key="classify_upload").set_value((name, data, mime)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ------------------------------------------------------------------------------- empty store


def test_compare_with_an_empty_store_says_what_to_train(empty_home):
    at = run(COMPARE)
    assert "plain-20 and ResNet-20" in texts(at)
    assert any("Train a small" in b.label for b in at.button)


def test_classify_with_an_empty_store_offers_a_small_model(empty_home):
    at = run(CLASSIFY)
    assert "No trained model" in texts(at)
    assert any("Train a small" in b.label for b in at.button)


# ----------------------------------------------------------------------- with trained runs


def test_compare_draws_depth_curves_and_tables(home):
    at = run(COMPARE)
    assert len(at.get("plotly_chart")) == 2  # error vs depth, curves over seeds
    assert "not comparable" in texts(at)  # Shapes-10 runs: no Table 6 overlay
    depth_table = at.dataframe[0].value
    assert set(depth_table["model"]) == {"plain-8", "ResNet-8 (A)"}
    assert depth_table.set_index("model").loc["ResNet-8 (A)", "seeds"] == 2
    per_epoch = at.dataframe[-1].value
    assert list(per_epoch.index) == [1] and per_epoch.shape[1] == 2
    assert any("Sum of squared residuals" in m.label for m in at.metric)
    assert len(at.get("download_button")) == 3


def test_classify_a_test_image_with_two_models(home):
    at = run(CLASSIFY)
    tables = top5_tables(at)
    assert len(tables) == 2  # the default pair: plain-8 and ResNet-8
    for table in tables:
        assert len(table) == 5 and table["probability"].is_monotonic_decreasing
        assert table["probability"].sum() <= 100 + 1e-6
    assert len(at.get("plotly_chart")) == 3  # the bar chart and each model's attribution maps
    assert "True class" in texts(at)


def test_an_uploaded_png_gets_a_top5_table(home):
    at = upload(run(CLASSIFY), "photo.png", png_bytes())
    assert not at.error
    tables = top5_tables(at)
    assert tables and all(len(t) == 5 for t in tables)


@pytest.mark.parametrize(
    "name, data",
    [
        ("empty.png", b""),
        ("notes.png", b"these are not the pixels you are looking for"),
        ("truncated.png", png_bytes()[:200]),
        ("huge.png", encoded("PNG", "1", (8000, 8000))),  # 64 megapixels: refused from the header, never decoded
    ],
    ids=["zero-byte", "not-an-image", "truncated", "enormous"],
)
def test_a_bad_upload_shows_an_error_and_the_page_survives(home, name, data):
    at = upload(run(CLASSIFY), name, data)
    assert at.error and name in at.error[0].value
    assert not top5_tables(at)
    # the page keeps working: a good image afterwards is classified
    at.file_uploader(key="classify_upload").set_value(("good.png", png_bytes(), "image/png")).run()
    assert not at.error and top5_tables(at)


@pytest.mark.parametrize(
    "name, data",
    [
        ("alpha.png", png_bytes("RGBA")),
        ("depth16.png", png_bytes(bits16=True)),
        ("photo.jpg", encoded("JPEG")),
        ("still.gif", encoded("GIF", "P")),
        ("photo.webp", encoded("WEBP")),
        ("photo.bmp", encoded("BMP")),
    ],
    ids=["alpha", "16-bit", "jpeg", "gif", "webp", "bmp"],
)
def test_alpha_16_bit_and_every_accepted_format_are_classified(home, name, data):
    at = upload(run(CLASSIFY), name, data)
    assert not at.error and top5_tables(at)


def test_classify_offers_the_out_of_distribution_check_then_warns_on_noise(home):
    """Without a fitted detector the page offers a worker's fit (never fits in the web process); with one, an
    upload of noise is called unlike the training data."""
    import torch

    from core.analysis import ood
    from core.engine.data import make_builtin
    from core.runs.store import RunStore

    at = run(CLASSIFY)
    assert "is not measured yet" in texts(at) and at.button(key="classify_ood_ask")
    store = RunStore(home)
    x_train, y_train, x_test, _ = (torch.from_numpy(a) for a in make_builtin(0, n_train=200, n_test=400))
    written = []
    try:
        for record in store.list():
            model, info = store.load_model(record.run_id), record.info
            detector = ood.fit(model, x_train, y_train, x_test, info["mean"], info["std"])
            written.append(ood.cache_path(store, record))
            written[-1].parent.mkdir(parents=True, exist_ok=True)
            written[-1].write_bytes(detector.to_bytes())
        noise = ood.uniform_noise(1)[0].permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, format="PNG")
        at = upload(run(CLASSIFY), "noise.png", buffer.getvalue())
        warnings = [w.value for w in at.warning]
        assert len(warnings) == 2 and all("unlike its Shapes-10" in w for w in warnings)
        assert "not measured yet" not in texts(at)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
