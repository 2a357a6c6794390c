"""``python -m core bench``: this trainer against a plain reference loop, on the same model and data, in one run.

The reference is the loop most tutorials write: a torchvision-style Dataset with per-image PIL
transforms (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize) behind a DataLoader
with worker processes, fp32, NCHW, ``loss.item()`` every step. Both train the same network at the
same batch size on the same images; the first steps (allocator and kernel warm-up) are not timed.

The trainer is timed inside a run as long as the shipped Fig. 6 runs (RUN_EPOCHS of the whole training
set), stopped after its timed window: its test-subset evaluations and probes then come at the intervals a
real run has them. Its epoch ends (the full test set and the training subset in eval mode, the checkpoint)
are not timed there, where a small data set puts one inside the window; the parity runs time whole epochs
with them.
"""

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..analysis.paper import TABLE6_TEST_ERROR
from ..engine.config import RunConfig
from ..engine.data import load_dataset, normalize
from ..engine.models import build_model
from ..engine.train import autocast_for, evaluate, lr_at, make_optimizer, resolve_device, uses_bf16
from ..runs.execute import train
from ..runs.store import RunStore
from .args import add_data_args, add_json_arg
from .output import emit, say

WARMUP_STEPS = 5
# Timed steps per measurement: five default probe intervals, and more than one test-subset interval of a
# RUN_EPOCHS run on CIFAR-10 (5,850 steps // 24 = 243), all inside its first epoch (390 steps).
TIMED_STEPS = 250
RUN_EPOCHS = 15  # the length of the shipped CIFAR-10 Fig. 6 runs


class PilImages(torch.utils.data.Dataset):
    """uint8 NCHW images served one PIL image at a time, as torchvision's CIFAR10 does."""

    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x.permute(0, 2, 3, 1).numpy(), y.numpy(), transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def reference_images_per_s(dataset, depth: int, batch_size: int, steps: int, device, workers: int) -> float:
    """Images/s of the reference loop over ``steps`` steps (after WARMUP_STEPS untimed ones), epochs as needed."""
    loader = reference_loader(dataset, batch_size, workers, device, seed=0)
    torch.manual_seed(0)
    model = build_model(depth=depth).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model.train()
    done, start = 0, None
    while done < steps + WARMUP_STEPS:
        for x, y in loader:
            if done == WARMUP_STEPS:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # the usual per-step logging
            done += 1
            if done == steps + WARMUP_STEPS:
                break
    return steps * batch_size / (time.perf_counter() - start)


# Batches the bare step cycles through: real images (a step's speed depends a little on its data), few enough to
# hold normalized in memory (64 x 1.5 MB), and too many for the network to memorise in a timed window.
BARE_STEP_BATCHES = 64


def bare_step_images_per_s(config: RunConfig, steps: int, dataset) -> float:
    """Images/s of the training step alone: the trainer's network, optimizer and precision on batches of the
    training set already normalized in place (no gather, augmentation, probes, evaluation or history), the
    forward pass under autocast as the trainer runs it."""
    c = config.resolved()
    dev = resolve_device(c.device)
    torch.manual_seed(0)
    model = build_model(c.arch, c.depth, c.shortcut, c.bn, c.init).to(dev, memory_format=torch.channels_last).train()
    optimizer = make_optimizer(c, model, dev)
    n = min(BARE_STEP_BATCHES, len(dataset.x_train) // c.batch_size)
    batches = [
        (
            normalize(dataset.x_train[i : i + c.batch_size].to(dev), dataset.mean, dataset.std),
            dataset.y_train[i : i + c.batch_size].to(dev),
        )
        for i in range(0, n * c.batch_size, c.batch_size)
    ]
    for i in range(steps + WARMUP_STEPS):
        if i == WARMUP_STEPS:
            sync(dev)
            start = time.perf_counter()
        x, y = batches[i % n]
        with autocast_for(c, dev):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(dev)
    return steps * c.batch_size / (time.perf_counter() - start)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_flops(depth: int, batch_size: int) -> int:
    """Floating-point operations of one training step (forward and backward) of ResNet-``depth``, counted by
    PyTorch's FlopCounterMode (convolutions and matrix products; 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(depth=depth)
    x, y = torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def matmul_gflops(n: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """This CPU's measured peak in ``dtype``: GFLOP/s of an n×n matrix product with every torch thread, the best
    of ``repeats``."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def matmul_peaks(bf16: bool) -> dict[str, float]:
    """The matmul peak in each precision a measured step runs in: fp32, and bf16 where the trainer uses it."""
    return {"fp32": matmul_gflops(), **({"bf16": matmul_gflops(dtype=torch.bfloat16)} if bf16 else {})}


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def cpu_features() -> dict:
    """What the CPU offers PyTorch: its vector capability, native bf16, cores and threads."""
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    keep = ("avx2", "avx512_f", "avx512_bf16", "amx_bf16", "fma3")
    return {
        "capability": torch.backends.cpu.get_cpu_capability(),
        **{k: bool(caps.get(k)) for k in keep},
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "name": caps.get("cpu_name", ""),
    }


def reference_loader(dataset, batch_size: int, workers: int, device, seed: int):
    """The tutorials' input pipeline: per-image PIL crop and flip, ToTensor, Normalize, in DataLoader workers."""
    from torchvision import transforms

    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(dataset.mean, dataset.std),
        ]
    )
    return torch.utils.data.DataLoader(
        PilImages(dataset.x_train, dataset.y_train, tf),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )


def reference_fit(config: RunConfig, dataset, workers: int) -> dict:
    """Train ``config`` with the reference loop (fp32, NCHW, the same network, init seed, optimizer and learning
    rate at every step as the trainer) and measure its test accuracy on the whole test set, in eval mode."""
    c = config.resolved()
    dev = resolve_device(c.device)
    torch.manual_seed(c.seed)
    model = build_model(c.arch, c.depth, c.shortcut, c.bn, c.init).to(dev)
    optimizer = make_optimizer(c, model, dev)
    loader = reference_loader(dataset, c.batch_size, workers, dev, c.seed)
    total, step, start = c.total_steps(len(dataset.x_train)), 0, time.perf_counter()
    for _ in range(c.epochs):
        model.train()
        for x, y in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(c, step, total)
            loss = F.cross_entropy(model(x.to(dev)), y.to(dev))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # the usual per-step logging
            step += 1
    seconds = time.perf_counter() - start
    _, acc = evaluate(model, dataset.x_test.to(dev), dataset.y_test.to(dev), dataset.mean, dataset.std, nullcontext())
    return {"test_acc": acc, "seconds": seconds, "steps": step}


def parity(
    depth: int,
    epochs: int,
    seeds: int,
    dataset: str,
    data_dir,
    device: str,
    workers: int,
    store,
    log,
    images: int | None = None,
) -> dict:
    """The trainer (at its default precision, as the speed rows time it) and the reference loop (fp32) trained
    ``epochs`` on the whole training set (or ``images`` of it), ``seeds`` seeds each, side by side: their test
    accuracies, the difference of the means and the seeds' spread, and each run's images/s over its whole
    length (the trainer's with its evaluations after every epoch, the reference's with none)."""
    ds = load_dataset(dataset, data_dir, subset=images)
    out = {"trainer": [], "reference": []}
    for seed in range(seeds):
        config = RunConfig(depth=depth, dataset=dataset, epochs=epochs, seed=seed, device=device, subset=images)
        record = train(config, store, data_dir=data_dir).record
        resolved = config.resolved()
        trained = resolved.total_steps(len(ds.x_train)) * resolved.batch_size
        seconds = record.seconds
        out["trainer"].append(
            {"test_acc": record.metrics["test_acc"], "seconds": seconds, "images_per_s": trained / seconds}
        )
        out["reference"].append(reference_fit(dataclasses.replace(config, precision="fp32"), ds, workers))
        out["reference"][-1]["images_per_s"] = trained / out["reference"][-1]["seconds"]
        log(
            f"parity ResNet-{depth} seed {seed}: trainer {out['trainer'][-1]['test_acc']:.2%}, "
            f"reference {out['reference'][-1]['test_acc']:.2%}"
        )
    accs = {k: [r["test_acc"] for r in v] for k, v in out.items()}
    spread = [statistics.stdev(v) for v in accs.values() if len(v) > 1]
    return {
        "depth": depth,
        "epochs": epochs,
        "recipe": RunConfig(depth=depth, dataset=dataset, epochs=epochs).resolved().label,
        "trainer_precision": default_precision(device),
        "runs": out,
        "mean_test_acc": {k: statistics.mean(v) for k, v in accs.items()},
        "mean_images_per_s": {k: statistics.mean(r["images_per_s"] for r in v) for k, v in out.items()},
        "difference": statistics.mean(accs["trainer"]) - statistics.mean(accs["reference"]),
        "seed_std": statistics.mean(spread) if spread else None,
    }


def trainer_images_per_s(config: RunConfig, steps: int, store: RunStore, data_dir) -> float:
    """Images/s of core.train itself over ``steps`` steps after WARMUP_STEPS, timed from its own progress events
    inside the run ``config`` describes, which is then stopped: what happens between those steps in a run of
    that length (test-subset evaluations, probes, history) is timed with them; an epoch's end (its full
    evaluations and checkpoint), where the window crosses one on a small data set, is not."""
    marks, stop = {"epoch_ends": 0.0}, threading.Event()

    def on_progress(event):
        now = time.perf_counter()
        if (
            event["kind"] == "epoch" and "start" in marks and not stop.is_set()
        ):  # its last step to its end, in the window
            marks["epoch_ends"] += now - marks["end"][1]
        if event["kind"] == "step":
            if event["step"] >= WARMUP_STEPS and "start" not in marks:
                marks["start"] = (event["step"], now)
            marks["end"] = (event["step"], now)
            if event["step"] >= WARMUP_STEPS + steps:
                stop.set()

    train(config, store, data_dir=data_dir, stop=stop, progress=on_progress, restart=True)
    (s0, t0), (s1, t1) = marks["start"], marks["end"]
    return (s1 - s0) * config.resolved().batch_size / (t1 - t0 - marks["epoch_ends"])


def time_to_accuracy(config: RunConfig, target: float, store: RunStore, data_dir=None) -> dict:
    """Wall seconds of ``core.train`` until an epoch's test accuracy reaches ``target`` (then it stops)."""
    stop, reached, start = threading.Event(), {}, time.perf_counter()

    def on_progress(event):
        if event["kind"] == "epoch" and event["test_acc"] >= target and not reached:
            reached.update(seconds=time.perf_counter() - start, epoch=event["epoch"], test_acc=event["test_acc"])
            stop.set()

    result = train(config, store, data_dir=data_dir, stop=stop, progress=on_progress, restart=True)
    return {
        "target_acc": target,
        "reached": bool(reached),
        **reached,
        "epochs_planned": config.epochs,
        "last_test_acc": result.record.metrics.get("test_acc"),
        "config": config.to_dict(),
    }


def target_accuracy(target: str | float | None, depth: int) -> float | None:
    """``"paper"`` means Table 6's test accuracy for this depth (91.25% for ResNet-20, 93.03% for 56)."""
    if target != "paper":
        return target
    if depth not in TABLE6_TEST_ERROR:
        raise ValueError(f"Table 6 has no ResNet-{depth}; give --target-acc as a number instead")
    return round(1 - TABLE6_TEST_ERROR[depth] / 100, 4)


def run_bench(
    depths=(20,),
    batch_size=128,
    images=None,
    steps=TIMED_STEPS,
    run_epochs=RUN_EPOCHS,
    dataset="builtin",
    data_dir=None,
    device="auto",
    repeats=2,
    workers=None,
    out_dir="bench/results",
    log=print,
    target_acc=None,
    target_epochs=40,
    compile=False,
    parity_epochs=0,
    parity_seeds=2,
) -> dict:
    """Every measurement in one run, each beside its baseline: images/s of the reference loop, the bare step and
    the trainer (without probes, with probes at their default interval and at every step) over ``steps`` steps on
    the training set (or ``images`` of it), the trainer inside a ``run_epochs`` run; the fraction of this machine's
    matmul peak, in the step's own precision, that each reaches; optionally time to accuracy and accuracy parity
    with the reference."""
    dev = resolve_device(device)
    if workers is None:
        workers = min(8 if dev.type == "cuda" else 2, os.cpu_count() or 1)
    ds = load_dataset(dataset, data_dir, subset=images)
    run = RunConfig(dataset=dataset, epochs=run_epochs, batch_size=batch_size).resolved()
    run_steps = run.total_steps(len(ds.x_train))
    if WARMUP_STEPS + steps > run_steps:
        raise ValueError(
            f"{steps} timed steps (after {WARMUP_STEPS} untimed) do not fit in a {run_epochs}-epoch run of "
            f"{len(ds.x_train)} images ({run_steps} steps): ask for fewer --steps or more --run-epochs"
        )
    bf16 = uses_bf16(RunConfig(device=device), dev)
    peaks = matmul_peaks(bf16) if dev.type == "cpu" else None
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for depth in depths:
            base = dict(
                depth=depth,
                dataset=dataset,
                subset=images,
                epochs=run_epochs,
                batch_size=batch_size,
                device=device,
                recipe="paper",
            )
            results.append(speed_row(base, ds, steps, dev, workers, repeats, compile, store, data_dir, log))
            if peaks:
                flops = step_flops(depth, batch_size) / batch_size
                results[-1]["flops_per_image"] = flops
                results[-1]["fraction_of_matmul_peak"] = {
                    k: v * flops / (peaks[variant_precision(k, bf16)] * 1e9)
                    for k, v in results[-1]["images_per_s"].items()
                }
            if target := target_accuracy(target_acc, depth):  # the paper recipe over a shorter schedule
                config = RunConfig(
                    depth=depth, dataset=dataset, epochs=target_epochs, probe_every=0, device=device, compile=compile
                )
                results[-1]["time_to_accuracy"] = time_to_accuracy(config, target, store, data_dir)
                log(f"ResNet-{depth}: time to {target:.2%}: {results[-1]['time_to_accuracy']}")
        accuracy = (
            parity(depths[0], parity_epochs, parity_seeds, dataset, data_dir, device, workers, store, log)
            if parity_epochs
            else None
        )
    report = {
        **describe_machine(dev),
        "setup": setup_text(ds, batch_size, steps, run_epochs, repeats, workers, compile, device, dev),
        "matmul_peak_gflops": peaks,
        "results": results,
        "parity": accuracy,
    }
    return save_report(report, out_dir, dev)


# The trainer's variants timed beside the reference loop: name -> the config fields that make it.
VARIANTS = {
    "trainer": dict(probe_every=0),
    "trainer_default_probes": dict(probe_every=50),
    "trainer_probes_every_step": dict(probe_every=1),
}


def default_precision(device: str) -> str:
    """The precision the trainer runs in by default on ``device``, in the report's words."""
    return "bf16 autocast" if uses_bf16(RunConfig(device=device), resolve_device(device)) else "fp32"


def variant_precision(name: str, bf16: bool) -> str:
    """The precision a measured variant's step runs in: the reference loop and trainer_fp32 in fp32, the rest in
    the trainer's default."""
    return "fp32" if name in ("reference", "trainer_fp32") or not bf16 else "bf16"


def speed_row(base: dict, ds, steps: int, dev, workers: int, repeats: int, compile: bool, store, data_dir, log) -> dict:
    """One depth's images/s, every variant measured ``repeats`` times, interleaved (so drift in the machine's speed
    hits them alike), with the ratios the README quotes."""
    variants = dict(VARIANTS)
    if uses_bf16(RunConfig(**base), dev):
        variants["trainer_fp32"] = dict(probe_every=0, precision="fp32")
    if compile:  # its compilation happens in the untimed first steps
        variants["trainer_compiled"] = dict(probe_every=0, compile=True)
    numbers = {"reference": [], "bare_step": [], **{k: [] for k in variants}}
    for r in range(repeats):
        numbers["reference"].append(reference_images_per_s(ds, base["depth"], base["batch_size"], steps, dev, workers))
        numbers["bare_step"].append(bare_step_images_per_s(RunConfig(**base, probe_every=0), steps, ds))
        for name, options in variants.items():
            numbers[name].append(trainer_images_per_s(RunConfig(**base, **options, seed=r), steps, store, data_dir))
        log(
            f"ResNet-{base['depth']} repeat {r + 1}/{repeats}: "
            + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in numbers.items())
        )
    med = {k: statistics.median(v) for k, v in numbers.items()}
    row = {
        "model": f"ResNet-{base['depth']} (A)",
        "depth": base["depth"],
        "images_per_s": med,
        "all_runs": numbers,
        "speedup_vs_reference": med["trainer"] / med["reference"],
        "default_probes_speedup_vs_reference": med["trainer_default_probes"] / med["reference"],
        "default_probes_share_of_bare_step": med["trainer_default_probes"] / med["bare_step"],
        "probe_overhead_pct": 100 * (med["trainer"] / med["trainer_probes_every_step"] - 1),
    }
    if "trainer_fp32" in med:
        row["bf16_speedup_vs_fp32"] = med["trainer"] / med["trainer_fp32"]
        row["fp32_speedup_vs_reference"] = med["trainer_fp32"] / med["reference"]
    if compile:
        row["compiled_speedup_vs_reference"] = med["trainer_compiled"] / med["reference"]
    return row


def describe_machine(dev) -> dict:
    import torchvision

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "cpu": cpu_features(),
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "python": platform.python_version(),
        },
    }


def setup_text(ds, batch_size, steps, run_epochs, repeats, workers, compile, device, dev) -> dict:
    precision = default_precision(device)
    return {
        "dataset": ds.title,
        "train_images": len(ds.x_train),
        "batch_size": batch_size,
        "timed_steps_per_measurement": steps,
        "trainer_timed_inside": f"a {run_epochs}-epoch run of the paper recipe on these images, stopped after the "
        "timed steps (its test-subset evaluations and probes at a real run's intervals; epoch ends, with their "
        "evaluations and checkpoint, not timed here, but in the parity runs' whole-run images/s)",
        "warmup_steps_untimed": WARMUP_STEPS,
        "repeats": repeats,
        "reference_loader_workers": workers,
        "precision": precision,
        "reference": "DataLoader + per-image PIL transforms, fp32, NCHW, loss.item() each step",
        "bare_step": f"the trainer's network and optimizer on {BARE_STEP_BATCHES} batches of these images normalized "
        f"in place, channels_last, {precision}",
        "trainer": "core.runs.execute.train without probes: uint8 data resident on the device, batched augmentation, "
        "channels_last, " + precision + (", fused optimizer" if dev.type == "cuda" else ""),
        "trainer_default_probes": "the same with gradient probes every 50 steps (the default)",
        "trainer_probes_every_step": "the same with gradient probes at every step",
        "matmul_peak": "a 2048x2048 matrix product with every torch thread, in fp32 and (where steps run in it) bf16; "
        "each step's fraction is taken against the peak in its own precision",
        "trainer_fp32": "the same in fp32 (measured where the default is bf16)",
        "trainer_compiled": "the same with torch.compile" if compile else "not measured (--compile)",
    }


def save_report(report: dict, out_dir, dev) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{dev.type}-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    report["path"] = str(path)
    return report


def add_parsers(sub) -> None:
    p = sub.add_parser("bench", help="images/s of this trainer vs a plain DataLoader loop, and probe overhead")
    p.add_argument("--depths", type=int, nargs="+", default=[20])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images", type=int, help="train on this many images (default: the whole training set)")
    p.add_argument(
        "--steps", type=int, default=TIMED_STEPS, help=f"timed steps per measurement (default {TIMED_STEPS})"
    )
    p.add_argument(
        "--run-epochs",
        type=int,
        default=RUN_EPOCHS,
        help=f"the length of the run the trainer is timed inside (default {RUN_EPOCHS}, the shipped Fig. 6 runs)",
    )
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--workers", type=int, help="reference DataLoader workers (default: 2 on CPU, 8 on GPU)")
    add_data_args(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--target-acc",
        type=_target,
        help="also time full training until this test accuracy: a fraction "
        "(e.g. 0.9125), or 'paper' for Table 6's accuracy at each depth (ResNet-20 91.25%%, ResNet-56 93.03%%)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="also measure the trainer with torch.compile (and time-to-accuracy with it)",
    )
    p.add_argument("--target-epochs", type=int, default=40, help="epochs of that run's schedule (paper recipe)")
    p.add_argument(
        "--parity-epochs",
        type=int,
        default=0,
        help="also train the first depth this many epochs on the whole "
        "training set with the trainer and with the reference loop, and compare their test accuracies",
    )
    p.add_argument("--parity-seeds", type=int, default=2, help="seeds of each side of the parity run (default 2)")
    p.add_argument("--out", default="bench/results", help="directory for the JSON result")
    add_json_arg(p)
    p.set_defaults(handler=cmd_bench)


def _target(text: str) -> str | float:
    if text == "paper":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be 'paper' or a fraction in (0, 1], e.g. 0.9125; got {text!r}")
    return value


def cmd_bench(args) -> None:
    report = run_bench(
        tuple(args.depths),
        args.batch_size,
        args.images,
        args.steps,
        args.run_epochs,
        args.dataset,
        args.data_dir,
        args.device,
        args.repeats,
        args.workers,
        args.out,
        log=say,
        target_acc=args.target_acc,
        target_epochs=args.target_epochs,
        compile=args.compile,
        parity_epochs=args.parity_epochs,
        parity_seeds=args.parity_seeds,
    )
    emit(args, report, "\n".join(report_lines(report, args.batch_size)))


def report_lines(report: dict, batch_size: int) -> list[str]:
    """The bench's findings in a few lines (the JSON holds every measurement)."""
    lines = [
        f"bench on {report['device']} ({report['setup']['dataset']}, batch {batch_size}, "
        f"{report['setup']['precision']}) -> {report['path']}"
    ]
    if report.get("matmul_peak_gflops"):
        peaks = ", ".join(f"{v:.0f} GFLOP/s in {k}" for k, v in report["matmul_peak_gflops"].items())
        lines.append(f"  matmul peak {peaks} ({report['cpu']['capability']})")
    for r in report["results"]:
        ips = r["images_per_s"]
        lines.append(
            f"  {r['model']}: reference {ips['reference']:.0f} img/s, bare step {ips['bare_step']:.0f}, trainer "
            f"{ips['trainer']:.0f} ({r['speedup_vs_reference']:.2f}x the reference), with probes every 50 steps "
            f"{ips['trainer_default_probes']:.0f} ({r['default_probes_share_of_bare_step']:.0%} of the bare step), "
            f"probes every step {ips['trainer_probes_every_step']:.0f}"
            + (f", fp32 {ips['trainer_fp32']:.0f}" if "trainer_fp32" in ips else "")
            + (f", compiled {ips['trainer_compiled']:.0f}" if "trainer_compiled" in ips else "")
        )
        if "fraction_of_matmul_peak" in r:
            share = r["fraction_of_matmul_peak"]
            lines.append(
                f"    a bare training step reaches {share['bare_step']:.0%} of the matmul peak in its precision, the "
                f"trainer {share['trainer']:.0%}, the reference loop {share['reference']:.0%} "
                f"({r['flops_per_image'] / 1e6:.0f} MFLOP per image)"
            )
        if "time_to_accuracy" in r:
            t = r["time_to_accuracy"]
            lines.append(
                f"    time to {t['target_acc']:.2%} test accuracy: "
                + (
                    f"{t['seconds']:.1f} s (epoch {t['epoch']})"
                    if t["reached"]
                    else f"not reached in {t['epochs_planned']} epochs (last epoch {t['last_test_acc']:.2%})"
                )
            )
    if p := report.get("parity"):
        means = p["mean_test_acc"]
        rates = p["mean_images_per_s"]
        lines.append(
            f"  parity, ResNet-{p['depth']} after {p['epochs']} epochs ({len(p['runs']['trainer'])} seeds each, "
            f"trainer in {p['trainer_precision']}): trainer {means['trainer']:.2%}, "
            f"reference {means['reference']:.2%}, "
            f"difference {100 * p['difference']:+.2f} points (seed std {100 * (p['seed_std'] or 0):.2f}); whole runs: "
            f"trainer {rates['trainer']:.0f} img/s with its epoch-end evaluations, reference {rates['reference']:.0f}"
        )
    return lines
