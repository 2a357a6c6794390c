"""``python -m core bench``: this trainer against a plain reference loop, on the same model and data, in one run.

The reference is the loop most tutorials write: a torchvision-style Dataset with per-image PIL
transforms (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize) behind a DataLoader
with worker processes, fp32, NCHW, ``loss.item()`` every step. Both train the same network at the
same batch size on the same images; the first steps (allocator and kernel warm-up) are not timed.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from ..analysis.paper import TABLE6_TEST_ERROR
from ..engine.config import RunConfig
from ..engine.data import load_dataset
from ..engine.models import build_model
from ..engine.train import resolve_device, uses_bf16
from ..runs.execute import train
from ..runs.store import RunStore
from .args import add_data_args, add_json_arg
from .output import emit, say

WARMUP_STEPS = 5


class PilImages(torch.utils.data.Dataset):
    """uint8 NCHW images served one PIL image at a time, as torchvision's CIFAR10 does."""

    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x.permute(0, 2, 3, 1).numpy(), y.numpy(), transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def reference_images_per_s(dataset, depth: int, batch_size: int, steps: int, device, workers: int) -> float:
    from torchvision import transforms

    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(dataset.mean, dataset.std),
        ]
    )
    loader = torch.utils.data.DataLoader(
        PilImages(dataset.x_train, dataset.y_train, tf),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
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


def trainer_images_per_s(config: RunConfig, store: RunStore, data_dir) -> float:
    """Images/s of core.train itself, timed from its own progress events (evaluation excluded)."""
    marks = {}

    def on_progress(event):
        if event["kind"] == "step":
            if event["step"] >= WARMUP_STEPS and "start" not in marks:
                marks["start"] = (event["step"], time.perf_counter())
            marks["end"] = (event["step"], time.perf_counter())

    train(config, store, data_dir=data_dir, progress=on_progress, restart=True)
    (s0, t0), (s1, t1) = marks["start"], marks["end"]
    return (s1 - s0) * config.resolved().batch_size / (t1 - t0)


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
    images=4000,
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
) -> dict:
    import torchvision

    dev = resolve_device(device)
    workers = (
        workers
        if workers is not None
        else min(8, os.cpu_count() or 1)
        if dev.type == "cuda"
        else min(2, os.cpu_count() or 1)
    )
    ds = load_dataset(dataset, data_dir, subset=images, test_subset=200)
    steps = images // batch_size - WARMUP_STEPS - 1
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for depth in depths:
            base = dict(
                depth=depth,
                dataset=dataset,
                subset=images,
                test_subset=200,
                epochs=1,
                batch_size=batch_size,
                device=device,
                recipe="paper",
            )
            # "trainer" is the default ('auto' precision: bf16 where the hardware has it); fp32 is timed beside it.
            variants = {"trainer": dict(probe_every=0), "trainer_probes_every_step": dict(probe_every=1)}
            if uses_bf16(RunConfig(**base), dev):
                variants["trainer_fp32"] = dict(probe_every=0, precision="fp32")
            if compile:  # its compilation happens in the untimed first steps
                variants["trainer_compiled"] = dict(probe_every=0, compile=True)
            numbers = {"reference": [], **{k: [] for k in variants}}
            for r in range(repeats):  # interleaved, so drift in machine speed hits every variant alike
                numbers["reference"].append(reference_images_per_s(ds, depth, batch_size, steps, dev, workers))
                for name, options in variants.items():
                    numbers[name].append(trainer_images_per_s(RunConfig(**base, **options, seed=r), store, data_dir))
                log(
                    f"ResNet-{depth} repeat {r + 1}/{repeats}: "
                    + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in numbers.items())
                )
            med = {k: statistics.median(v) for k, v in numbers.items()}
            results.append(
                {
                    "model": f"ResNet-{depth} (A)",
                    "depth": depth,
                    "images_per_s": med,
                    "all_runs": numbers,
                    "speedup_vs_reference": med["trainer"] / med["reference"],
                    "probe_overhead_pct": 100 * (med["trainer"] / med["trainer_probes_every_step"] - 1),
                }
            )
            if "trainer_fp32" in med:
                results[-1]["bf16_speedup_vs_fp32"] = med["trainer"] / med["trainer_fp32"]
                results[-1]["fp32_speedup_vs_reference"] = med["trainer_fp32"] / med["reference"]
            if compile:
                results[-1]["compiled_speedup_vs_reference"] = med["trainer_compiled"] / med["reference"]
            target = target_accuracy(target_acc, depth)
            if target:  # the paper recipe over a shorter schedule, full training and test sets
                config = RunConfig(
                    depth=depth, dataset=dataset, epochs=target_epochs, probe_every=0, device=device, compile=compile
                )
                results[-1]["time_to_accuracy"] = time_to_accuracy(config, target, store, data_dir)
                log(f"ResNet-{depth}: time to {target:.2%}: {results[-1]['time_to_accuracy']}")
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "python": platform.python_version(),
        },
        "setup": {
            "dataset": ds.title,
            "train_images": images,
            "batch_size": batch_size,
            "timed_steps_per_measurement": steps,
            "warmup_steps_untimed": WARMUP_STEPS,
            "repeats": repeats,
            "reference_loader_workers": workers,
            "reference": "DataLoader + per-image PIL transforms, fp32, NCHW, loss.item() each step",
            "trainer": "core.train: uint8 data resident on the device, batched augmentation, channels_last"
            + (", bf16 autocast" if uses_bf16(RunConfig(device=device), dev) else ", fp32")
            + (", fused optimizer" if dev.type == "cuda" else ""),
            "trainer_fp32": "the same in fp32 (measured where the default is bf16)",
            "trainer_compiled": "the same with torch.compile" if compile else "not measured (--compile)",
        },
        "results": results,
    }
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
    p.add_argument("--images", type=int, default=4000, help="training images per measurement")
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
    )
    lines = [f"bench on {report['device']} ({report['setup']['dataset']}, batch {args.batch_size}) -> {report['path']}"]
    for r in report["results"]:
        ips = r["images_per_s"]
        lines.append(
            f"  {r['model']}: reference {ips['reference']:.0f} img/s, trainer {ips['trainer']:.0f} img/s "
            f"({r['speedup_vs_reference']:.2f}x), probes every step {ips['trainer_probes_every_step']:.0f} img/s "
            f"(overhead {r['probe_overhead_pct']:.1f}%)"
            + (
                f", fp32 {ips['trainer_fp32']:.0f} img/s (bf16 {r['bf16_speedup_vs_fp32']:.2f}x fp32)"
                if "trainer_fp32" in ips
                else ""
            )
            + (f", compiled {ips['trainer_compiled']:.0f} img/s" if "trainer_compiled" in ips else "")
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
    emit(args, report, "\n".join(lines))
