"""Lesson links in a real browser: a link opened in a fresh browser context sets every widget it names
(Gradients, Train, Classify), settings changed on a page are still there after a visit to another page,
and projector mode comes from the link with large type and no Deploy button.

Widget values are read from the page itself (the DOM), as a student's browser shows them.
"""

import time

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, RUNNING, assert_no_exception, dashboard, need_browser, settle

from core.runs.store import RunStore
from dashboard import common, keys

# The value a keyed widget shows, found through the st-key-<key> class Streamlit gives its container.
WIDGET_VALUE = """(key) => {
  const box = document.querySelector('.st-key-' + key);
  if (!box) return null;
  if (box.querySelector('[data-testid="stMultiSelect"]'))
    return [...box.querySelectorAll('.react-aria-ComboBox [data-tag] > span[title]')].map(t => t.title);
  if (box.querySelector('[data-testid="stRadio"]')) {
    const on = box.querySelector('input[type="radio"]:checked');
    return on ? on.closest('label').innerText.trim() : null;
  }
  const select = box.querySelector('[data-testid="stSelectbox"] input[role="combobox"]');
  if (select) return select.value;
  const check = box.querySelector('input[type="checkbox"]');
  if (check) return check.checked;
  const number = box.querySelector('input[type="number"]');
  if (number) return number.value;
  const slider = box.querySelector('[role="slider"]');
  if (slider) return slider.getAttribute('aria-valuetext') || slider.getAttribute('aria-valuenow');
  return box.innerText.trim();
}"""
TIMEOUT_S = 240
CHANGED = (
    (keys.ARCH, "plain"),
    (keys.BN, False),
    (keys.EPOCHS, "5"),
)  # what the second test sets on Train  # a page's first open probes or loads models: generous on a shared CPU


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The dashboard with a store of its own (the shipped runs are installed on its first page view)."""
    need_browser()
    home = tmp_path_factory.mktemp("links_browser_home")
    with dashboard(home) as url:
        yield url, home


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser):
    """A fresh browser context (no cookies, no session): what a student gets who clicks a link."""
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_S * 1000)
    yield page
    context.close()


def labels(home) -> dict[str, str]:
    """Run id -> the label the pickers show, for the runs in the server's store."""
    records = RunStore(home).scan().records
    assert records, "the shipped reference runs were not installed"
    return {r.run_id: common.run_label(r) for r in records}


def lesson_run(home, shortcut: str, depth: int) -> str:
    """The picker label of a shipped seed-0 lesson run (unique among the stored runs)."""
    record = next(
        r
        for r in RunStore(home).scan().records
        if r.reference
        and r.config.seed == 0
        and r.config.shortcut == shortcut
        and r.config.depth == depth
        and r.config.dataset == "builtin"
        and r.config.subset == 1000
    )
    return common.run_label(record)


def open_link(tab, url: str, page: str, params: dict[str, list[str]]) -> None:
    tab.goto(common.view_link(f"{url}/{page}", params))
    tab.locator("h1").first.wait_for()
    settle(tab, timeout_s=TIMEOUT_S)
    assert_no_exception(tab, page)


def value(tab, key: str):
    return tab.evaluate(WIDGET_VALUE, key)


def shows(tab, key: str, wanted, timeout_s: float = 60) -> bool:
    """True once the widget of ``key`` shows ``wanted`` (a widget may be redrawn just after the run ends)."""
    deadline = time.time() + timeout_s
    while value(tab, key) != wanted and time.time() < deadline:
        tab.wait_for_timeout(250)
    return value(tab, key) == wanted


def shown_link(tab) -> str:
    return tab.locator('[data-testid="stSidebar"] [data-testid="stCode"] code').last.text_content().strip()


def test_lesson_links_open_gradients_train_and_classify_as_they_say(lab, tab):
    url, home = lab
    tab.goto(url)  # the first view installs the shipped runs
    settle(tab, timeout_s=TIMEOUT_S)
    plain20, resnet20 = lesson_run(home, "none", 20), lesson_run(home, "A", 20)
    plain56, resnet56 = lesson_run(home, "none", 56), lesson_run(home, "A", 56)

    # Gradients: plain-8 and plain-14, BN off, PyTorch's default init; a chosen pair during training.
    gradients = {
        keys.GRAD_DEPTHS: ["8", "14"],
        keys.GRAD_NETS: ["plain"],
        keys.GRAD_BN: ["off"],
        keys.GRAD_INIT: ["PyTorch default"],
        keys.GRAD_LEFT: [plain56],
        keys.GRAD_RIGHT: [resnet56],
    }
    open_link(tab, url, "Gradients", gradients)
    assert shows(tab, keys.GRAD_DEPTHS, ["8", "14"]), value(tab, keys.GRAD_DEPTHS)
    assert shows(tab, keys.GRAD_NETS, ["plain"]), value(tab, keys.GRAD_NETS)
    assert shows(tab, keys.GRAD_BN, ["off"]), value(tab, keys.GRAD_BN)
    assert shows(tab, keys.GRAD_INIT, ["PyTorch default"]), value(tab, keys.GRAD_INIT)
    assert shows(tab, keys.GRAD_LEFT, plain56), value(tab, keys.GRAD_LEFT)
    assert shows(tab, keys.GRAD_RIGHT, resnet56), value(tab, keys.GRAD_RIGHT)
    assert shows(tab, keys.SHATTER, False), value(tab, keys.SHATTER)  # not in the link: its default
    for name, values in gradients.items():
        assert tab.evaluate("(k) => new URLSearchParams(location.search).getAll(k)", name) == values

    # Train: plain-110 without BN, and the paper's Fig. 6 overlay along steps, loss.
    train = {
        keys.ARCH: ["plain"],
        keys.DEPTH: ["110"],
        keys.BN: ["false"],
        keys.INIT: ["PyTorch default"],
        keys.EPOCHS: ["3"],
        keys.SEED: ["2"],
        keys.OVERLAY: [plain20, plain56, resnet20, resnet56],
        keys.OVERLAY_METRIC: ["loss"],
    }
    open_link(tab, url, "Train", train)
    assert shows(tab, keys.ARCH, "plain"), value(tab, keys.ARCH)
    assert shows(tab, keys.DEPTH, "110"), value(tab, keys.DEPTH)
    assert shows(tab, keys.BN, False), value(tab, keys.BN)
    assert shows(tab, keys.INIT, "PyTorch default"), value(tab, keys.INIT)
    assert shows(tab, keys.EPOCHS, "3"), value(tab, keys.EPOCHS)
    assert shows(tab, keys.SEED, "2"), value(tab, keys.SEED)
    assert shows(tab, keys.OVERLAY, [plain20, plain56, resnet20, resnet56]), value(tab, keys.OVERLAY)
    assert shows(tab, keys.OVERLAY_METRIC, "loss"), value(tab, keys.OVERLAY_METRIC)
    assert "plain-110" in tab.locator('[data-testid="stMain"]').inner_text()

    # Classify: two models and test image number 7 of the built-in set.
    classify = {keys.MODELS: [resnet56, plain56], keys.CLS_INDEX["builtin"]: ["7"]}
    open_link(tab, url, "Classify", classify)
    assert shows(tab, keys.MODELS, [resnet56, plain56]), value(tab, keys.MODELS)
    assert shows(tab, keys.CLS_INDEX["builtin"], "7"), value(tab, keys.CLS_INDEX["builtin"])
    assert shows(tab, keys.IMAGE_SOURCE, "A test image from a data set"), value(tab, keys.IMAGE_SOURCE)
    # The sidebar's link reopens exactly this view.
    assert shown_link(tab) == common.view_link(f"{url}/Classify", classify)


def test_settings_survive_a_visit_to_another_page(lab, tab):
    url, _ = lab
    tab.goto(f"{url}/Train")
    settle(tab, timeout_s=TIMEOUT_S)
    tab.locator(f".st-key-{keys.ARCH}").get_by_text("plain", exact=True).click()
    settle(tab)
    tab.locator(f".st-key-{keys.BN}").get_by_text("Batch normalisation", exact=False).click()
    settle(tab)
    epochs = tab.locator(f".st-key-{keys.EPOCHS} input")
    epochs.fill("5")
    epochs.press("Enter")
    settle(tab)
    for key, wanted in CHANGED:
        assert shows(tab, key, wanted), (key, value(tab, key))

    nav = tab.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Compare", exact=True).click()
    tab.wait_for_url(f"{url}/Compare*")
    settle(tab, timeout_s=TIMEOUT_S)
    assert_no_exception(tab, "Compare")
    nav.get_by_role("link", name="Train", exact=True).click()
    tab.wait_for_url(f"{url}/Train*")
    settle(tab, timeout_s=TIMEOUT_S)
    for key, wanted in CHANGED:
        assert shows(tab, key, wanted), (key, value(tab, key))
    link = shown_link(tab)
    assert all(part in link for part in ("arch=plain", "bn=false", "epochs=5")), link


def test_projector_mode_from_a_link(lab, tab):
    url, _ = lab
    paragraph = (
        '() => getComputedStyle(document.querySelector(\'[data-testid="stMain"] '
        '[data-testid="stMarkdownContainer"] p\')).fontSize'
    )
    tab.goto(f"{url}/Compare")
    settle(tab, timeout_s=TIMEOUT_S)
    normal = float(tab.evaluate(paragraph).removesuffix("px"))
    open_link(tab, url, "Compare", {keys.PROJECTOR: ["true"]})
    assert shows(tab, keys.PROJECTOR, True), value(tab, keys.PROJECTOR)
    assert float(tab.evaluate(paragraph).removesuffix("px")) > normal
    assert tab.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true"  # folded for the room
    assert tab.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert tab.locator(RUNNING).count() == 0
    assert shown_link(tab).endswith("projector=true")
