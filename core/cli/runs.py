"""Commands about runs: describe a network, train one, list, show, export and import runs, the queue and its
workers, and sweeps over depths and seeds."""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import time

from ..analysis.paper import TABLE6_PARAMS_M as PAPER_PARAMS_M
from ..engine.config import RunConfig
from ..engine.models import FIG6_DEPTHS, SHORTCUTS, build_model, count_params, weighted_layers
from ..runs import jobs, lifecycle, sweep
from ..runs.catalog import dataset_title
from ..runs.execute import TrainResult, train
from ..runs.lifecycle import LIVE, is_done
from ..runs.reference import install_once
from ..runs.store import AlreadyRunning, RunStore, StoreError
from ..runs.verdict import record_verdict
from .args import (
    add_filter_args,
    add_json_arg,
    add_model_args,
    add_ray_arg,
    add_store_args,
    add_training_args,
    config_from_args,
    find_run,
    run_filter,
    training_fields,
)
from .output import CliError, emit, fmt_pct, say
from .progress import ProgressBar


def add_parsers(sub) -> None:
    _add_training_parsers(sub)
    _add_queue_parsers(sub)
    _add_store_parsers(sub)


def _add_training_parsers(sub) -> None:
    p = sub.add_parser("describe", help="parameter count and layer names of a network")
    add_model_args(p)
    add_json_arg(p)
    p.set_defaults(handler=cmd_describe)

    p = sub.add_parser("train", help="train one network (or answer from the store)")
    add_model_args(p)
    add_training_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the network (worth it on a GPU; the first steps compile)"
    )
    p.add_argument(
        "--restart", action="store_true", help="train again even if the store has this run (never a live one)"
    )
    p.add_argument("--teacher", action="store_true", help="allow --restart over a shipped reference run")
    add_store_args(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser(
        "sweep", help="train a grid of networks and seeds as jobs (here, or on a Ray cluster with --ray)"
    )
    p.add_argument(
        "--depths", type=int, nargs="+", default=list(FIG6_DEPTHS), help="6n+2 depths (default: Fig. 6's 20 32 44 56)"
    )
    p.add_argument(
        "--shortcuts", nargs="+", choices=SHORTCUTS, default=["none", "A"], help="none: plain nets; A: ResNets"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    add_training_args(p)
    p.add_argument("--num-cpus", type=float, default=1.0, help="CPU cores each run reserves on a Ray worker")
    p.add_argument("--num-gpus", type=float, help="GPUs each run reserves on a Ray worker (0.25: four runs share one)")
    add_ray_arg(p)
    add_store_args(p)
    p.set_defaults(handler=cmd_sweep)


def _add_queue_parsers(sub) -> None:
    p = sub.add_parser("queue", help="runs and analyses waiting for a worker and those in progress, with their place")
    add_store_args(p)
    p.set_defaults(handler=cmd_queue)

    p = sub.add_parser(
        "cancel",
        help="cancel a queued run, or stop a training one after its current step; or cancel an analysis by its key",
    )
    p.add_argument("run", help="run id (a unique prefix will do), or an analysis key as `queue` lists it")
    add_store_args(p)
    p.set_defaults(handler=cmd_cancel)

    p = sub.add_parser(
        "worker",
        help="train queued runs and compute queued analyses from the store (the dashboard starts these itself)",
    )
    p.add_argument(
        "--idle-exit", type=float, help="leave after the queue has been empty this many seconds (default: never)"
    )
    p.add_argument("--analyses-only", action="store_true", help="compute queued analyses only; never train")
    p.add_argument(
        "--no-log-stderr",
        dest="log_stderr",
        action="store_false",
        help="log to the store's logs/worker.log only, not to stderr as well",
    )
    add_store_args(p, json_flag=False)
    p.set_defaults(handler=cmd_worker)


def _add_store_parsers(sub) -> None:
    p = sub.add_parser(
        "list", help="stored runs (on a store's first use, the shipped reference runs are installed first)"
    )
    add_filter_args(p)
    p.add_argument(
        "--no-shipped",
        dest="shipped",
        action="store_false",
        help="do not install the shipped reference runs into a store that has never had them",
    )
    add_store_args(p)
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="one stored run")
    p.add_argument("run", help="run id (a unique prefix will do)")
    add_store_args(p)
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("export", help="write a run's per-epoch history as CSV")
    p.add_argument("run", help="run id (a unique prefix will do)")
    p.add_argument("--csv", required=True, help="output path")
    add_store_args(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "export-lesson",
        help="write the finished runs that match the filters (configs, histories, "
        "weights) to one lesson file, to import on another machine",
    )
    p.add_argument("file", help="lesson file to write, e.g. week3.zip")
    add_filter_args(p)
    p.add_argument("--title", default="", help="a title stored in the file's manifest")
    p.add_argument(
        "--no-questions", dest="questions", action="store_false", help="leave the class questions out of the file"
    )
    p.add_argument("--with-votes", action="store_true", help="write the class's votes with the questions")
    add_store_args(p)
    p.set_defaults(handler=cmd_export_lesson)

    p = sub.add_parser("import-lesson", help="add the runs of a lesson file to the store (checked first; all or none)")
    p.add_argument("file", help="lesson file written by export-lesson")
    p.add_argument(
        "--overwrite", action="store_true", help="replace runs the store already has (never a queued or training one)"
    )
    p.add_argument("--teacher", action="store_true", help="allow --overwrite to replace shipped reference runs")
    p.add_argument(
        "--no-questions", dest="questions", action="store_false", help="leave the file's class questions out"
    )
    add_store_args(p)
    p.set_defaults(handler=cmd_import_lesson)


def cmd_describe(args) -> None:
    config = RunConfig(arch=args.arch, depth=args.depth, shortcut=args.shortcut, bn=args.bn, init=args.init).resolved()
    model = build_model(config.arch, config.depth, config.shortcut, config.bn, config.init)
    layers = [
        {
            "name": n,
            "type": type(m).__name__,
            "shape": list(m.weight.shape),
            "params": sum(p.numel() for p in m.parameters()),
        }
        for n, m in weighted_layers(model)
    ]
    params = count_params(model)
    paper = (
        PAPER_PARAMS_M.get(config.depth)
        if config.arch == "cifar" and config.shortcut in ("A", "none") and config.bn
        else None
    )
    obj = {
        "model": config.model_name,
        "params": params,
        "paper_params_m": paper,
        "weighted_layers": len(layers),
        "layers": [layer["name"] for layer in layers],
        "layer_details": layers,
    }
    lines = [
        f"{config.model_name}: {params:,} parameters ({params / 1e6:.3f}M"
        + (f"; paper Table 6: {paper}M)" if paper else ")"),
        f"{len(layers)} weighted layers:",
    ]
    lines += [
        f"  {layer['name']:<32} {layer['type']:<7} {str(tuple(layer['shape'])):<20} {layer['params']:>9,}"
        for layer in layers
    ]
    emit(args, obj, "\n".join(lines))


def cmd_train(args) -> None:
    config = config_from_args(args)
    store = RunStore(args.store)
    bar = ProgressBar(config.label)

    def on_progress(event):
        text = f"epoch {event['epoch']}/{event['epochs']} loss {event.get('loss', event.get('train_loss', 0)):.3f}"
        if event["kind"] == "epoch":
            text += f" test acc {fmt_pct(event['test_acc'])}"
        bar.update(event["step"], event["total_steps"], text, force=event["kind"] == "epoch")

    try:
        result = train(
            config, store, data_dir=args.data_dir, progress=on_progress, restart=args.restart, teacher=args.teacher
        )
    except AlreadyRunning as e:  # the same config asked for twice is one job: wait for it
        say(f"{e}; waiting for it to finish")
        result = TrainResult(jobs.wait(store, config.run_id).record, cached=True)
    finally:
        bar.close()
    record = result.record
    obj = {**summary(record), "cached": result.cached}
    text = (
        f"{record.label}: {record.status}{' (from the store)' if result.cached else ''} — run {record.run_id}\n"
        f"  train loss {obj['train_loss'] or float('nan'):.4f}  acc {fmt_pct(obj['train_acc'])} (running mean), "
        f"{fmt_pct(obj['train_eval_acc'])} (eval mode)   "
        f"test loss {obj['test_loss'] or float('nan'):.4f}  acc {fmt_pct(obj['test_acc'])}   {record.seconds:.1f} s"
        + (f"\n  {record.message}" if record.message else "")
        + (f"\n  ! {obj['flag']}" if obj["flag"] else "")
    )
    emit(args, obj, text)
    if not is_done(record):
        sys.exit(1)


def summary(record) -> dict:
    """A run's summary with the eval-mode training accuracy and the near-chance flag (None when it learned)."""
    return {**record.summary(), "train_eval_acc": record.metrics.get("train_eval_acc"), "flag": record_verdict(record)}


def cmd_list(args) -> None:
    store = RunStore(args.store)
    installed = 0
    if args.shipped:
        try:
            installed = install_once(store, log=say)
        except StoreError as e:  # a damaged store still lists the runs it can read
            say(f"warning: the shipped reference runs were not installed: {e}")
    listing = store.scan()
    chosen = run_filter(args)
    records = chosen.apply(listing.records)
    rows = [summary(r) for r in records]
    for d in listing.damaged:
        say(f"warning: run {d.run_id} skipped: {d.reason}")
    lines = [f"{'run':<13}{'status':<12}{'data set':<11}{'epochs':>7}  {'test acc':>9}  {'seconds':>8}  label"]
    lines += [
        f"{r['run_id']:<13}{r['status']:<12}{dataset_title(c.dataset):<11}{r['epochs_done']:>3}/{r['epochs']:<3}  "
        f"{fmt_pct(r['test_acc']):>9}  {r['seconds']:>8.1f}  {r['label']}" + ("  ! near chance" if r["flag"] else "")
        for r, c in zip(rows, (rec.config for rec in records))
    ]
    empty = "no runs stored yet" if not listing.records else f"no stored run matches ({chosen.text()})"
    emit(
        args,
        {
            "runs": rows,
            "damaged": [{"run_id": d.run_id, "reason": d.reason} for d in listing.damaged],
            "filters": chosen.to_dict(),
            "shipped_installed": installed,
        },
        "\n".join(lines) if rows else empty,
    )


def cmd_export_lesson(args) -> None:
    from ..runs.archive import export_lesson  # zipfile and hashing: only for this command

    store = RunStore(args.store)
    chosen = run_filter(args)
    records = chosen.apply(store.scan().records)
    if not records:
        raise CliError(
            f"no stored run matches ({chosen.text()}); 'python -m core list' with the same filters shows them"
        )
    result = export_lesson(
        store,
        args.file,
        records,
        title=args.title,
        filters=chosen.to_dict(),
        questions=args.questions,
        votes=args.with_votes,
    )
    text = (
        f"wrote {len(result.runs)} run{'s' * (len(result.runs) != 1)} ({result.weights} with weights, "
        f"{result.bytes / 1e6:.1f} MB) to {args.file}"
    )
    if result.questions:
        text += f", with {result.questions} class question{'s' * (result.questions != 1)}"
        text += f" and {result.votes} vote{'s' * (result.votes != 1)}" if args.with_votes else ""
    if result.left_out:
        text += (
            f"\n  left out {len(result.left_out)} run{'s' * (len(result.left_out) != 1)} that are not finished: "
            + ", ".join(result.left_out)
        )
    emit(args, {**result.to_dict(), "filters": chosen.to_dict()}, text)


def cmd_import_lesson(args) -> None:
    from ..runs.archive import import_lesson

    result = import_lesson(
        RunStore(args.store), args.file, overwrite=args.overwrite, teacher=args.teacher, questions=args.questions
    )
    lines = [f"{args.file}: {result.text()}"]
    lines += [
        f"  {how:<9}{run_id}  {result.labels.get(run_id, '')}"
        for how, ids in (("added", result.added), ("replaced", result.replaced), ("skipped", result.skipped))
        for run_id in ids
    ]
    emit(args, result.to_dict(), "\n".join(lines))


def cmd_queue(args) -> None:
    states = jobs.active(RunStore(args.store))
    rows = [
        {
            "run_id": s.run_id,
            "status": str(s.status),
            "place": s.place,
            "label": s.record.label,
            "requester": s.record.requester,
        }
        for s in states
    ]
    lines = [f"{r['run_id']:<13}{s.text():<14}{r['label']}" for r, s in zip(rows, states)]
    store = RunStore(args.store)
    analyses = [_analysis_row(store, j) for j in store.analyses() if j.status in LIVE]
    lines += [f"{a['key']}  {a['state']}" for a in analyses]
    emit(args, {"runs": rows, "analyses": analyses}, "\n".join(lines) if lines else "nothing queued or training")


def _analysis_row(store: RunStore, job) -> dict:
    place = store.analysis_place(job.key)
    state = lifecycle.analysis_text(job.status, place, job.progress, job.message)
    return {"key": job.key, "status": str(job.status), "place": place, "progress": job.progress, "state": state}


def cmd_cancel(args) -> None:
    store = RunStore(args.store)
    if "/" in args.run:  # an analysis job's key, as `queue` lists it
        if store.cancel_analysis(args.run) is None:
            raise CliError(f"no analysis {args.run!r} is waiting or being computed")
        emit(args, {"key": args.run, "cancelled": True}, f"cancel requested for {args.run}")
        return
    record = find_run(store, args.run)
    if not jobs.cancel(store, record.run_id):
        raise CliError(f"run {record.run_id} is {record.status}: only a queued or training run can be cancelled")
    emit(args, {"run_id": record.run_id, "cancelled": True}, f"cancel requested for {record.run_id} ({record.label})")


def cmd_show(args) -> None:
    store = RunStore(args.store)
    record = find_run(store, args.run)
    history = store.history(record.run_id)
    obj = {**summary(record), "info": record.info, "history": history.epochs.to_dict(orient="records")}
    lines = [
        f"{record.label} — run {record.run_id}: {record.status}",
        f"  {record.message}" if record.message else "",
        f"  ! {obj['flag']}" if obj["flag"] else "",
        f"  dataset {record.info.get('dataset', '?')}, device {record.info.get('device', '?')}, "
        f"{record.info.get('params', 0):,} params",
    ]
    lines += [
        f"  epoch {int(e.epoch):>3}: train loss {e.train_loss:.4f} acc {fmt_pct(e.train_acc)} (running), "
        f"{fmt_pct(None if e.train_eval_acc != e.train_eval_acc else e.train_eval_acc)} (eval mode)   "
        f"test loss {e.test_loss:.4f} acc {fmt_pct(e.test_acc)}"
        for e in history.epochs.itertuples()
    ]
    emit(args, obj, "\n".join(line for line in lines if line))


def cmd_export(args) -> None:
    store = RunStore(args.store)
    record = find_run(store, args.run)
    epochs = store.history(record.run_id).epochs
    epochs.insert(0, "model", record.config.model_name)
    epochs.insert(0, "run_id", record.run_id)
    epochs.to_csv(args.csv, index=False)
    emit(
        args,
        {"run_id": record.run_id, "csv": args.csv, "rows": len(epochs)},
        f"wrote {len(epochs)} epochs to {args.csv}",
    )


def cmd_sweep(args) -> None:
    configs = sweep.grid(
        args.depths, args.shortcuts, args.seeds, num_cpus=args.num_cpus, num_gpus=args.num_gpus, **training_fields(args)
    )
    store = RunStore(args.store)
    start = time.perf_counter()
    lines: list[str] = []
    states = sweep.run_for_command(
        store, configs, args.ray, args.data_dir, log=lambda line: (lines.append(line), say(line))
    )
    wall = time.perf_counter() - start
    done = sum(is_done(s.record) for s in states)
    obj = {
        "backend": "ray" if (args.ray or jobs.ray_address_from_env()) else "local",
        "wall_seconds": round(wall, 2),
        "runs": [{**s.record.summary(), "state": s.line()} for s in states if s.record is not None],
    }
    text = f"{done} of {len(states)} runs done in {wall:.0f} s"
    emit(args, obj, text)
    if done < len(states):
        for s in states:
            if not is_done(s.record):  # why each one is not done, whatever the output format
                say(f"not done: {s.run_id} {s.record.label if s.record else ''}: {s.line()}")
        sys.exit(1)


def cmd_worker(args) -> None:
    from ..analysis.queue import take_one
    from ..runs.logs import setup_worker_log
    from ..runs.worker import serve

    faulthandler.enable()  # a fatal error (a segfault, an abort) prints every thread's traceback to stderr
    store = RunStore(args.store)
    setup_worker_log(store.root, to_stderr=args.log_stderr)
    try:
        serve(str(store.root), args.idle_exit, analyze=take_one, role="analyses" if args.analyses_only else "all")
    except Exception:  # a worker started in the background has no terminal: its log says why it ended
        logging.getLogger("core.runs.worker").exception("worker %d ended", os.getpid())
        raise
