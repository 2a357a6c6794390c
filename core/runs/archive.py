"""Lesson files: a teacher's runs in one file, to open them on another machine.

A lesson file is a zip archive::

    manifest.json                         format name and version, when and what was exported, per run its
                                          label and the SHA-256 of each of its files
    runs/<run_id>/run.json                the run's row (config, status, metrics, info, name, tags) and its whole
                                          history: steps, epochs, test evaluations during training, probes
    runs/<run_id>/weights.safetensors     its weights, byte for byte as the store holds them (if it has any)
    polls.json                            the store's class questions (Predict, then reveal), with the votes if
                                          asked; named with its checksum in the manifest under "polls"

Only finished runs travel (done or diverged): a run still training has no final history yet. Importing
checks everything before it touches the store (the format and its version, every file's checksum, that
each config hashes to its run id, that the weights fit the network the config builds) and refuses a
damaged or foreign file with the reason; then it writes all runs in one transaction or none
(``RunStore.import_runs``). Runs the store already has are left as they are unless ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from ..engine.config import ConfigError, RunConfig
from ..engine.files import atomic_write
from .lifecycle import PollState, RunStatus, is_finished, is_finished_status
from .store import HISTORY_TABLES, MAX_CHOICES, PORTABLE_COLUMNS, Polls, RunRecord, RunStore, StoreError, check_run_id

FORMAT, VERSION = "resnet-lab-lesson", 1
MANIFEST = "manifest.json"
POLLS_FILE = "polls.json"  # optional: files without it (or readers that ignore it) lose nothing else
SUFFIX = ".zip"
MAX_UPLOAD_MB = 512  # the largest lesson file the Runs page accepts (the command line has no limit)
MAX_UNPACKED_BYTES = 8 * 2**30  # refuse archives that would unpack to more than this (a zip bomb, or not ours)


class ArchiveError(StoreError):
    """A lesson file that cannot be read or imported; the message says why and names the file."""


@dataclass
class ExportResult:
    path: Path
    runs: list[str]  # run ids written
    left_out: dict[str, str] = field(default_factory=dict)  # run id -> why it was not written
    weights: int = 0  # runs written with their weights
    bytes: int = 0
    questions: int = 0  # class questions written
    votes: int = 0  # votes written with them

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "runs": self.runs,
            "left_out": self.left_out,
            "with_weights": self.weights,
            "bytes": self.bytes,
            "questions": self.questions,
            "votes": self.votes,
        }


@dataclass
class ImportResult:
    path: Path
    added: list[str]
    replaced: list[str]
    skipped: list[str]  # already in the store (not replaced without overwrite)
    labels: dict[str, str]
    questions: int = 0  # class questions added

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "added": self.added,
            "replaced": self.replaced,
            "skipped": self.skipped,
            "labels": self.labels,
            "questions": self.questions,
        }

    def text(self) -> str:
        parts = [f"{len(self.added)} run{'s' * (len(self.added) != 1)} added"]
        if self.replaced:
            parts.append(f"{len(self.replaced)} replaced")
        if self.skipped:
            parts.append(f"{len(self.skipped)} already in the store and left as they are (replace them with overwrite)")
        if self.questions:
            parts.append(f"{self.questions} class question{'s' * (self.questions != 1)} added")
        return ", ".join(parts)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_lesson(
    store: RunStore,
    path: str | Path,
    records: list[RunRecord],
    *,
    title: str = "",
    filters: dict | None = None,
    questions: bool = True,
    votes: bool = False,
) -> ExportResult:
    """Write ``records`` (the finished ones) with their histories and weights to one lesson file at ``path``, and
    the store's class questions (``questions``), with the class's votes if ``votes``.

    The file appears whole or not at all (written to a temporary name, then renamed)."""
    path = Path(path)
    result = ExportResult(path, [])
    entries, files = [], {}
    for record in records:
        if not is_finished(record):
            result.left_out[record.run_id] = f"{record.status}: only finished runs are exported"
            continue
        data = store.run_data(record.run_id)
        blob = json.dumps(data, separators=(",", ":"), allow_nan=True).encode()
        names = {"run": f"runs/{record.run_id}/run.json"}
        files[names["run"]] = blob
        weights = store.weights_path(record.run_id)
        if weights.exists():
            names["weights"] = f"runs/{record.run_id}/weights.safetensors"
            files[names["weights"]] = weights.read_bytes()
            result.weights += 1
        entries.append(
            {
                "run_id": record.run_id,
                "label": record.label,
                "model": record.config.model_name,
                "dataset": record.config.dataset,
                "status": str(record.status),
                "files": {
                    kind: {"name": name, "sha256": _sha256(files[name]), "bytes": len(files[name])}
                    for kind, name in names.items()
                },
            }
        )
        result.runs.append(record.run_id)
    if not entries:
        raise ArchiveError(
            "no finished run to export"
            + (f" ({len(result.left_out)} left out: not finished)" if result.left_out else "")
        )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "title": title,
        "filters": filters or {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": entries,
    }
    if questions:
        _add_polls(store, votes, files, manifest, result)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w") as z:
            z.writestr(MANIFEST, json.dumps(manifest, indent=1), compress_type=zipfile.ZIP_DEFLATED)
            for (
                name,
                data,
            ) in files.items():  # histories compress well; float weights barely, so they are stored as they are
                z.writestr(
                    name, data, compress_type=zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
                )

    try:
        atomic_write(path, write)
    except OSError as e:
        raise ArchiveError(f"the lesson file {path} could not be written: {e.strerror or e}") from e
    result.bytes = path.stat().st_size
    return result


def _add_polls(store: RunStore, votes: bool, files: dict, manifest: dict, result: ExportResult) -> None:
    """The store's class questions (oldest first, with their votes if ``votes``) as polls.json, if it has any."""
    polls = Polls(store).all()
    if not polls:
        return
    files[POLLS_FILE] = json.dumps({"polls": [p.to_dict(votes) for p in reversed(polls)]}).encode()
    manifest["polls"] = {"name": POLLS_FILE, "sha256": _sha256(files[POLLS_FILE]), "count": len(polls), "votes": votes}
    result.questions, result.votes = len(polls), sum(len(p.votes) for p in polls) if votes else 0


@dataclass
class _Run:
    data: dict
    weights: bytes | None
    label: str


def read_lesson(path: str | Path, name: str | None = None) -> tuple[dict, list[_Run]]:
    """The manifest and every run of a lesson file, each checked; ArchiveError (naming the file, as ``name`` if
    given, and the reason) if anything is wrong. Nothing is written anywhere."""
    path = Path(path)
    where = name or path.name

    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(f"{where} cannot be imported: {reason}")

    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise refuse("no such file") from None
    except IsADirectoryError:
        raise refuse("it is a directory") from None
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise refuse(f"it is not a ResNet Lab lesson file (not a readable zip archive: {e})") from e
    with archive:
        infos = {i.filename: i for i in archive.infolist()}
        if sum(i.file_size for i in infos.values()) > MAX_UNPACKED_BYTES:
            raise refuse(f"it would unpack to more than {MAX_UNPACKED_BYTES / 2**30:.0f} GiB")

        def member(name: str) -> bytes:
            if name not in infos:
                raise refuse(f"{name} is missing from the archive (a damaged or incomplete copy)")
            try:
                return archive.read(name)
            except (
                zipfile.BadZipFile,
                OSError,
                EOFError,
                ValueError,
                NotImplementedError,
            ) as e:  # CRC mismatch, truncation
                raise refuse(f"{name} is damaged ({e})") from e

        if MANIFEST not in infos:
            raise refuse("it is not a ResNet Lab lesson file (no manifest.json)")
        try:
            manifest = json.loads(member(MANIFEST))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise refuse(f"its manifest is unreadable ({e})") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise refuse("it is not a ResNet Lab lesson file (its manifest names another format)")
        version = manifest.get("version")
        if not isinstance(version, int) or version < 1:
            raise refuse(f"its format version {version!r} is not one this lab wrote")
        if version > VERSION:
            raise refuse(
                f"it was written by a newer version of the lab (lesson format {version}; this one reads up to "
                f"{VERSION}): update the lab on this machine"
            )
        entries = manifest.get("runs")
        if not isinstance(entries, list) or not entries:
            raise refuse("its manifest lists no runs")
        runs, seen = [], set()
        for entry in entries:
            runs.append(_check_run(entry, member, refuse, seen))
    return manifest, runs


def _check_run(entry, member, refuse, seen: set) -> _Run:
    try:
        run_id = check_run_id(entry["run_id"])
        files = entry["files"]
        run_file = files["run"]
    except (KeyError, TypeError, StoreError) as e:
        raise refuse(f"its manifest has an unreadable run entry ({e})") from None
    if run_id in seen:
        raise refuse(f"run {run_id} is listed twice")
    seen.add(run_id)
    blobs = {}
    for kind, spec in files.items():
        if (
            kind not in ("run", "weights")
            or not isinstance(spec, dict)
            or spec.get("name") != f"runs/{run_id}/" + ("run.json" if kind == "run" else "weights.safetensors")
        ):
            raise refuse(f"run {run_id}: its manifest entry names an unexpected file {spec!r}")
        blob = member(spec["name"])
        if _sha256(blob) != spec.get("sha256"):
            raise refuse(f"run {run_id}: {spec['name']} does not match its checksum (the file was damaged or altered)")
        blobs[kind] = blob
    try:
        data = json.loads(blobs["run"])
        run, history = data["run"], data["history"]
        if run["run_id"] != run_id:
            raise ValueError(f"its record says it is run {run['run_id']}")
        config, unknown = RunConfig.from_stored(run["config"])
        if unknown:
            raise ValueError(
                f"it was trained by a newer version with settings this one does not know ({', '.join(sorted(unknown))})"
            )
        if config.run_id != run_id:
            raise ValueError("its config does not hash to its run id")
        if not is_finished_status(RunStatus(run["status"])):
            raise ValueError(f"it is {run['status']}, not finished")
        if missing := [c for c in PORTABLE_COLUMNS if c not in run]:
            raise ValueError(f"its record lacks {', '.join(missing)}")
        if not isinstance(run["metrics"], dict) or not isinstance(run["info"], dict):
            raise ValueError("its metrics and info must be objects")
        if not all(isinstance(run[c], str) for c in ("name", "tags", "message")) or not all(
            isinstance(run[c], (int, float)) and not isinstance(run[c], bool) for c in ("epochs_done", "seconds")
        ):
            raise ValueError("its name, tags and message must be text, its epochs and seconds numbers")
        if not isinstance(history, dict) or set(history) - set(HISTORY_TABLES):
            raise ValueError("its history has unknown tables")
        for table, columns in history.items():
            lengths = {len(v) for v in columns.values()}
            if len(lengths) > 1:
                raise ValueError(f"its {table} columns differ in length")
    except (
        json.JSONDecodeError,
        UnicodeDecodeError,
        KeyError,
        TypeError,
        AttributeError,
        ConfigError,
        ValueError,
    ) as e:
        raise refuse(
            f"run {run_id}: {run_file.get('name', 'run.json')} is not a run this version can read ({e})"
        ) from None
    weights = blobs.get("weights")
    if weights is not None:
        _check_weights(config, weights, run_id, refuse)
    return _Run(data, weights, str(entry.get("label") or config.label))


def _check_weights(config: RunConfig, blob: bytes, run_id: str, refuse) -> None:
    """The weights must load into the network the config builds, every tensor named and shaped as it expects."""
    from ..engine.models import build_model

    try:
        state = load_safetensors(blob)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise refuse(f"run {run_id}: its weights are unreadable ({e})") from None
    c = config.resolved()
    model = build_model(c.arch, c.depth, c.shortcut, c.bn, c.init)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise refuse(f"run {run_id}: its weights do not fit {c.model_name} ({str(e).splitlines()[0]})") from None


def import_lesson(
    store: RunStore,
    path: str | Path,
    *,
    overwrite: bool = False,
    teacher: bool = False,
    name: str | None = None,
    questions: bool = True,
) -> ImportResult:
    """Check a lesson file completely, then add its runs to ``store`` in one transaction (all or none).

    Runs the store has are left as they are unless ``overwrite``; a live run is never replaced and a shipped
    reference run only by a teacher (a StoreError says so, and nothing is imported). ``name``: the file's
    name in messages (an upload's own name rather than the temporary file holding it). The file's class questions
    (and votes, if it has them) are added too unless ``questions`` is False; one imported before is skipped."""
    path = Path(path)
    manifest, runs = read_lesson(path, name)
    polls = read_polls(path, manifest, name) if questions else []
    staged: dict[str, Path] = {}
    try:
        for run in runs:  # weights next to their final place first, so the commit only renames them
            if run.weights is not None:
                run_id = run.data["run"]["run_id"]
                tmp = store.weights_path(run_id).with_name(
                    f".weights.safetensors.import.{os.getpid()}.{threading.get_ident()}.tmp"
                )
                tmp.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(run.weights)
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
                staged[run_id] = tmp
        done = store.import_runs([r.data for r in runs], staged, overwrite=overwrite, teacher=teacher)
        added_polls = Polls(store).import_polls(polls) if polls else 0
    except OSError as e:  # a full disk, a read-only store: nothing was imported
        raise StoreError(
            f"{name or path.name} could not be imported into {store.root}: {e.strerror or e}; nothing was changed"
        ) from e
    finally:
        for tmp in staged.values():  # renamed into place on success; left over only if the import failed
            tmp.unlink(missing_ok=True)
    labels = {r.data["run"]["run_id"]: r.label for r in runs}
    return ImportResult(path, done["added"], done["replaced"], done["skipped"], labels, added_polls)


def read_polls(path: Path, manifest: dict, name: str | None = None) -> list[dict]:
    """The class questions of a lesson file (none if it has none), each checked; ArchiveError if they are damaged."""
    spec = manifest.get("polls")
    if not spec:
        return []

    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(f"{name or path.name} cannot be imported: its class questions {reason}")

    try:
        with zipfile.ZipFile(path) as archive:
            blob = archive.read(POLLS_FILE)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise refuse(f"are missing or damaged ({e})") from None
    if not isinstance(spec, dict) or _sha256(blob) != spec.get("sha256"):
        raise refuse("do not match their checksum (the file was damaged or altered)")
    try:
        polls = json.loads(blob)["polls"]
        for poll in polls:
            PollState(poll["state"])
            if not isinstance(poll["page"], str) or not isinstance(poll["text"], str) or not poll["text"].strip():
                raise ValueError("a question without a page or text")
            if not isinstance(poll["choices"], list) or not 2 <= len(poll["choices"]) <= MAX_CHOICES:
                raise ValueError(f"a question without two to {MAX_CHOICES} choices")
            if not isinstance(poll.get("spec", {}), dict) or not isinstance(poll.get("votes", {}), dict):
                raise ValueError("a question whose answer or votes are not objects")
            if any(not isinstance(c, int) or not 0 <= c < len(poll["choices"]) for c in poll.get("votes", {}).values()):
                raise ValueError("a vote for a choice the question does not have")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
        raise refuse(f"are unreadable ({e})") from None
    return polls


def lesson_file_name(title: str = "") -> str:
    """'resnet-lab-week-3-depth.zip' from a title, else 'resnet-lab-lesson-<date>.zip'."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    return f"resnet-lab-{slug or 'lesson-' + datetime.now(UTC).strftime('%Y%m%d')}{SUFFIX}"


def export_lesson_bytes(
    store: RunStore, records: list[RunRecord], *, title: str = "", filters: dict | None = None, votes: bool = False
) -> tuple[bytes, ExportResult]:
    """A lesson file's bytes (for a download), and what went into it (the class questions, and votes if asked)."""
    with tempfile.TemporaryDirectory(prefix="resnet-lab-export-") as tmp:
        path = Path(tmp) / lesson_file_name(title)
        result = export_lesson(store, path, records, title=title, filters=filters, votes=votes)
        return result.path.read_bytes(), result


def import_lesson_bytes(
    store: RunStore, data: bytes, name: str, *, overwrite: bool = False, teacher: bool = False
) -> ImportResult:
    """Import an uploaded lesson file (its bytes and its name, for messages)."""
    with tempfile.TemporaryDirectory(prefix="resnet-lab-import-") as tmp:
        path = Path(tmp) / "upload.zip"
        path.write_bytes(data)
        result = import_lesson(store, path, overwrite=overwrite, teacher=teacher, name=name)
    result.path = Path(name)
    return result
