"""The whole dashboard in a real browser: `streamlit run dashboard/Home.py` driven by headless chromium.

Opens every page (no exception box), starts a short run on the Train page and watches its chart
grow, uploads an image on Classify and sees predictions, computes loss slices on Landscape and a small
lesion study on Lesion, and opens a block on Layers. Screenshots go to $RESNET_LAB_SCREENSHOTS
(default /tmp/resnet-lab-screenshots), outside the repository.
"""

import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = ("Train", "Gradients", "Compare", "Classify", "Lesion", "Landscape", "Layers")
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'  # shown while a script run is in progress
DONE = "finished: test accuracy"  # the Train page's line for a completed run
LINE_PATHS = (
    "() => Array.from(document.querySelectorAll('[data-testid=\"stPlotlyChart\"] path.js-line'))"
    ".map(p => p.getAttribute('d')).join('|')"
)


def need_browser():
    """Skip where chromium or playwright is missing, unless this is CI, where that is a failure."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright Python package is not installed"
    if reason:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def screenshots() -> Path:
    path = Path(os.environ.get("RESNET_LAB_SCREENSHOTS", "/tmp/resnet-lab-screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def dashboard(home: Path):
    """The dashboard on a free port over the store at ``home``; yields its base URL and stops it afterwards."""
    port = free_port()
    log = open(home / "streamlit.log", "w")
    env = {**os.environ, "RESNET_LAB_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/Home.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300  # generous: a loaded machine starts slowly, it is not broken
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard on a free port with an empty store of its own; yields its base URL."""
    need_browser()
    with dashboard(tmp_path_factory.mktemp("browser_home")) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 2400})  # tall: Streamlit scrolls inside the page
        tab.set_default_timeout(180_000)  # generous: behaviour is tested here, speed in bench/
        yield tab
        browser.close()


def settle(tab, quiet_ms: int = 1500, timeout_s: float = 300, required: bool = True) -> bool:
    """Wait until the script has finished running and stayed idle for ``quiet_ms``; False (or an
    AssertionError if ``required``) when it is still running after ``timeout_s``."""
    tab.wait_for_selector('[data-testid="stApp"]')
    deadline, quiet_since = time.time() + timeout_s, None
    while time.time() < deadline:
        if tab.locator(RUNNING).count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif (time.time() - quiet_since) * 1000 >= quiet_ms:
            return True
        tab.wait_for_timeout(200)
    assert not required, f"the page kept running for more than {timeout_s:.0f} s"
    return False


def open_page(tab, server: str, name: str, timeout_s: float = 300, required: bool = True) -> bool:
    """Go to a page through the sidebar, in the same session, as a student would (a fresh URL would
    leave the previous page's script running in an orphaned session)."""
    if not tab.url.startswith(server):
        tab.goto(server)
        settle(tab)
    if name:
        tab.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True).click()
        tab.wait_for_url(
            re.compile(re.escape(f"{server}/{name}") + r"(\?.*)?$")
        )  # pages may add settings, e.g. ?run=<id>
    return settle(tab, timeout_s=timeout_s, required=required)


def wait_for_tables(tab) -> None:
    """Data frames are drawn on a canvas after the script ends: wait for them before a screenshot."""
    for frame in tab.locator('[data-testid="stDataFrame"]').all():
        frame.locator("canvas").first.wait_for(state="attached")
    tab.wait_for_timeout(1000)


def assert_no_exception(tab, where: str) -> None:
    boxes = tab.locator(EXCEPTION)
    assert boxes.count() == 0, f"{where}: {boxes.first.inner_text()[:1000]}"


def png(size=(96, 64)) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_page_opens_without_an_exception(page, server, screenshots):
    page.goto(server)
    settle(page)
    assert_no_exception(page, "Home")
    page.screenshot(path=str(screenshots / "0_home_empty.png"))
    for name in PAGES:
        # Gradients probes two dozen fresh networks (up to 110 layers) on first open: on a busy CPU
        # that outlasts this test, so it only has to start cleanly here.
        finished = open_page(page, server, name, **(dict(timeout_s=20, required=False) if name == "Gradients" else {}))
        page.locator("h1").first.wait_for()
        assert_no_exception(page, name + ("" if finished else " (while still running)"))
        assert page.locator("h1").count(), f"{name} shows no title"
        page.screenshot(path=str(screenshots / f"{PAGES.index(name) + 1}_{name.lower()}_empty.png"))


def test_a_short_run_on_the_train_page_draws_a_growing_chart(page, server, screenshots):
    open_page(page, server, "Train")
    page.get_by_label("Adam (seed study)", exact=False).check(force=True)  # the default: many short steps to watch
    page.get_by_role("combobox", name="Depth (weighted layers)").click()
    page.get_by_role("option", name="other (6n+2)").click()
    settle(page)
    page.get_by_text("Record per-layer gradients").click()  # not needed here: saves time
    # Enough epochs that a live view polling every 2 s sees the run part-way, even on a fast CPU.
    for label, value in (("Epochs", "8"), ("Training images", "640"), ("Test images", "200")):
        box = page.get_by_role("spinbutton", name=label)
        box.fill(value)
        box.press("Enter")
        settle(page)
    page.get_by_role("button", name="Start training").click()
    # This run's own status line (anchored, so neither a shipped run's line nor a whole container matches).
    from core.engine.config import RunConfig
    from core.runs.reference import SHAPES10_LESSON as lesson

    label = RunConfig(
        depth=8,
        subset=640,
        test_subset=200,
        epochs=8,
        **{k: lesson[k] for k in ("recipe", "schedule", "batch_size", "augment")},
    ).label
    this_run = "^" + re.escape(label) + " "
    page.get_by_text(re.compile(this_run + "(is training|finished)")).first.wait_for(timeout=300_000)

    # The live charts change while the run trains: from "no steps yet" to lines that keep growing.
    # On an idle machine the run takes seconds, so the first state seen may already be its end.
    done = page.get_by_text(re.compile(this_run + DONE))
    states, deadline = [page.evaluate(LINE_PATHS)], time.time() + 600
    while time.time() < deadline:
        paths = page.evaluate(LINE_PATHS)
        if paths != states[-1]:
            states.append(paths)
            if len(states) == 2:
                page.screenshot(path=str(screenshots / "1_train_running.png"))
        if done.count():
            break
        page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots / "1_train_done.png"))
    assert done.count(), "the run did not finish within 600 s"
    assert len(states) >= 2 and states[-1], "the training chart never changed while the run trained"
    settle(page)
    assert_no_exception(page, "Train after the run")


def test_compare_shows_the_trained_run(page, server, screenshots):
    open_page(page, server, "Compare")
    assert_no_exception(page, "Compare")
    assert page.get_by_text("Final error vs depth").count()
    wait_for_tables(page)
    page.screenshot(path=str(screenshots / "3_compare.png"))


def test_an_uploaded_image_gets_predictions_on_classify(page, server, screenshots):
    open_page(page, server, "Classify")
    assert page.get_by_text("Top-5 predictions").count(), "no predictions for the default test image"
    page.get_by_text("Upload your own").click()
    settle(page)
    page.locator('input[type="file"]').set_input_files(
        files=[{"name": "bad.png", "mimeType": "image/png", "buffer": b"not an image at all"}]
    )
    settle(page)
    assert page.get_by_text("cannot be classified").count(), "no error message for a file that is not an image"
    page.screenshot(path=str(screenshots / "4_classify_bad_upload.png"))
    page.locator('input[type="file"]').set_input_files(
        files=[{"name": "noise.png", "mimeType": "image/png", "buffer": png()}]
    )
    settle(page)
    assert_no_exception(page, "Classify after an upload")
    assert page.get_by_text("Top-5 predictions").count() and page.get_by_text("What the model saw").count()
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2  # probabilities and attributions
    wait_for_tables(page)
    page.screenshot(path=str(screenshots / "4_classify_upload.png"))


def nudge_slider(tab, label: str, presses: int) -> None:
    """Move a slider ``presses`` steps to the left with the keyboard, as a student could, and wait for the rerun."""
    thumb = tab.get_by_role("slider", name=label)
    for _ in range(presses):
        thumb.press("ArrowLeft")
        settle(tab)


def test_layers_shows_feature_maps_of_both_shipped_nets(page, server, screenshots):
    open_page(page, server, "Layers")
    assert_no_exception(page, "Layers")
    assert (
        page.get_by_text("a plain block has no shortcut").count()
        and page.get_by_text("the residual F(x) has RMS").count()
    )
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3
    page.screenshot(path=str(screenshots / "7_layers.png"), full_page=True)


def test_landscape_computes_loss_slices_with_a_progress_bar(page, server, screenshots):
    open_page(page, server, "Landscape")
    nudge_slider(page, "Training images the loss is measured on", 1)  # 64 images
    nudge_slider(page, "Points along the slice", 1)  # 21 points: quick on a busy CPU
    page.get_by_role("button", name=re.compile("Compute the 1-D slices")).click()
    page.get_by_text("decades per unit of α").first.wait_for(timeout=300_000)
    settle(page, timeout_s=300)
    assert_no_exception(page, "Landscape after computing the slices")
    page.screenshot(path=str(screenshots / "6_landscape_slices.png"), full_page=True)


def test_lesion_study_of_the_shipped_pair(page, server, screenshots):
    open_page(page, server, "Lesion")
    nudge_slider(page, "Test images (single-block sweep)", 1)  # 200 images
    nudge_slider(page, "Test images (k random blocks)", 1)  # 100 images
    nudge_slider(page, "Random draws per k", 2)  # 1 draw
    page.get_by_role("button", name=re.compile("Run the lesion study")).click()
    # The contrast sentence, or (for a pair with a net that never left chance) why there is none.
    page.get_by_text(re.compile("On average one deleted block|This pair cannot show the contrast")).first.wait_for(
        timeout=540_000
    )
    settle(page, timeout_s=300)
    assert_no_exception(page, "Lesion after the study")
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3
    page.screenshot(path=str(screenshots / "5_lesion.png"), full_page=True)
