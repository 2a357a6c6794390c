"""What the Lesion, Landscape and Layers pages share: which stored runs can be looked inside, the
matched plain/ResNet pair they open on (``choose_pair``: the pickers, what is missing, whether the pair is a fair
contrast), a progress bar fed from a core callback, and figure series."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import inside, lesion
from core.runs.store import RunRecord, RunStore
from dashboard import common, figures, keys

# Session-state keys of the pair each page shows (one pair per page, so each page keeps its own choice).
LESION_PAIR_KEYS = (keys.LESION_PLAIN, keys.LESION_RESNET)
LANDSCAPE_PAIR_KEYS = (keys.LAND_PLAIN, keys.LAND_RESNET)
LAYERS_PAIR_KEYS = (keys.LAYERS_PLAIN, keys.LAYERS_RESNET)


def lookable_runs(store: RunStore) -> list[RunRecord]:
    """Finished CIFAR-style runs with weights whose blocks these pages understand (plain, ResNet A or B)."""
    return [
        r
        for r in common.finished_with_weights(store)
        if r.config.arch == "cifar" and r.config.shortcut in inside.LESION_SHORTCUTS
    ]


def real_data() -> str:
    """CIFAR-10 where its images are on this machine (a look inside a CIFAR-10 net needs its test images),
    else Shapes-10 ('builtin'), which every machine can generate."""
    return "cifar10" if any(d.name == "cifar10" and d.available for d in common.dataset_choices()) else "builtin"


def pick_pair(
    records: list[RunRecord],
    pair_keys: tuple[str, str],
    learned_first: bool = False,
) -> tuple[RunRecord | None, RunRecord | None]:
    """Two pickers, a plain net (left) and a ResNet (right), opening on the matched depth-56 pair (with
    ``learned_first``, on the deepest matched pair in which both networks learned, if one is stored)."""
    plains = [r for r in records if r.config.shortcut == "none"]
    resnets = [r for r in records if r.config.shortcut != "none"]
    defaults = inside.matched_pair(records, learned_first=learned_first, prefer_dataset=real_data())
    picked = [
        common.pick_run(label, choices, key=key, container=column, default_id=default.run_id if default else None)
        for label, choices, key, column, default in zip(
            ("Plain net", "ResNet"), (plains, resnets), pair_keys, st.columns(2), defaults
        )
    ]
    return picked[0], picked[1]


def choose_pair(
    store: RunStore, pair_keys: tuple[str, str], learned_first: bool = False
) -> tuple[RunRecord, RunRecord]:
    """The plain net and the ResNet a page looks inside, picked among the lookable runs (``pick_pair``); stops
    the page, saying what is missing, when either is not stored, and warns when the pair is not a fair contrast."""
    plain, resnet = pick_pair(lookable_runs(store), pair_keys, learned_first=learned_first)
    if not explain_missing(plain, resnet):
        st.stop()
    if note := mismatch_note(plain, resnet):
        st.warning(note, icon=":material/warning:")
    return plain, resnet


def explain_missing(plain: RunRecord | None, resnet: RunRecord | None) -> bool:
    """Say what is missing when a page has no plain net or no ResNet to show; True when both are there."""
    if plain is not None and resnet is not None:
        return True
    missing = " and ".join(n for n, r in (("a plain net", plain), ("a ResNet", resnet)) if r is None)
    st.info(
        f"No finished run of {missing} with saved weights is stored. The shipped reference runs include plain-56 and "
        "ResNet-56; train others on the Train page.",
        icon=":material/info:",
    )
    return False


def progress_reporter(text: str):
    """A st.progress bar and a callback (done, total) for core's loops; called on the script thread."""
    bar = st.progress(0.0, text=text)

    def report(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{text} {done:,} of {total:,}")

    return bar, report


def mismatch_note(plain: RunRecord, resnet: RunRecord) -> str | None:
    """A warning when the pair is not a fair contrast: other depths, other budgets (what differed, from
    core.analysis.budget), or other seeds."""
    from dashboard.lesson import pair_budget_note

    notes = []
    if plain.config.depth != resnet.config.depth:
        notes.append(
            f"The two nets differ in depth ({plain.config.depth} vs {resnet.config.depth}): the paper's contrast "
            "is at equal depth."
        )
    if budget_note := pair_budget_note(plain, resnet):
        notes.append(budget_note)
    elif plain.config.seed != resnet.config.seed:
        notes.append(
            f"The two runs were trained differently only in their seed ({plain.config.seed} vs "
            f"{resnet.config.seed}): the contrast is not like for like."
        )
    return " ".join(notes) or None


def lesion_series(result: lesion.LesionResult, record: RunRecord) -> tuple[figures.RunSeries, figures.RunSeries]:
    """Figure series for the per-block bars and the k-curve of one network."""
    blocks = pd.DataFrame(result.blocks).assign(intact=result.intact_error)
    curve = pd.DataFrame(lesion.k_summary(result)) if result.k_curve else pd.DataFrame()
    label = record.config.model_name
    return figures.run_series(label, record.config, blocks), figures.run_series(label, record.config, curve)
