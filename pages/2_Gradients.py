"""Gradients: what flows backwards (and forwards) through plain nets and ResNets, at initialisation
and during training. Every sentence that quotes a number is computed from the data on screen."""

import dataclasses

import pandas as pd
import streamlit as st

from core.engine.data import load_dataset, normalize
from core.engine.probes import (
    GROWTH,
    LARGE_NORM,
    SMALL_NORM,
    probe_at_init,
    response_std_note,
    shattering_table,
    summarize_init,
)
from core.runs import lifecycle
from core.runs.store import datasets_dir
from dashboard import common, figures, keys, lesson, poll_panel
from dashboard.common import BIND

INIT_DEPTHS = (8, 14, 20, 32, 44, 56, 110)
NETWORKS = {"plain": "none", "ResNet-A": "A", "ResNet-B": "B", "concat + 1×1 merge": "concat"}
KIND_LABELS = {"grad_w": "weight gradient ‖∂L/∂W‖", "grad_out": "back-propagated signal ‖∂L/∂y‖"}
# The during-training pair (left, right run ids) the step slider and the Fig. 7 runs were last chosen for.
PAIR_SEEN_KEY = "grad_pair_seen"
PROBE_BATCH = 64  # images in the at-initialisation batch: a second or so per network on a CPU
SHATTER_DEPTHS = (8, 20, 32, 56)  # depths of the fresh networks the shattered-gradients view measures
SHATTER_POINTS, SHATTER_IMAGES = 128, 2  # points on the line through input space, and images it starts from
# A matched pair for the "during training" view when nothing probed is stored yet.
QUICK_PAIR = (dataclasses.replace(common.QUICK_CONFIG, shortcut="none"), common.QUICK_CONFIG)


@st.cache_resource(show_spinner=False)
def probe_images(dataset: str, n: int, store_root: str):
    """``n`` class-balanced normalised test images and their labels (the data set's cache is shared with training)."""
    ds = load_dataset(dataset, test_subset=n, cache_dir=str(datasets_dir(store_root)))
    return normalize(ds.x_test, ds.mean, ds.std), ds.y_test


@st.cache_data(show_spinner=False, max_entries=512)
def probe_network(depth: int, shortcut: str, bn: bool, init: str, dataset: str, store_root: str) -> pd.DataFrame:
    """Per-layer probe of one freshly initialised network; cached, so changing the grid only adds new ones."""
    images, labels = probe_images(dataset, PROBE_BATCH, store_root)
    return probe_at_init([dict(depth=depth, shortcut=shortcut, bn=bn, init=init)], images, labels, seed=0)


@st.cache_data(show_spinner="Measuring gradient correlations of fresh networks…", max_entries=8)
def shattering(dataset: str, store_root: str, depths: tuple[int, ...]) -> pd.DataFrame:
    images, _ = probe_images(dataset, PROBE_BATCH, store_root)
    return shattering_table(
        [dict(depth=d, shortcut=s) for s in ("none", "A") for d in depths],
        images[:SHATTER_IMAGES],
        points=SHATTER_POINTS,
    )


def probed_runs(store) -> list:
    """Stored runs that recorded probes (most recent first)."""
    return [r for r in common.stored_runs(store) if r.config.probe_every > 0 and not lifecycle.has_failed(r)]


store = common.get_store()
st.title("Gradients inside the network")
poll_panel.show(store, page="Gradients")
st.markdown(
    "Is degradation caused by *vanishing gradients*? Measure it: the norm of the loss gradient at every "
    "layer, for plain nets and ResNets, with batch normalisation (BN) on and off."
)

# ------------------------------------------------------------------------- at initialisation
st.header("1 · At initialisation", divider="gray")
st.markdown(
    f"Fresh networks, one batch of {PROBE_BATCH} test images, one forward and backward pass: no training needed. "
    "Each network is probed once and remembered, so changing the choices below only probes what is new."
)
with st.container(border=True):
    c1, c2, c3, c4 = st.columns([1.4, 1, 0.8, 1])
    depths = c1.multiselect(
        "Depths",
        INIT_DEPTHS,
        default=(20, 56),
        key=keys.GRAD_DEPTHS,
        bind=BIND,
        help="Depth 110 shows the same effects, larger; it takes a few seconds more per network",
    )
    nets = c2.multiselect(
        "Networks",
        list(NETWORKS),
        default=("plain", "ResNet-A"),
        key=keys.GRAD_NETS,
        bind=BIND,
        help=f"Plain: the same layers without shortcuts. ResNet-A/B: {lesson.TERMS['option A/B']} "
        f"{lesson.TERMS['concat']}",
    )
    bns = c3.multiselect(
        "BN", ("on", "off"), default=("on", "off"), key=keys.GRAD_BN, bind=BIND, help=lesson.TERMS["BN"]
    )
    inits = c4.multiselect(
        "Init",
        ("kaiming", "default"),
        default=("kaiming", "default"),
        key=keys.GRAD_INIT,
        bind=BIND,
        format_func={"kaiming": "Kaiming (paper)", "default": "PyTorch default"}.get,
        help=lesson.TERMS["init"],
    )
    k1, k2 = st.columns([1.4, 2.8])
    kind = k1.radio("Quantity", list(KIND_LABELS), format_func=KIND_LABELS.get, key=keys.GRAD_KIND, bind=BIND)
    available = [c for c in common.dataset_choices() if c.available]
    asked = common.link_values(keys.GRAD_DATASET)
    dataset = k2.selectbox(
        "Images",
        [c.name for c in available],
        key=keys.GRAD_DATASET,
        bind=BIND,
        format_func={c.name: c.title for c in available}.get,
    )
    common.note_ignored(asked, [c.title for c in available], "data sets available here", k2)

specs = [
    dict(depth=d, shortcut=NETWORKS[n], bn=b == "on", init=i)
    for n in nets
    for b in bns
    for i in inits
    for d in sorted(depths)
]
if not specs:
    st.info("Choose at least one depth, network, BN setting and init above.")
    init_df = pd.DataFrame()
else:
    bar = st.progress(0.0, text=f"Probing {len(specs)} fresh networks…")
    frames = []
    for number, spec in enumerate(specs, start=1):
        frames.append(
            probe_network(spec["depth"], spec["shortcut"], spec["bn"], spec["init"], dataset, str(store.root))
        )
        bar.progress(number / len(specs), text=f"Probed {number} of {len(specs)} networks")
    bar.empty()
    init_df = pd.concat(frames, ignore_index=True)

if not init_df.empty:
    summary = summarize_init(init_df)
    common.plotly_chart(figures.init_profiles(init_df, kind), width="stretch", key="grad_init_profiles")
    st.caption(
        f"Each line is one fresh network: its {KIND_LABELS[kind]} at every weighted layer, from the first conv "
        "(left) to the classifier (right), on a log scale. A line that drops towards the left is a shrinking "
        "gradient, one that rises towards the left a growing one; read the height too: a line high everywhere "
        "explodes, one low everywhere vanishes."
    )
    common.plotly_chart(figures.init_ratio_figure(summary), width="stretch", key="grad_init_ratio")
    st.caption(
        "Left: the first and last conv's gradient norms; right: their ratio. The ratio alone misleads: a ResNet "
        "without BN and with He init has a ratio below 1 while its norms are enormous. Each network's regime "
        f"(hover a point) is named from both: exploding above {LARGE_NORM:g}, vanishing below {SMALL_NORM:g}, "
        f"growing or shrinking toward the input beyond {GROWTH:g}× either way."
    )
    st.markdown("**What the numbers say** (deepest networks probed):")
    st.markdown("\n".join(f"- {s}" for s in lesson.init_findings(summary)))
    if verdict := lesson.bn_plain_verdict(summary):
        st.markdown(verdict)
    st.markdown(lesson.degradation_text(summary))
    with st.expander("The numbers as a table"):
        table = summary.assign(bn=summary["bn"].map({True: "on", False: "off"}))[
            ["model", "init", "bn", "loss", "grad_w_first", "grad_w_last", "ratio_first_last"]
        ]
        st.dataframe(
            table.rename(
                columns={
                    "loss": "initial loss (nats)",
                    "grad_w_first": "‖∂L/∂W‖ first conv",
                    "grad_w_last": "‖∂L/∂W‖ last conv",
                    "ratio_first_last": "ratio first / last",
                }
            ),
            hide_index=True,
            width="stretch",
            column_config={
                c: st.column_config.NumberColumn(format="%.3g")
                for c in ("initial loss (nats)", "‖∂L/∂W‖ first conv", "‖∂L/∂W‖ last conv", "ratio first / last")
            },
        )


# --------------------------------------------------------------------------- shattered gradients
st.subheader("Shattered gradients (BN on)")
st.markdown(
    "Walk in small steps along a straight line through input space and take the gradient of the output "
    "with respect to the input at every step. Are neighbouring gradients alike? Fresh networks, BN on, "
    "kaiming init; the same images as above."
)
if st.toggle("Measure it (a few seconds per network)", key=keys.SHATTER, bind=BIND, value=False):
    shatter = shattering(dataset, str(store.root), SHATTER_DEPTHS)
    common.plotly_chart(figures.shattering_figure(shatter), width="stretch", key="grad_shatter")
    by = shatter.set_index(["shortcut", "depth"]).correlation
    deep = max(SHATTER_DEPTHS)
    st.caption(
        f"Each point: mean cosine similarity of the input-gradients at {SHATTER_POINTS} neighbouring points on a line, "
        f"{SHATTER_IMAGES} images. "
        f"Here plain-{deep} gives {by[('none', deep)]:.2f} and ResNet-{deep} {by[('A', deep)]:.2f}. "
        "Balduzzi et al. (2017): in deep plain nets this correlation decays towards white noise with depth, "
        "with skip connections only slowly: the plain net's gradient is large but says little about where "
        "to go, which fits the degradation the paper measures better than vanishing gradients do."
    )

# ---------------------------------------------------------------------------- during training
st.header("2 · During training", divider="gray")
records = probed_runs(store)
if not records:
    st.info(
        "No stored run has recorded gradient probes yet. Train a matched pair here, or any run on the Train page "
        "with *Record per-layer gradients* on.",
        icon=":material/info:",
    )
    pair_live = [c for c in QUICK_PAIR if common.is_training(store, c.run_id)]
    for c in pair_live:
        common.progress_panel(store, c.run_id, key=f"grad_pair_{c.run_id}")
    if not pair_live and st.button(
        f"Train plain-20 and ResNet-20 ({common.QUICK_CONFIG.subset:,} Shapes-10 images, "
        f"{common.QUICK_CONFIG.epochs} epochs, gradients every {common.QUICK_CONFIG.probe_every} steps)",
        type="primary",
        key="grad_train_pair",
    ):
        if all(common.submit(store, c) is not None for c in QUICK_PAIR):
            st.rerun()
else:
    left_default, right_default = lesson.default_pair(records)
    pick_left, pick_right = st.columns(2)
    left = common.pick_run(
        "Left (e.g. a plain net)", records, key=keys.GRAD_LEFT, default_id=left_default, container=pick_left
    )
    right = common.pick_run(
        "Right (e.g. the ResNet of the same depth)",
        records,
        key=keys.GRAD_RIGHT,
        default_id=right_default,
        container=pick_right,
    )
    if left.run_id != right.run_id and (note := lesson.pair_budget_note(left, right)):
        st.warning(note, icon=":material/balance:")
    kind_train = st.radio(
        "Quantity", list(KIND_LABELS), format_func=KIND_LABELS.get, horizontal=True, key=keys.GRAD_TRAIN_KIND, bind=BIND
    )
    chosen = [left] if left.run_id == right.run_id else [left, right]
    probes = {r.run_id: common.run_history(store, r.run_id, kinds=(kind_train,)).probes for r in chosen}
    z_range = figures.log_range(*probes.values())
    for column, record in zip(st.columns(len(chosen)), chosen):
        common.plotly_chart(
            figures.gradient_heatmap(probes[record.run_id], kind_train, title=record.config.label, z_range=z_range),
            where=column,
            width="stretch",
            key=f"grad_heatmap_{record.run_id}",
        )
    st.caption(
        f"Each cell is one layer's {KIND_LABELS[kind_train]} at one probed training step, on one colour scale "
        "shared by both runs (log scale: each colour step is a factor of ten). The paper reports healthy norms "
        "for BN plain nets during training; compare the bottom rows (first layers) of the two maps."
    )
    all_steps = [int(s) for s in sorted(set().union(*(set(p["step"]) for p in probes.values())))]
    pair, seen_pair = (left.run_id, right.run_id), st.session_state.get(PAIR_SEEN_KEY)
    if all_steps:
        # A new pair starts at its last probed step (lesson.step_to_show); the same pair keeps the step chosen.
        step = lesson.step_to_show(all_steps, st.session_state.get(keys.GRAD_STEP), pair, seen_pair)
        if keys.GRAD_STEP in st.session_state:
            st.session_state[keys.GRAD_STEP] = step
        if len(all_steps) > 1:
            step = st.select_slider(
                "Training step",
                options=all_steps,
                key=keys.GRAD_STEP,
                bind=BIND,
                **({} if keys.GRAD_STEP in st.session_state else {"value": step}),
            )
        profiles = []
        for record in chosen:
            p = probes[record.run_id]
            if p.empty:
                continue
            at = p[p["step"] == lesson.nearest_step(p["step"].to_numpy(), step)]
            profiles.append((record, at))
        common.plotly_chart(
            figures.gradient_profile(
                [figures.run_series(r.config.label, r.config, f) for r, f in profiles],
                kind_train,
                title=f"{figures.PROBE_SHORT[kind_train]} per layer at step {step}",
            ),
            width="stretch",
            key="grad_train_profile",
        )
        st.caption(
            "The same probe as a profile at the chosen step: layer index on the x axis, norm on a log y axis. "
            + " ".join(
                lesson.first_last_sentence(r.config.label, f, figures.PROBE_SHORT[kind_train]) for r, f in profiles
            )
        )
    else:
        st.caption("These runs have no probes yet: they record the first one at step 0.")


# ------------------------------------------------------------------------ responses (Fig. 7)
st.header("3 · Layer responses (the paper's Fig. 7)", divider="gray")
with_std = [r for r in records if r.epochs_done > 0]
if not with_std:
    st.info("Needs runs that have finished at least one epoch with probes on (see section 2, or the Train page).")
else:
    # The runs follow the during-training pair whenever it changes (lesson.runs_to_show).
    shown = lesson.runs_to_show(st.session_state.get(keys.STD_RUNS), pair, seen_pair, [r.run_id for r in with_std])
    if keys.STD_RUNS in st.session_state:
        st.session_state[keys.STD_RUNS] = shown
    chosen_std = common.pick_runs(
        "Runs",
        with_std,
        key=keys.STD_RUNS,
        default_ids=shown,
        help="Set to the two runs of section 2 whenever that pair changes; add or remove runs here.",
    )
    series, stds = [], {}
    for record in chosen_std:
        p = common.run_history(store, record.run_id, kinds=("response_std",)).probes
        if p.empty:
            continue
        last = p[p["step"] == p["step"].max()]
        series.append(
            figures.run_series(f"{record.config.label} (step {int(last['step'].iloc[0])})", record.config, last)
        )
        stds[record.config.label] = last[last["layer"].map(figures.is_3x3_layer)]["value"]
    common.plotly_chart(figures.response_std_figure(series), width="stretch", key="grad_std_chart")
    if note := lesson.runs_budget_note(chosen_std):
        st.warning(note, icon=":material/balance:")
    st.caption(
        "The standard deviation of each 3×3 layer's response (after BN, before the ReLU or the addition) at "
        "each run's last probe, measured on one training batch. The paper finds ResNet responses generally "
        "smaller than plain-net responses, and smaller still in deeper ResNets: residual functions stay close "
        "to zero. " + response_std_note(stds)
    )

if records:
    st.session_state[PAIR_SEEN_KEY] = (left.run_id, right.run_id)  # what the next rerun compares the pair with
