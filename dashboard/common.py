"""Helpers every dashboard page shares: the run store, run pickers, dataset and device facts,
live progress of background runs, and a one-click "train a small model" offer.

Pages stay thin: they read widgets, call ``core``, and draw figures from ``dashboard.figures``.
Nothing here runs on a training thread: training happens in ``core.jobs`` threads that only write
the run store, and every page only reads it.
"""
from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # so `import core` works however the app was launched
    sys.path.insert(0, str(REPO_ROOT))

import streamlit as st  # noqa: E402
import torch  # noqa: E402

from core import jobs, reference  # noqa: E402
from core.config import RunConfig  # noqa: E402
from core.data import (CIFAR10_CLASSES, CIFAR_DIRNAME, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES, DATA_ENV,  # noqa: E402
                       DEFAULT_CACHE, SHAPES10_CLASSES, resolve_data_dir)
from core.progress import format_seconds  # noqa: E402
from core.store import RunRecord, RunStore, StoreError, default_store_root  # noqa: E402
from core.train import cpu_has_native_bf16  # noqa: E402

PAGES_DIR = REPO_ROOT / "pages"
TRAIN_PAGE = PAGES_DIR / "1_Train.py"
# Session-state key of the run the Train page follows; other pages set it to hand a run over.
FOCUS_RUN_KEY = "focus_run_id"
# A ResNet-20 small enough to train in a few minutes on a laptop CPU (seconds on a GPU); probed
# every 5 of its 45 steps, so that the Gradients page has something to draw.
QUICK_CONFIG = RunConfig(depth=20, shortcut="A", dataset="builtin", subset=2000, test_subset=500, epochs=3, probe_every=5)
# (training, test) images in each data set: the largest subsets a run can ask for.
DATASET_SIZES = {"builtin": (20_000, 4_000), "cifar10": (50_000, 10_000)}


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


def get_store() -> RunStore:
    """The run store under $RESNET_LAB_HOME (else ~/.local/share/resnet-lab); stops the page with
    an explanation if it cannot be opened."""
    root = str(default_store_root())  # read on every call, so a changed RESNET_LAB_HOME is honoured
    try:
        store, note = _store_at(root)
    except (StoreError, OSError) as e:
        st.error(f"The run store at `{root}` cannot be opened: {e}\n\n"
                 "Set RESNET_LAB_HOME to a writable directory and restart the dashboard.")
        st.stop()
    if note:
        st.warning(note)
    return store


def has_weights(store: RunStore, record: RunRecord) -> bool:
    return store.weights_path(record.run_id).exists()


def stored_runs(store: RunStore, statuses: tuple[str, ...] | None = None, with_weights: bool = False) -> list[RunRecord]:
    """Stored runs, newest first; optionally only some statuses, or only runs with saved weights."""
    records = store.list()
    if statuses is not None:
        records = [r for r in records if r.status in statuses]
    if with_weights:
        records = [r for r in records if has_weights(store, r)]
    return records


def live_runs(store: RunStore) -> list[RunRecord]:
    """Runs training right now: this server's jobs plus any the store says are running (e.g. the CLI)."""
    ids = [job.config.run_id for job in jobs.active()]
    records = {r.run_id: r for r in store.list(status="running")}
    for run_id in ids:
        if run_id not in records and (record := store.get(run_id)) is not None:
            records[run_id] = record
    return sorted(records.values(), key=lambda r: r.created, reverse=True)


# -------------------------------------------------------------------------------- run pickers

def run_label(record: RunRecord) -> str:
    """A run's label: ★ for a shipped reference run, the config's label, and the data set if not the
    built-in one. It leaves the status out on purpose: Streamlit keys a picker's choice by its label,
    so a label that changed while a run trains would drop the user's choice."""
    text = ("★ " if record.reference else "") + record.config.label
    if record.config.dataset != "builtin":
        text += " · CIFAR-10"
    return text


def picker_labels(records: list[RunRecord]) -> dict[str, str]:
    """Stable, unique labels by run id (runs that differ only in hidden settings get their id appended)."""
    labels = {r.run_id: run_label(r) for r in records}
    counts: dict[str, int] = {}
    for text in labels.values():
        counts[text] = counts.get(text, 0) + 1
    return {i: text if counts[text] == 1 else f"{text} · #{i[:6]}" for i, text in labels.items()}


def pick_run(label: str, records: list[RunRecord], *, key: str, default_id: str | None = None,
             help: str | None = None, container=st) -> RunRecord | None:
    """A selectbox over ``records`` by label; None when there are none. A choice kept in session
    state wins over ``default_id`` while it is still among the records."""
    if not records:
        return None
    by_id = {r.run_id: r for r in records}
    labels = picker_labels(records)
    ids = list(by_id)
    if st.session_state.get(key) not in by_id:  # a run deleted or filtered out since it was chosen
        st.session_state.pop(key, None)
    # The index is the default for a first render only; passing it with a value already in session
    # state would make Streamlit warn about two sources for one value.
    start = {} if key in st.session_state else {"index": ids.index(default_id) if default_id in by_id else 0}
    chosen = container.selectbox(label, ids, key=key, help=help, format_func=labels.get, **start)
    return by_id.get(chosen)


def pick_runs(label: str, records: list[RunRecord], *, key: str, default_ids: list[str] | tuple[str, ...] = (),
              max_selections: int | None = None, help: str | None = None, container=st) -> list[RunRecord]:
    """A multiselect over ``records`` by label, in the order chosen. A choice kept in session state
    (e.g. set by a button's callback) wins over ``default_ids``."""
    by_id = {r.run_id: r for r in records}
    labels = picker_labels(records)
    if key in st.session_state:
        st.session_state[key] = [i for i in st.session_state[key] if i in by_id][:max_selections]
        default = None
    else:
        default = [i for i in dict.fromkeys(default_ids) if i in by_id][:max_selections]
    chosen = container.multiselect(label, list(by_id), default=default, key=key, help=help,
                                   max_selections=max_selections, format_func=labels.get)
    return [by_id[i] for i in chosen if i in by_id]


def find_equivalent(store: RunStore, config: RunConfig) -> RunRecord | None:
    """The stored run of ``config``, or else a finished run that differs from it only in settings
    that do not change the training itself (how often it was probed, which device, whether compiled)."""
    record = store.get(config.run_id)
    if record is not None:
        return record
    wanted = config.training_key()
    return next((r for r in store.list(status="done") if r.config.training_key() == wanted), None)


def find_runs(records: list[RunRecord], **fields) -> list[RunRecord]:
    """Runs whose config matches every given field, e.g. ``find_runs(rs, shortcut="none", depth=56)``."""
    return [r for r in records if all(getattr(r.config.resolved(), k) == v for k, v in fields.items())]


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


def run_progress(store: RunStore, record: RunRecord) -> Progress:
    """How far a run is. A job of this server reports each step; for a run trained elsewhere the
    store's last step and the time per finished epoch give the estimate."""
    total = int(record.info.get("total_steps") or 0)
    epochs = record.config.epochs
    job = jobs.get(record.run_id)
    event = dict(job.progress) if job is not None else {}
    if event and record.status == "running":
        step = int(event.get("step", 0))  # steps finished so far
        elapsed = float(event.get("seconds", 0.0))  # includes the earlier epochs of a resumed run, as step does
        eta = elapsed / step * (total - step) if step and total else None
        return Progress(min(step, total), total, int(event.get("epoch", record.epochs_done)), epochs, elapsed, eta)
    step = max(0, store.last_step(record.run_id) + 1)
    if record.status == "done":
        step = total or step
    elapsed = record.seconds or None
    eta = None
    if record.status == "running" and record.epochs_done and record.seconds and total:
        eta = record.seconds / max(1, step) * max(0, total - step)
    epoch = min(epochs, record.epochs_done + 1) if record.status == "running" else record.epochs_done
    return Progress(step, total, epoch, epochs, elapsed, eta)


def show_status(record: RunRecord) -> None:
    """One coloured line that says where a run stands and, for failures, why."""
    name = record.config.label
    if record.status == "done":
        acc = record.metrics.get("test_acc")
        score = f": test accuracy {100 * acc:.1f}%" if acc is not None else ""
        st.success(f"**{name}** finished{score} ({format_seconds(record.seconds)} of training).", icon=":material/check_circle:")
    elif record.status == "running":
        st.info(f"**{name}** is training.", icon=":material/hourglass_top:")
    elif record.status in ("cancelled", "interrupted"):
        why = (record.message or "start it again to resume from the last finished epoch").rstrip(".")
        st.warning(f"**{name}** was {record.status} after {record.epochs_done} of {record.config.epochs} epochs: {why}.",
                   icon=":material/pause_circle:")
    elif record.status == "diverged":
        st.error(f"**{name}** diverged: {record.message.rstrip('.')}. The curves below show how it got there.",
                 icon=":material/error:")
    else:
        st.error(f"**{name}** failed: {record.message or 'no reason was recorded.'}", icon=":material/cancel:")


# ---------------------------------------------------------------------------- datasets, device

@dataclass(frozen=True)
class DatasetChoice:
    name: str          # as RunConfig.dataset expects
    title: str
    available: bool
    note: str          # where it comes from, or how to make it available
    classes: tuple[str, ...] = ()


def _cifar_dir_complete(directory: Path) -> Path | None:
    """The batches directory under ``directory`` if all six CIFAR-10 files are there."""
    for candidate in (directory / CIFAR_DIRNAME, directory):
        if all((candidate / f).is_file() for f in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)):
            return candidate
    return None


def dataset_choices() -> list[DatasetChoice]:
    """The data sets this server can train on. Only files are checked here; nothing is loaded."""
    choices = [DatasetChoice("builtin", "Shapes-10 (built-in synthetic)", True,
                             "Generated on this machine, no download: 10 shape classes, 20,000 training and 4,000 "
                             "test images; only shape tells the classes apart, never colour.", SHAPES10_CLASSES)]
    named = resolve_data_dir(None)
    if named is not None:
        batches = _cifar_dir_complete(named) if named.is_dir() else None
        if batches is not None:
            rebuilt = any((d / "PROVENANCE.md").is_file() for d in (named, batches))
            title = "CIFAR-10 (rebuilt copy)" if rebuilt else "CIFAR-10"
            choices.append(DatasetChoice("cifar10", title, True, f"Read from {named} (${DATA_ENV}).", CIFAR10_CLASSES))
        else:
            choices.append(DatasetChoice("cifar10", "CIFAR-10", False,
                                         f"${DATA_ENV} is set to {named}, but the CIFAR-10 files ({CIFAR_DIRNAME}/"
                                         "data_batch_1..5, test_batch) are not there."))
        return choices
    cached = _cifar_dir_complete(DEFAULT_CACHE.expanduser())
    if cached is not None:
        choices.append(DatasetChoice("cifar10", "CIFAR-10", True, f"Downloaded earlier to {cached.parent}.", CIFAR10_CLASSES))
    else:
        choices.append(DatasetChoice("cifar10", "CIFAR-10", False,
                                     f"Not found. Set {DATA_ENV} to a directory holding {CIFAR_DIRNAME}/ "
                                     "(the python version of CIFAR-10) before starting the dashboard."))
    return choices


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
    return {"kind": "CPU", "name": cpu,
            "summary": f"CPU: {cpu}, {threads} thread{'s' if threads != 1 else ''} for PyTorch (no CUDA GPU found), {precision}"}


# ------------------------------------------------------------------- live runs and quick training

def follow_run(run_id: str) -> None:
    """Make the Train page follow ``run_id`` (e.g. after another page started it)."""
    st.session_state[FOCUS_RUN_KEY] = run_id


def is_training(store: RunStore, run_id: str) -> bool:
    """True while a run trains: a job of this server (perhaps still preparing its data) or a run the
    store says is running (e.g. started from the command line)."""
    job = jobs.get(run_id)
    if job is not None and job.running:
        return True
    record = store.get(run_id)
    return record is not None and record.status == "running"


def progress_panel(store: RunStore, run_id: str, *, key: str, poll_s: float = 1.0) -> None:
    """A progress bar with ETA and a Stop button for one run, refreshed every ``poll_s`` seconds
    while it trains; when it ends the whole page reruns so that its results appear."""

    @st.fragment(run_every=poll_s)
    def panel():
        if not is_training(store, run_id):
            if st.session_state.get(f"{key}_was_running"):
                st.session_state[f"{key}_was_running"] = False
                st.rerun()  # the run just ended: redraw the page with its final state
            return
        st.session_state[f"{key}_was_running"] = True
        record = store.get(run_id)
        if record is None:  # the job is still loading its data set
            st.progress(0.0, text="Preparing the data set and the network…")
            return
        progress = run_progress(store, record)
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.progress(progress.fraction, text=f"{record.config.label}: {progress.text()}")
        if right.button("Stop", key=f"{key}_stop", help="Stop after the current step; start it again to resume"):
            jobs.cancel(run_id)

    panel()


def offer_quick_training(store: RunStore, reason: str, *, key: str, config: RunConfig = QUICK_CONFIG) -> RunRecord | None:
    """Explain why a page has nothing to show, and offer one click that trains a small model.

    Returns the quick run's record once it is done (so the caller can use it), else None."""
    record, job = store.get(config.run_id), jobs.get(config.run_id)
    if record is not None and record.status == "done":
        return record
    st.info(reason, icon=":material/info:")
    if is_training(store, config.run_id):
        progress_panel(store, record.run_id, key=f"{key}_progress")
        st.page_link(str(TRAIN_PAGE), label="Watch its curves on the Train page", icon=":material/model_training:")
        return None
    if record is not None and record.status in ("diverged", "failed"):
        show_status(record)
    elif job is not None and job.error:
        st.error(f"Training could not start: {job.error}", icon=":material/cancel:")
    label = "Resume" if record is not None and record.status in ("cancelled", "interrupted") else "Train"
    if st.button(f"{label} a small {config.model_name} on Shapes-10 ({config.subset:,} images, {config.epochs} epochs)",
                 key=f"{key}_start", type="primary",
                 help="Runs in the background; every page and browser tab sees its progress."):
        jobs.start(config, store)
        follow_run(config.run_id)
        time.sleep(0.3)  # let the job register as running before the page redraws
        st.rerun()
    return None
