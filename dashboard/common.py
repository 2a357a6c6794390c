"""Helpers every dashboard page shares: the run store, run pickers, dataset and device facts,
live progress of background runs, and a one-click "train a small model" offer.

Pages stay thin: they read widgets, call ``core``, and draw figures from ``dashboard.figures``.
Nothing here trains: pages queue runs through ``core.runs.jobs`` (worker processes train them and write
the run store) and read the store through snapshots shared by every session, refreshed only when a
run has new rows.
"""

from __future__ import annotations

import hmac
import os
import platform
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import streamlit as st
import torch

from core.cli.progress import format_seconds
from core.engine.config import RunConfig
from core.engine.data import DatasetChoice, dataset_choices  # noqa: F401  (pages read them through this module)
from core.engine.train import cpu_has_native_bf16
from core.runs import jobs, lifecycle, reference
from core.runs.backends import RunState
from core.runs.store import DamagedRun, History, Listing, RunRecord, RunStore, StoreError, default_store_root
from dashboard import browsers, keys, live
from dashboard.live import FAST_POLL_S, IDLE_POLL_S, QUEUE_POLL_S, SLOW_POLL_S, poll_interval  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parent.parent

PAGES_DIR = REPO_ROOT / "pages"
TRAIN_PAGE = PAGES_DIR / "1_Train.py"
RUNS_PAGE = PAGES_DIR / "8_Runs.py"
# Session-state key of the run the Train page follows; other pages set it to hand a run over.
FOCUS_RUN_KEY = "focus_run_id"
# A ResNet-20 small enough to train in a few minutes on a laptop CPU (seconds on a GPU); probed
# every 5 of its 45 steps, so that the Gradients page has something to draw.
QUICK_CONFIG = RunConfig(
    depth=20, shortcut="A", dataset="builtin", subset=2000, test_subset=500, epochs=3, probe_every=5
)
REQUESTER_KEY = "queue_requester"  # this browser session's id in the run queue
TEACHER_KEY = "teacher_unlocked"  # True once the teacher passphrase was given in this session
TEACHER_ENV, TEACHER_SECRET = "RESNET_LAB_TEACHER_PASSPHRASE", "teacher_passphrase"
QUEUE_LIMIT_SETTING, DEFAULT_QUEUE_LIMIT = "queue_limit", 2  # runs one browser may have waiting
ANALYSIS_LIMIT = 4  # analyses one browser may have waiting (a pair's lesion study is two)
PROBES_PER_RUN = 60  # gradient probes spread over a run started from a page, for the Gradients page
LIVENESS_S = 10  # the shared run list is re-read at least this often


# ------------------------------------------------------------------------- lesson links (the URL)

BIND = "query-params"  # widgets created with bind=BIND keep their value in the page's URL (see dashboard/keys.py)


def link_values(key: str) -> list[str]:
    """The values the URL gives for ``key`` now (read before the widget of that key is created)."""
    return st.query_params.get_all(key)


def ignored_values(asked: list[str], offered) -> list[str]:
    """The values a link asked for that are not among the labels ``offered`` (Streamlit drops them from the URL)."""
    offered = set(offered)
    return [value for value in asked if value not in offered]


def note_ignored(asked: list[str], offered, what: str, container=st) -> None:
    """A quiet note under a widget when a link named choices this page does not offer."""
    if ignored := ignored_values(asked, offered):
        container.caption(
            f":material/link_off: From the link, not among the {what}, so left out: "
            + "; ".join(f"*{value}*" for value in ignored)
            + "."
        )


def view_link(page_url: str | None, params: dict[str, list[str]]) -> str:
    """The link that reopens this view: the page's address (without its old query) and every setting the
    URL holds now, repeated parameters kept in order. Without an address (no browser), the query alone."""
    query = urlencode([(name, value) for name, values in params.items() for value in values], quote_via=quote)
    base = (page_url or "").split("?", 1)[0].split("#", 1)[0]
    return f"{base}?{query}" if query else (base or "?")


def current_params() -> dict[str, list[str]]:
    return {name: st.query_params.get_all(name) for name in st.query_params}


def link_box(container) -> None:
    """ "Link to this view" with a copy button, for slides and for the class (see dashboard/keys.py)."""
    with container.container():
        st.caption(":material/link: Link to this view (its settings are in the address; copy it with the button)")
        st.code(view_link(st.context.url, current_params()), language=None, wrap_lines=True)


# ------------------------------------------------------------------------------- projector mode

# Projector mode, all of it: larger text in the main area (Plotly charts keep their own sizes, so their
# legends and axis titles keep their places), and no element fading grey while it redraws (Streamlit marks
# the elements of the previous run with data-stale="true" and dims them).
PROJECTOR_CSS = """
[data-testid="stMain"] [data-testid="stMarkdownContainer"] :is(p, li, td, th) { font-size: 1.3rem; line-height: 1.5; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] :is(p, li) { font-size: 1.1rem; line-height: 1.45; }
[data-testid="stMain"] [data-testid="stWidgetLabel"] [data-testid="stMarkdownContainer"] p { font-size: 1.1rem; }
[data-testid="stMain"] :is(input, [data-testid="stRadioOption"] p) { font-size: 1.1rem !important; }
[data-testid="stMain"] [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
    font-size: 2.6rem; line-height: 1.2; }
[data-testid="stMain"] h1 { font-size: 3rem; }
[data-testid="stMain"] h2 { font-size: 2.25rem; }
[data-testid="stMain"] h3 { font-size: 1.9rem; }
[data-testid="stMain"] h4 { font-size: 1.6rem; }
[data-testid="stElementContainer"][data-stale="true"], [data-stale="true"] * {
    opacity: 1 !important; transition: none !important; filter: none !important; }
"""


def projector_mode() -> bool:
    """The sidebar's projector switch, bound to the URL (``?projector=true`` opens a page in it)."""
    on = st.sidebar.toggle(
        "Projector mode",
        key=keys.PROJECTOR,
        bind=BIND,
        help="Larger type for a room, and charts that do not fade while they redraw. "
        "Links copied in this mode open in it.",
    )
    if on:
        st.html(f"<style>{PROJECTOR_CSS}</style>")
    return on


def chart_config(fig, name: str | None = None, config: dict | None = None) -> dict:
    """Plotly's config for a chart: the modebar's camera button downloads it as a PNG named after ``name`` (else
    the chart's title), at twice the shown resolution; ``config`` adds to it or overrides it."""
    title = name or (fig.layout.title.text or "chart")
    filename = "".join(c if c.isalnum() else "_" for c in title.split("<")[0].strip().lower())[:60].strip("_")
    image = dict(format="png", filename=filename or "chart", scale=2)
    return {"toImageButtonOptions": image, "displaylogo": False, **(config or {})}


def plotly_chart(fig, *, where=None, name: str | None = None, config: dict | None = None, **kwargs):
    """``st.plotly_chart`` (or ``where.plotly_chart``, a column) for every chart of the lab: larger text in
    projector mode (figures.projector), and a PNG download in the chart's modebar (chart_config)."""
    from dashboard import figures

    if st.session_state.get(keys.PROJECTOR):
        fig = figures.projector(fig)
    return (where or st).plotly_chart(fig, config=chart_config(fig, name or kwargs.get("key"), config), **kwargs)


# ------------------------------------------------------------------------------------ the store


@st.cache_resource(show_spinner=False)
def _store_at(root: str) -> tuple[RunStore, str | None]:
    """One RunStore per root for the whole server, with the shipped reference runs installed once.

    Returns the store and a note for the user if installing the reference runs failed."""
    store = RunStore(root)
    note = None
    try:
        reference.install(store)
    except Exception as e:  # a broken reference bundle must not take the dashboard down
        note = f"The shipped reference runs could not be loaded ({type(e).__name__}: {e}); your own runs work as usual."
    return store, note


def prepare_store() -> None:
    """Open the store and install the shipped reference runs now (once per server); failures are left for
    ``get_store`` to explain on the page."""
    try:
        _store_at(str(default_store_root()))
    except (StoreError, OSError):
        pass


def get_store() -> RunStore:
    """The run store under $RESNET_LAB_HOME (else ~/.local/share/resnet-lab); stops the page with
    an explanation if it cannot be opened."""
    root = str(default_store_root())  # read on every call, so a changed RESNET_LAB_HOME is honoured
    try:
        store, note = _store_at(root)
    except (StoreError, OSError) as e:
        st.error(
            f"The run store at `{root}` cannot be opened: {e}\n\n"
            "Set RESNET_LAB_HOME to a writable directory and restart the dashboard."
        )
        st.stop()
    if note:
        st.warning(note)
    return store


def store_failed(error: StoreError) -> None:
    """Stop the page with the store's own explanation (which names the store and what to do)."""
    st.error(f"The run store cannot be read: {error}", icon=":material/database:")
    st.stop()


@st.cache_data(show_spinner=False, max_entries=8)
def _listing(root: str, version: tuple, liveness_bucket: int) -> Listing:
    """Every stored run, read once per change of the store and shared by every session (30 tabs, one read).
    ``liveness_bucket`` re-reads now and then even without a change: a dead worker's run becomes 'interrupted'."""
    return RunStore(root).scan()


def listing(store: RunStore) -> Listing:
    """The shared snapshot of the stored runs (rows that cannot be read are left out: see ``damage_note``)."""
    try:
        return _listing(str(store.root), store.version(), int(time.time() // LIVENESS_S))
    except StoreError as e:
        store_failed(e)


def damage_text(damaged: list[DamagedRun], limit: int = 3) -> str:
    n = len(damaged)
    text = (
        f"{n} stored run{'s' * (n != 1)} could not be read and {'are' if n != 1 else 'is'} left out everywhere; "
        "the others work as usual. " + "; ".join(f"`{d.run_id}`: {d.reason}" for d in damaged[:limit])
    )
    return text + (f"; and {n - limit} more (`python -m core list` names them all)." if n > limit else ".")


def damage_note(store: RunStore) -> None:
    """A warning naming the stored runs this version cannot read, if there are any."""
    damaged = listing(store).damaged
    if damaged:
        st.warning(damage_text(damaged), icon=":material/warning:")


def stored_runs(store: RunStore, keep=None, with_weights: bool = False) -> list[RunRecord]:
    """Stored runs, newest first; optionally only those ``keep(record)`` accepts (a ``core.runs.lifecycle``
    predicate such as ``is_done``), or only runs with saved weights."""
    records = listing(store).records
    if keep is not None:
        records = [r for r in records if keep(r)]
    if with_weights:
        records = [r for r in records if store.weights_path(r.run_id).exists()]
    return records


def finished_with_weights(store: RunStore) -> list[RunRecord]:
    """Finished runs whose weights are here: the ones a page can look inside."""
    return stored_runs(store, keep=lifecycle.is_done, with_weights=True)


def live_runs(store: RunStore) -> list[RunRecord]:
    """Runs queued or training, wherever they were asked for (this server's tabs, the command line)."""
    return [r for r in listing(store).records if lifecycle.is_live(r)]


@st.cache_data(show_spinner=False, max_entries=256)
def _snapshot(root: str, run_id: str, version: tuple, kinds: tuple[str, ...] | None) -> History:
    return RunStore(root).history(run_id, kinds=kinds)


def run_history(store: RunStore, run_id: str, kinds: tuple[str, ...] | None = None) -> History:
    """A run's history, read once per new rows and shared by every session watching it."""
    try:
        return _snapshot(str(store.root), run_id, store.version(run_id), kinds)
    except StoreError as e:
        store_failed(e)


@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def cached_model(store_root: str, run_id: str, weights_mtime: float) -> torch.nn.Module:
    """A run's trained network, loaded once per run id (the mtime reloads a retrained run)."""
    return RunStore(store_root).load_model(run_id)


def weights_mtime(store: RunStore, run_id: str) -> float:
    """When a run's weights were last written: ``cached_model`` loads them again after a retraining."""
    return store.weights_path(run_id).stat().st_mtime


def run_state(store: RunStore, run_id: str) -> RunState:
    """Where a run stands (queue and store together); the page stops with an explanation if the store fails."""
    try:
        return jobs.state(store, run_id)
    except StoreError as e:
        store_failed(e)


@st.cache_resource(show_spinner=False, max_entries=8)
def _shared_snapshot(root: str, _store: RunStore) -> live.SharedSnapshot:
    """One snapshot of every run's state per store, for every polling tab of this server (see dashboard.live)."""

    def serve_queue(queued: list[str]) -> None:
        run_state(_store, queued[0])  # the job backend's own check that a worker takes the queued runs

    return live.SharedSnapshot(_store.version, lambda: _store.scan().records, on_queued=serve_queue)


def watch_state(store: RunStore, run_id: str, newer_than: float | None = None) -> RunState:
    """Where a watched run stands, for a live view's poll: from the snapshot every tab shares (at most about a second
    old, and never older than ``newer_than``, a ``time.monotonic()`` at which this tab read the store itself), so a
    poll reads the store only when it changed, once for all tabs. A run the snapshot does not know yet is read."""
    try:
        state = _shared_snapshot(str(store.root), store).get(newer_than).state(run_id)
    except StoreError as e:
        store_failed(e)
    return state if state is not None else run_state(store, run_id)


def group_pace(store: RunStore, run_ids: list[str]) -> float | None:
    """The pace of a view of several runs (``live.group_interval``): slow while they only wait in the queue."""
    return live.group_interval(run_state(store, i) for i in run_ids)


def teacher_passphrase() -> str | None:
    """The teacher passphrase: $RESNET_LAB_TEACHER_PASSPHRASE, else ``teacher_passphrase`` in
    .streamlit/secrets.toml."""
    if os.environ.get(TEACHER_ENV):
        return os.environ[TEACHER_ENV]
    try:
        return st.secrets.get(TEACHER_SECRET) or None
    except (FileNotFoundError, KeyError, OSError, ValueError):  # no secrets file, or an unreadable one
        return None


def passphrase_matches(given: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def is_teacher() -> bool:
    return bool(st.session_state.get(TEACHER_KEY))


def teacher_login() -> None:
    """A sidebar field that unlocks teacher actions for this browser session (delete, rename and tag runs,
    change the queue limit, train over a reference run)."""
    expected = teacher_passphrase()
    with st.sidebar:
        if is_teacher():
            st.caption(":material/school: Teacher actions unlocked in this tab.")
            return
        if not expected:
            return
        given = st.text_input(
            "Teacher passphrase",
            type="password",
            key="teacher_passphrase_input",
            help=f"Set by ${TEACHER_ENV} or `{TEACHER_SECRET}` in .streamlit/secrets.toml",
        )
        if given:
            if passphrase_matches(given, expected):
                st.session_state[TEACHER_KEY] = True
                st.rerun()
            st.error("That is not the teacher passphrase.")


def teacher_tools(store: RunStore) -> None:
    """The queue limit, shown only once the teacher passphrase is given; runs are managed on the Runs page."""
    if not is_teacher():
        return
    with st.expander("Teacher tools", icon=":material/school:"):
        limit = st.number_input(
            "Runs one browser may have waiting in the queue (all its tabs together)",
            min_value=1,
            max_value=50,
            value=queue_limit(store),
            key="teacher_queue_limit",
        )
        if limit != queue_limit(store):
            store.set_setting(QUEUE_LIMIT_SETTING, int(limit))
            st.toast(f"Queue limit set to {int(limit)} per browser.")
        if RUNS_PAGE.is_file():
            st.page_link(
                str(RUNS_PAGE),
                label="Rename, tag, delete, export and import runs on the Runs page",
                icon=":material/folder_managed:",
            )


def requester_id() -> str:
    """This browser's name in the queue: the queue limit counts per browser, not per tab (dashboard.browsers)."""
    session = st.session_state.setdefault(REQUESTER_KEY, uuid.uuid4().hex[:12])
    return browsers.requester(dict(st.context.cookies), st.context.ip_address, session)


def queue_limit(store: RunStore) -> int:
    try:
        return int(store.setting(QUEUE_LIMIT_SETTING, str(DEFAULT_QUEUE_LIMIT)))
    except (StoreError, ValueError):
        return DEFAULT_QUEUE_LIMIT


def try_submit(store: RunStore, config: RunConfig, *, restart: bool = False) -> tuple[RunState | None, str | None]:
    """Queue ``config`` for this session (within its limit): its state, or None and why it was refused."""
    try:
        return jobs.submit(
            store,
            config,
            requester_id(),
            restart=restart,
            limit=None if is_teacher() else queue_limit(store),
            teacher=is_teacher(),
        ), None
    except StoreError as e:  # the queue limit, a protected reference run, a damaged store
        return None, str(e)[0].upper() + str(e)[1:]


def submit(store: RunStore, config: RunConfig, *, restart: bool = False) -> RunState | None:
    """Queue ``config`` for this session (within its limit); None, with the reason shown, if it is refused."""
    state, refused = try_submit(store, config, restart=restart)
    if refused:
        st.warning(refused, icon=":material/block:")
    return state


# -------------------------------------------------------------------------------- run pickers


def run_label(record: RunRecord) -> str:
    """A run's label: ★ for a shipped reference run, the config's label, and the data set if not the
    built-in one. It leaves the status out on purpose: Streamlit keys a picker's choice by its label,
    so a label that changed while a run trains would drop the user's choice."""
    return ("★ " if record.reference else "") + record.config.label  # the label names a data set other than Shapes-10


def picker_labels(records: list[RunRecord]) -> dict[str, str]:
    """Stable, unique labels by run id (runs that differ only in hidden settings get their id appended)."""
    labels = {r.run_id: run_label(r) for r in records}
    counts: dict[str, int] = {}
    for text in labels.values():
        counts[text] = counts.get(text, 0) + 1
    return {i: text if counts[text] == 1 else f"{text} · #{i[:6]}" for i, text in labels.items()}


def pick_run(
    label: str,
    records: list[RunRecord],
    *,
    key: str,
    default_id: str | None = None,
    help: str | None = None,
    container=st,
    bind: bool = True,
) -> RunRecord | None:
    """A selectbox over ``records`` by label; None when there are none. A choice kept in session
    state wins over ``default_id`` while it is still among the records. Bound to the URL unless
    ``bind`` is False; a run named by a link but not stored here is ignored with a note."""
    if not records:
        return None
    by_id = {r.run_id: r for r in records}
    labels = picker_labels(records)
    ids = list(by_id)
    asked = link_values(key) if bind else []
    if st.session_state.get(key) not in by_id:  # a run deleted or filtered out since it was chosen
        st.session_state.pop(key, None)
    # The index is the default for a first render only; passing it with a value already in session
    # state would make Streamlit warn about two sources for one value.
    start = {} if key in st.session_state else {"index": ids.index(default_id) if default_id in by_id else 0}
    chosen = container.selectbox(
        label, ids, key=key, help=help, format_func=labels.get, bind=BIND if bind else None, **start
    )
    note_ignored(asked, labels.values(), "runs stored here", container)
    return by_id.get(chosen)


def pick_runs(
    label: str,
    records: list[RunRecord],
    *,
    key: str,
    default_ids: list[str] | tuple[str, ...] = (),
    max_selections: int | None = None,
    help: str | None = None,
    container=st,
) -> list[RunRecord]:
    """A multiselect over ``records`` by label, in the order chosen, bound to the URL. A choice kept in
    session state (e.g. set by a button's callback) wins over ``default_ids``; runs named by a link but
    not stored here are ignored with a note."""
    by_id = {r.run_id: r for r in records}
    labels = picker_labels(records)
    asked = link_values(key)
    if key in st.session_state:
        st.session_state[key] = [i for i in st.session_state[key] if i in by_id][:max_selections]
        default = None
    else:
        default = [i for i in dict.fromkeys(default_ids) if i in by_id][:max_selections]
    chosen = container.multiselect(
        label,
        list(by_id),
        default=default,
        key=key,
        help=help,
        bind=BIND,
        max_selections=max_selections,
        format_func=labels.get,
    )
    note_ignored(asked, labels.values(), "runs stored here", container)
    return [by_id[i] for i in chosen if i in by_id]


def find_equivalent(store: RunStore, config: RunConfig) -> RunRecord | None:
    """The stored run that answers ``config`` (``core.runs.lifecycle.stored_run``: the one rule everywhere)."""
    return lifecycle.stored_run(listing(store).records, config)


# ------------------------------------------------------------------------- status and progress


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    epoch: int
    epochs: int
    elapsed_s: float | None
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    def text(self) -> str:
        parts = [f"step {self.step:,} of {self.total_steps:,}", f"epoch {self.epoch} of {self.epochs}"]
        if self.elapsed_s is not None:
            parts.append(f"elapsed {format_seconds(self.elapsed_s)}")
        if self.eta_s is not None:
            parts.append(f"about {format_seconds(self.eta_s)} left")
        return " · ".join(parts)


@st.cache_resource(show_spinner=False, max_entries=256)
def _last_step(root: str, run_id: str, updated: float, status: str, _store: RunStore) -> int:
    """A run's last recorded step, read once per change of the run (``updated``) for every tab that shows it."""
    return _store.last_step(run_id)


def run_progress(store: RunStore, record: RunRecord) -> Progress:
    """How far a run is, from the store alone (a worker process trains it): its last step and the time
    per finished epoch give the estimate."""
    total = int(record.info.get("total_steps") or 0)
    epochs = record.config.epochs
    step = max(0, _last_step(str(store.root), record.run_id, record.updated, str(record.status), store) + 1)
    if lifecycle.is_done(record):
        step = total or step
    elapsed = record.seconds or None
    eta = None
    if lifecycle.is_running(record) and record.epochs_done and record.seconds and total:
        eta = record.seconds / max(1, step) * max(0, total - step)
    return Progress(step, total, lifecycle.current_epoch(record), epochs, elapsed, eta)


def show_status(record: RunRecord) -> None:
    """One coloured line that says where a run stands and, for failures, why."""
    line = lifecycle.status_line(record, format_seconds)
    getattr(st, line.kind)(line.text, icon=line.icon)
    if record.unknown:
        st.caption(
            "Stored by a newer version of the lab, with settings this version does not know (shown, not used "
            "here): " + ", ".join(f"{k} = {v!r}" for k, v in sorted(record.unknown.items()))
        )


# ---------------------------------------------------------------------------- datasets, device


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo on Linux, else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict:
    """What trains the networks: kind ('GPU'/'CPU'), a readable name, and a one-line summary."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        memory = torch.cuda.get_device_properties(0).total_memory / 2**30
        return {"kind": "GPU", "name": name, "summary": f"GPU: {name} ({memory:.0f} GiB), bf16 mixed precision"}
    cpu = _cpu_name()
    threads = torch.get_num_threads()
    precision = "bf16 mixed precision (native on this CPU)" if cpu_has_native_bf16() else "fp32"
    return {
        "kind": "CPU",
        "name": cpu,
        "summary": f"CPU: {cpu}, {threads} thread{'s' if threads != 1 else ''} for PyTorch (no CUDA GPU found), "
        f"{precision}",
    }


# ------------------------------------------------------------------- live runs and quick training


def follow_run(run_id: str) -> None:
    """Make the Train page follow ``run_id`` (e.g. after another page started it)."""
    st.session_state[FOCUS_RUN_KEY] = run_id


def is_training(store: RunStore, run_id: str) -> bool:
    """True while a run is queued or trains, wherever it was asked for."""
    return run_state(store, run_id).live


def live_panel(store: RunStore, state: RunState, *, key: str) -> None:
    """For a live run: its place in the queue, or a progress bar with ETA; a Stop/Cancel button either way."""
    record = state.record
    left, right = st.columns([5, 1], vertical_alignment="center")
    if lifecycle.is_queued(record):
        left.info(
            f"**{record.label}**: {lifecycle.queue_text(state.place)}. Every tab sees the same queue.",
            icon=":material/schedule:",
        )
        label, why = "Cancel", "Take it out of the queue"
    else:
        progress = run_progress(store, record)
        left.progress(progress.fraction, text=f"{record.label}: {progress.text()}")
        label, why = "Stop", "Stop after the current step; start it again to resume from the last finished epoch"
    if right.button(label, key=f"{key}_stop", help=why):
        jobs.cancel(store, record.run_id)
        st.toast("Cancelled." if label == "Cancel" else "Stopping after the current step…")


def progress_panel(store: RunStore, run_id: str, *, key: str) -> None:
    """A run's place in the queue or its progress, refreshed while it is live; when it ends the whole page
    reruns so that its results appear. Its polls read the snapshot every tab shares (``watch_state``)."""
    read_at = time.monotonic()
    state = run_state(store, run_id)
    was_live = state.live

    @st.fragment(run_every=poll_interval(state, 0))
    def panel():
        now = watch_state(store, run_id, read_at)
        if not now.live:
            if was_live:
                st.rerun()  # the run just ended: redraw the page with its final state
            return
        if now.status != state.status:
            st.rerun()  # queued -> training: poll at the other pace
        live_panel(store, now, key=key)

    panel()


def offer_quick_training(
    store: RunStore, reason: str, *, key: str, config: RunConfig = QUICK_CONFIG
) -> RunRecord | None:
    """Explain why a page has nothing to show, and offer one click that trains a small model.

    Returns the quick run's record once it is done (so the caller can use it), else None."""
    state = run_state(store, config.run_id)
    record = state.record
    if lifecycle.is_done(record):
        return record
    st.info(reason, icon=":material/info:")
    if state.live:
        progress_panel(store, config.run_id, key=f"{key}_progress")
        st.page_link(str(TRAIN_PAGE), label="Watch its curves on the Train page", icon=":material/model_training:")
        return None
    if lifecycle.has_failed(record):
        show_status(record)
    label = lifecycle.start_word(state.status)
    if st.button(
        f"{label} a small {config.model_name} on Shapes-10 ({config.subset:,} images, {config.epochs} epochs)",
        key=f"{key}_start",
        type="primary",
        help="Runs in the background; every page and browser tab sees its progress.",
    ):
        if submit(store, config) is not None:
            follow_run(config.run_id)
            st.rerun()
    return None
