"""Predict, then reveal in real browsers: a teacher (in projector mode) opens a built-in question on the Train page,
three students vote from their own browsers, the projector's tally counts them, Reveal shows the answer measured
from the stored runs; after a restart of the server on the same store the question and its votes are still there.
"""

import os
import tempfile
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import CHROMIUM, CHROMIUM_ARGS, assert_no_exception, dashboard, need_browser, settle

from core.analysis import questions
from core.runs import reference
from core.runs.store import RunStore

PASSPHRASE = "predict-then-reveal"
QUESTION = questions.BUILTIN["depth-train-error"]
VOTES = (0, 0, 1)  # two students predict plain-20, one plain-56
WAIT_MS = 60_000  # a fragment's next look at the store, on a busy machine


def measured_answer() -> questions.Answer:
    """The answer the page must show, measured here from the same shipped runs."""
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        reference.install(store)
        return questions.answer(store, store.list(), QUESTION.spec, QUESTION.choices)


def new_tab(browser, url: str):
    tab = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    tab.set_default_timeout(180_000)
    tab.goto(url)
    settle(tab)
    return tab


def teacher_opens_the_question(browser, url: str):
    teacher = new_tab(browser, f"{url}/Train?projector=true")
    field = teacher.get_by_label("Teacher passphrase", exact=True)
    field.fill(PASSPHRASE)
    field.press("Enter")
    teacher.get_by_text("Teacher actions unlocked").wait_for()
    settle(teacher)
    teacher.get_by_text("Ask the class: predict, then reveal").click()
    settle(teacher)
    opened = teacher.get_by_text("Voting is open · 0 votes so far")
    for _ in range(3):  # a click that lands while the page reruns is dropped by the browser: click again
        teacher.locator(".st-key-poll_open button").click()  # the Train page's own question comes first
        settle(teacher)
        try:
            opened.wait_for(timeout=60_000)
            break
        except PlaywrightTimeout:
            continue
    opened.wait_for()
    return teacher


def test_students_vote_the_projector_counts_and_reveal_shows_the_measured_answer(tmp_path, monkeypatch):
    need_browser()
    screenshots = Path(os.environ.get("RESNET_LAB_SCREENSHOTS", "/tmp/resnet-lab-screenshots"))
    screenshots.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    answer = measured_answer()
    assert answer.answerable
    monkeypatch.setenv("RESNET_LAB_TEACHER_PASSPHRASE", PASSPHRASE)
    home = tmp_path / "home"
    home.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        with dashboard(home) as url:
            teacher = teacher_opens_the_question(browser, url)
            students = []
            for choice in VOTES:  # each student in a browser of its own (its own cookie and session)
                student = new_tab(browser, f"{url}/Train")
                student.get_by_text(QUESTION.text).wait_for(timeout=WAIT_MS)
                student.locator(f".st-key-poll_vote_1_{choice} button").click()
                student.get_by_text(f"Your prediction: {QUESTION.choices[choice]}").wait_for()
                assert student.get_by_text("votes (").count() == 0, "a student saw the tally before the reveal"
                students.append(student)
            for student in students[1:]:  # the first student stays to see the reveal
                student.context.close()
            first = students[0]
            teacher.get_by_text("Voting is open · 3 votes so far").wait_for(timeout=WAIT_MS)
            teacher.get_by_text("2 votes (67%)").wait_for()
            teacher.screenshot(path=str(screenshots / "poll_projector_tally.png"))
            settle(teacher)  # the Train page's own run over: no copy of the panel from the run before is left
            teacher.locator(".st-key-poll_reveal button").first.click()
            teacher.get_by_text(answer.text).first.wait_for()
            teacher.get_by_text("Revealed · 3 votes").first.wait_for()
            first.get_by_text(answer.text).first.wait_for(timeout=WAIT_MS)  # the student sees it without a reload
            teacher.screenshot(path=str(screenshots / "poll_revealed.png"))
            assert_no_exception(teacher, "Train with a revealed question")
        with dashboard(home) as url:  # a restart on the same store
            tab = new_tab(browser, f"{url}/Train")
            tab.get_by_text(QUESTION.text).first.wait_for(timeout=WAIT_MS)
            tab.get_by_text("Revealed · 3 votes").first.wait_for()
            tab.get_by_text(answer.text).first.wait_for()
        browser.close()
