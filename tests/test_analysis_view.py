"""What the Lesion and Landscape pages show for an analysis job in each state (dashboard.analysis_jobs), on data."""

from core.runs.lifecycle import RunStatus
from core.runs.store import AnalysisJob
from dashboard.analysis_jobs import job_view, panel_view


def job(status, **fields):
    return AnalysisJob("landscapes/x.json", "landscape", "0" * 12, {}, status, **fields)


def test_what_a_page_shows_for_each_state_of_a_job():
    offer = job_view(None)
    assert offer.show == "offer" and offer.can_request and not offer.live and not offer.can_cancel
    waiting = job_view(job(RunStatus.QUEUED, requester="me"), 3, requester="me")
    assert waiting.show == "waiting" and waiting.live and waiting.can_cancel
    assert waiting.text.startswith("queued: 3rd (2 computations go first")
    assert not job_view(job(RunStatus.QUEUED, requester="me"), 1, requester="you").can_cancel  # not theirs
    assert job_view(job(RunStatus.QUEUED, requester="me"), 1, requester="you", teacher=True).can_cancel
    computing = job_view(job(RunStatus.RUNNING, progress=0.4, requester="me"), requester="me")
    assert computing.show == "computing" and computing.progress == 0.4 and computing.text == "computing: 40% done"
    assert job_view(job(RunStatus.DONE, progress=1.0)).show == "result"
    cancelled = job_view(job(RunStatus.CANCELLED, message="cancelled while it waited for a worker"))
    assert cancelled.show == "cancelled" and cancelled.can_request and "waited" in cancelled.text
    taken_over = job_view(job(RunStatus.QUEUED, message="its worker stopped; the next free worker takes it over"), 1)
    assert "worker stopped" in taken_over.text and taken_over.live


def test_what_a_page_decides_for_a_pair_of_jobs():
    done, offer = job_view(job(RunStatus.DONE)), job_view(None)
    running, failed = job_view(job(RunStatus.RUNNING, progress=0.5)), job_view(job(RunStatus.FAILED, message="x"))
    assert panel_view([done, done]).all_done and not panel_view([done, done]).button
    first = panel_view([offer, offer])
    assert first.button and not first.again and not first.live
    assert panel_view([running, offer]).live and not panel_view([running, offer]).button  # one at a time per pair
    again = panel_view([done, failed])
    assert again.button and again.again and not again.all_done
