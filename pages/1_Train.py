"""Train: configure a network, train it in the background, watch it live, overlay several runs.

Training runs in a core.runs.jobs worker process behind a queue; this page only queues runs and reads the
store, so every browser tab sees the same live run (or its place in the queue).
"""

import time

import pandas as pd
import streamlit as st

from core.engine.config import (
    DATASET_SIZES,
    MAX_WARMUP,
    RECIPE_DEFAULTS,
    RECIPE_DESCRIPTIONS,
    RECIPE_NAMES,
    SCHEDULE_NAMES,
    ConfigError,
    RunConfig,
)
from core.engine.models import RESNET_DEPTHS, TORCHVISION_MODEL
from core.runs import lifecycle
from core.runs.reference import SHAPES10_LESSON as LESSON
from core.runs.store import RunStore
from dashboard import common, figures, keys, lesson, live, poll_panel, training
from dashboard.common import BIND
from dashboard.sweep_panel import sweep_panel

ARCHITECTURES = {  # menu label: (arch, shortcut, one line on what it is)
    "plain": ("cifar", "none", "The same conv layers with no shortcuts: the paper's plain baseline."),
    "ResNet-A": (
        "cifar",
        "A",
        "Identity shortcuts; where the width doubles, subsample and zero-pad (no extra "
        "parameters: the paper's CIFAR-10 choice).",
    ),
    "ResNet-B": ("cifar", "B", "Identity shortcuts, but a 1×1 conv projection where the shape changes."),
    "concat + 1×1 merge": (
        "cifar",
        "concat",
        "Concatenates each block's input with its output, then a 1×1 conv "
        "merges them back to the stage width. Not DenseNet, and no identity path: "
        "the learned merge replaces it, so at initialisation it is another plain stack.",
    ),
    "torchvision ResNet-18": (
        TORCHVISION_MODEL,
        "B",
        "torchvision's ImageNet ResNet-18 adapted to 32×32 images "
        "(11 M parameters); depth and BN settings do not apply.",
    ),
}
SCHEDULE_CHOICES = (None, "step", "cosine", "constant")  # None: the recipe's own
BATCH_CHOICES = (None, 16, 32, 64, 128, 256)
AUGMENT_CHOICES = (None, True, False)
OTHER_DEPTH = "other (6n+2)"
NO_PROBES = ("-",)  # a probe-kind filter that matches nothing: live charts skip probe rows
VIEW_KEY = "train_view"
OVERLAY_KEY = keys.OVERLAY
STARTED_KEY, STARTED_NOTE_KEY = "train_started_ids", "train_started_note"  # runs a "train the missing" click queued
POLL_KEY = "train_live_poll"  # (the watched run's last version, polls since it changed)
URL_RUN_KEY = "train_url_read"  # set once this tab has read the ?run=<id> it was opened with
OVERLAY_SEEN_KEY = "train_overlay_seen"  # runs this tab started or opened that were added to the overlay once
FLASH_KEY = "train_flash"  # a line shown once after the page reruns (e.g. "Opened the stored run …")
DEFAULT_SMOOTHING = 0.6  # TensorBoard's default
BY_ROOT = {RunStore: lambda store: str(store.root)}  # cached figures: one store per root


# ---------------------------------------------------------------------------- configuration


def network_settings() -> dict:
    """Architecture, depth, BN and initialisation (the left column)."""
    arch_label = st.radio("Architecture", list(ARCHITECTURES), index=1, key=keys.ARCH, bind=BIND)
    arch, shortcut, about = ARCHITECTURES[arch_label]
    st.caption(about)
    fixed = arch == TORCHVISION_MODEL
    depth = st.selectbox(
        "Depth (weighted layers)",
        [*RESNET_DEPTHS, OTHER_DEPTH],
        key=keys.DEPTH,
        bind=BIND,
        disabled=fixed,
        help="6n+2 layers: a stem conv, 3 stages of n two-conv blocks, a classifier",
    )
    if depth == OTHER_DEPTH:
        n = st.number_input(
            "n, blocks per stage", min_value=1, max_value=200, value=1, key=keys.BLOCKS, bind=BIND, disabled=fixed
        )
        depth = 6 * int(n) + 2
        st.caption(f"depth = 6·{int(n)} + 2 = **{depth}** layers")
    bn = st.toggle("Batch normalisation after every conv", value=True, key=keys.BN, bind=BIND, disabled=fixed)
    init = st.radio(
        "Initialisation",
        ("kaiming", "default"),
        key=keys.INIT,
        bind=BIND,
        horizontal=True,
        format_func={"kaiming": "Kaiming (paper)", "default": "PyTorch default"}.get,
    )
    return dict(arch=arch, shortcut=shortcut, depth=depth, bn=bn, init=init)


def recipe_settings() -> dict:
    """Recipe, epochs, seed and gradient probes (the middle column)."""
    recipe = st.radio(
        "Recipe",
        list(RECIPE_NAMES),
        index=list(RECIPE_NAMES).index(LESSON["recipe"]),
        key=keys.RECIPE,
        bind=BIND,
        format_func=RECIPE_NAMES.get,
    )
    st.caption(
        RECIPE_DESCRIPTIONS[recipe] + ". **Advanced** below changes any of these; a run's label names "
        "only what differs from the recipe."
    )
    epochs = st.number_input("Epochs", min_value=1, max_value=500, value=LESSON["epochs"], key=keys.EPOCHS, bind=BIND)
    seed = st.number_input(
        "Seed",
        min_value=0,
        max_value=2**31 - 1,
        value=0,
        key=keys.SEED,
        bind=BIND,
        help="Same settings and seed give the same run (and the same stored result)",
    )
    probes = st.toggle(
        "Record per-layer gradients",
        value=True,
        key=keys.PROBES,
        bind=BIND,
        help=f"About {common.PROBES_PER_RUN} probes spread over the run, for the Gradients page; "
        "each costs a fraction of a training step",
    )
    return dict(recipe=recipe, epochs=epochs, seed=seed, probes=common.PROBES_PER_RUN if probes else 0)


def image_count(label: str, total: int, lesson_value: int, key: str) -> int:
    """How many of a data set's ``total`` images, in steps of 500, opening on the lesson's number."""
    return st.number_input(
        label, min_value=10, max_value=total, value=min(lesson_value, total), step=500, key=key, bind=BIND
    )


def data_settings() -> tuple[dict, common.DatasetChoice]:
    """The data set and how many of its training and test images (the right column)."""
    choices = {c.name: c for c in common.dataset_choices()}
    dataset = st.selectbox(
        "Data set",
        list(choices),
        key=keys.DATASET,
        bind=BIND,
        format_func=lambda n: choices[n].title + ("" if choices[n].available else " (not available)"),
    )
    data = choices[dataset]
    (st.caption if data.available else st.warning)(data.note)
    n_train, n_test = DATASET_SIZES[dataset]
    subset = image_count(
        f"Training images (of {n_train:,}, class-balanced)", n_train, LESSON["subset"], keys.TRAIN_IMAGES[dataset]
    )
    test_subset = image_count(f"Test images (of {n_test:,})", n_test, LESSON["test_subset"], keys.TEST_IMAGES[dataset])
    return dict(dataset=dataset, subset=subset, test_subset=test_subset), data


def recipe_choice(column, label: str, choices: tuple, field: str, key: str, format_func):
    """A menu for one of the recipe's settings, opening on the lesson's value (None: the recipe's own)."""
    return column.selectbox(
        label, choices, index=choices.index(LESSON[field]), key=key, bind=BIND, format_func=format_func
    )


def advanced_settings(recipe: str, depth: int) -> dict:
    """Learning rate, batch size, schedule, augmentation and warm-up, each empty for the recipe's own."""
    lr_col, b_col, s_col, a_col, w_col = st.columns(5)
    lr_text = lr_col.text_input(
        "Learning rate",
        key=keys.LR,
        bind=BIND,
        placeholder=training.recipe_setting_text(recipe, "lr"),
        help="Empty: the recipe's. A number such as 0.1 or 3e-4, in (0, 10].",
    )
    batch_size = recipe_choice(
        b_col,
        "Batch size",
        BATCH_CHOICES,
        "batch_size",
        keys.BATCH,
        lambda b: training.recipe_setting_text(recipe, "batch_size") if b is None else str(b),
    )
    schedule = recipe_choice(
        s_col,
        "Learning-rate schedule",
        SCHEDULE_CHOICES,
        "schedule",
        keys.SCHEDULE,
        lambda k: (
            f"the recipe's ({SCHEDULE_NAMES[RECIPE_DEFAULTS[recipe]['schedule']]})" if k is None else SCHEDULE_NAMES[k]
        ),
    )
    augment = recipe_choice(
        a_col,
        "Augmentation",
        AUGMENT_CHOICES,
        "augment",
        keys.AUGMENT,
        lambda a: training.recipe_setting_text(recipe, "augment") if a is None else ("crop + flip" if a else "none"),
    )
    warmup = w_col.number_input(
        "Warm-up steps at lr/10",
        min_value=0,
        max_value=MAX_WARMUP,
        value=None,
        step=100,
        key=keys.WARMUP,
        bind=BIND,
        placeholder=training.recipe_setting_text(recipe, "warmup", depth),
        help="The paper trains ResNet-110 at lr/10 for its first ~400 steps, then at the full "
        "rate. Empty: the recipe's; 0: none.",
    )
    ramp = w_col.checkbox(
        "Ramp the warm-up up to the full lr",
        key=keys.WARMUP_RAMP,
        bind=BIND,
        help="Instead of holding lr/10 and then jumping, raise the lr step by step to its full value (Goyal et "
        "al. 2017), as the shipped CIFAR-10 Fig. 6 set does.",
    )
    return dict(
        lr_text=lr_text, batch_size=batch_size, schedule=schedule, augment=augment, warmup=warmup, warmup_ramp=ramp
    )


def read_config() -> tuple[RunConfig | None, common.DatasetChoice]:
    """The RunConfig the widgets describe (None, with the reason shown, if it is invalid)."""
    with st.container(border=True):
        net_col, recipe_col, data_col = st.columns(3, gap="large")
    with net_col:
        network = network_settings()
    with recipe_col:
        recipe = recipe_settings()
    with data_col:
        data_part, data = data_settings()
    with st.expander("Advanced: learning rate, batch size, schedule, augmentation, warm-up", icon=":material/tune:"):
        fixed = network["arch"] == TORCHVISION_MODEL
        advanced = advanced_settings(recipe["recipe"], network["depth"] if not fixed else 20)
    try:
        config = training.run_config(training.Choices(**network, **recipe, **data_part, **advanced))
    except ConfigError as e:
        st.error(
            f"These settings cannot be trained: **{e.field}**: {str(e).split(': ', 1)[-1]}", icon=":material/block:"
        )
        return None, data
    st.caption(training.advanced_caption(config))
    return config, data


def restart_choice(existing, status) -> bool:
    """The "train again from scratch" box under a stored run that may train again, with what it does; True
    when it is ticked."""
    if existing is None or not lifecycle.allowed(status).train_again:
        return False
    protected = existing.reference and not common.is_teacher()
    what = training.restart_text(
        reference=existing.reference,
        teacher=common.is_teacher(),
        status=status,
        epochs_done=existing.epochs_done,
        epochs=existing.config.epochs,
    )
    restart = st.checkbox(
        "Train again from scratch"
        + (" (replaces the shipped ★ run)" if existing.reference else " (replaces the stored run)"),
        key="train_restart",
        disabled=protected,
        help=what,
    )
    if restart or protected:
        st.caption(what)
    return restart


def start_or_open(store: RunStore, config: RunConfig, data: common.DatasetChoice) -> None:
    """Say what Start will do for this config, and do it when pressed."""
    existing = common.find_equivalent(store, config)
    state = common.run_state(store, existing.run_id) if existing is not None else None
    status = state.status if state is not None else None
    if existing is not None and state.record is not None:
        line, action = lifecycle.start_offer(state.record, state.place)
        getattr(st, line.kind)(line.text, icon=line.icon)
    else:
        caption, warnings = training.new_config_notes(config)
        st.caption(caption)
        for warning in warnings:
            st.warning(warning, icon=":material/warning:")
        action = "Start training"
    restart = restart_choice(existing, status)
    if restart:
        action = "Start training"
    if not st.button(action, type="primary", key="train_start", disabled=not data.available):
        return
    if lifecycle.counts_as_trained(existing) and not restart:
        run_id = existing.run_id
        if lifecycle.is_finished(existing):
            st.session_state[FLASH_KEY] = f"Opened the stored run {existing.config.label}: nothing was retrained."
    else:
        submitted = common.submit(store, config, restart=restart)
        if submitted is None:
            return
        run_id = submitted.run_id
    common.follow_run(run_id)
    st.session_state[VIEW_KEY] = run_id
    st.rerun()  # redraw from the top, so the line above the button says what is happening now


# ------------------------------------------------------------------------------- the live view


@st.cache_resource(show_spinner=False, max_entries=64)
def live_content(
    root: str, run_id: str, version: tuple, smoothing: float, full_range: bool, _store: RunStore, _record
) -> tuple[list, tuple]:
    """The facts and live charts of one run (loss and learning rate per step, accuracy per step, error and loss
    during training), built once per version of the run and chart settings and shared by every tab watching it: a
    poll that finds the run unchanged reads no history and builds no figure."""
    history = common.run_history(_store, run_id, kinds=NO_PROBES)
    label, config = _record.config.label, _record.config
    one = [figures.run_series(label, config, history.steps)]
    lr = training.lr_frame(config, history.steps, _record.info.get("total_steps"))
    rates = [figures.run_series(label, config, lr)]
    points = [figures.run_series(label, config, figures.training_points(history.epochs, history.evals))]
    charts = (
        figures.step_curves(one, "loss", smoothing=smoothing),
        figures.lr_curves(rates),
        figures.step_curves(one, "acc", smoothing=smoothing, full_range=full_range),
        figures.training_curves(points, "error", tuple(figures.SPLITS), full_range=full_range),
        figures.training_curves(points, "loss", tuple(figures.SPLITS)),
    )
    return run_facts(_record, history), charts


def chart_settings() -> tuple[float, bool]:
    """The smoothing and the fixed-axis choice, read from the widgets drawn once above the charts."""
    return float(st.session_state.get(keys.SMOOTHING, DEFAULT_SMOOTHING)), bool(
        st.session_state.get(keys.FULL_PERCENT, False)
    )


def chart_setting_widgets() -> None:
    """The smoothing slider and the fixed-axis switch, above the live charts and the overlay."""
    smooth_col, axis_col = st.columns(2)
    smooth_col.slider(
        "Smoothing of the per-step curves",
        0.0,
        0.99,
        DEFAULT_SMOOTHING,
        0.01,
        key=keys.SMOOTHING,
        bind=BIND,
        help="TensorBoard's: an exponential moving average, debiased so the first steps "
        "are not pulled towards zero. 0 shows each mini-batch as it is.",
    )
    axis_col.toggle(
        "Error and accuracy on a fixed 0–100% axis",
        key=keys.FULL_PERCENT,
        bind=BIND,
        help="So runs and moments compare at a glance; off, the axis zooms to the curves.",
    )


def run_facts(record, history) -> list[tuple[str, str, str | None]]:
    """Epochs finished, last training loss, test accuracy and parameters: (label, value, help) for each."""
    epochs, info = history.epochs, record.info
    return [
        ("epochs finished", f"{len(epochs)} / {record.config.epochs}", None),
        ("last training loss", f"{history.steps['loss'].iloc[-1]:.3f}" if len(history.steps) else "–", None),
        ("test accuracy", f"{100 * epochs['test_acc'].iloc[-1]:.1f}%" if len(epochs) else "–", None),
        (
            "parameters",
            f"{info['params'] / 1e6:.2f} M" if info.get("params") else "–",
            f"{info.get('dataset', '')}, {info.get('n_train', '?')} training images, on {info.get('device', '?')}",
        ),
    ]


def live_view(store: RunStore, run_id: str, was_live: bool, interval: float | None, read_at: float) -> None:
    """Status, progress and curves of one run; re-drawn every few seconds while it is queued or trains. A poll reads
    the run's state from the snapshot all tabs share (never older than ``read_at``, when the page read the store)
    and its facts and figures from a cache per version of the run, so a poll that finds nothing new costs little."""
    state = common.watch_state(store, run_id, read_at)
    record = state.record
    if was_live and not state.live:
        st.rerun()  # it just ended: redraw the whole page once (and stop polling)
    version = live.fingerprint(state)
    st.session_state[POLL_KEY] = unchanged = live.count_unchanged(st.session_state.get(POLL_KEY), version)
    if state.live and common.poll_interval(state, unchanged[1]) != interval:
        st.rerun()  # back off (nothing new), or speed up again: the fragment's pace is set by a full run
    if record is None:
        st.info("This run is not in the store (it may have been deleted).", icon=":material/info:")
        return
    if not lifecycle.is_queued(record):  # a queued run's line is its place in the queue, below
        common.show_status(record)
    if state.live:
        common.live_panel(store, state, key="train")
    if lifecycle.is_queued(record) and not record.epochs_done:
        st.caption("Its curves appear here as soon as a worker starts it.")
        return  # nothing to chart yet: a waiting tab costs the server only this status line
    smoothing, full_range = chart_settings()
    content = live.content_version(state)
    facts, charts = live_content(str(store.root), run_id, content, smoothing, full_range, store, record)
    for column, (label, value, about) in zip(st.columns(len(facts)), facts):
        column.metric(label, value, help=about)
    names = ("step_loss", "step_lr", "step_acc", "epoch_error", "epoch_loss")
    for row in ((0, 1), (2, 3), (4,)):
        columns = st.columns(2)
        for column, i in zip(columns, row):
            common.plotly_chart(charts[i], where=column, width="stretch", key=f"train_live_{names[i]}")
            if i in (2, 3):  # one caption per kind of view: the steps (left) and the epochs (right)
                column.caption(figures.curves_caption(charts[i], "acc" if i == 2 else "error"))


def follow_shared_link(store: RunStore, ids: list[str]) -> None:
    """Follow the run named by the address this tab was opened with (?run=<id>, e.g. shared by the teacher);
    read once, since later reruns may carry an address this page has just replaced."""
    if URL_RUN_KEY in st.session_state:
        return
    st.session_state[URL_RUN_KEY] = True
    shared = st.query_params.get(training.RUN_PARAM)
    if shared and (shared in ids or common.run_state(store, shared).record is not None):
        common.follow_run(shared)
    elif shared:
        st.warning(
            f"The link names run `{shared}`, which this server's store does not have.", icon=":material/link_off:"
        )


def watch_section(store: RunStore) -> None:
    """ "Watch a run": the chart settings, a picker over the stored and live runs, and the live view of one."""
    st.divider()
    st.subheader("Watch a run")
    chart_setting_widgets()
    records = common.stored_runs(store)
    live_ids = [r.run_id for r in common.live_runs(store)]
    ids = [r.run_id for r in records]
    follow_shared_link(store, ids)
    focus = st.session_state.get(common.FOCUS_RUN_KEY)
    if focus and focus not in ids and (followed := common.run_state(store, focus).record) is not None:
        records, ids = [followed, *records], [focus, *ids]  # started a moment ago: not in the shared listing yet
    watched = training.watched_run(focus, ids, live_ids)
    if watched is None:
        st.info(
            f"No runs yet. Press **Start training** above: the settings it opens on train on {LESSON['subset']:,} "
            f"images for {LESSON['epochs']} epochs, a few minutes on a laptop CPU."
        )
        return
    st.session_state[VIEW_KEY] = watched
    if st.query_params.get(training.RUN_PARAM) != watched:  # the address names the run shown, so a link opens it
        st.query_params[training.RUN_PARAM] = watched
    labels = common.picker_labels(records)
    if live_ids:
        st.caption(
            ":material/hourglass_top: Queued or training now: "
            + "; ".join(labels[i] for i in live_ids if i in labels)
            + ". Pick one below to follow it; every browser tab sees the same runs."
        )
    run_id = st.selectbox(
        "Run shown below",
        list(dict.fromkeys([*live_ids, *ids])),
        key=VIEW_KEY,
        format_func=labels.get,
        on_change=lambda: common.follow_run(st.session_state[VIEW_KEY]),
    )
    read_at = time.monotonic()
    first_state = common.run_state(store, run_id)
    polls = live.count_unchanged(st.session_state.get(POLL_KEY), live.fingerprint(first_state))[1]
    pace = common.poll_interval(first_state, polls)
    st.fragment(live_view, run_every=pace)(store, run_id, first_state.live, pace, read_at)


# ------------------------------------------------------------------------------------ overlay


def series(record, frame: pd.DataFrame) -> figures.RunSeries:
    return figures.run_series(record.config.label, record.config, frame)


def show_fig6(ids: list[str]) -> None:
    st.session_state[OVERLAY_KEY] = ids


def train_missing(store: RunStore, configs: list[RunConfig]) -> None:
    """Queue the missing runs; this tab follows them (progress below) and overlays them."""
    started, refused = list(st.session_state.get(STARTED_KEY, [])), None
    for c in configs:
        state, refused = common.try_submit(store, c)
        if state is None:
            break
        started.append(state.run_id)
    queued = len(started) - len(st.session_state.get(STARTED_KEY, []))
    st.session_state[STARTED_KEY] = list(dict.fromkeys(started))
    st.session_state[OVERLAY_KEY] = training.overlay_after_adding(
        st.session_state.get(OVERLAY_KEY, []), started, common.stored_runs(store)
    )
    st.session_state[STARTED_NOTE_KEY] = training.queued_note(queued, len(configs), refused)


def started_progress(store: RunStore, ids: list[str], was_live: bool) -> None:
    """Where the runs this tab queued stand: one line, then a place in the queue or a progress bar for each live one."""
    states = [common.run_state(store, i) for i in ids]
    live = [s for s in states if s.live]
    if was_live and not live:
        st.rerun()  # the last one just ended: redraw the page (the overlay stops polling)
    st.markdown(f":material/model_training: **The runs this tab queued**: {training.started_summary(states)}.")
    for s in live:
        common.live_panel(store, s, key=f"train_started_{s.run_id}")


def fig6_buttons(store: RunStore, config: RunConfig, data: common.DatasetChoice) -> None:
    """Show the four Fig. 6 runs that are stored, or train the missing ones, with the settings above."""
    wanted = training.fig6_configs(config)
    have, missing = training.stored_and_missing(wanted, [common.find_equivalent(store, c) for c in wanted])
    b1, b2 = st.columns(2)
    b1.button(
        "Show plain-20, plain-56, ResNet-20 and ResNet-56",
        key="train_fig6_show",
        on_click=show_fig6,
        args=(have,),
        disabled=not have,
        help="Those of the four that are stored, with the data and recipe settings above",
    )
    b2.button(
        f"Train the missing {len(missing)} of them in the background" if missing else "All four are stored or training",
        key="train_fig6_train",
        on_click=train_missing,
        args=(store, missing),
        disabled=not missing or not data.available,
        help="With the data and recipe settings above; they train side by side and share the CPU/GPU",
    )


def overlay_picker(store: RunStore) -> list:
    """The runs to overlay: each run this tab starts or opens is added once, with the runs shown that share its
    budget (the user may remove it again, or add others); with nothing chosen yet, the shipped Fig. 6 set of one
    budget, so the lesson's picture is there at once."""
    records = common.stored_runs(store)
    seen = st.session_state.setdefault(OVERLAY_SEEN_KEY, set())
    focus = st.session_state.get(common.FOCUS_RUN_KEY)
    if focus and focus not in seen and any(r.run_id == focus for r in records):
        seen.add(focus)
        st.session_state[OVERLAY_KEY] = training.overlay_after_adding(
            st.session_state.get(OVERLAY_KEY, []), [focus], records
        )
    default_ids = training.overlay_defaults(records, focus)
    return common.pick_runs("Runs to overlay", records, key=OVERLAY_KEY, default_ids=default_ids)


def overlay_settings() -> tuple[str, str, list[str]]:
    """The quantity, along epochs or steps, and which curves (train, test...) along epochs."""
    metric_col, x_col, split_col = st.columns(3)
    metric = metric_col.radio(
        "Quantity",
        ("error", "acc", "loss"),
        horizontal=True,
        key=keys.OVERLAY_METRIC,
        bind=BIND,
        format_func={"error": "error (%)", "acc": "accuracy (%)", "loss": "loss"}.get,
    )
    per = x_col.radio(
        "Along",
        ("epoch", "step"),
        horizontal=True,
        key=keys.OVERLAY_X,
        bind=BIND,
        format_func={"epoch": "epochs (train and test)", "step": "steps (training batches)"}.get,
    )
    splits = split_col.multiselect(
        "Curves",
        list(figures.SPLITS),
        default=("test", "train"),
        key=keys.OVERLAY_SPLITS,
        bind=BIND,
        disabled=per == "step",
        format_func=lambda k: figures.SPLITS[k][0],
    )
    return metric, per, splits


@st.cache_resource(show_spinner=False, max_entries=64, hash_funcs=BY_ROOT)
def overlay_figures(
    store: RunStore,
    versions: tuple,
    metric: str,
    per: str,
    splits: tuple[str, ...],
    smoothing: float,
    full_range: bool,
    _runs: tuple,
) -> tuple:
    """The overlay figure (and, along steps, the learning rates beside it), built once per new rows of its runs
    (``versions``) and chart settings, and shared by every tab."""
    histories = {r.run_id: common.run_history(store, r.run_id, kinds=NO_PROBES) for r in _runs}
    if per == "epoch":
        points = [
            series(r, figures.training_points(histories[r.run_id].epochs, histories[r.run_id].evals)) for r in _runs
        ]
        return figures.training_curves(points, metric, splits or ("test",), full_range=full_range), None
    rates = [
        series(r, training.lr_frame(r.config, histories[r.run_id].steps, r.info.get("total_steps"))) for r in _runs
    ]
    return (
        figures.step_curves(
            [series(r, histories[r.run_id].steps) for r in _runs], metric, smoothing=smoothing, full_range=full_range
        ),
        figures.lr_curves(rates),
    )


def overlay_chart(store: RunStore, runs: list, was_live: bool, metric: str, per: str, splits: list[str]) -> None:
    """The overlay and its caption (built from the curves drawn); re-drawn every few seconds while one of its
    runs is queued or trains, so its curves appear and grow."""
    if was_live and not any(common.is_training(store, r.run_id) for r in runs):
        st.rerun()
    versions = tuple((r.run_id, store.version(r.run_id)) for r in runs)
    smoothing, full_range = chart_settings()
    chart, rates = overlay_figures(store, versions, metric, per, tuple(splits), smoothing, full_range, tuple(runs))
    if rates is None:
        common.plotly_chart(chart, width="stretch", key="train_overlay_chart")
    else:
        left, right = st.columns([3, 2])
        common.plotly_chart(chart, where=left, width="stretch", key="train_overlay_chart")
        common.plotly_chart(rates, where=right, width="stretch", key="train_overlay_lr")
    st.caption(figures.curves_caption(chart, metric))


def history_downloads(store: RunStore, runs: list) -> None:
    """Buttons that download the shown runs' histories as CSV, per epoch and per step (built when clicked); each
    chart's own PNG is its camera button."""
    columns = st.columns(len(training.HISTORY_KINDS) + 1, vertical_alignment="center")
    for column, (per, words) in zip(columns, training.HISTORY_KINDS.items()):
        column.download_button(
            f"Download the {words} history (CSV)",
            lambda per=per: training.history_csv([(r, store.history(r.run_id, kinds=NO_PROBES)) for r in runs], per),
            file_name=f"history_{per}.csv",
            mime="text/csv",
            key=f"train_history_{per}",
            on_click="ignore",
            icon=":material/download:",
        )
    columns[-1].caption("A chart as PNG: the camera button above it.")


def overlay_section(store: RunStore, config: RunConfig | None, data: common.DatasetChoice) -> None:
    """ "Several runs on one chart": the Fig. 6 buttons, the runs and settings, the runs a click queued, and the
    overlay with the sentences on what its runs do."""
    st.divider()
    st.subheader("Several runs on one chart")
    st.markdown(
        "The paper's Fig. 6 in miniature: **plain-20, plain-56, ResNet-20 and ResNet-56**. In the paper the "
        "deeper plain net ends with the higher *training* error (degradation), while the deeper ResNet ends lower. "
        "The sentences under the chart say what the runs shown here do."
    )
    if config is not None:
        fig6_buttons(store, config, data)
    chosen = overlay_picker(store)
    metric, per, splits = overlay_settings()
    if STARTED_KEY in st.session_state:
        if note := st.session_state.get(STARTED_NOTE_KEY):
            st.warning(note, icon=":material/block:")
        started = st.session_state[STARTED_KEY]
        started_live = any(common.is_training(store, i) for i in started)
        st.fragment(started_progress, run_every=common.SLOW_POLL_S if started_live else None)(
            store, started, started_live
        )
    if not chosen:
        st.caption("Pick one or more stored runs above.")
        return
    any_live = any(common.is_training(store, r.run_id) for r in chosen)
    st.fragment(overlay_chart, run_every=common.group_pace(store, [r.run_id for r in chosen]) if any_live else None)(
        store, chosen, any_live, metric, per, splits
    )
    history_downloads(store, chosen)
    if note := training.overlay_note(chosen):
        st.warning(note, icon=":material/balance:")
    for sentence in lesson.fig6_sentences(chosen, stored=common.stored_runs(store)):
        st.markdown("- " + sentence)


# ------------------------------------------------------------------------------------ the page

store = common.get_store()
st.title("Train a network")
poll_panel.show(store, page="Train")
st.markdown(
    "Choose a network and a recipe and press **Start**. Training runs in the background on this server "
    "and the curves below update every few seconds; another browser tab sees the same run. A configuration "
    "that is already stored opens instantly instead of training again."
)
config, data = read_config()
if config is not None:
    start_or_open(store, config, data)
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash, icon=":material/save:")
watch_section(store)
overlay_section(store, config, data)
sweep_panel(store)
