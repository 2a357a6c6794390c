"""One budget per comparison: the Train overlay, the Fig. 6 sentences, the pairs and the Compare page's setup
choose and describe runs of one budget, and say what differed when a user mixes budgets (fake records, no
training)."""

from pathlib import Path

from core.analysis import compare
from core.analysis.budget import setup_key
from core.engine.config import RunConfig
from core.runs.lifecycle import RunStatus
from core.runs.store import RunRecord
from dashboard import lesson, pairs
from dashboard import training as T

SHORT = dict(recipe="seed", subset=1000, test_subset=500, epochs=8)  # the lesson's budget (496 steps)
LONG = dict(recipe="seed", subset=4000, test_subset=500, epochs=15)  # the deep pair's (3,750 steps)


def run(shortcut, depth, train_eval_acc=0.8, test_acc=None, budget=SHORT, seed=0, reference=True, steps=None):
    config = RunConfig(depth=depth, shortcut=shortcut, seed=seed, batch_size=16, schedule="cosine", **budget)
    metrics = {"train_eval_acc": train_eval_acc, "test_acc": train_eval_acc if test_acc is None else test_acc}
    info = {"classes": list("abcdefghij"), "n_test": 500, **({"total_steps": steps} if steps else {})}
    return RunRecord(config.run_id, config, RunStatus.DONE, metrics=metrics, info=info, reference=reference)


def names(ids, records):
    by_id = {r.run_id: r.config.label for r in records}
    return [by_id[i] for i in ids]


# ------------------------------------------------------------------------------------ Train: overlay


def test_the_overlay_opens_on_one_budget_even_when_another_shipped_pair_is_newer():
    deep_pair = [run("none", 56, budget=LONG), run("A", 56, budget=LONG)]  # newest first, as the store lists
    lesson_set = [run(s, d) for s, d in T.OVERLAY_FIRST]
    ids = T.overlay_defaults([*deep_pair, *lesson_set], None)
    assert ids == [r.run_id for r in lesson_set]  # all six, in Fig. 6 order, none of the 3,750-step pair
    assert len({setup_key(r.config) for r in lesson_set if r.run_id in ids}) == 1


def test_runs_the_page_adds_keep_the_overlay_to_one_budget_and_a_mix_gets_a_note():
    short = [run("none", 20), run("none", 56)]
    longer = [run("none", 56, budget=LONG), run("A", 56, budget=LONG)]
    records = [*short, *longer]
    current = [r.run_id for r in short]
    assert T.overlay_after_adding(current, [longer[0].run_id], records) == [longer[0].run_id]
    same = run("A", 20)
    assert T.overlay_after_adding(current, [same.run_id], [*records, same]) == [*current, same.run_id]
    assert T.overlay_note(short) is None
    note = T.overlay_note([*short, longer[1]])
    assert "not trained with one budget" in note
    assert "496 steps (8 epochs of 62) for plain-20, plain-56" in note and "3,750 steps" in note


# -------------------------------------------------------------------------- Train: Fig. 6 sentences


def test_no_fig6_conclusion_is_drawn_across_budgets():
    mixed = [
        run("none", 20, 0.8),
        run("none", 56, 0.4, budget=LONG),
        run("A", 20, 0.85),
        run("A", 56, 0.9, budget=LONG),
    ]
    sentences = lesson.fig6_sentences(mixed)
    said = " ".join(sentences)
    for conclusion in ("degradation of", "other half", "trains worse", "at least as well:", "ends at"):
        assert conclusion not in said, conclusion
    assert len(sentences) == 2 and all("trained differently" in s and "cannot show" in s for s in sentences)
    assert "3,750 steps (15 epochs of 250) for plain-56" in sentences[0]


def test_with_two_budgets_each_conclusion_names_its_own_budget():
    both = [
        run("none", 20, 0.8),
        run("none", 56, 0.4),
        run("none", 20, 0.7, budget=LONG),
        run("none", 56, 0.9, budget=LONG),
    ]
    first, second = lesson.fig6_sentences(both)
    assert (
        first.startswith(
            "In the runs with 1,000 training images, 500 test images; 496 steps (8 epochs of 62): plain-56"
        )
        and "seed noise is unknown" in first
    )
    assert second.startswith("In the runs with 4,000 training images") and "not called a difference" in second
    alone = lesson.fig6_sentences(both[:2])[0]
    assert alone.startswith("plain-56 ends at 60.0%")  # one budget: no budget to name


def test_a_near_chance_note_cites_the_longer_stored_run_from_its_own_numbers():
    stuck = [run("none", 20, 0.8, steps=496), run("none", 56, 0.11, test_acc=0.11, steps=496)]
    longer = run("none", 56, 0.5, test_acc=0.318, budget=LONG, steps=3750)
    sentence = lesson.fig6_sentences(stuck, stored=[*stuck, longer])[0]
    assert "These runs took 496 steps" in sentence
    assert "took 3,750 steps and reached 31.8% test accuracy, with another budget" in sentence
    assert "the paper trains for 64,000 steps" in sentence
    alone = lesson.fig6_sentences(stuck)[0]
    assert "No stored plain-56 trained longer has left chance" in alone and "31.8" not in alone
    source = (Path(lesson.__file__).parent.parent / "dashboard" / "lesson.py").read_text()
    assert "longest recipe tried" not in source and "17.6%" not in source  # no hand-written recipe to cite


# ------------------------------------------------------------------------------------------- pairs


def test_the_gradients_pair_opens_on_one_budget_and_a_mixed_pair_says_what_differed():
    plain = run("none", 56, 0.6)
    other_budget = run("A", 56, 0.95, budget=LONG)
    same_budget = run("A", 20, 0.9)
    assert lesson.default_pair([other_budget, plain, same_budget]) == (plain.run_id, same_budget.run_id)
    assert lesson.pair_budget_note(plain, same_budget) is None
    note = lesson.pair_budget_note(plain, other_budget)
    assert "trained differently" in note and "496 steps" in note and "3,750 steps" in note
    assert "4,000 training images" in pairs.mismatch_note(plain, other_budget)
    assert "only in their seed (0 vs 1)" in pairs.mismatch_note(plain, run("A", 56, seed=1))
    assert lesson.runs_budget_note([plain, same_budget]) is None and lesson.runs_budget_note([plain, other_budget])


# ---------------------------------------------------------------------------------------- Compare


def test_compare_names_the_setups_one_budget_and_marks_table6_as_the_papers_schedule():
    groups = compare.group_runs([run("none", 20), run("A", 20), run("A", 56)])
    line = compare.setup_budget(groups)
    assert line.startswith("One budget for every run compared here: Shapes-10") and "496 steps" in line
    mixed = compare.group_runs([run("none", 20), run("A", 20, budget=LONG)])
    try:
        compare.setup_budget(mixed)
        raise AssertionError("a mixed set of runs was described as one budget")
    except ValueError:
        pass
    paper_like = RunConfig(dataset="cifar10", recipe="paper", epochs=170, shortcut="A", depth=20)
    group = compare.RunGroup("k", setup_key(paper_like), [RunRecord(paper_like.run_id, paper_like, RunStatus.DONE)])
    caption = compare.table6_caption([group])
    assert "the paper's own schedule: 64,000 iterations of batch 128" in caption and "32,000 and 48,000" in caption
    assert "not as runs of this setup" in caption


def test_the_overlay_opens_on_the_shipped_cifar10_fig6_set_when_it_is_stored(tmp_path):
    from core.runs.reference import install
    from core.runs.store import RunStore

    store = RunStore(tmp_path / "store")
    install(store)
    records = store.list()
    chosen = [r for r in records if r.run_id in T.overlay_defaults(records, None)]
    assert {(r.config.shortcut, r.config.depth) for r in chosen} == set(T.FIG6)
    assert {r.config.dataset for r in chosen} == {"cifar10"} and T.overlay_note(chosen) is None
