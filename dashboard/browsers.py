"""Who is asking: one name per browser, so a limit per student holds across that student's tabs.

A Streamlit session is one tab. The queue limit counts per browser instead: by the XSRF cookie Streamlit sets
once per browser (every tab of that browser sends the same one), else by the client's address, else (no cookie
and localhost, as in tests) by the session. Only a hash is kept, never the cookie itself.
"""

from __future__ import annotations

import hashlib

BROWSER_COOKIE = "_streamlit_xsrf"  # set by Streamlit's server for every browser while XSRF protection is on


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def requester(cookies: dict | None, ip_address: str | None, session_id: str) -> str:
    """The queue's name for this browser: ``browser-…`` from its cookie, ``address-…`` from its client address,
    or ``session-…`` when neither is known."""
    cookie = (cookies or {}).get(BROWSER_COOKIE)
    if isinstance(cookie, str) and cookie:
        return f"browser-{_digest(cookie)}"
    if isinstance(ip_address, str) and ip_address:  # a test harness may hand over a stand-in object
        return f"address-{_digest(ip_address)}"
    return f"session-{session_id}"
