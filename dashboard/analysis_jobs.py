"""What the Lesion and Landscape pages show for an analysis job (a lesion study or a landscape computed by a
worker), decided on data alone: no Streamlit here, so every case is tested without a browser."""

from __future__ import annotations

from dataclasses import dataclass

from core.runs.lifecycle import RunStatus, analysis_text
from core.runs.store import AnalysisJob

POLL_S = 3.0  # a page re-reads the rows of the jobs it waits for this often


@dataclass(frozen=True)
class JobView:
    """How a page shows one network's job: what to draw and which buttons to offer."""

    show: str  # result | offer | waiting | computing | failed | cancelled
    text: str  # a sentence for the status line
    progress: float | None = None  # the progress bar's fraction, while computing
    can_request: bool = False  # the button that asks for it (again)
    can_cancel: bool = False  # the Cancel button: for whoever asked, and for the teacher
    live: bool = False  # keep re-reading its row


def job_view(
    job: AnalysisJob | None, place: int | None = None, *, requester: str = "", teacher: bool = False
) -> JobView:
    """What to show for a job in its state; ``requester`` is this session's id in the queue."""
    if job is None:
        return JobView("offer", "not computed yet", can_request=True)
    status = job.status
    mine = teacher or (bool(requester) and job.requester == requester)
    text = analysis_text(status, place, job.progress, job.message)
    if status == RunStatus.DONE:
        return JobView("result", "computed")
    if status == RunStatus.QUEUED:
        if job.message and "worker stopped" in job.message:
            text += f"; {job.message}"
        return JobView("waiting", text, can_cancel=mine, live=True)
    if status == RunStatus.RUNNING:
        return JobView("computing", text, progress=job.progress, can_cancel=mine, live=True)
    if status == RunStatus.CANCELLED:
        return JobView("cancelled", text, can_request=True)
    return JobView("failed", text if job.message else "failed: no reason was recorded", can_request=True)


@dataclass(frozen=True)
class PanelView:
    """The decision for all the jobs a figure needs (a plain net's and a ResNet's)."""

    all_done: bool  # draw the figure
    live: bool  # poll the rows
    button: bool  # offer the button that asks for the missing ones
    again: bool  # the button asks again, after a failure or a cancel


def panel_view(views: list[JobView]) -> PanelView:
    done = all(v.show == "result" for v in views)
    live = any(v.live for v in views)
    again = any(v.show in ("failed", "cancelled") for v in views)
    return PanelView(done, live, not done and not live and any(v.can_request for v in views), again)
