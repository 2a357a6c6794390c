"""A class on one server: while 30 simulated students (bench.load's protocol-level tabs, one asyncio thread) watch
runs on the Train page, every page opens in headless chromium with no exception box."""

import asyncio
import threading
import time

from test_browser import CHROMIUM, CHROMIUM_ARGS, PAGES, assert_no_exception, dashboard, need_browser, open_page

STUDENTS = 30


class Class:
    """``STUDENTS`` tabs in a thread of their own, each on the Train page watching one of ``run_ids``."""

    def __init__(self, url: str, run_ids: list[str]):
        from bench.load import Student

        ws = url.replace("http://", "ws://") + "/_stcore/stream"
        self.students = [Student(ws, "Train", f"run={run_ids[i % len(run_ids)]}") for i in range(STUDENTS)]
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._watch(),), daemon=True)

    async def _watch(self) -> None:
        await asyncio.gather(*(s.run(self.stop) for s in self.students))

    def rendered(self) -> int:
        return sum(s.finished.is_set() for s in self.students)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)


def test_every_page_opens_while_30_students_watch(tmp_path):
    need_browser()
    from playwright.sync_api import sync_playwright

    from core.runs import reference
    from core.runs.store import RunStore

    store = RunStore(tmp_path)
    reference.install(store)
    run_ids = [r.run_id for r in store.list()]
    with dashboard(tmp_path) as url, Class(url, run_ids) as watching:
        deadline = time.time() + 600  # generous: 30 first renders on 2 busy cores
        while watching.rendered() < STUDENTS and time.time() < deadline:
            time.sleep(1)
        assert watching.rendered() == STUDENTS, [s.error for s in watching.students if not s.finished.is_set()]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            tab = browser.new_page(viewport={"width": 1400, "height": 1800})
            tab.set_default_timeout(180_000)
            for name in PAGES:
                finished = open_page(
                    tab, url, name, **(dict(timeout_s=30, required=False) if name == "Gradients" else {})
                )
                tab.locator("h1").first.wait_for()
                assert_no_exception(tab, f"{name} while {STUDENTS} students watch" + ("" if finished else " (running)"))
            browser.close()
        assert not [s.error for s in watching.students if s.error], "a student's tab lost its connection"
