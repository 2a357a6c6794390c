"""The analysis queue: lesion studies, loss landscapes, out-of-distribution detectors and confusion matrices are
computed by the worker processes, once per question.

A page *requests* an analysis of one run's weights (``request``); the request is one row of the store's
``analyses`` table, keyed by the result file it will write under the store root, e.g.
``landscapes/<run>-w<weights digest>-2d-seed0-grid41-span1-batch128.json``: the kind, the settings, the run and
the identity of its weights (a hash of the tensors). Thirty students asking for the same landscape make one row
and one computation; every later viewer, the command line (``python -m core lesion|landscape``) included, reads
the same file. A worker (``python -m core worker``) claims the oldest waiting job (``take_one``), reports the
fraction done into the row, stops at the next report when it is cancelled, and ends a failure as ``failed`` with
its reason; a dead worker's job is taken over by the next one. The web process only writes requests and reads
rows and result files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..engine.files import atomic_write_bytes
from ..runs import jobs
from ..runs.backends import LocalWorkers
from ..runs.lifecycle import RunStatus, is_done
from ..runs.store import AnalysisJob, RunRecord, RunStore, StoreError
from . import confusion, inside, landscape, lesion, ood

KINDS = ("lesion", "landscape", "ood", "confusion")
# What one job may ask for: the pages' largest settings. A worker computes one job at a time, so these bound its
# memory (one network, one batch of images) and its time (minutes, not hours).
LIMITS = {
    "images": (1, 1000),
    "k_images": (0, 500),
    "draws": (1, 5),
    "seed": (0, 9999),
    "batch": (1, 512),
    "steps_1d": (3, 101),
    "steps_2d": (3, 41),
}
# The settings the Lesion and Landscape pages open on: precomputed for the shipped pairs (``build_shipped``).
LESION_DEFAULT = dict(images=500, k_images=200, draws=3, seed=0)
SLICE_DEFAULT = dict(kind="1d", seed=0, steps=41, span=1.0, batch=128)
PLANE_DEFAULT = dict(kind="2d", seed=0, steps=11, span=1.0, batch=128)
BEAT_S = 1.0  # a running job writes its progress (and reads whether it was cancelled) at most this often

_local_for_analyses = LocalWorkers(workers=0)  # under the Ray backend: a local worker that only computes analyses


class AnalysisLimit(ValueError):
    """A request beyond what one job may compute; the message says which setting and its range."""


class Stopped(Exception):
    """The job was cancelled (or is no longer this worker's): raised from the progress report."""


def _int(params: dict, name: str, limit: str | None = None) -> int:
    low, high = LIMITS[limit or name]
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AnalysisLimit(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def check_params(kind: str, params: dict) -> dict:
    """The settings of a job in one canonical form (the same request is the same row); AnalysisLimit if out of
    range or unknown."""
    if kind == "lesion":
        names = ("images", "k_images", "draws", "seed")
        clean = {n: _int({**LESION_DEFAULT, **params}, n) for n in names}
    elif kind == "landscape":
        p = {**SLICE_DEFAULT, **params}
        if p["kind"] not in ("1d", "2d"):
            raise AnalysisLimit(f"a landscape is '1d' or '2d', got {p['kind']!r}")
        clean = {"kind": p["kind"], "seed": _int(p, "seed"), "batch": _int(p, "batch")}
        clean["steps"] = _int(p, "steps", f"steps_{p['kind']}")
        if not isinstance(p["span"], (int, float)) or not 0 < p["span"] <= 5:
            raise AnalysisLimit(f"span must be a number in (0, 5], got {p['span']!r}")
        clean["span"] = float(p["span"])
        names = tuple(clean)
    elif kind in ("ood", "confusion"):  # one per run and weights (every test image for confusion): no settings
        clean, names = {}, ()
    else:
        raise AnalysisLimit(f"an analysis is one of {', '.join(KINDS)}, got {kind!r}")
    if unknown := set(params) - set(names):
        raise AnalysisLimit(f"unknown settings for a {kind}: {', '.join(sorted(unknown))}")
    return clean


def result_path(store: RunStore, record: RunRecord, kind: str, params: dict) -> Path:
    """The file the job writes (a shipped result of the same name is installed there first)."""
    params = check_params(kind, params)
    if kind == "ood":
        return ood.cache_path(store, record)
    if kind == "lesion":
        return inside.lesion_path(store, record, **params)
    if kind == "confusion":
        return inside.confusion_path(store, record)
    return inside.landscape_path(store, record, **params)


def job_key(store: RunStore, record: RunRecord, kind: str, params: dict) -> str:
    """A job's key: its result file relative to the store root (kind, settings, run and weights in one name)."""
    return result_path(store, record, kind, params).relative_to(store.root).as_posix()


def request(
    store: RunStore, record: RunRecord, kind: str, params: dict, requester: str = "", limit: int | None = None
) -> AnalysisJob:
    """Ask for an analysis: the job already waiting, running or done if there is one, else a new job in the queue
    (and a worker to take it), unless ``requester`` has ``limit`` jobs waiting already (QueueFull). A result
    already on disk comes back as a done job without a row."""
    if kind == "confusion":
        if not store.weights_path(record.run_id).exists():
            raise StoreError(f"run {record.run_id} ({record.config.label}) has no saved weights")
    elif kind != "ood":
        inside.check_lesionable(store, record)
    params = check_params(kind, params)
    path = result_path(store, record, kind, params)
    key = path.relative_to(store.root).as_posix()
    done = AnalysisJob(key, kind, record.run_id, params, RunStatus.DONE, 1.0, result=key)
    if path.exists():
        if load_result(store, done) is not None:
            return done
        path.unlink(missing_ok=True)  # damaged, or written by an older format: computed again below
    job = store.request_analysis(key, kind, record.run_id, params, requester, limit=limit)
    ensure_worker(store)
    return job


def ensure_worker(store: RunStore) -> None:
    """Make sure a worker will take the waiting analyses: this machine's workers, or under the Ray backend (which
    trains elsewhere) one local worker that only computes analyses."""
    backend = jobs.backend()
    (backend if isinstance(backend, LocalWorkers) else _local_for_analyses).ensure_workers(store)


def state(store: RunStore, key: str) -> tuple[AnalysisJob | None, int | None]:
    """A job's row and its place in the queue (reads the row only; a waiting job whose worker died gets one)."""
    job = store.analysis(key)
    if job is not None and job.status == RunStatus.DONE and not (store.root / key).is_file():
        return None, None  # its result file is gone: nothing done to show, so the page offers it again
    if job is None or job.status != RunStatus.QUEUED:
        return job, None
    ensure_worker(store)
    return job, store.analysis_place(key)


def cancel(store: RunStore, key: str) -> bool:
    """Cancel a waiting job, or stop a running one at its next progress report; False if it is neither."""
    return store.cancel_analysis(key) is not None


def _reporter(store: RunStore, key: str):
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < BEAT_S and done < total:
            return
        last[0] = now
        if store.analysis_progress(key, done / total if total else 1.0):
            raise Stopped

    return report


def compute(store: RunStore, job: AnalysisJob) -> None:
    """Compute a claimed job into its result file, reporting progress into its row (Stopped when cancelled)."""
    record = store.get(job.run_id)
    if record is None:
        raise StoreError(f"run {job.run_id} is no longer stored")
    if job_key(store, record, job.kind, job.params) != job.key:
        raise StoreError("the run's weights changed after this was asked for (it was trained again); ask again")
    report = _reporter(store, job.key)
    report(0, 1)
    if job.kind == "ood":
        ood.fit_for_run(store, record, progress=report)
    elif job.kind == "lesion":
        inside.lesion_for_run(store, record, progress=report, **job.params)
    elif job.kind == "confusion":
        inside.confusion_for_run(store, record, progress=report)
    else:
        inside.landscape_for_run(store, record, progress=report, **job.params)
    if not (store.root / job.key).is_file():
        raise StoreError(f"the result file {job.key} was not written")


def take_one(store: RunStore, log=print) -> AnalysisJob | None:
    """Claim the oldest waiting analysis and compute it; the job as it ended, or None when none waits."""
    job = store.claim_next_analysis()
    if job is None:
        return None
    log(f"worker {os.getpid()}: computing {job.key}", flush=True)
    status, message, result = RunStatus.DONE, "", job.key
    try:
        compute(store, job)
    except Stopped:
        status, message, result = RunStatus.CANCELLED, "cancelled while it was being computed", ""
    except KeyboardInterrupt:  # the worker is stopping: the job goes back to the queue for the next one
        store.finish_analysis(job.key, RunStatus.QUEUED, "its worker stopped; the next free worker takes it")
        raise
    except Exception as e:  # recorded as failed with the reason; the worker goes on with the queue
        status, message, result = RunStatus.FAILED, f"{type(e).__name__}: {e}", ""
    store.finish_analysis(job.key, status, message, result)
    log(f"worker {os.getpid()}: {job.key} {status}{': ' + message if message else ''}", flush=True)
    return store.analysis(job.key)


def load_result(store: RunStore, job: AnalysisJob) -> lesion.LesionResult | landscape.Landscape | ood.Detector | None:
    """A done job's result from its file (None if it is not there)."""
    path = store.root / job.key
    if job.kind == "ood":
        try:
            return ood.Detector.from_bytes(path.read_bytes())
        except (OSError, ValueError):
            return None
    read = {"lesion": lesion.read_cached, "confusion": confusion.read_cached}.get(job.kind, landscape.read_cached)
    return read(path)


# ------------------------------------------------------------------ precomputed results for the shipped runs


def opening_pairs(store: RunStore) -> dict[str, list[RunRecord]]:
    """The runs of the pairs the Lesion and Landscape pages open on in this store (the choice ``dashboard.pairs``
    makes), on a machine with CIFAR-10's images (a CIFAR-10 pair where one is stored) and on one without."""
    records = [
        r
        for r in store.list()
        if is_done(r)
        and r.config.arch == "cifar"
        and r.config.shortcut in inside.LESION_SHORTCUTS
        and store.weights_path(r.run_id).exists()
    ]
    pairs: dict[str, list[RunRecord]] = {"lesion": [], "landscape": []}
    for prefer in ("builtin", "cifar10"):
        for kind, pair in (
            ("lesion", inside.matched_pair(records, learned_first=True, prefer_dataset=prefer)),
            ("landscape", inside.matched_pair(records, prefer_dataset=prefer)),
        ):
            pairs[kind] += [r for r in pair if r is not None and r not in pairs[kind]]
    return pairs


def shipped_cifar(store: RunStore) -> list[RunRecord]:
    """The shipped CIFAR-10 runs with weights (those whose confusion matrices ship)."""
    return [
        r
        for r in store.list()
        if r.reference and r.config.dataset == "cifar10" and store.weights_path(r.run_id).exists()
    ]


def build_shipped(store: RunStore, out_dir: Path = inside.SHIPPED_RESULTS, log=print) -> int:
    """Compute the pages' opening results (``LESION_DEFAULT``, ``SLICE_DEFAULT``, ``PLANE_DEFAULT``) for the pairs
    they open on, write them under ``out_dir`` named as in a store's cache (run and weights in the name), and
    remove the files no longer among them; returns the bytes written."""
    wanted = [("lesion", LESION_DEFAULT), ("landscape", SLICE_DEFAULT), ("landscape", PLANE_DEFAULT)]
    pairs, keep, total = opening_pairs(store), set(), 0
    for kind, params in wanted:
        for record in pairs.get(kind, ()):
            path = result_path(store, record, kind, params)
            if not path.exists():
                log(f"computing the {kind} {params} of {record.config.label}…")
                if kind == "lesion":
                    inside.lesion_for_run(store, record, **params)
                else:
                    inside.landscape_for_run(store, record, **params)
            rel = path.relative_to(store.root)
            data = path.read_bytes()
            atomic_write_bytes(out_dir / rel, data)
            keep.add(out_dir / rel)
            total += len(data)
            log(f"{rel}: {len(data) / 1e3:.0f} kB")
    for record in shipped_cifar(store):  # the confusion matrix of every shipped CIFAR-10 run with weights
        path = result_path(store, record, "confusion", {})
        if not path.exists():
            log(f"computing the confusion matrix of {record.config.label}…")
            inside.confusion_for_run(store, record)
        rel = path.relative_to(store.root)
        atomic_write_bytes(out_dir / rel, data := path.read_bytes())
        keep.add(out_dir / rel)
        total += len(data)
    for old in out_dir.glob("*/*.json"):
        if old not in keep:
            old.unlink()
            log(f"removed {old.name}: no longer among the pages' opening results")
    return total
