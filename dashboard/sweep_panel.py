"""The Train page's sweep panel: a grid of networks and seeds queued at once, and each run's state.

The decisions (which configs a preset means, what each row and the summary say) are plain functions,
tested on data; ``sweep_panel`` only draws them. Runs go through ``core.runs.jobs`` like every run the page
starts, so they train on this server's workers or on the Ray cluster the server was started with.
"""

from __future__ import annotations

import streamlit as st

from core.engine.config import RunConfig
from core.engine.models import FIG6_DEPTHS
from core.runs import jobs
from core.runs.backends import RunState
from core.runs.lifecycle import is_done, short_text
from core.runs.reference import SHAPES10_LESSON as LESSON
from dashboard import common
from dashboard.keys import SWEEP_DATA, SWEEP_PRESET, SWEEP_SEEDS, SWEEP_START

PRESETS = {  # key: (menu label, (shortcut, depth) pairs)
    "fig6": (
        "Fig. 6: plain and ResNet at 20, 32, 44 and 56 layers",
        tuple((s, d) for s in ("none", "A") for d in FIG6_DEPTHS),
    ),
    "fig6_ends": (
        "Fig. 6's ends: plain-20, plain-56, ResNet-20, ResNet-56",
        (("none", 20), ("none", 56), ("A", 20), ("A", 56)),
    ),
    "plain": ("plain nets at 20, 32, 44 and 56 layers", tuple(("none", d) for d in FIG6_DEPTHS)),
}
MAX_SEEDS = 5


def sweep_configs(preset: str, seeds: int, dataset: str) -> list[RunConfig]:
    """The preset's networks with seeds 0..seeds-1, in the lesson's recipe (the Train page's defaults, which the
    shipped runs use: those already stored open at once), probed as the Train page probes."""
    steps = LESSON["subset"] // LESSON["batch_size"] * LESSON["epochs"]
    probe_every = max(1, steps // common.PROBES_PER_RUN)
    return [
        RunConfig(depth=d, shortcut=s, seed=k, dataset=dataset, probe_every=probe_every, **LESSON)
        for s, d in PRESETS[preset][1]
        for k in range(seeds)
    ]


def stored_or_wanted(store, configs: list[RunConfig]) -> list[RunConfig]:
    """Each config, or the config of a stored run that trains the same way (e.g. probed more often): that run is
    shown and never trained again."""
    out = []
    for c in configs:
        existing = common.find_equivalent(store, c)
        out.append(existing.config if existing is not None else c)
    return out


def sweep_rows(configs: list[RunConfig], states: list[RunState]) -> list[dict]:
    """One table row per run: network, seed, where it stands, epochs done, final test error."""
    rows = []
    for c, s in zip(configs, states):
        r = s.record
        finished = is_done(r) and r.metrics.get("test_acc") is not None
        rows.append(
            {
                "network": c.model_name,
                "seed": c.seed,
                "state": "not trained yet" if s.status is None else s.line(),
                "epochs": f"{r.epochs_done if r else 0}/{c.epochs}",
                "test error (%)": round(100 * (1 - r.metrics["test_acc"]), 1) if finished else None,
                "run": c.run_id,
            }
        )
    return rows


def sweep_summary(states: list[RunState]) -> str:
    """'24 runs: 12 done, 2 training, 10 queued' (each count from the states shown)."""
    counts: dict[str, int] = {}
    for s in states:
        name = "not trained yet" if s.status is None else short_text(s.status)
        counts[name] = counts.get(name, 0) + 1
    order = ("done", "training", "queued", "not trained yet")
    parts = [f"{counts[k]} {k}" for k in order if k in counts] + [
        f"{v} {k}" for k, v in counts.items() if k not in order
    ]
    return f"{len(states)} runs: " + ", ".join(parts)


def backend_text() -> str:
    backend = jobs.backend()
    if getattr(backend, "name", "") == "ray":
        return f"the Ray cluster at `{backend.address}`"
    return "this server's worker processes"


def _start(store, configs: list[RunConfig]) -> None:
    for c in configs:  # a stored or live run is answered by the store: only the others are queued
        if common.submit(store, c) is None:  # refused (e.g. the queue limit): the reason is shown
            break


def _table(store, configs: list[RunConfig], was_live: bool) -> None:
    """The runs' states; re-drawn every few seconds while one of them is queued or training."""
    states = [common.run_state(store, c.run_id) for c in configs]
    if was_live and not any(s.live for s in states):
        st.rerun()  # all ended: redraw the page once, which stops the polling
    st.markdown(sweep_summary(states))
    st.dataframe(sweep_rows(configs, states), hide_index=True, width="stretch")


def sweep_panel(store) -> None:
    """The expander: pick a preset, a number of seeds and a data set; start them all; watch each run's state."""
    with st.expander("Sweep: several networks and seeds at once", icon=":material/grid_view:"):
        st.markdown(
            "Queue a whole grid at once, e.g. the paper's Fig. 6 with 3 seeds. Each run trains in the "
            f"lesson's recipe (the settings above start with) on {backend_text()}; runs already stored "
            "open at once and are not trained again."
        )
        preset_col, seeds_col, data_col = st.columns([3, 1, 2])
        preset = preset_col.selectbox(
            "Networks", list(PRESETS), format_func=lambda k: PRESETS[k][0], key=SWEEP_PRESET, bind=common.BIND
        )
        seeds = seeds_col.number_input("Seeds", 1, MAX_SEEDS, 3, key=SWEEP_SEEDS, bind=common.BIND)
        choices = {c.name: c for c in common.dataset_choices()}
        dataset = data_col.selectbox(
            "Data", list(choices), format_func=lambda k: choices[k].title, key=SWEEP_DATA, bind=common.BIND
        )
        configs = stored_or_wanted(store, sweep_configs(preset, int(seeds), dataset))
        st.button(
            f"Start the sweep ({len(configs)} runs)",
            key=SWEEP_START,
            on_click=_start,
            args=(store, configs),
            disabled=not choices[dataset].available,
            help=choices[dataset].note,
        )
        live = any(common.run_state(store, c.run_id).live for c in configs)
        st.fragment(_table, run_every=common.SLOW_POLL_S if live else None)(store, configs, live)
