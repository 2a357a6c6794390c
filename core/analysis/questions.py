"""Predict, then reveal: questions a teacher puts to the class, each answered by measuring stored runs.

A question's ``spec`` (kept with it in the store) says how its answer is computed, never what it is:

- ``{"kind": "builtin", "key": ...}``: one of ``BUILTIN``, tied to the shipped runs (and any like them);
- ``{"kind": "runs", "runs": [run ids, one per choice], "metric": "train_error"|"test_error",
  "pick": "lowest"|"highest"}``: a teacher's own, "which of these runs has the lowest final test error?".

``answer`` measures it now and returns an ``Answer``: the choice the measurement gives and the sentence with its
numbers, or, where the runs it needs are not stored here, that it cannot be answered here (and why) instead of a
guess. Every built-in question has ``find`` (which stored runs answer it; cheap, nothing computed) and ``measure``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..engine.data import dataset_choices
from ..runs.lifecycle import is_done, is_finished
from ..runs.store import RunRecord, RunStore, StoreError
from .budget import budget, setup_key
from .inside import cached_lesion, matched_pair
from .lesion import LesionError, sweep_summary
from .queue import LESION_DEFAULT

METRICS = {"train_error": "final training error", "test_error": "final test error"}
PICKS = ("lowest", "highest")
# The lesion question's study: the Lesion page's default one, read from the cache its job (or the shipped results)
# wrote; the web process never computes it (minutes on a CPU).
LESION_SETTINGS = LESION_DEFAULT


@dataclass
class Answer:
    answerable: bool
    choice: int | None  # the index of the choice the measurement gives (None: cannot be answered, or a tie)
    text: str  # the measurement in words, with its numbers (or why it cannot be answered here)
    values: list = field(default_factory=list)  # per choice, the measured number (None where not measured)
    unit: str = ""
    runs: list = field(default_factory=list)  # the run ids measured

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        return cls(**{k: data[k] for k in ("answerable", "choice", "text", "values", "unit", "runs") if k in data})


def cannot(why: str) -> Answer:
    return Answer(False, None, f"This question cannot be answered here: {why}.")


@dataclass(frozen=True)
class Question:
    key: str
    page: str  # the lesson page it belongs to
    text: str
    choices: tuple[str, ...]
    measured: str  # what is measured, in a few words (shown to the teacher before opening it)
    find: Callable[[list[RunRecord]], object]  # the runs that answer it, or a str saying what is missing
    measure: Callable[[RunStore, object], Answer]

    @property
    def spec(self) -> dict:
        return {"kind": "builtin", "key": self.key}

    def missing(self, records: list[RunRecord]) -> str | None:
        """Why this store cannot answer it (None: it can); nothing is computed."""
        found = self.find(records)
        return found if isinstance(found, str) else None


# ------------------------------------------------------------------------------- final errors


def final_error(record: RunRecord, metric: str) -> float | None:
    """A finished run's final training error (RunRecord.final_train_error, as on Compare) or test error, in %."""
    if metric == "train_error":
        return record.final_train_error()[0]
    acc = (record.metrics or {}).get("test_acc")
    return None if acc is None else 100 * (1 - acc)


def net_name(shortcut: str, depth: int) -> str:
    return f"{'plain' if shortcut == 'none' else 'ResNet'}-{depth}"


def one_budget(records: list[RunRecord], nets: tuple[tuple[str, int], ...]) -> list[list[RunRecord]] | str:
    """Per net (shortcut, depth), its finished runs of one training budget that has them all: the shipped
    reference runs' budget first, then the budget with the most seeds. A str naming what is missing if no budget
    has every net."""
    budgets: dict[str, dict[tuple, list[RunRecord]]] = {}
    for r in records:
        c = r.config
        if is_done(r) and c.arch == "cifar" and (c.shortcut, c.depth) in nets:
            budgets.setdefault(setup_key(c), {}).setdefault((c.shortcut, c.depth), []).append(r)
    complete = [b for b in budgets.values() if all(b.get(n) for n in nets)]
    if not complete:
        names = " and ".join(net_name(*n) for n in nets)
        return f"it needs finished runs of {names} trained with one budget, and this store has none"
    best = max(
        complete,
        key=lambda b: (all(r.reference for n in nets for r in b[n]), min(len(b[n]) for n in nets)),
    )
    return [sorted(best[n], key=lambda r: r.config.seed) for n in nets]


def compare_errors(groups: list[list[RunRecord]], names: tuple[str, ...], metric: str) -> Answer:
    """Which of these nets (each the mean over its seeds) has the lower final error."""
    means = []
    for group in groups:
        values = [v for v in (final_error(r, metric) for r in group) if v is not None]
        means.append(sum(values) / len(values) if values else None)
    if any(v is None for v in means):
        return cannot(f"a run has no {METRICS[metric]} recorded")
    low = min(range(len(means)), key=means.__getitem__)
    tie = sum(1 for v in means if round(v, 1) == round(means[low], 1)) > 1
    seeds = {len(g) for g in groups}
    over = f" (mean over {seeds.pop()} seeds each)" if len(seeds) == 1 and max(len(g) for g in groups) > 1 else ""
    parts = ", ".join(f"{name} {v:.1f}%" for name, v in zip(names, means))
    b = budget(groups[0][0].config)
    text = f"Measured {METRICS[metric]}{over}: {parts}, after the same training ({b.data}, {b.images}, {b.steps}). " + (
        "Too close to call at one decimal." if tie else f"Lower: {names[low]}."
    )
    runs = [r.run_id for g in groups for r in g]
    return Answer(True, None if tie else low, text, [round(v, 2) for v in means], "%", runs)


# ---------------------------------------------------------------------------------- questions


def _lesion_find(records: list[RunRecord]):
    here = "cifar10" if any(d.name == "cifar10" and d.available for d in dataset_choices()) else "builtin"
    plain, resnet = matched_pair(records, 56, learned_first=True, prefer_dataset=here)  # the Lesion page's pair
    if plain is None or plain.config.depth != 56:
        return "it needs a finished plain-56 and a ResNet-56 trained alike, and this store has no such pair"
    return plain, resnet


def _lesion_measure(store: RunStore, pair) -> Answer:
    rises = []
    try:
        for record in pair:
            result = cached_lesion(store, record, **LESION_SETTINGS)
            if result is None:
                return cannot(
                    f"the lesion study of {record.config.label} is not computed yet: open the Lesion page on this "
                    "pair and run it, then reveal again"
                )
            s = sweep_summary(result)
            rises.append((s["rise"] * 100, s["intact"] * 100, s["mean"] * 100))
    except (LesionError, StoreError, OSError, RuntimeError) as e:  # weights missing, data unavailable
        return cannot(str(e))
    names = ("plain-56", "ResNet-56")
    if round(rises[0][0], 1) == round(rises[1][0], 1):
        text = f"Both rise by {rises[0][0]:+.1f} points on average with one block deleted: too close to call."
        return Answer(True, None, text, [round(r[0], 2) for r in rises], "points", [r.run_id for r in pair])
    more = 0 if rises[0][0] > rises[1][0] else 1
    parts = "; ".join(
        f"{n}: {intact:.1f}% test error intact, {mean:.1f}% on average with one block deleted ({rise:+.1f} points)"
        for n, (rise, intact, mean) in zip(names, rises)
    )
    text = (
        f"Measured on {LESION_SETTINGS['images']} test images, each block deleted in turn — {parts}. "
        f"Loses more: {names[more]}."
    )
    return Answer(True, more, text, [round(r[0], 2) for r in rises], "points", [r.run_id for r in pair])


def _gradient_find(records: list[RunRecord]):
    runs = [
        r
        for r in records
        if is_finished(r) and r.config.arch == "cifar" and r.config.shortcut == "none" and r.config.depth == 56
    ]
    runs = [r for r in runs if r.config.probe_every > 0]
    if not runs:
        return "it needs a stored plain-56 run that recorded gradient probes, and this store has none"
    return sorted(runs, key=lambda r: (not r.reference, r.config.seed, -r.updated))[0]


def _gradient_measure(store: RunStore, record: RunRecord) -> Answer:
    probes = store.history(record.run_id, kinds=("grad_w",)).probes
    first_step = probes[probes.step == probes.step.min()] if len(probes) else probes
    convs = first_step[first_step.layer != "fc"].sort_values("idx")
    if first_step.empty or int(first_step.step.iloc[0]) != 0 or len(convs) < 2:
        return cannot(f"run {record.run_id} has no gradient probe of its first step")
    first, last = float(convs.value.iloc[0]), float(convs.value.iloc[-1])
    larger = 0 if first > last else 1
    ratio = first / last if last else math.inf
    text = (
        f"Measured in {record.config.model_name} (run {record.run_id}) at step 0 (its initial weights, one batch): "
        f"‖∂L/∂W‖ of the first conv "
        f"({convs.layer.iloc[0]}) {first:.3g}, of the last conv ({convs.layer.iloc[-1]}) {last:.3g}, a ratio of "
        f"{ratio:.3g}. Larger: the {'first' if larger == 0 else 'last'} conv."
    )
    return Answer(True, larger, text, [first, last], "‖∂L/∂W‖", [record.run_id])


def _errors_question(nets, metric):
    names = tuple(net_name(*n) for n in nets)
    return (lambda records: one_budget(records, nets)), (lambda store, groups: compare_errors(groups, names, metric))


BUILTIN: dict[str, Question] = {
    q.key: q
    for q in (
        Question(
            "depth-train-error",
            "Train",
            "After the same training, which has the lower training error: plain-20 or plain-56?",
            ("plain-20", "plain-56"),
            "final training error of plain-20 and plain-56 trained with one budget (mean over seeds)",
            *_errors_question((("none", 20), ("none", 56)), "train_error"),
        ),
        Question(
            "shortcut-test-error",
            "Compare",
            "After the same training, which has the lower test error: plain-56 or ResNet-56?",
            ("plain-56", "ResNet-56"),
            "final test error of plain-56 and ResNet-56 trained with one budget (mean over seeds)",
            *_errors_question((("none", 56), ("A", 56)), "test_error"),
        ),
        Question(
            "lesion-one-block",
            "Lesion",
            "Which loses more when one block is deleted: plain-56 or ResNet-56?",
            ("plain-56", "ResNet-56"),
            "rise in test error, averaged over deleting each block in turn, of a matched plain-56/ResNet-56 pair",
            _lesion_find,
            _lesion_measure,
        ),
        Question(
            "init-gradient",
            "Gradients",
            "Where is the gradient larger at initialisation: first or last conv of plain-56?",
            ("first conv", "last conv"),
            "‖∂L/∂W‖ of the first and last conv at step 0 of a stored plain-56 run",
            _gradient_find,
            _gradient_measure,
        ),
    )
}


def for_page(page: str) -> list[Question]:
    """The built-in questions of a page first, then the others."""
    return sorted(BUILTIN.values(), key=lambda q: q.page != page)


# ------------------------------------------------------------------------------- a teacher's own


def runs_spec(run_ids: list[str], metric: str, pick: str = "lowest") -> dict:
    return {"kind": "runs", "runs": list(run_ids), "metric": metric, "pick": pick}


def runs_question_text(metric: str, pick: str) -> str:
    return f"Which of these runs has the {pick} {METRICS[metric]}?"


def measure_runs(records: list[RunRecord], spec: dict, choices: tuple[str, ...]) -> Answer:
    """A teacher's question over chosen runs: which has the lowest (highest) final training or test error."""
    metric, pick, ids = spec.get("metric"), spec.get("pick", "lowest"), spec.get("runs") or []
    if metric not in METRICS or pick not in PICKS or len(ids) != len(choices):
        return cannot("the question does not say which runs and which measurement answer it")
    by_id = {r.run_id: r for r in records}
    gone = [f"{c} ({i})" for c, i in zip(choices, ids) if not is_finished(by_id.get(i))]
    if gone:
        return cannot("these runs are not stored here finished: " + ", ".join(gone))
    values = [final_error(by_id[i], metric) for i in ids]
    if any(v is None for v in values):
        return cannot(f"a run has no {METRICS[metric]} recorded")
    best = (min if pick == "lowest" else max)(range(len(values)), key=values.__getitem__)
    tie = sum(1 for v in values if round(v, 1) == round(values[best], 1)) > 1
    parts = ", ".join(f"{c} {v:.1f}%" for c, v in zip(choices, values))
    text = f"Measured {METRICS[metric]}: {parts}. " + (
        "Too close to call at one decimal." if tie else f"{pick.capitalize()}: {choices[best]}."
    )
    return Answer(True, None if tie else best, text, [round(v, 2) for v in values], "%", list(ids))


def answer(store: RunStore, records: list[RunRecord], spec: dict, choices: tuple[str, ...] = ()) -> Answer:
    """Measure a question's answer from the stored ``records`` now (the reveal)."""
    if spec.get("kind") == "runs":
        return measure_runs(records, spec, tuple(choices))
    question = BUILTIN.get(spec.get("key", "")) if spec.get("kind") == "builtin" else None
    if question is None:
        return cannot("this version of the lab does not know how to measure it")
    found = question.find(records)
    if isinstance(found, str):
        return cannot(found)
    return question.measure(store, found)
