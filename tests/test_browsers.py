"""The queue limit counts per browser: every tab of one browser is one requester (dashboard.browsers)."""

import pytest

from core.runs.store import QueueFull
from dashboard.browsers import BROWSER_COOKIE, requester


def test_tabs_of_one_browser_share_a_name_and_other_browsers_do_not():
    one = {BROWSER_COOKIE: "2|1f2e|a9b8|1765000000"}
    other = {BROWSER_COOKIE: "2|77aa|c3d4|1765000001"}
    assert requester(one, "10.0.0.5", "tab-a") == requester(one, "10.0.0.5", "tab-b")
    assert requester(one, None, "tab-a") != requester(other, None, "tab-a")
    assert "2|1f2e" not in requester(one, None, "tab-a"), "the cookie itself is never kept"


def test_without_a_cookie_the_address_names_the_browser_then_the_session():
    assert requester({}, "10.0.0.5", "tab-a") == requester(None, "10.0.0.5", "tab-b")
    assert requester({}, "10.0.0.5", "tab-a") != requester({}, "10.0.0.6", "tab-a")
    assert requester({}, None, "tab-a") != requester({}, None, "tab-b")


def test_a_second_tab_of_the_same_browser_cannot_exceed_the_queue_limit(store):
    from conftest import tiny_config

    cookies = {BROWSER_COOKIE: "2|1f2e|a9b8|1765000000"}
    first_tab, second_tab = requester(cookies, None, "tab-a"), requester(cookies, None, "tab-b")
    store.request(tiny_config(seed=1), requester=first_tab, limit=2)
    store.request(tiny_config(seed=2), requester=first_tab, limit=2)
    with pytest.raises(QueueFull, match="the limit is 2"):
        store.request(tiny_config(seed=3), requester=second_tab, limit=2)
    store.request(tiny_config(seed=3), requester=requester({BROWSER_COOKIE: "other"}, None, "tab-c"), limit=2)
