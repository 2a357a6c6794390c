"""Two browser contexts (two students) start runs that differ only in their number of training images,
300 and 400: each must watch its own run, by id, while both are queued or training and after they
finish; and a link with ?run=<id> opens that run in a third, fresh context."""

import re

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, assert_no_exception, dashboard, need_browser, settle

from core.engine.config import RunConfig
from core.runs.reference import SHAPES10_LESSON as LESSON

SUBSETS = (300, 400)
WAIT_MS = 600_000  # generous: two people's runs share a busy CPU with other work


def config_for(subset: int) -> RunConfig:
    """The config the Train page builds for a ResNet-8, one epoch, no gradient probes, at its lesson defaults."""
    return RunConfig(
        depth=8,
        subset=subset,
        test_subset=200,
        epochs=1,
        probe_every=0,
        **{k: LESSON[k] for k in ("recipe", "schedule", "batch_size", "augment")},
    )


def watched_label(tab) -> str:
    """The run the Watch view's picker shows."""
    box = tab.locator('[data-testid="stSelectbox"]').filter(has_text="Run shown below")
    # the chosen option is drawn as text or held in the search input, depending on the Streamlit version
    return box.evaluate(
        "e => e.textContent + ' | ' + Array.from(e.querySelectorAll('input')).map(i => i.value).join(' | ')"
    )


def start(tab, url: str, subset: int) -> None:
    tab.goto(f"{url}/Train")
    settle(tab, timeout_s=300)
    tab.get_by_role("combobox", name="Depth (weighted layers)").click()
    tab.get_by_role("option", name="other (6n+2)").click()
    settle(tab)
    tab.get_by_text("Record per-layer gradients").click()
    settle(tab)
    for label, value in (("Epochs", "1"), ("Training images", str(subset)), ("Test images", "200")):
        box = tab.get_by_role("spinbutton", name=label)
        box.fill(value)
        box.press("Enter")
        settle(tab)
    assert tab.get_by_text(f"New configuration: {config_for(subset).label}").count(), (
        f"the page does not build {subset}'s config"
    )
    tab.get_by_role("button", name="Start training").click()
    settle(tab, timeout_s=120)


def test_two_contexts_each_watch_their_own_run(tmp_path):
    need_browser()
    from playwright.sync_api import sync_playwright

    labels = {n: config_for(n).label for n in SUBSETS}
    ids = {n: config_for(n).run_id for n in SUBSETS}
    assert len(set(labels.values())) == 2, "the two runs must not share a label"
    with dashboard(tmp_path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tabs = {}
            for n in SUBSETS:  # the second starts while the first is queued or training
                tabs[n] = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
                tabs[n].set_default_timeout(120_000)
                start(tabs[n], url, n)
            for n, tab in tabs.items():
                other = labels[SUBSETS[1 - SUBSETS.index(n)]]
                shown = watched_label(tab)
                assert labels[n] in shown and other not in shown, f"the {n}-image tab watches {shown!r}"
                assert f"run={ids[n]}" in tab.url, f"the {n}-image tab's address does not name its run: {tab.url}"
            for n, tab in tabs.items():  # each sees its own run end, and still watches it
                tab.get_by_text(re.compile("^" + re.escape(labels[n]) + " finished")).first.wait_for(timeout=WAIT_MS)
                settle(tab, timeout_s=120)
                assert_no_exception(tab, f"Train, {n} images")
                assert labels[n] in watched_label(tab)
                tab.screenshot(path=str(tmp_path / f"train_{n}.png"))
            # A link to the first run opens it in a fresh context.
            fresh = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
            fresh.set_default_timeout(120_000)
            fresh.goto(f"{url}/Train?run={ids[SUBSETS[0]]}")
            settle(fresh, timeout_s=300)
            assert labels[SUBSETS[0]] in watched_label(fresh)
            assert fresh.get_by_text(re.compile("^" + re.escape(labels[SUBSETS[0]]) + " finished")).count()
        finally:
            browser.close()


if __name__ == "__main__":
    pytest.main([__file__, "-x", "-q"])
