"""The README's measured tables, produced by code: ``python -m core readme-tables [--check | --write]``.

Each table sits in README.md between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``. ``--write``
replaces them with fresh output, ``--check`` exits 1 naming every table that differs, and the tests
check the same functions, so a number in the README cannot drift from what the command prints.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

from ..engine.models import PROBE_DEPTHS

README = Path(__file__).resolve().parents[2] / "README.md"
PROBE_BATCH = 128
SHATTER_DEPTHS = (8, 20, 32, 56, 110)


def _g(x: float) -> str:
    return f"{x:.3g}"


def probe_init_table(depths=PROBE_DEPTHS) -> str:
    """`python -m core probe-init` (one batch of 128 Shapes-10 test images): first/last conv ‖∂L/∂W‖ and the regime."""
    from ..engine.probes import init_grid, probe_at_init, probe_batch, summarize_init

    images, labels, _ = probe_batch("builtin", PROBE_BATCH)
    summary = summarize_init(probe_at_init(init_grid(tuple(depths)), images, labels))
    lines = [
        "| model | init | loss | ‖∂L/∂W‖ first conv | ‖∂L/∂W‖ last conv | first / last | regime |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        name = r.model
        lines.append(
            f"| {name} | {r.init} | {_g(r.loss)} | {_g(r.grad_w_first)} | {_g(r.grad_w_last)} | "
            f"{_g(r.ratio_first_last)} | {r.regime} |"
        )
    return "\n".join(lines)


def shattering_markdown(depths=SHATTER_DEPTHS) -> str:
    """`python -m core probe-init --shattering` over ``depths``: neighbouring input-gradient correlation."""
    from ..engine.probes import probe_batch, shattering_table

    images, _, _ = probe_batch("builtin", PROBE_BATCH)
    table = shattering_table([dict(depth=d, shortcut=s) for s in ("none", "A") for d in depths], images[:2])
    by = table.set_index(["shortcut", "depth"]).correlation
    return "\n".join(
        [
            "| depth | " + " | ".join(map(str, depths)) + " |",
            "|---" * (len(depths) + 1) + "|",
            "| plain | " + " | ".join(f"{by[('none', d)]:.3f}" for d in depths) + " |",
            "| ResNet (A) | " + " | ".join(f"{by[('A', d)]:.3f}" for d in depths) + " |",
        ]
    )


@functools.cache
def shipped_store():
    """A temporary store holding the shipped reference runs, installed once for all the tables that read them."""
    import tempfile

    from ..runs.reference import REFERENCE_DIR, install
    from ..runs.store import RunStore

    store = RunStore(tempfile.mkdtemp(prefix="resnet-lab-readme-"))
    install(store, REFERENCE_DIR)
    return store


def shipped_table(store=None, dataset: str = "builtin") -> str:
    """The shipped reference runs of ``dataset`` (installed into a temporary store): final errors, mean ± std over
    seeds."""
    from ..analysis.compare import depth_table, group_runs
    from ..analysis.fig6 import final_training_error

    store = store if store is not None else shipped_store()
    records = [r for r in store.list() if r.reference and r.config.dataset == dataset]
    lines = ["| run | seeds | training error, eval mode (%) | test error (%) | flag |", "|---|---|---|---|---|"]
    order = {"none": 0, "A": 1, "B": 2, "concat": 3}
    from ..runs.reference import SHAPES10_LESSON as lesson

    def main_set_first(g) -> tuple:
        c = g.config
        other = (c.schedule, c.batch_size, c.subset) != (lesson["schedule"], lesson["batch_size"], lesson["subset"])
        return other, c.schedule or "", c.subset or 0, order[c.shortcut], c.depth

    for group in sorted(group_runs(records), key=main_set_first):
        row = depth_table([group]).iloc[0]
        evals = [e for r in group.records if (e := final_training_error(r)) is not None]
        train = _mean_std(evals) if evals else "–"
        lines.append(
            f"| {group.config.label} | {len(group.records)} | {train} | "
            f"{_mean_std([100 * (1 - r.metrics['test_acc']) for r in group.records])} | {row.flag or ''} |"
        )
    return "\n".join(lines)


def _mean_std(values: list[float]) -> str:
    import numpy as np

    return f"{np.mean(values):.1f}" + (f" ± {np.std(values, ddof=1):.1f}" if len(values) > 1 else "")


def shipped_cifar10_table() -> str:
    """The shipped CIFAR-10 runs, one row a network of each budget: final training error in eval mode (on all
    50,000 training images where measured), test error on all 10,000, seeds, and the hours they trained; then
    what the Fig. 6 set's two halves show (core.analysis.fig6)."""
    from ..analysis import fig6
    from ..analysis.budget import setup_key
    from ..analysis.compare import group_runs
    from ..runs.reference import CIFAR10_FIG6, cifar10_fig6

    store = shipped_store()
    records = [r for r in store.list() if r.reference and r.config.dataset == "cifar10"]
    fig6_key = setup_key(cifar10_fig6()[0])
    lines = [
        "| run | seeds | final training error, eval mode (%) | test error (%) | training hours (one core each) |",
        "|---|---|---|---|---|",
    ]
    order = {"none": 0, "A": 1}

    def fig6_set_first(g) -> tuple:  # then each other budget together, the longer first
        key = setup_key(g.config)
        other = key != fig6_key
        return other, -g.config.epochs if other else 0, key, order.get(g.config.shortcut, 2), g.config.depth

    for group in sorted(group_runs(records), key=fig6_set_first):
        train = [e for r in group.records if (e := fig6.final_training_error(r)) is not None]
        test = [100 * (1 - r.metrics["test_acc"]) for r in group.records]
        hours = ", ".join(f"{r.seconds / 3600:.2f}" for r in group.records)
        lines.append(
            f"| {group.config.label} | {len(group.records)} | {_mean_std(train)} | {_mean_std(test)} | {hours} |"
        )
    fig6_runs = [r for r in records if setup_key(r.config) == fig6_key]
    halves = fig6.halves(fig6_runs) if fig6_runs else {}
    sentences = [f"- {fig6.half_sentence(family, half)}" for family, half in halves.items()]
    epochs = CIFAR10_FIG6["epochs"]
    hours = sum(r.seconds for r in fig6_runs) / 3600
    head = f"The Fig. 6 set ({epochs} epochs, {len(fig6_runs)} runs, {hours:.1f} CPU-hours with one core a run):"
    return "\n".join(lines + ([""] + [head] + sentences if sentences else []))


def shipped_cifar10_inside() -> str:
    """What the Lesion and Landscape pages say, from the shipped precomputed results, of the CIFAR-10 pair they
    open on where CIFAR-10 is on the machine (core.analysis.inside.matched_pair)."""
    from ..analysis import inside, landscape, lesion
    from ..analysis.queue import LESION_DEFAULT, SLICE_DEFAULT

    store = shipped_store()
    records = [r for r in store.list() if r.config.dataset == "cifar10" and store.weights_path(r.run_id).exists()]
    lines = []
    plain, resnet = inside.matched_pair(records, learned_first=True, prefer_dataset="cifar10")
    if plain and resnet:
        p, r = (inside.cached_lesion(store, x, **LESION_DEFAULT) for x in (plain, resnet))
        if p and r:
            lines.append(
                f"- Lesion ({resnet.config.model_name} and {plain.config.model_name}): "
                + lesion.contrast_sentence(r, p)
            )
    plain, resnet = inside.matched_pair(records, prefer_dataset="cifar10")
    if plain and resnet:
        p, r = (inside.cached_landscape(store, x, **SLICE_DEFAULT) for x in (plain, resnet))
        if p and r:
            lines.append(f"- Landscape, 1-D slice: {landscape.smoothness_verdict(r, p)}")
    return "\n".join(lines) or "(no precomputed results for a CIFAR-10 pair are shipped)"


TABLES = {
    "probe-init": probe_init_table,
    "shattering": shattering_markdown,
    "shipped": shipped_table,
    "shipped-cifar10": shipped_cifar10_table,
    "shipped-cifar10-inside": shipped_cifar10_inside,
}


def readme_block(name: str, text: str | None = None) -> str | None:
    """The README's current table ``name`` (None if it has none)."""
    text = README.read_text() if text is None else text
    m = re.search(rf"<!-- table:{name} -->\n(.*?)\n<!-- /table:{name} -->", text, re.S)
    return m.group(1).strip() if m else None


def replace_block(text: str, name: str, table: str) -> str:
    return re.sub(
        rf"(<!-- table:{name} -->\n).*?(\n<!-- /table:{name} -->)",
        lambda m: m.group(1) + table + m.group(2),
        text,
        flags=re.S,
    )


def add_parsers(sub) -> None:
    p = sub.add_parser("readme-tables", help="print the README's measured tables (or --check / --write README.md)")
    p.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    group = p.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 if README.md's tables differ from fresh output")
    group.add_argument("--write", action="store_true", help="replace README.md's tables with fresh output")
    p.set_defaults(handler=cmd_readme_tables)


def cmd_readme_tables(args) -> None:
    text = README.read_text()
    differ = []
    for name in args.tables:
        table = TABLES[name]()
        if args.write:
            text = replace_block(text, name, table)
        elif args.check:
            if readme_block(name, text) != table:
                differ.append(name)
        else:
            print(f"<!-- table:{name} -->\n{table}\n<!-- /table:{name} -->\n")
    if args.write:
        README.write_text(text)
        print(f"wrote {', '.join(args.tables)} into {README}")
    if differ:
        print(
            f"README.md differs from the command in: {', '.join(differ)}; run python -m core readme-tables --write",
            file=sys.stderr,
        )
        sys.exit(1)
    if args.check:
        print("README.md's tables match the command")
