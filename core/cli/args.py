"""Arguments several commands share, each declared once, and turning them into configs, stores and runs."""

from __future__ import annotations

import argparse

from ..engine.config import ARCHS, DATASET_NAMES, DEVICES, PRECISIONS, RECIPES, SCHEDULES, RunConfig
from ..engine.models import SHORTCUTS
from ..runs.catalog import FAMILY_ALIASES, RunFilter, parse_family
from ..runs.store import RunStore
from .output import CliError


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        dest="arch",
        choices=ARCHS,
        default="cifar",
        help="'cifar': the paper's 6n+2 network; 'torchvision-resnet18': torchvision's ResNet-18 for 32x32",
    )
    p.add_argument("--depth", type=int, default=20, help="6n+2 layers: 20, 32, 44, 56, 110, 1202, ... (default 20)")
    p.add_argument(
        "--shortcut",
        choices=SHORTCUTS,
        default="A",
        help="A: identity + zero-pad, B: 1x1 projection, none: plain net, concat: concatenate + 1x1 merge, no "
        "identity path (default A)",
    )
    p.add_argument("--no-bn", dest="bn", action="store_false", help="remove every BatchNorm layer")
    p.add_argument(
        "--init", choices=("kaiming", "default"), default="kaiming", help="kaiming (paper) or PyTorch's default"
    )


def add_store_args(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    p.add_argument("--store", help="run store directory (default $RESNET_LAB_HOME or ~/.local/share/resnet-lab)")
    if json_flag:
        add_json_arg(p)


def add_json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """The Runs page's filters: any listed value matches within one, all given filters must match."""
    p.add_argument(
        "--dataset",
        dest="datasets",
        nargs="+",
        choices=DATASET_NAMES,
        metavar="DATASET",
        help=f"only runs on these data sets ({', '.join(DATASET_NAMES)})",
    )
    p.add_argument(
        "--family",
        dest="families",
        nargs="+",
        type=_family,
        metavar="FAMILY",
        help=f"only these network families: {', '.join(FAMILY_ALIASES)}",
    )
    p.add_argument("--depth", dest="depths", nargs="+", type=int, metavar="N", help="only these depths")
    p.add_argument(
        "--recipe",
        dest="recipes",
        nargs="+",
        choices=RECIPES,
        metavar="RECIPE",
        help=f"only these recipes ({', '.join(RECIPES)})",
    )
    p.add_argument("--tag", dest="tags", nargs="+", metavar="TAG", help="only runs with one of these tags")


def _family(text: str) -> str:
    try:
        return parse_family(text)
    except ValueError as e:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(e)) from None


def run_filter(args):
    return RunFilter(args.datasets, args.families, args.depths, args.recipes, args.tags)


def add_training_args(p: argparse.ArgumentParser) -> None:
    """What a run trains on and how: data, recipe and its overrides, seed, device and probes."""
    add_data_args(p)
    p.add_argument("--subset", type=int, help="use this many training images (class-balanced)")
    p.add_argument("--test-subset", type=int, help="use this many test images")
    p.add_argument(
        "--recipe",
        choices=RECIPES,
        default="paper",
        help="paper: SGD with the paper's settings (lr 0.1, wd 1e-4, batch 128, crop + flip); seed: Adam, batch 32 "
        "(seed study 001)",
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    p.add_argument("--lr", type=float, help="override the recipe's learning rate")
    p.add_argument("--schedule", choices=SCHEDULES, help="override the recipe's schedule")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None, help="pad-crop-flip augmentation")
    p.add_argument(
        "--warmup",
        type=int,
        help="train this many first steps at lr/10 (default: the recipe's, "
        "400 for the paper's 110-layer nets, else none)",
    )
    p.add_argument(
        "--warmup-ramp",
        action="store_true",
        help="raise the lr linearly to its full value over the warm-up instead of holding lr/10",
    )
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--probe-every", type=int, default=50, help="steps between gradient probes (0 = none)")


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset", choices=DATASET_NAMES, default="builtin", help="builtin: offline Shapes-10; cifar10: CIFAR-10"
    )
    add_data_dir_arg(p)


def add_ray_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="train on the Ray cluster at ADDRESS ('auto': the running one, 'local': start one here, or "
        "host:port); default $RESNET_LAB_RAY_ADDRESS, else this machine's worker processes",
    )


def add_data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="directory holding cifar-10-batches-py (default $RESNET_LAB_DATA, else download)")


def training_fields(args) -> dict:
    """The RunConfig fields ``add_training_args`` declared, as given."""
    return dict(
        dataset=args.dataset,
        subset=args.subset,
        test_subset=args.test_subset,
        recipe=args.recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        augment=args.augment,
        warmup=args.warmup,
        warmup_ramp=args.warmup_ramp,
        device=args.device,
        precision=args.precision,
        probe_every=args.probe_every,
    )


def config_from_args(args) -> RunConfig:
    return RunConfig(
        arch=args.arch,
        depth=args.depth,
        shortcut=args.shortcut,
        bn=args.bn,
        init=args.init,
        seed=args.seed,
        compile=args.compile,
        **training_fields(args),
    )


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
