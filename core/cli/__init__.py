"""The command line: ``python -m core COMMAND ...`` in the repository, ``resnet-lab COMMAND ...`` once installed.

    core.cli.runs           describe, train, sweep, queue, cancel, worker, list, show, export, export-lesson,
                            import-lesson
    core.cli.analyses       lesion, landscape, confusion, features, probe-init
    core.cli.reproduce      reproduce, reference
    core.cli.trainer_bench  bench
    core.cli.readme         readme-tables

Each module adds its commands' parsers, each with its handler; ``run`` parses and dispatches. Every command
has --help, and --json for one JSON object on stdout (``output.emit``). Errors, usage errors included, go to
stderr (and, with --json, into one JSON object {"error": ...} on stdout) with exit status 2. Output piped
into a program that stops reading (``| head``) ends quietly.
"""

import json
import os
import sys

from ..engine.config import ConfigError
from ..engine.data import DataUnavailable
from ..runs.store import StoreError
from . import analyses, readme, reproduce, runs, trainer_bench
from .output import CliError, Parser, UsageError

COMMAND_MODULES = (runs, analyses, reproduce, trainer_bench, readme)
PROG = "python -m core"


def build_parser(prog: str = PROG) -> Parser:
    parser = Parser(
        prog=prog,
        description="ResNet Lab engine: build, train, probe and store "
        "the CIFAR ResNets and plain nets of He et al. 2015.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def console() -> None:
    """The ``resnet-lab`` console entry point of an installed package."""
    main(prog="resnet-lab")


def main(argv=None, prog: str = PROG) -> None:
    try:
        run(argv, prog)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Python's documentation recommends
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        sys.exit(1)


def run(argv=None, prog: str = PROG) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        if "--json" in argv:
            print(json.dumps({"error": str(e), "usage": e.usage.strip()}))
        print(f"{e.usage.rstrip()}\n{e.prog}: error: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        args.handler(args)
    except (CliError, ConfigError, StoreError, ValueError, DataUnavailable) as e:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(e)}))
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            "\ninterrupted; 'python -m core train' with the same options resumes from the last finished epoch",
            file=sys.stderr,
        )
        sys.exit(130)
