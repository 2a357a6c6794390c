"""Every page in headless chromium after each of three damages to a live server's store: a row with a
corrupt field, a row written by a newer version (an unknown config field), and a damaged database page.
None may show an exception box; the runs not hit keep working."""

import json
import sqlite3
import time

import pytest
from conftest import tiny_config
from test_browser import CHROMIUM, CHROMIUM_ARGS, PAGES, assert_no_exception, dashboard, need_browser, open_page, settle
from test_queue_and_damage import damage_a_runs_page


@pytest.fixture(scope="module")
def damaged_server(tmp_path_factory):
    """The dashboard on a store with the shipped runs and a dozen long extra rows (a runs table of several pages)."""
    need_browser()
    from core.runs import reference
    from core.runs.lifecycle import RunStatus
    from core.runs.store import RunStore

    home = tmp_path_factory.mktemp("damaged_home")
    store = RunStore(home)
    reference.install(store)
    for k in range(12):
        c = tiny_config(seed=k)
        store.claim(c)
        store.set_info(c.run_id, {"dataset": "Shapes-10 (built-in synthetic)", "note": "x" * 1500})
        store.set_status(c.run_id, RunStatus.DIVERGED, "the loss became nan at step 1 (epoch 1, lr 0.1).")
    with dashboard(home) as url:
        yield url, store


def corrupt_a_row(store) -> str:
    ref = next(r for r in store.list() if r.reference)
    with sqlite3.connect(store.db_path) as db:
        db.execute(
            "UPDATE runs SET metrics = '{\"test_acc\": 0.9', updated = ? WHERE run_id = ?", (time.time(), ref.run_id)
        )
    return "corrupt row"


def newer_version_row(store) -> str:
    ref = next(r for r in store.list() if r.reference and not r.unknown)
    with sqlite3.connect(store.db_path) as db:
        db.execute(
            "UPDATE runs SET config = ?, updated = ? WHERE run_id = ?",
            (json.dumps({**ref.config.to_dict(), "mixup": 0.2}), time.time(), ref.run_id),
        )
    return "row from a newer version"


def damaged_page(store) -> str:
    damage_a_runs_page(store.db_path)
    return "damaged page"


def test_every_page_opens_after_each_damage(damaged_server):
    from playwright.sync_api import sync_playwright

    url, store = damaged_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 2400})
        tab.set_default_timeout(180_000)  # generous: behaviour is tested here, speed in bench/
        for damage in (corrupt_a_row, newer_version_row, damaged_page):
            what = damage(store)
            tab.goto(url)
            settle(tab)
            assert_no_exception(tab, f"Home after a {what}")
            assert tab.get_by_text("could not be read").count() or what == "row from a newer version", what
            for name in PAGES:
                finished = open_page(
                    tab, url, name, **(dict(timeout_s=20, required=False) if name == "Gradients" else {})
                )
                tab.locator("h1").first.wait_for()
                assert_no_exception(tab, f"{name} after a {what}" + ("" if finished else " (while still running)"))
        browser.close()
    listing = store.scan()
    assert listing.records and listing.damaged
