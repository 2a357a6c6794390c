"""Predict, then reveal: class questions and votes in the store, their answers measured from the shipped runs, their
trip through lesson files, and what the panel decides to show."""

import pytest

from core.analysis import questions
from core.runs import reference
from core.runs.archive import export_lesson, import_lesson
from core.runs.lifecycle import PollState
from core.runs.store import PollError, Polls, RunStore
from dashboard import polls as decide

TRAIN_Q = questions.BUILTIN["depth-train-error"]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A store with the shipped reference runs installed."""
    store = RunStore(tmp_path_factory.mktemp("shipped"))
    reference.install(store)
    return store


def open_train_question(store) -> int:
    return Polls(store).open("Train", TRAIN_Q.text, TRAIN_Q.choices, TRAIN_Q.spec, TRAIN_Q.key)


# ------------------------------------------------------------------------------------ the store


def test_a_question_takes_one_vote_per_browser_changeable_until_the_reveal(store):
    polls = Polls(store)
    v0 = polls.version()
    poll_id = open_train_question(store)
    assert polls.version() > v0
    polls.vote(poll_id, "browser-a", 0)
    polls.vote(poll_id, "browser-b", 1)
    v1 = polls.version()
    polls.vote(poll_id, "browser-a", 1)  # a change of mind replaces the vote
    assert polls.version() > v1
    poll = polls.shown()["Train"]
    assert poll.poll_id == poll_id and poll.state == PollState.OPEN and poll.votes == {"browser-a": 1, "browser-b": 1}
    with pytest.raises(PollError, match="no choice"):
        polls.vote(poll_id, "browser-c", 5)
    polls.reveal(poll_id, {"answerable": True, "choice": 0, "text": "measured"})
    with pytest.raises(PollError, match="revealed"):
        polls.vote(poll_id, "browser-c", 0)
    poll = polls.get(poll_id)
    assert poll.state == PollState.REVEALED and poll.answer["choice"] == 0 and len(poll.votes) == 2


def test_opening_a_question_closes_the_one_shown_on_that_page_only(store):
    polls = Polls(store)
    first = open_train_question(store)
    other = polls.open("Lesion", "Which?", ["a", "b"])
    second = polls.open("Train", "Another?", ["x", "y", "z"])
    shown = polls.shown()
    assert shown["Train"].poll_id == second and shown["Lesion"].poll_id == other
    assert polls.get(first).state == PollState.CLOSED
    polls.reopen(first)  # the closed one again: the page's other question steps aside
    assert polls.shown()["Train"].poll_id == first and polls.get(second).state == PollState.CLOSED
    polls.close(first)
    assert "Train" not in polls.shown()


def test_questions_need_text_and_two_to_four_choices(store):
    polls = Polls(store)
    for text, choices in (("", ["a", "b"]), ("Q?", ["a"]), ("Q?", ["a", "b", "c", "d", "e"]), ("Q?", ["a", " "])):
        with pytest.raises(PollError):
            polls.open("Train", text, choices)
    assert polls.all() == []


def test_clear_removes_questions_and_votes_of_a_page_or_only_the_votes(store):
    polls = Polls(store)
    train = open_train_question(store)
    lesion = polls.open("Lesion", "Which?", ["a", "b"])
    polls.vote(train, "a", 0)
    polls.vote(lesion, "a", 1)
    assert polls.clear("Lesion", votes_only=True) == 1
    assert polls.get(lesion).votes == {} and polls.get(train).votes == {"a": 0}
    polls.clear("Train")
    assert polls.get(train) is None and [p.poll_id for p in polls.all()] == [lesion]
    with pytest.raises(PollError, match="cleared"):
        polls.vote(train, "a", 1)
    polls.clear()
    assert polls.all() == []


def test_questions_and_votes_survive_reopening_the_store(tmp_path):
    store = RunStore(tmp_path / "s")
    poll_id = open_train_question(store)
    for i, browser in enumerate(("a", "b", "c")):
        Polls(store).vote(poll_id, browser, i % 2)
    again = Polls(RunStore(tmp_path / "s"))
    poll = again.shown()["Train"]
    assert poll.text == TRAIN_Q.text and poll.votes == {"a": 0, "b": 1, "c": 0} and poll.spec == TRAIN_Q.spec


# ------------------------------------------------------------------------- answers on shipped runs


def test_training_error_question_is_measured_from_one_budget_of_shipped_runs(shipped):
    records = shipped.list()
    answer = questions.answer(shipped, records, TRAIN_Q.spec, TRAIN_Q.choices)
    assert answer.answerable and answer.choice == 0  # plain-20 trains to a lower error than plain-56
    assert answer.values[0] < answer.values[1] and "plain-20" in answer.text and "%" in answer.text
    ids = {r.run_id: r for r in records}
    assert len({questions.setup_key(ids[i].config) for i in answer.runs}) == 1  # one budget


def test_test_error_question_plain56_vs_resnet56(shipped):
    q = questions.BUILTIN["shortcut-test-error"]
    answer = questions.answer(shipped, shipped.list(), q.spec, q.choices)
    assert answer.answerable and answer.choice == 1 and answer.values[1] < answer.values[0]


def test_init_gradient_question_reads_the_step_0_probes(shipped):
    q = questions.BUILTIN["init-gradient"]
    answer = questions.answer(shipped, shipped.list(), q.spec, q.choices)
    probes = shipped.history(answer.runs[0], kinds=("grad_w",)).probes
    convs = probes[(probes.step == 0) & (probes.layer != "fc")].sort_values("idx")
    assert answer.answerable and answer.values == [convs.value.iloc[0], convs.value.iloc[-1]]
    assert answer.choice == (0 if answer.values[0] > answer.values[1] else 1)


@pytest.mark.slow
def test_lesion_question_deletes_blocks_of_the_shipped_pair(shipped):
    q = questions.BUILTIN["lesion-one-block"]
    answer = questions.answer(shipped, shipped.list(), q.spec, q.choices)
    assert answer.answerable and answer.choice == 0 and answer.values[0] > answer.values[1]  # plain-56 loses more
    assert answer.unit == "points" and "ResNet-56" in answer.text


def test_questions_whose_runs_are_missing_say_so_instead_of_guessing(store):
    for q in questions.BUILTIN.values():
        assert q.missing([]) is not None
        answer = questions.answer(store, [], q.spec, q.choices)
        assert not answer.answerable and answer.choice is None and "cannot be answered here" in answer.text
    unknown = questions.answer(store, [], {"kind": "builtin", "key": "nope"}, ("a", "b"))
    assert not unknown.answerable


def test_a_teachers_own_question_is_answered_from_the_runs_picked(shipped):
    records = shipped.list()
    by_id = {r.run_id: r for r in records}
    ids = ["4891839ee33b", "aad5b90bbf34", "8f93dd57a81a"]  # the shipped plain-20, plain-56, ResNet-20
    errors = [questions.final_error(by_id[i], "test_error") for i in ids]
    for pick, best in (("lowest", min), ("highest", max)):
        answer = questions.answer(shipped, records, questions.runs_spec(ids, "test_error", pick), ("p20", "p56", "r20"))
        assert answer.answerable and answer.choice == errors.index(best(errors))
    gone = questions.answer(shipped, records, questions.runs_spec([ids[0], "0" * 12], "train_error"), ("a", "b"))
    assert not gone.answerable and "not stored here" in gone.text


# ------------------------------------------------------------------------------------ lesson files


def test_lesson_files_carry_the_questions_and_the_votes_only_if_asked(shipped, tmp_path):
    poll_id = open_train_question(shipped)
    Polls(shipped).vote(poll_id, "a", 1)
    record = shipped.get("047c30641372")  # a shipped run without weights: a small file
    for votes in (False, True):
        path = tmp_path / f"lesson-{votes}.zip"
        result = export_lesson(shipped, path, [record], votes=votes)
        assert result.questions == 1 and result.votes == (1 if votes else 0)
        target = RunStore(tmp_path / f"target-{votes}")
        imported = import_lesson(target, path)
        assert imported.questions == 1 and "1 class question added" in imported.text()
        poll = Polls(target).shown()["Train"]
        assert poll.text == TRAIN_Q.text and poll.spec == TRAIN_Q.spec and poll.votes == ({"a": 1} if votes else {})
        assert import_lesson(target, path).questions == 0  # the same file again adds nothing twice
    bare = RunStore(tmp_path / "bare")
    assert import_lesson(bare, path, questions=False).questions == 0 and Polls(bare).all() == []
    Polls(shipped).clear()


# ------------------------------------------------------------------------------------ decisions


def test_the_tally_is_hidden_from_students_until_the_reveal(store):
    polls = Polls(store)
    poll_id = open_train_question(store)
    for browser, choice in (("a", 0), ("b", 0), ("c", 1)):
        polls.vote(poll_id, browser, choice)
    poll = polls.get(poll_id)
    assert decide.tally(poll) == [2, 1]
    assert not decide.tally_visible(poll, projector=False, teacher=False)
    assert decide.tally_visible(poll, projector=True, teacher=False) and decide.tally_visible(poll, False, True)
    assert decide.refresh_every(True, False) < decide.refresh_every(False, False)
    assert "change it until the reveal" in decide.vote_note(poll, "c") and "plain-56" in decide.vote_note(poll, "c")
    assert decide.state_caption(poll) == "Voting is open · 3 votes so far"
    answer = questions.Answer(True, 0, "measured")
    polls.reveal(poll_id, answer.to_dict())
    poll = polls.get(poll_id)
    assert decide.tally_visible(poll, False, False) and not decide.can_vote(poll)
    assert decide.revealed_answer(poll) == answer
    assert [label for label, _, _ in decide.tally_rows(poll, answer)] == ["plain-20 ✓", "plain-56"]
    assert decide.tally_rows(poll, answer)[0][2] == "2 votes (67%)"
    assert decide.class_sentence(poll, answer).startswith("2 of 3 votes (67%) predicted **plain-20**")


def test_a_teachers_own_question_needs_text_and_two_to_four_distinct_runs():
    assert decide.own_question_problem("", ["a", "b"]) == "Write the question."
    assert "two to 4" in decide.own_question_problem("Q?", ["a"])
    assert "two to 4" in decide.own_question_problem("Q?", list("abcde"))
    assert decide.own_question_problem("Q?", ["a", "a"]) == "Pick each run once."
    assert decide.own_question_problem("Q?", ["a", "b"]) is None


def test_runs_as_choices_get_short_labels_told_apart_by_their_id(shipped):
    records = [shipped.get(i) for i in ("4891839ee33b", "fc93b45379b9", "aad5b90bbf34")]  # plain-20 twice
    assert decide.choice_labels(records) == ["plain-20 · #489183", "plain-20 · #fc93b4", "plain-56"]


def test_the_lesion_question_never_computes_in_the_web_process(store):
    """Without the study in the cache, Reveal says how to get it instead of running minutes of forward passes."""
    from conftest import tiny_config

    from core.runs.execute import train

    pair = [
        train(tiny_config(depth=56, shortcut=s, subset=64, test_subset=64, probe_every=0), store).record
        for s in ("none", "A")
    ]
    answer = questions._lesion_measure(store, pair)
    assert not answer.answerable and "not computed yet" in answer.text
