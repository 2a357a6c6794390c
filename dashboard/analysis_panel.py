"""The part of the Lesion and Landscape pages that asks a worker for a computation and waits for it: the button
requests the jobs (one per network; the same request from any tab joins the same job), a fragment re-reads only
the jobs' rows every few seconds (place in the queue, progress, Cancel) and the page reruns to draw the result
when all are done. What to show for each state is decided in ``dashboard.analysis_jobs``."""

from __future__ import annotations

import streamlit as st

from core.analysis import queue
from core.analysis.lesion import LesionError
from core.engine.data import DataUnavailable
from core.runs.store import RunRecord, RunStore, StoreError
from dashboard import common
from dashboard.analysis_jobs import POLL_S, job_view, panel_view


def _views(store: RunStore, keys: dict[str, str]) -> dict:
    requester, teacher = common.requester_id(), common.is_teacher()
    return {rid: job_view(*queue.state(store, key), requester=requester, teacher=teacher) for rid, key in keys.items()}


def analysis_panel(store: RunStore, records: list[RunRecord], kind: str, params: dict, *, label: str, key: str) -> None:
    """Ask for ``kind`` with ``params`` on each of ``records`` (whose results are not on disk) and follow the jobs;
    ``label`` is the button's text ('Run the lesion study on ...')."""
    try:
        keys = {r.run_id: queue.job_key(store, r, kind, params) for r in records}
    except (StoreError, ValueError) as e:
        st.error(str(e), icon=":material/cancel:")
        return
    names = {r.run_id: r.config.model_name for r in records}
    decision = panel_view(list(_views(store, keys).values()))
    text = f"Try again: {label[0].lower()}{label[1:]}" if decision.again else label
    if decision.button and st.button(text, type="primary", key=f"{key}_ask"):
        for record in records:
            try:
                queue.request(
                    store,
                    record,
                    kind,
                    params,
                    common.requester_id(),
                    limit=None if common.is_teacher() else common.ANALYSIS_LIMIT,
                )
            except (StoreError, DataUnavailable, LesionError, ValueError) as e:
                st.error(f"{record.config.label}: {e}", icon=":material/cancel:")
                return
        st.rerun()  # follow the jobs (the fragment polls only while one is live)

    @st.fragment(run_every=POLL_S if decision.live else None)
    def follow():
        views = _views(store, keys)
        now = panel_view(list(views.values()))
        if (now.all_done and not decision.all_done) or now.live != decision.live:
            st.rerun()  # draw the result, or stop (or start) polling: only on a change, never in a loop
        for run_id, view in views.items():
            if view.show == "offer":
                continue  # the page already says what is not computed yet
            line, cancel = st.columns([5, 1], vertical_alignment="center")
            line.markdown(f"**{names[run_id]}**: {view.text}")
            if view.progress is not None:
                line.progress(min(1.0, view.progress))
            if view.can_cancel and cancel.button("Cancel", key=f"{key}_cancel_{run_id}"):
                queue.cancel(store, keys[run_id])
                st.rerun()

    follow()
