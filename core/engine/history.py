"""A training run's history, row by row, and the one writer that takes it off the training thread.

The training loop hands rows to a ``HistoryWriter`` and goes on at once; the writer's thread gathers
what arrives for a moment and passes it, in order, to its ``send`` function: one SQLite transaction in
the run store on this machine, one message to the run's relay on a cluster. Either way the rows are
shaped here, once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

STEP_COLUMNS = ("step", "epoch", "loss", "acc", "lr")
# train_* is the running training-mode mean over the epoch; train_eval_* the network in eval mode on a fixed
# training subset at the epoch's end (the paper's training error).
EPOCH_COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",
    "train_eval_loss",
    "train_eval_acc",
)
EVAL_COLUMNS = ("step", "epoch", "loss", "acc", "images")  # test evaluations: a subset every k steps, all at epoch ends
PROBE_COLUMNS = ("step", "kind", "idx", "layer", "value")  # kinds: grad_w, grad_out, response_std, weight_norm
HISTORY_COLUMNS = {"steps": STEP_COLUMNS, "epochs": EPOCH_COLUMNS, "probes": PROBE_COLUMNS, "test_evals": EVAL_COLUMNS}

Items = list[tuple[str, list[tuple]]]  # (table, rows) in the order they were written


class HistoryError(RuntimeError):
    """The history could not be delivered (a database error, a lost relay): the run cannot go on."""


def epoch_row(row: tuple) -> tuple:
    """An epoch row with NULLs for the eval-mode columns it lacks (rows written before they existed)."""
    return tuple(row) + (None,) * (len(EPOCH_COLUMNS) - len(row))


def probe_rows(step: int, results: dict[str, dict[str, float]]) -> list[tuple]:
    """One row per (kind, layer) of a probe's results, the layers numbered in forward order."""
    return [
        (step, kind, idx, layer, value)
        for kind, values in results.items()
        for idx, (layer, value) in enumerate(values.items())
    ]


class HistoryWriter:
    """Takes a run's rows from the training loop and passes them to ``send`` on its own thread.

    ``send(items)`` delivers ``(table, rows)`` items in order and returns True if someone asked the run to
    stop; it is also called with no items at least every ``beat_every`` seconds (the run's heartbeat).
    Publishing never waits: a reader sees the rows about ``interval`` seconds after they were written.
    """

    def __init__(
        self,
        send: Callable[[Items], bool],
        name: str,
        *,
        stop: threading.Event | None = None,
        interval: float = 0.25,
        beat_every: float = 2.0,
    ):
        self.send, self.stop, self.interval, self.beat_every = send, stop, interval, beat_every
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, name=f"history-{name}", daemon=True)
        self.thread.start()

    def steps(self, rows: list[tuple]) -> None:
        self.queue.put(("steps", [tuple(r) for r in rows]))

    def epoch(self, row: tuple) -> None:
        self.queue.put(("epochs", [epoch_row(row)]))

    def test_eval(self, row: tuple) -> None:
        self.queue.put(("test_evals", [tuple(row)]))

    def probes(self, step: int, results: dict[str, dict[str, float]]) -> None:
        self.queue.put(("probes", probe_rows(step, results)))

    def flush(self) -> None:
        """Block until everything written so far is delivered (before a checkpoint says it is)."""
        done = threading.Event()
        self.queue.put(("flush", done))
        while not done.wait(0.5):
            if not self.thread.is_alive():
                break
        if self.error:
            raise HistoryError(f"writing the run history failed: {self.error}")

    def close(self, raise_errors: bool = True) -> None:
        """Deliver what is left and stop the thread; a delivery error is raised unless ``raise_errors`` is False."""
        try:
            self.flush()
        except HistoryError:
            if raise_errors:
                raise
        finally:
            self.queue.put(("stop", None))
            self.thread.join()

    def _gather(self) -> list:
        try:
            items = [self.queue.get(timeout=self.beat_every)]
        except queue.Empty:
            return []  # nothing new: beat the heartbeat all the same
        time.sleep(self.interval if items[0][0] not in ("flush", "stop") else 0)  # what arrives meanwhile: one delivery
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                return items

    def _run(self) -> None:
        stopping = False
        while not stopping:
            items = self._gather()
            rows = [(kind, payload) for kind, payload in items if kind in HISTORY_COLUMNS]
            if self.error is None:
                try:
                    if self.send(rows) and self.stop is not None:
                        self.stop.set()
                except Exception as e:  # reported by the next flush; the loop then ends the run
                    self.error = e
            for kind, payload in items:
                if kind == "flush":
                    payload.set()
                stopping |= kind == "stop"
