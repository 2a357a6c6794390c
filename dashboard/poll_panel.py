"""Predict, then reveal: the class question at the top of a lesson page.

Every browser sees the question the teacher opened on this page and votes once (changing its vote until the
reveal); the projector view and the teacher see the tally grow; on Reveal the answer is measured from the stored
runs and shown beside the class's votes. The panel is a fragment that looks every few seconds at one number
(``Polls.version``) and reads the questions again only when it changed, once for every browser together.
Decisions live in ``dashboard.polls``; questions, votes and answers in the store.
"""

from __future__ import annotations

import streamlit as st

from core.analysis import questions
from core.runs import lifecycle
from core.runs.store import Poll, Polls, RunStore, StoreError
from dashboard import common, keys, polls


@st.cache_data(show_spinner=False, max_entries=4)
def _shown(root: str, version: int, _store: RunStore) -> dict[str, Poll]:
    """The question each page shows, read once per change of any question or vote (shared by every session)."""
    return Polls(_store).shown()


def _browser() -> str:
    """This browser's name for its vote: the queue's (``dashboard.browsers``: its cookie, else its address, else
    this session); the session where the address is not text (an app test's stand-in)."""
    try:
        return common.requester_id()
    except TypeError:
        return f"session-{st.session_state[common.REQUESTER_KEY]}"


def _vote(store: RunStore, poll_id: int, browser: str, choice: int) -> None:
    try:
        Polls(store).vote(poll_id, browser, choice)
    except StoreError as e:  # revealed or closed a moment ago
        st.session_state[keys.POLL_NOTE] = str(e)[0].upper() + str(e)[1:] + "."


def _reveal(store: RunStore, poll: Poll) -> None:
    with st.spinner("Measuring the answer from the stored runs…"):
        records = common.listing(store).records
        answer = questions.answer(store, records, poll.spec, poll.choices)
    Polls(store).reveal(poll.poll_id, answer.to_dict())


def _tally(poll: Poll, answer) -> None:
    for label, share, text in polls.tally_rows(poll, answer):
        st.progress(share, text=f"**{label}** · {text}")


def _choices(store: RunStore, poll: Poll, browser: str) -> None:
    mine = polls.my_choice(poll, browser)
    columns = st.columns(len(poll.choices))
    for i, (column, choice) in enumerate(zip(columns, poll.choices)):
        column.button(
            choice,
            key=f"{keys.POLL_VOTE}_{poll.poll_id}_{i}",
            type="primary" if mine == i else "secondary",
            icon=":material/how_to_vote:" if mine == i else None,
            width="stretch",
            on_click=_vote,
            args=(store, poll.poll_id, browser, i),
        )


def _close(store: RunStore, poll: Poll) -> None:
    Polls(store).close(poll.poll_id)


def _teacher_buttons(store: RunStore, poll: Poll) -> None:
    left, right, _ = st.columns([1, 1, 3])
    if polls.can_vote(poll):
        left.button(
            "Reveal",
            key=keys.POLL_REVEAL,
            type="primary",
            icon=":material/science:",
            help="Stop the voting and measure the answer from the stored runs",
            on_click=_reveal,
            args=(store, poll),
        )
    right.button(
        "Close",
        key=keys.POLL_CLOSE,
        help="Take the question off every page (it is kept, with its votes, under Stored questions)",
        on_click=_close,
        args=(store, poll),
    )


def _panel(store: RunStore, page: str, teacher: bool, projector: bool) -> None:
    try:
        poll = _shown(str(store.root), Polls(store).version(), store).get(page)
    except StoreError as e:
        st.caption(f":material/how_to_vote: The class question cannot be read: {e}")
        return
    if note := st.session_state.pop(keys.POLL_NOTE, None):
        st.toast(note, icon=":material/block:")
    if poll is None:
        return
    browser = _browser()
    answer = polls.revealed_answer(poll)
    with st.container(border=True):
        st.markdown(f":material/how_to_vote: **Predict, then reveal** · {poll.text}")
        st.caption(polls.state_caption(poll))
        if polls.can_vote(poll):
            _choices(store, poll, browser)
        st.caption(polls.vote_note(poll, browser))
        if answer is not None:
            left, right = st.columns(2, gap="large")
            with left:
                (st.success if answer.answerable else st.warning)(answer.text, icon=":material/science:")
            with right:
                _tally(poll, answer)
                st.markdown(polls.class_sentence(poll, answer))
        elif polls.tally_visible(poll, projector, teacher):
            _tally(poll, None)
        if teacher:
            _teacher_buttons(store, poll)


def _open_builtin(store: RunStore, page: str, records) -> None:
    choices = {q.key: q for q in questions.for_page(page)}
    key = st.selectbox(
        "A question tied to the shipped runs",
        list(choices),
        key=keys.POLL_PICK,
        format_func=lambda k: ("" if choices[k].page == page else f"({choices[k].page}) ") + choices[k].text,
    )
    question = choices[key]
    missing = question.missing(records)
    st.caption(f"Cannot be answered here: {missing}." if missing else f"Answered by measuring: {question.measured}.")
    if st.button("Open this question", key=keys.POLL_OPEN, icon=":material/how_to_vote:"):
        Polls(store).open(page, question.text, question.choices, question.spec, question.key)
        st.rerun()


def _open_own(store: RunStore, page: str, records) -> None:
    finished = [r for r in records if lifecycle.is_finished(r)]
    labels = common.picker_labels(finished)
    by_id = {r.run_id: r for r in finished}
    c1, c2 = st.columns(2)
    metric = c1.radio(
        "Measured by", list(questions.METRICS), key=keys.POLL_OWN_METRIC, format_func=questions.METRICS.get
    )
    pick = c2.radio("The answer is the run with the", questions.PICKS, key=keys.POLL_OWN_PICK, horizontal=True)
    run_ids = st.multiselect(
        "Runs to choose from (two to four; each is a choice)",
        list(labels),
        key=keys.POLL_OWN_RUNS,
        format_func=labels.get,
        max_selections=4,
    )
    text = st.text_input(
        "Your question", key=keys.POLL_OWN_TEXT, placeholder=questions.runs_question_text(metric, pick)
    )
    text = text or questions.runs_question_text(metric, pick)
    problem = polls.own_question_problem(text, run_ids)
    if st.button("Open your question", key=keys.POLL_OWN_OPEN, disabled=problem is not None, help=problem):
        spec = questions.runs_spec(run_ids, metric, pick)
        Polls(store).open(page, text, polls.choice_labels([by_id[i] for i in run_ids]), spec)
        st.rerun()


def _stored(store: RunStore, page: str) -> None:
    stored = Polls(store).all(page)
    for poll in stored:
        if poll.state == lifecycle.PollState.CLOSED:
            left, right = st.columns([4, 1], vertical_alignment="center")
            left.caption(f"{poll.text} · {polls.state_caption(poll)}")
            if right.button("Open again", key=f"{keys.POLL_REOPEN}_{poll.poll_id}"):
                Polls(store).reopen(poll.poll_id)
                st.rerun()
    if stored and st.button(
        f"Clear this page's questions and votes ({len(stored)})", key=keys.POLL_CLEAR, icon=":material/delete:"
    ):
        Polls(store).clear(page)
        st.rerun()


def _teacher_tools(store: RunStore, page: str) -> None:
    with st.expander("Ask the class: predict, then reveal", icon=":material/how_to_vote:"):
        records = common.listing(store).records
        builtin, own, stored = st.tabs(["Built-in question", "Your own question", "Stored questions"])
        with builtin:
            _open_builtin(store, page, records)
        with own:
            _open_own(store, page, records)
        with stored:
            _stored(store, page)


def show(store: RunStore, page: str) -> None:
    """The class question of ``page`` for everyone, and for the teacher the tools to ask, reveal and clear."""
    teacher = common.is_teacher()
    projector = bool(st.session_state.get(keys.PROJECTOR))
    if teacher:
        _teacher_tools(store, page)

    @st.fragment(run_every=polls.refresh_every(projector, teacher))
    def panel():
        _panel(store, page, teacher, projector)

    panel()
