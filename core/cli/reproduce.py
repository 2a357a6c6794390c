"""``python -m core reproduce``: the paper's CIFAR-10 story in one command, and ``reference`` runs.

Trains plain-20/32/44/56 and ResNet-20/32/44/56/110 (option A) with the paper recipe, then writes
into ``reproduction/``: ``table.md`` and ``table.json`` (final training and test error per model,
beside Table 6) and ``fig6.png`` (training and test error vs epoch, plain left, ResNet right, as the
paper's Fig. 6), with the device and the wall time of every run.

The paper trains 64k iterations (~164 epochs). ``--fast`` uses a documented shorter schedule: the
same recipe (SGD 0.1, momentum 0.9, wd 1e-4, batch 128, /10 at 50% and 75%) for 40 epochs.
"""

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from ..analysis.inside import SHIPPED_RESULTS
from ..analysis.paper import TABLE6_TEST_ERROR as PAPER_TEST_ERROR
from ..analysis.queue import build_shipped
from ..engine.config import RunConfig
from ..engine.models import FIG6_DEPTHS, RESNET_DEPTHS
from ..runs.lifecycle import is_done
from ..runs.reference import CIFAR10_FIG6_DEPTHS, REFERENCE_DIR, SEEDS, build, cifar10_fig6, install, preset
from ..runs.store import RunStore, StoreError
from ..runs.sweep import run_for_command
from .args import add_data_dir_arg, add_ray_arg, add_store_args
from .output import emit, say

PAPER_EPOCHS, FAST_EPOCHS = 164, 40


def reproduction_configs(
    dataset="cifar10",
    epochs=PAPER_EPOCHS,
    subset=None,
    plain=FIG6_DEPTHS,
    resnet=RESNET_DEPTHS,
    device="auto",
    compile=False,
) -> list[RunConfig]:
    common = dict(dataset=dataset, epochs=epochs, subset=subset, device=device, compile=compile)
    return [RunConfig(depth=d, shortcut="none", **common) for d in plain] + [
        RunConfig(depth=d, shortcut="A", **common) for d in resnet
    ]


def write_outputs(records, histories, out: Path, wall_seconds: float) -> dict:
    """table.md, table.json and fig6.png for the trained records."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = records[0].info.get("dataset", records[0].config.dataset)
    rows = []
    for r in records:
        c = r.config
        paper = PAPER_TEST_ERROR.get(c.depth) if c.shortcut == "A" and c.dataset == "cifar10" else None
        rows.append(
            {
                "model": c.model_name,
                "depth": c.depth,
                "params": r.info.get("params"),
                "epochs": c.epochs,
                "train_error_pct": 100 * (1 - r.metrics["train_acc"]),
                "test_error_pct": 100 * (1 - r.metrics["test_acc"]),
                "paper_test_error_pct": paper,
                "seconds": r.seconds,
                "run_id": r.run_id,
                "status": r.status,
            }
        )
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": dataset,
        "device": records[0].info.get("device"),
        "torch": records[0].info.get("torch"),
        "wall_seconds": wall_seconds,
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps(report, indent=2))
    lines = [
        f"# Reproduction of He et al. 2015, Table 6 / Fig. 6 — {dataset}",
        "",
        f"Device: {report['device']}; torch {report['torch']}; {report['date']}; total wall time {wall_seconds:.0f} s.",
        "",
        "| model | params | epochs | train error (%) | test error (%) | paper test error (%) | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['params'] / 1e6:.2f}M | {r['epochs']} | {r['train_error_pct']:.2f} | "
        f"{r['test_error_pct']:.2f} "
        f"| {r['paper_test_error_pct'] if r['paper_test_error_pct'] else '–'} | {r['seconds']:.0f} |"
        for r in rows
    ]
    (out / "table.md").write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, kind in zip(axes, ("none", "A")):
        for r, h in zip(records, histories):
            if r.config.shortcut != kind:
                continue
            e = h.epochs
            (line,) = ax.plot(e.epoch, 100 * (1 - e.train_acc), "--", lw=1)
            ax.plot(e.epoch, 100 * (1 - e.test_acc), "-", lw=2, color=line.get_color(), label=f"{r.config.model_name}")
        ax.set_title(("plain networks" if kind == "none" else "ResNets (option A)") + f" — {dataset}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(title="solid: test, dashed: train")
    axes[0].set_ylabel("error (%)")
    fig.tight_layout()
    fig.savefig(out / "fig6.png", dpi=120)
    plt.close(fig)
    return report


def cmd_reproduce(args) -> None:
    store = RunStore(args.store)
    epochs = args.epochs or (FAST_EPOCHS if args.fast else PAPER_EPOCHS)
    configs = reproduction_configs(
        args.dataset, epochs, args.subset, tuple(args.plain), tuple(args.resnet), args.device, args.compile
    )
    start = time.perf_counter()
    states = run_for_command(store, configs, args.ray, args.data_dir)  # the store's runs are answered from it
    records = [s.record for s in states if is_done(s.record)]
    for s in states:
        if not is_done(s.record):
            say(f"{s.run_id} left out of the table: {s.line()}")
    if not records:
        raise StoreError("no run of the reproduction finished; see the lines above")
    report = write_outputs(
        records, [store.history(r.run_id) for r in records], Path(args.out), time.perf_counter() - start
    )
    emit(args, report, (Path(args.out) / "table.md").read_text())


def shapes10_set(args) -> list:
    """The Shapes-10 classroom set from the command line's settings (README: "Rebuild them with")."""
    return preset(
        args.dataset,
        args.epochs or PAPER_EPOCHS,
        args.subset,
        args.seed_epochs,
        args.seed_subset,
        args.test_subset,
        args.probe_every,
        args.recipe,
        args.compile,
        args.schedule,
        args.seeds or SEEDS,
        args.ab_probe_every,
        args.batch_size,
        args.augment,
        args.ab_test_subset,
    )


def cmd_reference(args) -> None:
    store = RunStore(args.store)
    if args.action == "install":
        added = install(store)
        emit(args, {"installed": added}, f"installed {added} reference runs into {store.root}")
        return
    if args.action == "results":  # the pages' opening results for the shipped pairs, beside the shipped runs
        install(store)
        total = build_shipped(store, log=say)
        files = len(list(SHIPPED_RESULTS.glob("*/*.json")))
        emit(args, {"files": files, "bytes": total}, f"wrote {files} results, {total / 1e3:.0f} kB")
        return
    if args.dataset == "cifar10":  # the Fig. 6 set, with its one recipe (core.runs.reference.CIFAR10_FIG6)
        configs = cifar10_fig6(tuple(args.depths), args.seeds, args.epochs, args.compile)
    else:
        configs = shapes10_set(args)
    total = build(
        configs,
        store,
        REFERENCE_DIR / args.dataset,
        args.data_dir,
        log=say,
        stored_only=args.stored_only,
        ray_address=args.ray,
    )
    runs = len(list((REFERENCE_DIR / args.dataset).glob("*.json.gz")))
    emit(args, {"runs": runs, "bytes": total}, f"wrote {runs} runs, {total / 1e6:.1f} MB")


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "reproduce", help="train the paper's nine CIFAR-10 models; write table and Fig. 6 to reproduction/"
    )
    p.add_argument("--fast", action="store_true", help=f"{FAST_EPOCHS} epochs instead of the paper's {PAPER_EPOCHS}")
    p.add_argument("--epochs", type=int, help="override the number of epochs")
    p.add_argument("--dataset", choices=("cifar10", "builtin"), default="cifar10")
    add_data_dir_arg(p)
    p.add_argument("--subset", type=int, help="training images (default: all)")
    p.add_argument("--plain", type=int, nargs="*", default=list(FIG6_DEPTHS), help="plain-net depths")
    p.add_argument("--resnet", type=int, nargs="*", default=list(RESNET_DEPTHS), help="ResNet depths")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile each network (worth it on a GPU)")
    p.add_argument("--out", default="reproduction")
    add_ray_arg(p)
    add_store_args(p)
    p.set_defaults(handler=cmd_reproduce)

    p = sub.add_parser(
        "reference",
        help="build the shipped reference runs, install them into a store, or (results) precompute the lesion study "
        "and landscapes the pages open on for the shipped pairs",
    )
    p.add_argument("action", choices=("build", "install", "results"))
    p.add_argument("--dataset", choices=("builtin", "cifar10"), default="builtin")
    add_data_dir_arg(p)
    p.add_argument("--recipe", choices=("paper", "seed"), default="paper", help="the main runs' recipe")
    p.add_argument(
        "--schedule", choices=("step", "cosine", "constant"), help="the main runs' schedule (default: the recipe's)"
    )
    p.add_argument(
        "--epochs",
        type=int,
        help="the main runs' epochs (Shapes-10 default 164; CIFAR-10: the set's, core.runs.reference.CIFAR10_FIG6)",
    )
    p.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=list(CIFAR10_FIG6_DEPTHS),
        help="CIFAR-10: the depths of the Fig. 6 set (plain nets to 56 layers; default 20 56)",
    )
    p.add_argument("--subset", type=int, help="the main runs' training images")
    p.add_argument("--batch-size", type=int, help="the main runs' batch size (default: the recipe's)")
    p.add_argument(
        "--augment", action=argparse.BooleanOptionalAction, default=None, help="the main runs' pad-crop-flip"
    )
    p.add_argument("--stored-only", action="store_true", help="export the runs the store has finished; train nothing")
    p.add_argument(
        "--seeds",
        type=int,
        help="seeds of each net (Shapes-10: of plain/ResNet-20 and -56, default 3; CIFAR-10: default 2 for the "
        "20-layer nets and 1 for the others, core.runs.reference.CIFAR10_FIG6_SEEDS)",
    )
    p.add_argument("--ab-test-subset", type=int, help="test images of the option A/B seed runs (default --test-subset)")
    p.add_argument(
        "--ab-probe-every", type=int, help="steps between probes of the option A/B seed runs (default --probe-every)"
    )
    p.add_argument("--seed-epochs", type=int, default=10, help="seed-recipe runs' epochs (seed 001: 10)")
    p.add_argument("--seed-subset", type=int, help="seed-recipe runs' training images")
    p.add_argument("--test-subset", type=int)
    p.add_argument("--probe-every", type=int, default=50, help="steps between gradient probes")
    p.add_argument("--compile", action="store_true", help="torch.compile each network (worth it on a GPU)")
    add_ray_arg(p)
    add_store_args(p)
    p.set_defaults(handler=cmd_reference)
