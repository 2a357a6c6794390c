"""Training on a Ray cluster behind ``core.runs.backends``' interface: the same queue, store and ``train``.

The process that calls ``submit`` (the dashboard's server, or ``python -m core sweep``) owns the run
store and stays its only writer; it needs no filesystem shared with the cluster. Its dispatcher
thread takes queued runs from the store (one transaction each, as a local worker does) while the
cluster has room, and starts one Ray task per run. The task calls ``core.runs.execute.train`` with a
``RemoteStore``: a store-like sink that sends every event (history rows, info, status, checkpoint
and weights bytes) in order to a ``RunHub`` actor, which the owner drains into the store. So:

* the store's history grows as the run trains, exactly as with a local worker (pages poll it);
* a run is ``done`` only once its weights file is on the owner's disk (the weights event is applied
  before the status event that follows it);
* a worker lost mid-run (its process or node killed) is started again by the owner (up to ``MAX_RETRIES``
  times); the retry asks the hub for the last checkpoint it relayed and resumes from there. A worker
  that dies twice in a row before sending anything (it cannot import, it crashes at start) is not
  tried again: the run is ``failed`` with the reason, as is a run whose task raises;
* the hub dying fails the runs it relayed (their events are lost with it), and a cluster that stops
  answering for ``GIVE_UP_S`` fails the runs in flight: nothing waits for ever;
* a cancel in the store reaches the hub at the owner's next heartbeat and the worker at its next
  send, and it stops after the current step, as a local run does;
* the owner dying takes its tasks with it (Ray's fate sharing); the store then shows the runs
  ``interrupted`` and they resume from the last checkpoint the owner wrote.

What crosses the network: the ``core`` package (once per cluster job), each run's config, its events
(a few KB a second), checkpoints at epoch ends and the final weights (about 1 MB for ResNet-56,
twice that for a checkpoint). Each node reads CIFAR-10 from its own ``$RESNET_LAB_DATA`` (or
downloads it) and makes the built-in Shapes-10 set itself.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

from ..engine.config import RunConfig
from ..engine.history import HistoryWriter
from .backends import RAY_ENV, RunState, StoreQueue
from .lifecycle import RunStatus, is_queued, is_running
from .store import Claim, RunRecord, RunStore, StoreError

CORE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_GPU_SHARE = 0.25  # a run's GPU share when its config leaves num_gpus unset (small CIFAR nets: 4 a GPU)
MAX_RETRIES = 3  # a task whose worker died is started again this many times
FATAL_DEATHS = 2  # ...unless its worker died this many times in a row before sending anything: a retry cannot help
GIVE_UP_S = 30.0  # the cluster failing every call for this long fails the runs in flight
FAULT_ENV = "RESNET_LAB_RAY_FAULT"  # for tests: 'raise' or 'exit' makes each task fail before training starts
TICK_S = 0.25  # the owner drains events this often (the history a page reads is this fresh)
BEAT_S = 2.0  # ...and beats the heartbeat of, and reads cancels for, the runs it dispatched this often
SEND_S = 0.25  # a worker gathers events for this long before sending them in one call
LOCAL_OBJECT_STORE = 200 * 2**20  # 'local': a small object store (events and checkpoints are small)
NODE_CACHE = Path(tempfile.gettempdir()) / "resnet-lab-ray"  # each node's cache (the built-in data set it generates)


log = logging.getLogger(__name__)
_connect_lock = threading.Lock()


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` ('auto': the one running here; 'local': start one in this process)."""
    import ray

    with _connect_lock:
        if ray.is_initialized():
            return
        if threading.current_thread() is threading.main_thread():
            _init(address)
            return
        # Ray ties the processes it starts to the thread that starts them (they die with it), and a page's script
        # thread ends after each run: start it from a thread that lives as long as this process.
        done, failure = threading.Event(), []

        def hold() -> None:
            try:
                _init(address)
            except Exception as e:
                failure.append(e)
            done.set()
            threading.Event().wait()

        threading.Thread(target=hold, name="ray-connection", daemon=True).start()
        done.wait()
        if failure:
            raise failure[0]


def _init(address: str) -> None:
    import ray

    # The core package travels with the job, so cluster nodes need only the requirements installed.
    runtime_env = {
        "py_modules": [str(CORE_DIR)],
        "excludes": ["__pycache__", "runs/shipped"],
    }  # runs train afresh there
    try:
        if address == "local":
            ray.init(
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE,
                log_to_driver=False,
                runtime_env=runtime_env,
            )
        else:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise StoreError(
            f"cannot join the Ray cluster at {address!r} ({e}); start one with `ray start --head`, "
            f"or unset {RAY_ENV} to train on this machine"
        ) from e


def resources(config: RunConfig, cluster_gpus: float) -> dict:
    """The Ray resource request for one run: its config's num_cpus and num_gpus (unset: a share where GPUs exist)."""
    gpus = config.num_gpus
    if gpus is None:
        gpus = DEFAULT_GPU_SHARE if cluster_gpus > 0 and config.device != "cpu" else 0.0
    return {"num_cpus": config.num_cpus, "num_gpus": gpus}


# ------------------------------------------------------------------------------------------- the hub


class RunHub:
    """A Ray actor that relays the runs' events to the owner and keeps each run's last checkpoint for retries.

    Async methods: Ray runs them one at a time on the actor's event loop, so its state needs no lock."""

    def __init__(self):
        self.runs: dict[str, dict] = {}
        self.outbox: dict[str, list] = {}

    async def open(self, run_id: str, fresh: bool, checkpoint: bytes | None, previous) -> None:
        self.runs[run_id] = {
            "fresh": fresh,
            "checkpoint": checkpoint,
            "epoch": previous.epochs_done if checkpoint else 0,
            "previous": previous,
            "cancel": False,
            "attempts": [],
        }

    async def start(self, run_id: str, pid: int, node: str) -> dict:
        """A task (first or retried) starting: where to start from, and the attempt noted for the owner."""
        run = self.runs[run_id]
        run["attempts"].append({"pid": pid, "node": node, "from_epoch": run["epoch"], "started": time.time()})
        self.outbox.setdefault(run_id, []).append(("attempt", len(run["attempts"]), pid, node, run["epoch"]))
        return {
            "fresh": run["fresh"],
            "checkpoint": run["checkpoint"],
            "previous": run["previous"],
            "cancel": run["cancel"],
            "attempt": len(run["attempts"]),
        }

    async def push(self, run_id: str, events: list) -> bool:
        """Events of one run, in order; True if the run was asked to stop."""
        run = self.runs.get(run_id)
        if run is None:
            return True  # the owner closed it: nobody listens any more
        for event in events:
            if event[0] == "checkpoint":
                run["checkpoint"], run["epoch"], run["fresh"] = event[1], event[2], False  # a retry resumes from here
        self.outbox.setdefault(run_id, []).extend(events)
        return run["cancel"]

    async def drain(self) -> dict[str, list]:
        out, self.outbox = self.outbox, {}
        return out

    async def cancel(self, run_id: str) -> None:
        if run_id in self.runs:
            self.runs[run_id]["cancel"] = True

    async def close(self, run_id: str) -> list[dict]:
        run = self.runs.pop(run_id, None)
        return run["attempts"] if run else []


# ------------------------------------------------------------------------------------------- the worker side


class RemoteStore:
    """The run sink ``train`` writes to on a Ray worker (``core.runs.execute.RunSink``): every write becomes an
    event sent, in order, to the hub. History rows go through the same ``HistoryWriter`` as on the owner's
    machine; the other writes (info, status, checkpoint, weights) wait until the hub has them, as the local
    store waits for the disk, so they stay in order with the rows flushed before them."""

    def __init__(self, hub, run_id: str, start: dict, cache_root: Path):
        self.hub, self.run_id, self.datasets_dir = hub, run_id, cache_root / "datasets"
        self._previous: RunRecord | None = start["previous"]
        self._checkpoint: bytes | None = start["checkpoint"]
        self.stop = threading.Event()
        if start["cancel"]:
            self.stop.set()

    # -- what train() reads
    def get(self, run_id: str) -> RunRecord | None:
        return self._previous

    def load_checkpoint(self, run_id: str) -> dict | None:
        if self._checkpoint is None:
            return None
        import torch

        return torch.load(io.BytesIO(self._checkpoint), map_location="cpu", weights_only=True)

    # -- what train() writes
    def set_info(self, run_id: str, info: dict) -> None:
        self._send([("info", info)])

    def truncate_history(self, run_id: str, after_step: int, after_epoch: int) -> None:
        self._send([("truncate", after_step, after_epoch)])

    def set_status(self, run_id: str, status: RunStatus, message: str = "", **columns) -> None:
        if self._previous is not None:  # what train() returns at the end
            self._previous = dataclasses.replace(
                self._previous,
                status=RunStatus(status),
                message=message,
                **{k: v for k, v in columns.items() if k in ("metrics", "seconds", "epochs_done")},
            )
        self._send([("status", str(status), message, columns)])

    def record_epoch(self, run_id: str, *, metrics: dict, seconds: float, epochs_done: int) -> None:
        self.set_status(run_id, RunStatus.RUNNING, metrics=metrics, seconds=seconds, epochs_done=epochs_done)

    def save_checkpoint(self, run_id: str, state: dict) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        self._send([("checkpoint", buffer.getvalue(), int(state["epoch"]))])

    def save_weights(self, run_id: str, model) -> None:
        from safetensors.torch import save

        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        self._send([("weights", save(state))])

    def writer(self, run_id: str, stop: threading.Event | None = None) -> HistoryWriter:
        stops = [e for e in (self.stop, stop) if e is not None]

        def send(items) -> bool:
            if self._send([("rows", table, rows) for table, rows in items]):
                for event in stops:
                    event.set()
            return False  # the stop events are already set

        return HistoryWriter(send, run_id, interval=SEND_S)

    # -- sending
    def _send(self, events: list) -> bool:
        """Events to the hub, in order, once it has them; True if the run was asked to stop. A lost hub raises:
        the run cannot go on, and its owner reports it."""
        import ray

        try:
            cancel = ray.get(self.hub.push.remote(self.run_id, events))
        except Exception as e:
            self.stop.set()
            raise StoreError(f"sending the run's events to its store failed: {e}") from e
        if cancel:
            self.stop.set()
        return cancel


def train_task(config: dict, hub, data_dir: str | None) -> str:
    """One run on a Ray worker (the body of the remote task): ``core.train.train`` into a RemoteStore."""
    import ray

    from .execute import train

    _fault_for_tests()
    c = RunConfig.from_dict(config)
    run_id = c.run_id
    start = ray.get(hub.start.remote(run_id, os.getpid(), socket.gethostname()))
    sink = RemoteStore(hub, run_id, start, NODE_CACHE)
    result = train(c, sink, data_dir=data_dir, stop=sink.stop, claim=Claim(run_id, start["fresh"]))
    return str(result.record.status)


def _fault_for_tests() -> None:
    """``$RESNET_LAB_RAY_FAULT``: 'raise' makes the task raise, 'exit' kills its worker process, both before the
    run starts (as a worker that cannot import the package would)."""
    fault = os.environ.get(FAULT_ENV, "")
    if fault == "raise":
        raise RuntimeError(f"{FAULT_ENV}=raise: this task fails before training starts")
    if fault == "exit":
        os._exit(70)


# ------------------------------------------------------------------------------------------- the owner side


@dataclasses.dataclass
class InFlight:
    run_id: str
    ref: object
    request: dict
    config: dict
    lost: int = 0  # workers lost so far
    silent: int = 0  # ...of them in a row before their attempt sent anything
    sent: bool = False  # the current attempt sent something besides its start


class RayBackend(StoreQueue):
    """The job interface on a Ray cluster. ``serve_queue``: take any queued run of the store (a long-lived server);
    otherwise only the runs submitted through this object (a command that exits when they are done)."""

    name = "ray"

    def __init__(self, address: str, *, serve_queue: bool = True, data_dir: str | None = None):
        self.address, self.serve_queue, self.data_dir = address, serve_queue, data_dir
        self._submitted: set[str] = set()
        self._dispatchers: dict[str, Dispatcher] = {}
        self._lock = threading.Lock()

    def dispatcher(self, store: RunStore) -> Dispatcher:
        with self._lock:
            d = self._dispatchers.get(str(store.root))
            if d is None or not d.thread.is_alive():
                connect(self.address)
                d = self._dispatchers[str(store.root)] = Dispatcher(self, store.root)
            return d

    def ensure(self, store: RunStore) -> None:
        if self.serve_queue or self._submitted:
            self.dispatcher(store).wake.set()

    def submit(self, store, config, requester="", *, restart=False, limit=None, teacher=False) -> RunState:
        record = store.request(config, requester, restart=restart, limit=limit, teacher=teacher)
        self._submitted.add(record.run_id)
        if is_queued(record):
            self.dispatcher(store).wake.set()
        return self.state(store, record.run_id)

    def cancel(self, store: RunStore, run_id: str) -> bool:
        cancelled = super().cancel(store, run_id)
        d = self._dispatchers.get(str(store.root))
        if cancelled and d is not None:
            d.cancel(run_id)
        return cancelled

    def attempts(self, store: RunStore, run_id: str) -> list[tuple]:
        """(attempt, pid, node, epochs it resumed after) of every Ray task that trained ``run_id`` here."""
        d = self._dispatchers.get(str(store.root))
        return list(d.attempts.get(run_id, [])) if d else []

    def problem(self, store: RunStore) -> str | None:
        """Why this backend cannot train the store's runs now (its cluster has failed every call for
        ``GIVE_UP_S``), else None."""
        d = self._dispatchers.get(str(store.root))
        if d is None or d.failing_since is None or time.monotonic() - d.failing_since < GIVE_UP_S:
            return None
        return f"the Ray cluster at {self.address!r} has failed every call for {GIVE_UP_S:g} s: {_why(d.error)}"

    def shutdown(self, disconnect: bool = False) -> None:
        """Stop the dispatchers (runs in flight are left to the store to report as interrupted); ``disconnect``:
        leave the cluster too (a command at its end: nothing Ray prints can come after its output)."""
        for d in list(self._dispatchers.values()):
            d.close()
        self._dispatchers.clear()
        if disconnect:
            import ray

            with _connect_lock:
                ray.shutdown()


class Dispatcher:
    """The owner's thread for one store: claims queued runs while the cluster has room, starts their tasks,
    writes their events into the store, beats their heartbeats and settles them when their tasks end."""

    def __init__(self, backend: RayBackend, root: Path):
        import ray

        self.backend, self.store = backend, RunStore(root)
        self.hub = self._new_hub()
        # Ray does not retry: the owner starts a lost task again itself, knowing whether it got anywhere
        self.task = ray.remote(max_retries=0, retry_exceptions=False)(train_task)
        self.inflight: dict[str, InFlight] = {}
        self.attempts: dict[str, list] = {}
        self.dropped: set[str] = set()  # runs settled here: later events of theirs are not applied
        self.wake, self.closing = threading.Event(), threading.Event()
        self.last_beat = 0.0
        self.error: Exception | None = None
        self.failing_since: float | None = None  # every tick has failed since then
        self.thread = threading.Thread(target=self._loop, name="ray-dispatcher", daemon=True)
        self.thread.start()

    @staticmethod
    def _new_hub():
        import ray

        return ray.remote(RunHub).options(num_cpus=0, **_here()).remote()

    def cancel(self, run_id: str) -> None:
        if run_id in self.inflight:
            self.hub.cancel.remote(run_id)

    def close(self) -> None:
        import ray

        self.closing.set()
        self.wake.set()
        self.thread.join(30)
        try:
            ray.kill(self.hub)
        except Exception:  # the cluster is already gone
            pass

    def _loop(self) -> None:
        import ray

        while not self.closing.is_set():
            try:
                self._tick()
                self.error, self.failing_since = None, None
            except Exception as e:  # a busy store or a lost hub: reported on the runs, tried again next tick
                if self.failing_since is None or type(e) is not type(self.error):
                    log.warning("Ray dispatcher for %s: %s: %s", self.store.root, type(e).__name__, _why(e))
                self.error = e
                self.failing_since = self.failing_since or time.monotonic()
                try:
                    if isinstance(e, ray.exceptions.ActorDiedError):
                        self._fail_inflight(f"its Ray relay actor died ({_why(e)}); train it again")
                        self.hub = self._new_hub()
                    elif time.monotonic() - self.failing_since >= GIVE_UP_S:
                        self._fail_inflight(f"the Ray cluster failed every call for {GIVE_UP_S:g} s ({_why(e)})")
                except Exception:  # the store itself is failing: tried again next tick
                    pass
            self.wake.wait(TICK_S)
            self.wake.clear()

    def _fail_inflight(self, reason: str) -> None:
        """End every run in flight as failed with ``reason`` and stop its task (nothing would report it)."""
        import ray

        for run_id, flight in list(self.inflight.items()):
            try:
                ray.cancel(flight.ref, force=True)
            except Exception:  # already ended, or the cluster is gone
                pass
            if run_id not in self.dropped:
                log.error("run %s failed: %s", run_id, reason)
                self.store.set_status(run_id, RunStatus.FAILED, reason)
            del self.inflight[run_id]
            self.dropped.discard(run_id)

    def _tick(self) -> None:
        import ray

        self._apply(ray.get(self.hub.drain.remote()))
        if self.inflight and time.monotonic() - self.last_beat >= BEAT_S:
            self.last_beat = time.monotonic()
            for run_id, flight in list(self.inflight.items()):
                if self.store.append_history(run_id, []):  # a heartbeat; True: a cancel arrived through the store
                    self.hub.cancel.remote(run_id)
                    if not self.attempts.get(run_id):  # still waiting for room on the cluster: take it back at once
                        ray.cancel(flight.ref)
                        self.dropped.add(run_id)
                        self.store.set_status(run_id, RunStatus.CANCELLED, "cancelled while it waited for a Ray worker")
        if self.inflight:
            refs = {f.ref: f for f in self.inflight.values()}
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
            if ready:
                self._apply(ray.get(self.hub.drain.remote()))  # everything a finished task sent is in the hub
                for ref in ready:
                    self._settle(refs[ref])
        self._dispatch()

    def _capacity(self) -> tuple[float, float]:
        """CPUs and GPUs of the cluster not reserved by this owner's runs (other users' tasks queue in Ray)."""
        import ray

        total = ray.cluster_resources()
        cpus = total.get("CPU", 0) - sum(f.request["num_cpus"] for f in self.inflight.values())
        gpus = total.get("GPU", 0) - sum(f.request["num_gpus"] for f in self.inflight.values())
        return cpus, gpus

    def _dispatch(self) -> None:
        import ray

        only = None if self.backend.serve_queue else self.backend._submitted
        while True:
            cpus, gpus = self._capacity()
            if cpus < 1e-6 or not self.store.has_queued():
                return
            claimed = self.store.claim_next(only=only)
            if claimed is None:
                return
            config, fresh = claimed
            run_id = config.run_id
            cluster_gpus = ray.cluster_resources().get("GPU", 0)
            request = resources(config, cluster_gpus)
            if request["num_gpus"] > cluster_gpus:  # Ray would hold it forever
                self.store.set_status(
                    run_id,
                    RunStatus.FAILED,
                    f"it asks for {request['num_gpus']:g} GPUs and the Ray cluster "
                    f"has {cluster_gpus:g}; set num_gpus lower (0 trains on CPUs) or add GPU nodes",
                )
                continue
            previous = self.store.get(run_id)
            checkpoint = None if fresh else _read(self.store.checkpoint_path(run_id))
            try:
                ray.get(self.hub.open.remote(run_id, fresh, checkpoint, previous))
            except Exception as e:  # claimed, and nothing would report it: say why here
                self.store.set_status(run_id, RunStatus.FAILED, f"its Ray relay actor did not answer ({_why(e)})")
                raise
            self.store.set_status(run_id, RunStatus.RUNNING, "waiting for a Ray worker")
            ref = self.task.options(**request).remote(config.to_dict(), self.hub, self.backend.data_dir)
            self.inflight[run_id] = InFlight(run_id, ref, request, config.to_dict())
            self.attempts[run_id] = []

    def _apply(self, outbox: dict[str, list]) -> None:
        """Write each run's events into the store, in the order the worker sent them."""
        for run_id, events in outbox.items():
            if run_id in self.dropped:
                continue
            flight = self.inflight.get(run_id)
            rows: list = []
            for event in events:
                kind = event[0]
                if flight is not None:
                    flight.sent = kind != "attempt"
                if kind == "rows":
                    rows.append((event[1], event[2]))
                    continue
                if rows:  # rows before a status or checkpoint are committed before it
                    self.store.append_history(run_id, rows)
                    rows = []
                if kind == "attempt":
                    self.attempts.setdefault(run_id, []).append(tuple(event[1:]))
                    if event[1] == 1:
                        self.store.set_status(run_id, RunStatus.RUNNING, f"training on {event[3]}")
                    else:
                        where = (
                            f"resumes after epoch {event[4]}" if event[4] else "starts afresh (no epoch had finished)"
                        )
                        self.store.set_status(
                            run_id, RunStatus.RUNNING, f"its Ray worker was lost; attempt {event[1]} {where}"
                        )
                elif kind == "info":
                    self.store.set_info(run_id, event[1])
                elif kind == "truncate":
                    self.store.truncate_history(run_id, event[1], event[2])
                elif kind == "checkpoint":
                    self.store.save_file_bytes(self.store.checkpoint_path(run_id), event[1])
                elif kind == "weights":
                    self.store.save_file_bytes(self.store.weights_path(run_id), event[1])
                elif kind == "status":
                    self.store.set_status(run_id, RunStatus(event[1]), event[2], **event[3])
            if rows:
                self.store.append_history(run_id, rows)

    def _settle(self, flight: InFlight) -> None:
        """A task ended: start it again if its worker was lost and that can help; else whatever it did not report
        becomes the run's status (never 'done' without weights)."""
        import ray

        run_id = flight.run_id
        try:
            ray.get(flight.ref)
            error = None
        except Exception as e:
            error = e
        if _lost(error) and run_id not in self.dropped and is_running(self.store.get(run_id)):
            flight.lost += 1
            flight.silent = 0 if flight.sent else flight.silent + 1
            if flight.silent < FATAL_DEATHS and flight.lost <= MAX_RETRIES:
                self._retry(flight, error)
                return
        ray.get(self.hub.close.remote(run_id))
        del self.inflight[run_id]
        if run_id in self.dropped:
            self.dropped.discard(run_id)
            return
        if is_running(self.store.get(run_id)):
            status, message = _ending(flight, error)
            log.warning("run %s %s: %s", run_id, status, message)
            self.store.set_status(run_id, status, message)

    def _retry(self, flight: InFlight, error: Exception) -> None:
        log.warning("run %s: its Ray worker was lost (%s); starting it again", flight.run_id, _why(error))
        self.store.set_status(
            flight.run_id, RunStatus.RUNNING, f"its Ray worker was lost ({type(error).__name__}); starting it again"
        )
        flight.sent = False
        flight.ref = self.task.options(**flight.request).remote(flight.config, self.hub, self.backend.data_dir)


def _lost(error: Exception | None) -> bool:
    """The task's worker process or node was lost (rather than the task raising)."""
    import ray

    lost = (
        ray.exceptions.WorkerCrashedError,
        ray.exceptions.NodeDiedError,
        ray.exceptions.RayActorError,
        ray.exceptions.ObjectLostError,
    )
    return isinstance(error, lost)


def _ending(flight: InFlight, error: Exception | None) -> tuple[RunStatus, str]:
    """The status and message of a run whose task ended without reporting how it ended."""
    if _lost(error) and flight.silent >= FATAL_DEATHS:
        return RunStatus.FAILED, (
            f"its Ray worker died {flight.silent} times in a row before the run started "
            f"({type(error).__name__}: {_why(error)}); a retry cannot fix this: see the Ray workers' logs"
        )
    if _lost(error):
        return RunStatus.INTERRUPTED, (
            f"its Ray worker was lost {flight.lost} times "
            f"(last: {type(error).__name__}); resume to continue from the last finished epoch"
        )
    if error is not None:
        cause = getattr(error, "cause", None) or error
        return RunStatus.FAILED, f"on the Ray cluster: {type(cause).__name__}: {_why(error)}"
    return RunStatus.FAILED, "its Ray task ended without a final status"


def _why(error: Exception, limit: int = 300) -> str:
    """The first line of an error's message, shortened (Ray's carry whole tracebacks); a task's own exception for
    the error Ray wrapped it in."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, Exception):
        return _why(cause, limit)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _here() -> dict:
    """Scheduling options that keep the hub on the owner's node (where its events are drained)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)}


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
