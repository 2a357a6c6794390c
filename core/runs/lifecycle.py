"""A run's life: its statuses, what each one means in words, and what each one lets a person do.

    queued ──▶ running ──▶ done
       │          ├──▶ diverged                (the loss became NaN or infinite)
       │          ├──▶ failed                  (an error; the message says which)
       │          ├──▶ cancelled ─┐            (someone asked it to stop)
       ▼          └──▶ interrupted ┤           (its process died, or its weights went missing)
    cancelled                      └──▶ queued/running again: resumes after the last finished epoch

Every page and every command asks this module, never compares status strings itself: whether a run is
finished, live or resumable, the line that describes it, the epoch it is in, which stored run answers a
config, and which buttons a status allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"  # claimed by a live process
    DONE = "done"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died, or its weights went missing
    DIVERGED = "diverged"
    FAILED = "failed"


FINISHED = frozenset({RunStatus.DONE, RunStatus.DIVERGED})  # answered from the store, never retrained unasked
RESUMABLE = frozenset({RunStatus.CANCELLED, RunStatus.INTERRUPTED})  # training again continues from the checkpoint
LIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})  # a job exists: asking again joins it
FRESH = frozenset({RunStatus.FAILED})  # training again starts from scratch
# An analysis whose worker died while computing it (out of memory, a crash) is taken over by the next worker, at
# most this many times in all: then it fails with the reason, so one job that kills workers cannot loop forever.
ANALYSIS_MAX_ATTEMPTS = 3


def is_finished_status(status: RunStatus) -> bool:
    return status in FINISHED


def is_done(record) -> bool:
    """Finished with its weights saved: the only runs that can be looked inside or compared at their end."""
    return record is not None and record.status == RunStatus.DONE


def is_live(record) -> bool:
    return record is not None and record.status in LIVE


def is_running(record) -> bool:
    return record is not None and record.status == RunStatus.RUNNING


def is_queued(record) -> bool:
    return record is not None and record.status == RunStatus.QUEUED


def is_finished(record) -> bool:
    return record is not None and record.status in FINISHED


def is_resumable(record) -> bool:
    return record is not None and record.status in RESUMABLE


def has_failed(record) -> bool:
    """Ended without a result: diverged or failed (its message says why)."""
    return record is not None and record.status in (RunStatus.DIVERGED, RunStatus.FAILED)


def counts_as_trained(record) -> bool:
    """A run that answers its config: finished, or on its way there (queued or training)."""
    return record is not None and (record.status in FINISHED or record.status in LIVE)


# ------------------------------------------------------------------------------- where a run is


def current_epoch(record) -> int:
    """The epoch a training run is in (1-based), else the epochs it finished."""
    if record.status == RunStatus.RUNNING:
        return min(record.config.epochs, record.epochs_done + 1)
    return record.epochs_done


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def queue_text(place: int | None, noun: str = "run") -> str:
    """'queued: 3rd (2 runs go first; it starts when a worker is free)'."""
    if not place:
        return "queued (it starts when a worker is free)"
    ahead = place - 1
    first = "next in line" if not ahead else f"{ahead} {noun}{'s' * (ahead != 1)} go{'es' * (ahead == 1)} first"
    return f"queued: {ordinal(place)} ({first}; it starts when a worker is free)"


def analysis_text(status: RunStatus | None, place: int | None = None, progress: float = 0.0, message: str = "") -> str:
    """Where an analysis job (a lesion study, a landscape) stands: 'queued: 2nd (...)', 'computing: 40% done',
    'done', 'failed: why', 'cancelled: why', 'not asked for'."""
    if status == RunStatus.QUEUED:
        return queue_text(place, "computation")
    if status == RunStatus.RUNNING:
        return f"computing: {100 * progress:.0f}% done"
    if status in (RunStatus.FAILED, RunStatus.CANCELLED) and message:
        return f"{status}: {message}"
    return str(status) if status else "not asked for"


def short_text(status: RunStatus | None, place: int | None = None) -> str:
    """A few words: 'queued: 3rd', 'training', 'done', 'not stored'."""
    if status == RunStatus.QUEUED:
        return f"queued: {ordinal(place)}" if place else "queued"
    if status == RunStatus.RUNNING:
        return "training"
    return str(status) if status else "not stored"


def state_text(status: RunStatus | None, record, place: int | None = None) -> str:
    """One line for lists and logs: 'queued: 2nd', 'training: epoch 3/10', 'done: test error 12.3%', 'failed: why'."""
    if status == RunStatus.RUNNING and record is not None:
        return f"training: epoch {current_epoch(record)}/{record.config.epochs}"
    if status in FINISHED and record is not None and record.metrics.get("test_acc") is not None:
        return f"{status}: test error {100 * (1 - record.metrics['test_acc']):.1f}%"
    if status is not None and record is not None and record.message and status != RunStatus.QUEUED:
        return f"{status}: {record.message}"
    return short_text(status, place)


@dataclass(frozen=True)
class StatusLine:
    """How a page shows a run's status: the kind of box, an icon and a sentence (markdown)."""

    kind: str  # info | success | warning | error
    icon: str
    text: str


def status_line(record, seconds_text) -> StatusLine:
    """The sentence that says where a run stands and, for a failure, why. ``seconds_text`` formats durations."""
    name = f"**{record.label.removesuffix(' · reference')}**"
    status = record.status
    if status == RunStatus.QUEUED:
        return StatusLine("info", ":material/schedule:", f"{name} is queued: it starts when a worker is free.")
    if status == RunStatus.RUNNING:
        return StatusLine("info", ":material/hourglass_top:", f"{name} is training.")
    if status == RunStatus.DONE:
        acc = record.metrics.get("test_acc")
        score = f": test accuracy {100 * acc:.1f}%" if acc is not None else ""
        return StatusLine(
            "success",
            ":material/check_circle:",
            f"{name} finished{score} ({seconds_text(record.seconds)} of training).",
        )
    if status in RESUMABLE:
        why = (record.message or "start it again to resume from the last finished epoch").rstrip(".")
        return StatusLine(
            "warning",
            ":material/pause_circle:",
            f"{name} was {status} after {record.epochs_done} of {record.config.epochs} epochs: {why}.",
        )
    if status == RunStatus.DIVERGED:
        return StatusLine(
            "error",
            ":material/error:",
            f"{name} diverged: {record.message.rstrip('.')}. The curves below show how it got there.",
        )
    return StatusLine("error", ":material/cancel:", f"{name} failed: {record.message or 'no reason was recorded.'}")


# --------------------------------------------------------------------------- what a status allows


@dataclass(frozen=True)
class Allowed:
    """What a person may do with a run in its status."""

    cancel: bool  # take it out of the queue, or stop it after the current step
    delete: bool  # remove it and its files (a shipped run only for a teacher)
    resume: bool  # train on from the last finished epoch
    train_again: bool  # train afresh, replacing what is stored (a failed run starts afresh anyway; a shipped run
    #                       only for a teacher)
    look_inside: bool  # lesion, landscape, layers, classify: needs its final weights


def allowed(status: RunStatus | None) -> Allowed:
    return Allowed(
        cancel=status in LIVE,
        delete=status is not None and status not in LIVE,
        resume=status in RESUMABLE,
        train_again=status in FINISHED or status in RESUMABLE,
        look_inside=status == RunStatus.DONE,
    )


def start_word(status: RunStatus | None) -> str:
    """The word on the button that trains a config in this status: 'Resume' or 'Train'."""
    return "Resume" if status in RESUMABLE else "Train"


def start_offer(record, place: int | None = None) -> tuple[StatusLine, str]:
    """What a page says when a config someone is about to train is already stored, and the word on its button:
    open a finished run, watch a live one, resume a stopped one, retry a failed one."""
    status = record.status
    if status == RunStatus.DONE:
        acc = record.metrics.get("test_acc")
        shipped = " (a shipped reference run)" if record.reference else ""
        text = (
            f"This configuration is already stored{shipped}: test accuracy {100 * acc:.1f}%. **Open** shows it "
            "instantly, "
            "without retraining."
            if acc is not None
            else "This configuration is already stored: **Open** shows it instantly."
        )
        return StatusLine("info", ":material/save:", text), "Open stored run"
    if status == RunStatus.QUEUED:
        return StatusLine(
            "info", ":material/schedule:", f"This configuration is {queue_text(place)}; **Watch** shows it below."
        ), "Watch"
    if status == RunStatus.RUNNING:
        return StatusLine(
            "info",
            ":material/hourglass_top:",
            "This configuration is training now (started here or in another tab); **Watch** shows it below.",
        ), "Watch"
    if status in RESUMABLE:
        return StatusLine(
            "info",
            ":material/pause_circle:",
            f"Stored, but {status} after {record.epochs_done} of "
            f"{record.config.epochs} epochs: **Resume** continues from the last finished epoch.",
        ), "Resume"
    if status == RunStatus.DIVERGED:
        return StatusLine(
            "warning",
            ":material/error:",
            f"This configuration is stored and diverged: {record.message.rstrip('.')}. "
            "**Open** shows where; tick *train again from scratch* to retry.",
        ), "Open stored run"
    return StatusLine(
        "warning",
        ":material/cancel:",
        f"This configuration failed last time: {record.message.rstrip('.')}. "
        "**Start training** tries again from scratch.",
    ), "Start training"


# ---------------------------------------------------------------- which stored run answers a config


def stored_run(records, config):
    """The stored run that answers ``config``, by one rule everywhere: its own run, if stored; else a finished
    run that trained identically and differs only in what is not training (how often it was probed, the
    device, compiling). None if neither exists."""
    exact = next((r for r in records if r.run_id == config.run_id), None)
    if exact is not None:
        return exact
    wanted = config.training_key()
    return next((r for r in records if r.status == RunStatus.DONE and r.config.training_key() == wanted), None)


# ---------------------------------------------------------------- a class question's life (Predict, then reveal)


class PollState(StrEnum):
    """open ──▶ revealed ──▶ closed (and closed ──▶ open again): students vote while it is open, see the measured
    answer beside the class's votes once revealed; a closed question is kept (with its votes) but shown to nobody."""

    OPEN = "open"
    REVEALED = "revealed"
    CLOSED = "closed"


SHOWN_POLLS = frozenset({PollState.OPEN, PollState.REVEALED})  # on the page for everyone


def accepts_votes(state) -> bool:
    return state == PollState.OPEN


def is_revealed(state) -> bool:
    return state == PollState.REVEALED
