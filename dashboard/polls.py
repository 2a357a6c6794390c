"""Predict, then reveal: what the class-question panel shows and when, without Streamlit (``dashboard.poll_panel``
draws it). The questions, votes and answers live in the store (``core.runs.store.Polls``); the answers are measured
by ``core.analysis.questions``.
"""

from __future__ import annotations

from core.analysis.questions import Answer
from core.runs.lifecycle import accepts_votes, is_revealed
from core.runs.store import MAX_CHOICES, Poll, RunRecord

STUDENT_POLL_S = 5.0  # a student's page looks for a new question, or the reveal, this often (one small read)
PROJECTOR_POLL_S = 2.0  # the projector and the teacher see the tally grow this often


def refresh_every(projector: bool, teacher: bool) -> float:
    return PROJECTOR_POLL_S if projector or teacher else STUDENT_POLL_S


def tally(poll: Poll) -> list[int]:
    """Votes per choice."""
    counts = [0] * len(poll.choices)
    for choice in poll.votes.values():
        if 0 <= choice < len(counts):
            counts[choice] += 1
    return counts


def votes_text(n: int) -> str:
    return f"{n} vote{'s' * (n != 1)}"


def tally_visible(poll: Poll, projector: bool, teacher: bool) -> bool:
    """Who sees how the class voted: everyone after the reveal; before it only the projector and the teacher, so
    that a student predicts before seeing what the others predicted."""
    return is_revealed(poll.state) or projector or teacher


def can_vote(poll: Poll) -> bool:
    return accepts_votes(poll.state)


def my_choice(poll: Poll, browser: str) -> int | None:
    return poll.votes.get(browser)


def vote_note(poll: Poll, browser: str) -> str:
    mine = my_choice(poll, browser)
    if not can_vote(poll):
        return f"Your prediction: **{poll.choices[mine]}**." if mine is not None else "You did not vote."
    if mine is None:
        return "Make your prediction: one vote per browser, and you can change it until the reveal."
    return f"Your prediction: **{poll.choices[mine]}**. You can change it until the reveal."


def tally_rows(poll: Poll, answer: Answer | None = None) -> list[tuple[str, float, str]]:
    """Per choice: its label (✓ on the measured answer), its share of the votes (0..1) and '2 votes (67%)'."""
    counts = tally(poll)
    total = sum(counts)
    rows = []
    for i, (choice, n) in enumerate(zip(poll.choices, counts)):
        mark = " ✓" if answer is not None and answer.choice == i else ""
        share = n / total if total else 0.0
        rows.append((choice + mark, share, f"{votes_text(n)} ({100 * share:.0f}%)" if total else votes_text(0)))
    return rows


def class_sentence(poll: Poll, answer: Answer) -> str:
    """How the class's predictions compare with the measurement."""
    counts = tally(poll)
    total = sum(counts)
    if not total:
        return "Nobody voted."
    if answer.choice is None:
        return f"{votes_text(total)} in all; the measurement does not single out one choice."
    right = counts[answer.choice]
    return (
        f"{right} of {votes_text(total)} ({100 * right / total:.0f}%) predicted **{poll.choices[answer.choice]}**, "
        "the measured answer."
    )


def revealed_answer(poll: Poll) -> Answer | None:
    return Answer.from_dict(poll.answer) if poll.answer else None


def own_question_problem(text: str, run_ids: list[str]) -> str | None:
    """Why a teacher's own question cannot be opened yet (None: it can)."""
    if not text.strip():
        return "Write the question."
    if not 2 <= len(run_ids) <= MAX_CHOICES:
        return f"Pick two to {MAX_CHOICES} runs: they are the choices."
    if len(set(run_ids)) != len(run_ids):
        return "Pick each run once."
    return None


def state_caption(poll: Poll) -> str:
    n = len(poll.votes)
    if can_vote(poll):
        return f"Voting is open · {votes_text(n)} so far"
    if is_revealed(poll.state):
        return f"Revealed · {votes_text(n)}"
    return f"Closed · {votes_text(n)}"


def choice_labels(records: list[RunRecord]) -> list[str]:
    """Short labels for runs as a question's choices: the teacher's name for a run, else its network
    ('plain-56'), with the start of its id where two would read alike."""
    names = [r.name or r.config.model_name for r in records]
    return [f"{n} · #{r.run_id[:6]}" if names.count(n) > 1 else n for n, r in zip(names, records)]
