"""The training loop: one RunConfig in, one stored run out.

The whole dataset sits on the training device as uint8; each batch is gathered, augmented and
normalised there (no DataLoader, no per-image transforms). Losses stay on the device and are copied
to the host in groups, so a GPU is never stalled once per step. Events (steps, epochs, probes) go to
a RunWriter thread, so publishing never waits on the database.
"""
import math
import platform
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import WARMUP_FACTOR, RunConfig
from .data import augment, load_dataset, normalize
from .models import build_model, count_params
from .probes import LayerProbe
from ..runs.store import Claim, RunRecord, RunStatus, RunStore

EVAL_BATCH = 1000
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
    pass


class Diverged(Exception):
    pass


@dataclass
class TrainResult:
    record: RunRecord
    cached: bool


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
    if step < config.warmup_for(total_steps):
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
    for i in range(0, len(x), EVAL_BATCH):
        with autocast:
            logits = model(normalize(x[i:i + EVAL_BATCH], mean, std))
        yb = y[i:i + EVAL_BATCH]
        total += torch.stack([F.cross_entropy(logits.float(), yb, reduction="sum"), (logits.argmax(1) == yb).sum().float()])
    loss, correct = total.tolist()
    return loss / len(x), correct / len(x)


def run_info(config: RunConfig, device: torch.device, dataset, model, steps_per_epoch: int) -> dict:
    return {"dataset": dataset.title, "classes": list(dataset.classes), "mean": list(dataset.mean), "std": list(dataset.std),
            "n_train": len(dataset.x_train), "n_test": len(dataset.x_test),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.machine()})",
            "torch": torch.__version__, "precision": "bf16" if uses_bf16(config, device) else "fp32", "params": count_params(model),
            "steps_per_epoch": steps_per_epoch, "total_steps": steps_per_epoch * config.epochs,
            "test_eval_every": eval_every(steps_per_epoch * config.epochs),
            "test_eval_images": min(TEST_EVAL_IMAGES, len(dataset.x_test)), "train_eval_images": min(TRAIN_EVAL_IMAGES, len(dataset.x_train)),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def train(config: RunConfig, store: RunStore | None = None, *, data_dir: str | None = None,
          stop: threading.Event | None = None, progress=None, restart: bool = False, teacher: bool = False,
          claim: Claim | None = None) -> TrainResult:
    """Train ``config`` into ``store``, or return the stored run if it is already there.

    The run is claimed in the store first (one transaction), so two processes asking for one config
    never both train it: the second gets ``AlreadyRunning``. A stored ``done`` or ``diverged`` run is
    returned as it is (``cached=True``); a ``cancelled`` or ``interrupted`` one resumes from its last
    finished epoch; ``restart=True`` trains afresh (a reference run only with ``teacher=True``). A
    worker that already claimed the run from the queue passes its ``claim``. ``stop`` is set by a
    cancel request arriving through the store, or by the caller. ``progress(event)`` is called from
    this thread with step and epoch events (for a progress bar).
    """
    store = store or RunStore()
    c = config.resolved()
    run_id = c.run_id
    claim = claim or store.claim(c, restart=restart, teacher=teacher)
    if claim.record is not None:
        return TrainResult(claim.record, cached=True)
    stop = stop or threading.Event()
    try:
        previous = store.get(run_id)
        device = resolve_device(c.device)
        dataset = load_dataset(c.dataset, data_dir, c.subset, c.test_subset, seed=0, cache_dir=str(store.root / "datasets"))
        torch.manual_seed(c.seed)
        gen = torch.Generator(device=device).manual_seed(c.seed)
        model = build_model(c.arch, c.depth, c.shortcut, c.bn, c.init).to(device, memory_format=torch.channels_last)
        # The compiled network shares the weights; probe steps and evaluation call the eager one, whose hooks fire.
        step_model = torch.compile(model) if c.compile else model
        optimizer = make_optimizer(c, model, device)
        autocast = autocast_for(c, device)
        x_train, y_train = dataset.x_train.to(device), dataset.y_train.to(device)
        x_test, y_test = dataset.x_test.to(device), dataset.y_test.to(device)
        n, bs = len(x_train), min(c.batch_size, len(x_train))
        steps_per_epoch = max(1, n // bs)  # drop the ragged last batch, as fast trainers do
        total_steps = steps_per_epoch * c.epochs
        sync_every = 1 if device.type == "cpu" else 25

        # Fixed subsets (the same images at every evaluation, whatever the run's seed).
        pick = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:TRAIN_EVAL_IMAGES].to(device)
        x_train_eval, y_train_eval = x_train[pick], y_train[pick]
        x_test_sub, y_test_sub = x_test[:TEST_EVAL_IMAGES], y_test[:TEST_EVAL_IMAGES]
        every = eval_every(total_steps)

        start_epoch, step, elapsed = 0, 0, 0.0
        checkpoint = None if claim.fresh else store.load_checkpoint(run_id)
        if checkpoint:
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            gen.set_state(checkpoint["generator"].to(gen.get_state().device))
            start_epoch, step, elapsed = int(checkpoint["epoch"]), int(checkpoint["step"]), float(checkpoint["seconds"])
        store.set_info(run_id, run_info(c, device, dataset, model, steps_per_epoch))
        store.truncate_history(run_id, step - 1, start_epoch)  # without a checkpoint: all of it
    except Exception as e:
        store.set_status(run_id, RunStatus.FAILED, f"{type(e).__name__}: {e}")
        raise
    writer = store.writer(run_id, stop=stop)

    def test_point(at_step: int) -> None:  # evaluation leaves the training itself unchanged (no RNG, no BN update)
        loss_e, acc_e = evaluate(model, x_test_sub, y_test_sub, dataset.mean, dataset.std, autocast)
        writer.test_eval((at_step, at_step / steps_per_epoch, loss_e, acc_e, len(x_test_sub)))
        model.train()

    probe = LayerProbe(model) if c.probe_every else None
    # A resume with nothing left to train (killed after its weights, before 'done') keeps the final metrics.
    metrics: dict = dict(previous.metrics) if checkpoint and previous is not None else {}
    epoch = start_epoch  # named in the cancel message even if no epoch is left to run
    t0 = time.perf_counter() - elapsed
    try:
        if step == 0:
            test_point(0)  # the untrained network (eval mode: BN running statistics not yet estimated)
        for epoch in range(start_epoch, c.epochs):
            model.train()
            perm = torch.randperm(n, device=device, generator=gen)
            epoch_sums, pending = [0.0, 0.0, 0], []
            for i in range(steps_per_epoch):
                if stop.is_set():
                    raise Cancelled()
                idx = perm[i * bs:(i + 1) * bs]
                xb, yb = x_train[idx], y_train[idx]
                if c.augment:
                    xb = augment(xb, gen)
                xb = normalize(xb, dataset.mean, dataset.std)
                lr = lr_at(c, step, total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                probing = probe is not None and step % c.probe_every == 0
                with probe.capture() if probing else nullcontext(), autocast:
                    logits = (model if probing else step_model)(xb)
                    loss = F.cross_entropy(logits.float(), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if probing:
                    writer.probes(step, probe.read())
                optimizer.step()
                pending.append((step, lr, torch.stack([loss.detach(), (logits.argmax(1) == yb).sum().float()])))
                step += 1
                if len(pending) >= sync_every or i == steps_per_epoch - 1:
                    values = torch.stack([v for _, _, v in pending]).tolist()
                    rows = []
                    for (s, lr_s, _), (loss_s, correct_s) in zip(pending, values):
                        if not math.isfinite(loss_s):
                            raise Diverged(f"the loss became {loss_s} at step {s} (epoch {epoch + 1}, lr {lr_s:g}); "
                                           "try a smaller learning rate, BN on, or the kaiming init")
                        rows.append((s, epoch + (s - epoch * steps_per_epoch + 1) / steps_per_epoch, loss_s, correct_s / len(yb), lr_s))
                        epoch_sums[0] += loss_s * len(yb)
                        epoch_sums[1] += correct_s
                        epoch_sums[2] += len(yb)
                    writer.steps(rows)
                    pending = []
                    if progress:
                        progress({"kind": "step", "step": step, "total_steps": total_steps, "epoch": epoch + 1,
                                  "epochs": c.epochs, "loss": rows[-1][2], "seconds": time.perf_counter() - t0})
                if step % every == 0 and i != steps_per_epoch - 1:  # epoch ends get the full test set below
                    test_point(step)
            test_loss, test_acc = evaluate(model, x_test, y_test, dataset.mean, dataset.std, autocast)
            eval_loss, eval_acc = evaluate(model, x_train_eval, y_train_eval, dataset.mean, dataset.std, autocast)
            metrics = {"train_loss": epoch_sums[0] / epoch_sums[2], "train_acc": epoch_sums[1] / epoch_sums[2],
                       "test_loss": test_loss, "test_acc": test_acc, "train_eval_loss": eval_loss, "train_eval_acc": eval_acc}
            seconds = time.perf_counter() - t0
            writer.test_eval((step, step / steps_per_epoch, test_loss, test_acc, len(x_test)))
            writer.epoch((epoch + 1, step, metrics["train_loss"], metrics["train_acc"], test_loss, test_acc, lr, seconds,
                          eval_loss, eval_acc))
            writer.flush()  # the history up to here is committed before the checkpoint says so
            store.save_checkpoint(run_id, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                           "generator": gen.get_state(), "epoch": epoch + 1, "step": step, "seconds": seconds})
            store.set_status(run_id, RunStatus.RUNNING, metrics=metrics, seconds=seconds, epochs_done=epoch + 1)
            if progress:
                progress({"kind": "epoch", "step": step, "total_steps": total_steps, "epoch": epoch + 1,
                          "epochs": c.epochs, **metrics, "seconds": seconds})
        if "train_full_acc" not in metrics:  # the final training error, on every training image
            full_loss, full_acc = evaluate(model, x_train, y_train, dataset.mean, dataset.std, autocast)
            metrics = {**metrics, "train_full_loss": full_loss, "train_full_acc": full_acc}
        store.save_weights(run_id, model)
        writer.close()
        store.set_status(run_id, RunStatus.DONE, metrics=metrics, seconds=time.perf_counter() - t0, epochs_done=c.epochs)
    except Cancelled:
        writer.close()
        store.set_status(run_id, RunStatus.CANCELLED, f"stopped during epoch {epoch + 1}; resuming continues from the last finished epoch")
    except Diverged as e:
        writer.close()
        store.set_status(run_id, RunStatus.DIVERGED, str(e), seconds=time.perf_counter() - t0)
    except KeyboardInterrupt:
        writer.close()
        store.set_status(run_id, RunStatus.INTERRUPTED, "interrupted by the user; resume to continue")
        raise
    except Exception as e:
        writer.close()
        store.set_status(run_id, RunStatus.FAILED, f"{type(e).__name__}: {e}")
        raise
    return TrainResult(store.get(run_id), cached=False)
