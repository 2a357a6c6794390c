"""What every command shares on its way out: one JSON printer, the errors a command raises, and a parser that
raises its usage errors so that ``--json`` can answer them in JSON too."""

from __future__ import annotations

import argparse
import json
import math
import sys


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


def say(message: str) -> None:
    """A line for the person at the terminal (stderr), never mixed into the output a script reads."""
    print(message, file=sys.stderr, flush=True)


def fmt_pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"
