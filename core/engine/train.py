"""The training loop: one RunConfig in, one trained network and its history out, through a ``TrainingSink``.

The whole dataset sits on the training device as uint8; each batch is gathered, augmented and
normalised there (no DataLoader, no per-image transforms). Losses stay on the device and are copied
to the host in groups, so a GPU is never stalled once per step. History rows (steps, epochs, probes)
go to a ``HistoryWriter`` thread, so publishing never waits on the database. Which run store the
sink is, and which status a run ends in, is ``core.runs``' business: this module knows neither.
"""

import math
import platform
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from .config import WARMUP_FACTOR, RunConfig, steps_per_epoch
from .data import augment, load_dataset, normalize
from .history import HistoryWriter
from .models import build_model, count_params
from .probes import LayerProbe

EVAL_BATCH = 1000
# Speed: on a CPU, evaluation batches of 1000 images spill the caches (a 1000x16x32x32 activation is 65 MB) and
# cost ~20% more per image than batches of 128-256; the logits are the same either way.
EVAL_BATCH_CPU = 200
# Training error as the paper plots it: the network in eval mode on a fixed training subset at each epoch's end
# (5,000 images: a binomial standard error of 0.3 points at 5% error), and on every training image at the run's end.
TRAIN_EVAL_IMAGES = 5000
# Test points during training: a fixed test subset every k steps, k chosen so a run draws at least
# TEST_EVAL_POINTS of them (plus the full test set at every epoch's end).
TEST_EVAL_IMAGES, TEST_EVAL_POINTS = 200, 24


def eval_every(total_steps: int) -> int:
    """Steps between test-subset evaluations: at least TEST_EVAL_POINTS of them in ``total_steps``."""
    return max(1, total_steps // TEST_EVAL_POINTS)


class Cancelled(Exception):
    """Someone asked the run to stop (through its store or the caller's ``stop`` event)."""

    def __init__(self, epoch: int):
        super().__init__(f"stopped during epoch {epoch}; resuming continues from the last finished epoch")
        self.epoch = epoch


class Diverged(Exception):
    """The loss became NaN or infinite; ``seconds`` trained until then."""

    def __init__(self, message: str, seconds: float):
        super().__init__(message)
        self.seconds = seconds


@dataclass
class Fitted:
    """A run trained to its end: the final metrics (fractions and nats) and the seconds it took in all."""

    metrics: dict
    seconds: float


class TrainingSink(Protocol):
    """Where a run's training goes: the run store on this machine (``core.runs.store.RunStore``), or the
    relay to it from a cluster worker (``core.runs.ray_jobs.RemoteStore``). The trainer needs nothing else."""

    datasets_dir: Path  # where data sets are cached

    def load_checkpoint(self, run_id: str) -> dict | None: ...

    def save_checkpoint(self, run_id: str, state: dict) -> None: ...

    def save_weights(self, run_id: str, model: torch.nn.Module) -> None: ...

    def set_info(self, run_id: str, info: dict) -> None: ...

    def truncate_history(self, run_id: str, after_step: int, after_epoch: int) -> None: ...

    def writer(self, run_id: str, stop: threading.Event | None = None) -> HistoryWriter: ...

    def record_epoch(self, run_id: str, *, metrics: dict, seconds: float, epochs_done: int) -> None: ...


def resolve_device(name: str = "auto") -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX); elsewhere bf16 is emulated
    and slower than fp32, so 'auto' keeps fp32 there."""
    try:
        caps = torch.cpu.get_capabilities()
        return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    except AttributeError:  # older torch: read the kernel's CPU flags
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        return " avx512_bf16" in flags or " amx_bf16" in flags


def uses_bf16(config: RunConfig, device: torch.device) -> bool:
    """'auto' means bf16 autocast on a GPU and on CPUs with native bf16, fp32 on other CPUs."""
    if config.precision != "auto":
        return config.precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


def autocast_for(config: RunConfig, device: torch.device):
    # Speed: bf16 autocast runs convolutions in bf16 (1.4-1.7x fp32 on an AVX-512 BF16 CPU; tensor cores on a
    # GPU); weights, optimizer state and the loss stay fp32.
    return torch.autocast(device.type, dtype=torch.bfloat16) if uses_bf16(config, device) else nullcontext()


def lr_at(config: RunConfig, step: int, total_steps: int) -> float:
    """The learning rate for ``step`` of ``total_steps`` (config must be resolved)."""
    warmup = config.warmup_for(total_steps)
    if step < warmup and config.warmup_ramp:
        return config.lr * (step + 1) / warmup  # a linear ramp: no jump from lr/10 to lr when it ends
    if step < warmup:
        return config.lr * WARMUP_FACTOR  # the paper's ResNet-110 warm-up, or the one asked for
    progress = step / total_steps
    if config.schedule == "step":
        return config.lr * (0.1 if progress >= 0.5 else 1.0) * (0.1 if progress >= 0.75 else 1.0)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr


def learning_rates(config: RunConfig, total_steps: int, steps=None) -> list[float]:
    """The learning rate of each of ``steps`` (default: every step of the run), by ``lr_at``: what the trainer
    uses, for runs whose recorded history lacks it (config must be resolved)."""
    return [lr_at(config, int(s), total_steps) for s in (range(total_steps) if steps is None else steps)]


def make_optimizer(config: RunConfig, model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    fused = device.type == "cuda"  # one kernel for the whole update on a GPU
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=1e-4, fused=fused)
    return torch.optim.Adam(model.parameters(), lr=config.lr, fused=fused)


@torch.inference_mode()
def evaluate(model, x, y, mean, std, autocast) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (a fraction) on uint8 images ``x``."""
    model.eval()
    total = torch.zeros(2, device=x.device)
    bs = EVAL_BATCH_CPU if x.device.type == "cpu" else EVAL_BATCH
    for i in range(0, len(x), bs):
        with autocast:
            logits = model(normalize(x[i : i + bs], mean, std))
        yb = y[i : i + bs]
        total += torch.stack(
            [F.cross_entropy(logits.float(), yb, reduction="sum"), (logits.argmax(1) == yb).sum().float()]
        )
    loss, correct = total.tolist()
    return loss / len(x), correct / len(x)


def run_info(config: RunConfig, device: torch.device, dataset, model, steps: int) -> dict:
    """What a run records about itself: data, device, versions, precision, size and its schedule of steps."""
    return {
        "dataset": dataset.title,
        "classes": list(dataset.classes),
        "mean": list(dataset.mean),
        "std": list(dataset.std),
        "n_train": len(dataset.x_train),
        "n_test": len(dataset.x_test),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()})",
        "torch": torch.__version__,
        "precision": "bf16" if uses_bf16(config, device) else "fp32",
        "params": count_params(model),
        "steps_per_epoch": steps,
        "total_steps": steps * config.epochs,
        "test_eval_every": eval_every(steps * config.epochs),
        "test_eval_images": min(TEST_EVAL_IMAGES, len(dataset.x_test)),
        "train_eval_images": min(TRAIN_EVAL_IMAGES, len(dataset.x_train)),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def fit(
    config: RunConfig,
    sink: TrainingSink,
    *,
    fresh: bool = True,
    data_dir: str | None = None,
    stop: threading.Event | None = None,
    progress=None,
    previous_metrics: dict | None = None,
) -> Fitted:
    """Train ``config`` into ``sink``: afresh, or on from the last checkpoint the sink holds.

    Every epoch ends with the history delivered, a checkpoint and the epoch's metrics recorded, so a run
    stopped at any moment resumes after its last finished epoch. Raises ``Cancelled`` when ``stop`` is set
    (by a cancel arriving through the sink, or by the caller), ``Diverged`` when the loss stops being
    finite, and whatever else went wrong; how a run ended is for the caller to record. ``progress(event)``
    is called from this thread with step and epoch events (for a progress bar). ``previous_metrics``: the
    metrics stored with the checkpoint's run, kept when nothing is left to train.
    """
    c = config.resolved()
    stop = stop or threading.Event()
    run = _Run(c, sink, data_dir)
    checkpoint = None if fresh else sink.load_checkpoint(c.run_id)
    if checkpoint:
        run.load(checkpoint)
    sink.set_info(c.run_id, run.info())
    sink.truncate_history(c.run_id, run.step - 1, run.start_epoch)  # without a checkpoint: all of it
    # A resume with nothing left to train (killed after its weights, before it was recorded done) keeps its metrics.
    metrics = dict(previous_metrics or {}) if checkpoint else {}
    writer = sink.writer(c.run_id, stop=stop)
    try:
        if run.step == 0:
            run.test_point(writer)  # the untrained network (eval mode: BN running statistics not yet estimated)
        for epoch in range(run.start_epoch, c.epochs):
            metrics = run.train_epoch(epoch, writer, stop, progress)
            writer.flush()  # the history up to here is delivered before the checkpoint says so
            sink.save_checkpoint(c.run_id, run.checkpoint(epoch + 1))
            sink.record_epoch(c.run_id, metrics=metrics, seconds=run.seconds(), epochs_done=epoch + 1)
            if progress:
                progress(
                    {
                        "kind": "epoch",
                        "step": run.step,
                        "total_steps": run.total_steps,
                        "epoch": epoch + 1,
                        "epochs": c.epochs,
                        **metrics,
                        "seconds": run.seconds(),
                    }
                )
        if "train_full_acc" not in metrics:  # the final training error, on every training image
            metrics = {**metrics, **run.full_train_eval()}
        sink.save_weights(c.run_id, run.model)
    except BaseException:
        writer.close(raise_errors=False)  # the first error is the one to report
        raise
    writer.close()
    return Fitted(metrics, run.seconds())


class _Run:
    """One run's network, data and optimizer on its device, and the loop over one epoch."""

    def __init__(self, c: RunConfig, sink: TrainingSink, data_dir: str | None):
        self.c, self.device = c, resolve_device(c.device)
        self.dataset = load_dataset(
            c.dataset, data_dir, c.subset, c.test_subset, seed=0, cache_dir=str(sink.datasets_dir)
        )
        torch.manual_seed(c.seed)
        self.gen = torch.Generator(device=self.device).manual_seed(c.seed)
        self.model = build_model(c.arch, c.depth, c.shortcut, c.bn, c.init).to(
            self.device, memory_format=torch.channels_last
        )
        # The compiled network shares the weights; probe steps and evaluation call the eager one, whose hooks fire.
        self.step_model = torch.compile(self.model) if c.compile else self.model
        self.optimizer = make_optimizer(c, self.model, self.device)
        self.autocast = autocast_for(c, self.device)
        ds = self.dataset
        # Speed: the whole data set lives on the training device as uint8, so a batch is one gather, no DataLoader.
        self.x_train, self.y_train = ds.x_train.to(self.device), ds.y_train.to(self.device)
        self.x_test, self.y_test = ds.x_test.to(self.device), ds.y_test.to(self.device)
        self.n, self.batch = len(self.x_train), min(c.batch_size, len(self.x_train))
        self.steps_per_epoch = steps_per_epoch(self.n, self.batch)
        self.total_steps = self.steps_per_epoch * c.epochs
        # Speed: losses are copied to the host in groups, so a GPU is not stalled once per step.
        self.sync_every = 1 if self.device.type == "cpu" else 25
        # Fixed subsets (the same images at every evaluation, whatever the run's seed).
        pick = torch.randperm(self.n, generator=torch.Generator().manual_seed(0))[:TRAIN_EVAL_IMAGES].to(self.device)
        self.x_train_eval, self.y_train_eval = self.x_train[pick], self.y_train[pick]
        self.x_test_sub, self.y_test_sub = self.x_test[:TEST_EVAL_IMAGES], self.y_test[:TEST_EVAL_IMAGES]
        self.every = eval_every(self.total_steps)
        self.probe = LayerProbe(self.model) if c.probe_every else None
        self.start_epoch, self.step, self.t0 = 0, 0, time.perf_counter()

    def load(self, checkpoint: dict) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.gen.set_state(checkpoint["generator"].to(self.gen.get_state().device))
        self.start_epoch, self.step = int(checkpoint["epoch"]), int(checkpoint["step"])
        self.t0 = time.perf_counter() - float(checkpoint["seconds"])

    def checkpoint(self, epoch: int) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.gen.get_state(),
            "epoch": epoch,
            "step": self.step,
            "seconds": self.seconds(),
        }

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def info(self) -> dict:
        return run_info(self.c, self.device, self.dataset, self.model, self.steps_per_epoch)

    def evaluate(self, x, y) -> tuple[float, float]:
        return evaluate(self.model, x, y, self.dataset.mean, self.dataset.std, self.autocast)

    def test_point(self, writer: HistoryWriter) -> None:
        """The test subset's loss and accuracy now (no RNG drawn, no BN statistics updated: training is unchanged)."""
        loss, acc = self.evaluate(self.x_test_sub, self.y_test_sub)
        writer.test_eval((self.step, self.step / self.steps_per_epoch, loss, acc, len(self.x_test_sub)))
        self.model.train()

    def full_train_eval(self) -> dict:
        loss, acc = self.evaluate(self.x_train, self.y_train)
        return {"train_full_loss": loss, "train_full_acc": acc}

    def train_epoch(self, epoch: int, writer: HistoryWriter, stop: threading.Event, progress) -> dict:
        """One epoch of steps, then the full test set and the training subset in eval mode; the epoch's metrics."""
        c, ds = self.c, self.dataset
        self.model.train()
        perm = torch.randperm(self.n, device=self.device, generator=self.gen)
        sums, pending = [0.0, 0.0, 0], []
        for i in range(self.steps_per_epoch):
            if stop.is_set():
                raise Cancelled(epoch + 1)
            idx = perm[i * self.batch : (i + 1) * self.batch]
            xb, yb = self.x_train[idx], self.y_train[idx]
            if c.augment:
                xb = augment(xb, self.gen)
            lr, loss, logits = self.train_step(normalize(xb, ds.mean, ds.std), yb, writer)
            pending.append((self.step, lr, torch.stack([loss.detach(), (logits.argmax(1) == yb).sum().float()])))
            self.step += 1
            if len(pending) >= self.sync_every or i == self.steps_per_epoch - 1:
                self.deliver_steps(pending, epoch, len(yb), sums, writer, progress)
                pending = []
            if self.step % self.every == 0 and i != self.steps_per_epoch - 1:  # epoch ends get the full test set below
                self.test_point(writer)
        test_loss, test_acc = self.evaluate(self.x_test, self.y_test)
        eval_loss, eval_acc = self.evaluate(self.x_train_eval, self.y_train_eval)
        metrics = {
            "train_loss": sums[0] / sums[2],
            "train_acc": sums[1] / sums[2],
            "test_loss": test_loss,
            "test_acc": test_acc,
            "train_eval_loss": eval_loss,
            "train_eval_acc": eval_acc,
        }
        writer.test_eval((self.step, self.step / self.steps_per_epoch, test_loss, test_acc, len(self.x_test)))
        writer.epoch(
            (
                epoch + 1,
                self.step,
                metrics["train_loss"],
                metrics["train_acc"],
                test_loss,
                test_acc,
                lr,
                self.seconds(),
                eval_loss,
                eval_acc,
            )
        )
        return metrics

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor, writer: HistoryWriter):
        """One optimizer step (a probed one every ``probe_every``); the learning rate, loss and logits."""
        lr = lr_at(self.c, self.step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        probing = self.probe is not None and self.step % self.c.probe_every == 0
        with self.probe.capture() if probing else nullcontext(), self.autocast:
            logits = (self.model if probing else self.step_model)(xb)
            loss = F.cross_entropy(logits.float(), yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if probing:
            writer.probes(self.step, self.probe.read())
        self.optimizer.step()
        return lr, loss, logits

    def deliver_steps(self, pending: list, epoch: int, batch: int, sums: list, writer: HistoryWriter, progress) -> None:
        """Copy a group of steps' losses to the host (one sync), check them, and hand them to the writer."""
        values = torch.stack([v for _, _, v in pending]).tolist()
        rows = []
        for (s, lr, _), (loss, correct) in zip(pending, values):
            if not math.isfinite(loss):
                raise Diverged(
                    f"the loss became {loss} at step {s} (epoch {epoch + 1}, lr {lr:g}); "
                    "try a smaller learning rate, BN on, or the kaiming init",
                    self.seconds(),
                )
            rows.append(
                (s, epoch + (s - epoch * self.steps_per_epoch + 1) / self.steps_per_epoch, loss, correct / batch, lr)
            )
            sums[0] += loss * batch
            sums[1] += correct
            sums[2] += batch
        writer.steps(rows)
        if progress:
            progress(
                {
                    "kind": "step",
                    "step": self.step,
                    "total_steps": self.total_steps,
                    "epoch": epoch + 1,
                    "epochs": self.c.epochs,
                    "loss": rows[-1][2],
                    "seconds": self.seconds(),
                }
            )
