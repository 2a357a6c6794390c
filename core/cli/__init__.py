"""Command line: python -m core {describe,train,list,show,export,export-lesson,import-lesson,queue,cancel,worker,
probe-init,bench,reproduce,reference,readme-tables,lesion,landscape,features,sweep} ...

Every command has --help, and --json for one JSON object on stdout. Errors, usage errors included, go to
stderr (and, with --json, into one JSON object {"error": ...} on stdout) with exit status 2. Output piped
into a program that stops reading (``| head``) ends quietly.
"""
import argparse
import json
import math
import os
import sys

from ..engine.config import ARCHS, DATASET_NAMES, DEVICES, PRECISIONS, RECIPES, SCHEDULES, ConfigError, RunConfig
from ..engine.models import SHORTCUTS, build_model, count_params, weighted_layers
from ..analysis.paper import TABLE6_PARAMS_M as PAPER_PARAMS_M
from .progress import ProgressBar
from ..runs.store import AlreadyRunning, RunStore, StoreError
from ..runs.verdict import record_verdict


class CliError(Exception):
    pass


class UsageError(Exception):
    """A command line argparse cannot parse; ``usage`` is the usage line of the (sub)command."""

    def __init__(self, message: str, usage: str, prog: str):
        super().__init__(message)
        self.usage, self.prog = usage, prog


class Parser(argparse.ArgumentParser):
    """argparse that raises its errors, so that ``main`` can answer them in JSON when --json was given.
    Subcommands' parsers are made from the same class (argparse passes its own class on)."""

    def error(self, message: str):
        raise UsageError(message, self.format_usage(), self.prog)


def _clean(value):
    """JSON-safe: NaN/inf become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def emit(args, obj: dict, text: str) -> None:
    print(json.dumps(_clean(obj)) if args.json else text)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", dest="arch", choices=ARCHS, default="cifar",
                   help="'cifar': the paper's 6n+2 network; 'torchvision-resnet18': torchvision's ResNet-18 for 32x32")
    p.add_argument("--depth", type=int, default=20, help="6n+2 layers: 20, 32, 44, 56, 110, 1202, ... (default 20)")
    p.add_argument("--shortcut", choices=SHORTCUTS, default="A",
                   help="A: identity + zero-pad, B: 1x1 projection, none: plain net, concat: concatenate + 1x1 merge, no identity path (default A)")
    p.add_argument("--no-bn", dest="bn", action="store_false", help="remove every BatchNorm layer")
    p.add_argument("--init", choices=("kaiming", "default"), default="kaiming", help="kaiming (paper) or PyTorch's default")


def add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="run store directory (default $RESNET_LAB_HOME or ~/.local/share/resnet-lab)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """The Runs page's filters: any listed value matches within one, all given filters must match."""
    from ..runs.catalog import FAMILY_ALIASES
    p.add_argument("--dataset", dest="datasets", nargs="+", choices=DATASET_NAMES, metavar="DATASET",
                   help=f"only runs on these data sets ({', '.join(DATASET_NAMES)})")
    p.add_argument("--family", dest="families", nargs="+", type=_family, metavar="FAMILY",
                   help=f"only these network families: {', '.join(FAMILY_ALIASES)}")
    p.add_argument("--depth", dest="depths", nargs="+", type=int, metavar="N", help="only these depths")
    p.add_argument("--recipe", dest="recipes", nargs="+", choices=RECIPES, metavar="RECIPE", help=f"only these recipes ({', '.join(RECIPES)})")
    p.add_argument("--tag", dest="tags", nargs="+", metavar="TAG", help="only runs with one of these tags")


def _family(text: str) -> str:
    from ..runs.catalog import parse_family
    try:
        return parse_family(text)
    except ValueError as e:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(e)) from None


def run_filter(args):
    from ..runs.catalog import RunFilter
    return RunFilter(args.datasets, args.families, args.depths, args.recipes, args.tags)


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=DATASET_NAMES, default="builtin", help="builtin: offline Shapes-10; cifar10: CIFAR-10")
    p.add_argument("--data-dir", help="directory holding cifar-10-batches-py (default $RESNET_LAB_DATA, else download)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m core", description="ResNet Lab engine: build, train, probe and store "
                                     "the CIFAR ResNets and plain nets of He et al. 2015.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("describe", help="parameter count and layer names of a network")
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    p = sub.add_parser("train", help="train one network (or answer from the store)")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--subset", type=int, help="use this many training images (class-balanced)")
    p.add_argument("--test-subset", type=int, help="use this many test images")
    p.add_argument("--recipe", choices=RECIPES, default="paper", help="paper: SGD with the paper's settings (lr 0.1, wd 1e-4, batch 128, crop + flip); seed: Adam, batch 32 (seed study 001)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    p.add_argument("--lr", type=float, help="override the recipe's learning rate")
    p.add_argument("--schedule", choices=SCHEDULES, help="override the recipe's schedule")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None, help="pad-crop-flip augmentation")
    p.add_argument("--warmup", type=int, help="train this many first steps at lr/10 (default: the recipe's, "
                                              "400 for the paper's 110-layer nets, else none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--probe-every", type=int, default=50, help="steps between gradient probes (0 = none)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (worth it on a GPU; the first steps compile)")
    p.add_argument("--restart", action="store_true", help="train again even if the store has this run (never a live one)")
    p.add_argument("--teacher", action="store_true", help="allow --restart over a shipped reference run")
    add_store_args(p)

    p = sub.add_parser("queue", help="runs waiting for a worker and runs training, with their place")
    add_store_args(p)

    p = sub.add_parser("cancel", help="cancel a queued run, or stop a training one after its current step")
    p.add_argument("run", help="run id (a unique prefix will do)")
    add_store_args(p)

    p = sub.add_parser("list", help="stored runs (on a store's first use, the shipped reference runs are installed first)")
    add_filter_args(p)
    p.add_argument("--no-shipped", dest="shipped", action="store_false",
                   help="do not install the shipped reference runs into a store that has never had them")
    add_store_args(p)

    p = sub.add_parser("show", help="one stored run")
    p.add_argument("run", help="run id (a unique prefix will do)")
    add_store_args(p)

    p = sub.add_parser("export", help="write a run's per-epoch history as CSV")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--csv", required=True, help="output path")
    add_store_args(p)

    p = sub.add_parser("export-lesson", help="write the finished runs that match the filters (configs, histories, "
                       "weights) to one lesson file, to import on another machine")
    p.add_argument("file", help="lesson file to write, e.g. week3.zip")
    add_filter_args(p)
    p.add_argument("--title", default="", help="a title stored in the file's manifest")
    add_store_args(p)

    p = sub.add_parser("import-lesson", help="add the runs of a lesson file to the store (checked first; all or none)")
    p.add_argument("file", help="lesson file written by export-lesson")
    p.add_argument("--overwrite", action="store_true", help="replace runs the store already has (never a queued or training one)")
    p.add_argument("--teacher", action="store_true", help="allow --overwrite to replace shipped reference runs")
    add_store_args(p)

    p = sub.add_parser("probe-init", help="per-layer gradient norms at initialisation for a grid of networks")
    p.add_argument("--depths", type=int, nargs="+", default=[20, 56, 110])
    p.add_argument("--shortcuts", nargs="+", choices=SHORTCUTS, default=["none", "A"])
    p.add_argument("--bn", nargs="+", choices=("on", "off"), default=["on", "off"])
    p.add_argument("--inits", nargs="+", choices=("kaiming", "default"), default=["kaiming", "default"])
    p.add_argument("--batch", type=int, default=128, help="images in the probe batch")
    p.add_argument("--csv", help="also write the per-layer table here")
    p.add_argument("--shattering", action="store_true",
                   help="also measure how alike the input-gradients of neighbouring inputs are (BN on, kaiming)")
    add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    from . import trainer_bench  # noqa: E402  (kept beside their implementations)
    from ..runs import worker  # noqa: E402  (kept beside their implementations)
    trainer_bench.add_parser(sub)
    worker.add_parser(sub)
    from . import readme, reproduce
    from ..runs import sweep
    reproduce.add_parsers(sub)
    sweep.add_parser(sub)
    readme.add_parser(sub)
    from ..analysis import inside
    inside.add_parsers(sub)
    return parser


def config_from_args(args) -> RunConfig:
    return RunConfig(arch=args.arch, depth=args.depth, shortcut=args.shortcut, bn=args.bn, init=args.init,
                     dataset=args.dataset, subset=args.subset, test_subset=args.test_subset, recipe=args.recipe,
                     epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
                     augment=args.augment, warmup=args.warmup, seed=args.seed, device=args.device, precision=args.precision,
                     probe_every=args.probe_every, compile=args.compile)


def find_run(store: RunStore, prefix: str):
    listing = store.scan()
    matches = [r for r in listing.records if r.run_id.startswith(prefix)]
    damaged = [d for d in listing.damaged if d.run_id.startswith(prefix)]
    if not matches and len(damaged) == 1:
        raise CliError(f"run {damaged[0].run_id} cannot be read: {damaged[0].reason}")
    if not matches:
        raise CliError(f"no run matches {prefix!r} in {store.root}; 'python -m core list' shows the stored runs")
    if len(matches) > 1:
        raise CliError(f"{prefix!r} matches {len(matches)} runs; give more of the id")
    return matches[0]


def fmt_pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def cmd_describe(args) -> None:
    config = RunConfig(arch=args.arch, depth=args.depth, shortcut=args.shortcut, bn=args.bn, init=args.init).resolved()
    model = build_model(config.arch, config.depth, config.shortcut, config.bn, config.init)
    layers = [{"name": n, "type": type(m).__name__, "shape": list(m.weight.shape), "params": sum(p.numel() for p in m.parameters())}
              for n, m in weighted_layers(model)]
    params = count_params(model)
    paper = PAPER_PARAMS_M.get(config.depth) if config.arch == "cifar" and config.shortcut in ("A", "none") and config.bn else None
    obj = {"model": config.model_name, "params": params, "paper_params_m": paper, "weighted_layers": len(layers),
           "layers": [layer["name"] for layer in layers], "layer_details": layers}
    lines = [f"{config.model_name}: {params:,} parameters ({params / 1e6:.3f}M"
             + (f"; paper Table 6: {paper}M)" if paper else ")"), f"{len(layers)} weighted layers:"]
    lines += [f"  {layer['name']:<32} {layer['type']:<7} {str(tuple(layer['shape'])):<20} {layer['params']:>9,}" for layer in layers]
    emit(args, obj, "\n".join(lines))


def cmd_train(args) -> None:
    from ..runs import jobs
    from ..engine.train import TrainResult, train
    config = config_from_args(args)
    store = RunStore(args.store)
    bar = ProgressBar(config.label)

    def on_progress(event):
        text = f"epoch {event['epoch']}/{event['epochs']} loss {event.get('loss', event.get('train_loss', 0)):.3f}"
        if event["kind"] == "epoch":
            text += f" test acc {fmt_pct(event['test_acc'])}"
        bar.update(event["step"], event["total_steps"], text, force=event["kind"] == "epoch")

    try:
        result = train(config, store, data_dir=args.data_dir, progress=on_progress, restart=args.restart, teacher=args.teacher)
    except AlreadyRunning as e:  # the same config asked for twice is one job: wait for it
        print(f"{e}; waiting for it to finish", file=sys.stderr)
        result = TrainResult(jobs.wait(store, config.run_id).record, cached=True)
    finally:
        bar.close()
    record = result.record
    obj = {**summary(record), "cached": result.cached}
    text = (f"{record.label}: {record.status}{' (from the store)' if result.cached else ''} — run {record.run_id}\n"
            f"  train loss {obj['train_loss'] or float('nan'):.4f}  acc {fmt_pct(obj['train_acc'])} (running mean), "
            f"{fmt_pct(obj['train_eval_acc'])} (eval mode)   "
            f"test loss {obj['test_loss'] or float('nan'):.4f}  acc {fmt_pct(obj['test_acc'])}   {record.seconds:.1f} s"
            + (f"\n  {record.message}" if record.message else "") + (f"\n  ! {obj['flag']}" if obj["flag"] else ""))
    emit(args, obj, text)
    if record.status not in ("done",):
        sys.exit(1)


def summary(record) -> dict:
    """A run's summary with the eval-mode training accuracy and the near-chance flag (None when it learned)."""
    return {**record.summary(), "train_eval_acc": record.metrics.get("train_eval_acc"), "flag": record_verdict(record)}


def cmd_list(args) -> None:
    from ..runs.catalog import dataset_title
    from ..runs.reference import install_once
    store = RunStore(args.store)
    installed = 0
    if args.shipped:
        try:
            installed = install_once(store, log=lambda m: print(m, file=sys.stderr))
        except StoreError as e:  # a damaged store still lists the runs it can read
            print(f"warning: the shipped reference runs were not installed: {e}", file=sys.stderr)
    listing = store.scan()
    chosen = run_filter(args)
    records = chosen.apply(listing.records)
    rows = [summary(r) for r in records]
    for d in listing.damaged:
        print(f"warning: run {d.run_id} skipped: {d.reason}", file=sys.stderr)
    lines = [f"{'run':<13}{'status':<12}{'data set':<11}{'epochs':>7}  {'test acc':>9}  {'seconds':>8}  label"]
    lines += [f"{r['run_id']:<13}{r['status']:<12}{dataset_title(c.dataset):<11}{r['epochs_done']:>3}/{r['epochs']:<3}  "
              f"{fmt_pct(r['test_acc']):>9}  {r['seconds']:>8.1f}  {r['label']}" + ("  ! near chance" if r["flag"] else "")
              for r, c in zip(rows, (rec.config for rec in records))]
    empty = "no runs stored yet" if not listing.records else f"no stored run matches ({chosen.text()})"
    emit(args, {"runs": rows, "damaged": [{"run_id": d.run_id, "reason": d.reason} for d in listing.damaged],
                "filters": chosen.to_dict(), "shipped_installed": installed},
         "\n".join(lines) if rows else empty)


def cmd_export_lesson(args) -> None:
    from ..runs.archive import export_lesson
    store = RunStore(args.store)
    chosen = run_filter(args)
    records = chosen.apply(store.scan().records)
    if not records:
        raise CliError(f"no stored run matches ({chosen.text()}); 'python -m core list' with the same filters shows them")
    result = export_lesson(store, args.file, records, title=args.title, filters=chosen.to_dict())
    text = (f"wrote {len(result.runs)} run{'s' * (len(result.runs) != 1)} ({result.weights} with weights, "
            f"{result.bytes / 1e6:.1f} MB) to {args.file}")
    if result.left_out:
        text += f"\n  left out {len(result.left_out)} run{'s' * (len(result.left_out) != 1)} that are not finished: " + \
            ", ".join(result.left_out)
    emit(args, {**result.to_dict(), "filters": chosen.to_dict()}, text)


def cmd_import_lesson(args) -> None:
    from ..runs.archive import import_lesson
    result = import_lesson(RunStore(args.store), args.file, overwrite=args.overwrite, teacher=args.teacher)
    lines = [f"{args.file}: {result.text()}"]
    lines += [f"  {how:<9}{run_id}  {result.labels.get(run_id, '')}" for how, ids in
              (("added", result.added), ("replaced", result.replaced), ("skipped", result.skipped)) for run_id in ids]
    emit(args, result.to_dict(), "\n".join(lines))


def cmd_queue(args) -> None:
    from ..runs import jobs
    states = jobs.active(RunStore(args.store))
    rows = [{"run_id": s.run_id, "status": str(s.status), "place": s.place, "label": s.record.label,
             "requester": s.record.requester} for s in states]
    lines = [f"{r['run_id']:<13}{jobs.RunState(r['run_id'], s.status, s.record, s.place).text():<14}{r['label']}"
             for r, s in zip(rows, states)]
    emit(args, {"runs": rows}, "\n".join(lines) if rows else "nothing queued or training")


def cmd_cancel(args) -> None:
    from ..runs import jobs
    store = RunStore(args.store)
    record = find_run(store, args.run)
    if not jobs.cancel(store, record.run_id):
        raise CliError(f"run {record.run_id} is {record.status}: only a queued or training run can be cancelled")
    emit(args, {"run_id": record.run_id, "cancelled": True}, f"cancel requested for {record.run_id} ({record.label})")


def cmd_show(args) -> None:
    store = RunStore(args.store)
    record = find_run(store, args.run)
    history = store.history(record.run_id)
    obj = {**summary(record), "info": record.info, "history": history.epochs.to_dict(orient="records")}
    lines = [f"{record.label} — run {record.run_id}: {record.status}", f"  {record.message}" if record.message else "",
             f"  ! {obj['flag']}" if obj["flag"] else "",
             f"  dataset {record.info.get('dataset', '?')}, device {record.info.get('device', '?')}, "
             f"{record.info.get('params', 0):,} params"]
    lines += [f"  epoch {int(e.epoch):>3}: train loss {e.train_loss:.4f} acc {fmt_pct(e.train_acc)} (running), "
              f"{fmt_pct(None if e.train_eval_acc != e.train_eval_acc else e.train_eval_acc)} (eval mode)   "
              f"test loss {e.test_loss:.4f} acc {fmt_pct(e.test_acc)}" for e in history.epochs.itertuples()]
    emit(args, obj, "\n".join(line for line in lines if line))


def cmd_export(args) -> None:
    store = RunStore(args.store)
    record = find_run(store, args.run)
    epochs = store.history(record.run_id).epochs
    epochs.insert(0, "model", record.config.model_name)
    epochs.insert(0, "run_id", record.run_id)
    epochs.to_csv(args.csv, index=False)
    emit(args, {"run_id": record.run_id, "csv": args.csv, "rows": len(epochs)}, f"wrote {len(epochs)} epochs to {args.csv}")


def cmd_probe_init(args) -> None:
    from ..engine.probes import init_grid, probe_at_init, probe_batch, shattering_table, summarize_init
    for d in args.depths:
        RunConfig(depth=d)  # validates
    images, labels, title = probe_batch(args.dataset, args.batch, data_dir=args.data_dir)
    specs = init_grid(tuple(args.depths), tuple(args.shortcuts), tuple(b == "on" for b in args.bn), tuple(args.inits))
    bar = ProgressBar("probe-init")
    df = probe_at_init(specs, images, labels, progress=lambda i, n: bar.update(i, n))
    bar.close()
    if args.csv:
        df.to_csv(args.csv, index=False)
    summary = summarize_init(df)
    text = f"gradient norms at initialisation, one batch of {args.batch} {title} images\n" + summary.to_string(index=False, float_format="%.3g")
    obj = {"dataset": title, "batch": args.batch, "summary": summary.to_dict(orient="records"), "layers": df.to_dict(orient="records")}
    if args.shattering:
        shatter = shattering_table([dict(depth=d, shortcut=s) for s in args.shortcuts for d in args.depths], images[:2])
        obj["shattering"] = shatter.to_dict(orient="records")
        text += ("\n\nneighbouring input-gradient correlation (1 = smooth, 0 = white noise), BN on, kaiming init\n"
                 + shatter.to_string(index=False, float_format="%.3f"))
    emit(args, obj, text)


COMMANDS = {"describe": cmd_describe, "train": cmd_train, "list": cmd_list, "show": cmd_show,
            "export": cmd_export, "probe-init": cmd_probe_init, "queue": cmd_queue, "cancel": cmd_cancel,
            "export-lesson": cmd_export_lesson, "import-lesson": cmd_import_lesson}


def main(argv=None) -> None:
    try:
        run(argv)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Python's documentation recommends
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        sys.exit(1)


def run(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        if "--json" in argv:
            print(json.dumps({"error": str(e), "usage": e.usage.strip()}))
        print(f"{e.usage.rstrip()}\n{e.prog}: error: {e}", file=sys.stderr)
        sys.exit(2)
    from ..engine.data import DataUnavailable
    handler = COMMANDS.get(args.command) or args.handler
    try:
        handler(args)
    except (CliError, ConfigError, StoreError, ValueError, DataUnavailable) as e:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(e)}))
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted; 'python -m core train' with the same options resumes from the last finished epoch", file=sys.stderr)
        sys.exit(130)
