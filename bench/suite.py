"""The test suite's size and duration, measured: the README's figures for them come from here.

    python -m bench.suite --collect [--write]       # count the tests (seconds), update the README's table
    python -m bench.suite [--fast] [--write]        # run the suite (or `-m "not slow"`) and time it

A timed run writes bench/results/suite-<kind>-<date>.json (tests passed, failed, skipped, wall seconds, the
machine's cores and load average before and after); ``--collect`` writes only the count of tests pytest collects
now. ``table()`` builds the README's block from the newest of those files, and tests/test_readme.py checks the
block against it and the count against a fresh collection, so the README cannot state a stale number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FAST = ["-m", "not slow"]  # the day-to-day subset (tests/conftest.py marks the slow modules)
PARALLEL = ["-n", "auto", "--dist", "loadfile"]  # as the README's test command (and CI) runs the suite
KINDS = ("full", "fast")


def collected() -> int:
    """How many tests pytest collects in the whole suite now."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    m = re.search(r"(\d+) tests? collected", out)
    if not m:
        raise RuntimeError(f"pytest collected nothing:\n{out[-2000:]}")
    return int(m.group(1))


def machine() -> dict:
    return {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}


def run_suite(fast: bool) -> dict:
    """Run the suite (or the fast subset) once, and what it gave."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        rc = subprocess.run(args + (FAST if fast else PARALLEL), cwd=ROOT, check=False).returncode
        wall = time.perf_counter() - start
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {
        "kind": "fast" if fast else "full",
        "command": "python -m pytest " + ('-m "not slow"' if fast else " ".join(PARALLEL)),
        "tests": n["tests"],
        "passed": n["tests"] - n["failures"] - n["errors"] - n["skipped"],
        "failed": n["failures"] + n["errors"],
        "skipped": n["skipped"],
        "exit_status": rc,
        "wall_s": round(wall, 1),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def save(result: dict) -> Path:
    now = datetime.now(UTC)
    result = {**result, "date": now.isoformat(timespec="seconds"), **machine()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    if result["kind"] == "count":  # only today's count matters: one file
        for old in RESULTS.glob("suite-count-*.json"):
            old.unlink()
    path = RESULTS / f"suite-{result['kind']}-{now:%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def newest(kind: str) -> dict | None:
    paths = sorted(RESULTS.glob(f"suite-{kind}-*.json"))
    return json.loads(paths[-1].read_text()) if paths else None


def table() -> str:
    """The README's block: the count collected now, and the newest timed run of each kind."""
    count = newest("count")
    lines = [
        "| what | command | tests | result | wall time | machine |",
        "|---|---|---|---|---|---|",
    ]
    if count:
        lines.append(
            f"| tests in the suite | `python -m bench.suite --collect` | {count['tests']} | collected "
            f"{count['date'][:10]} | – | – |"
        )
    for kind in KINDS:
        if r := newest(kind):
            result = f"{r['passed']} passed, {r['failed']} failed, {r['skipped']} skipped"
            lines.append(
                f"| {kind} suite | `{r['command']}` | {r['tests']} | {result} | {r['wall_s'] / 60:.1f} min | "
                f"{r['cpus']} cores, load average {r['load_average_before']:g} before, {r['date'][:10]} |"
            )
    return "\n".join(lines)


def write_readme() -> None:
    from core.cli.readme import README, replace_block

    README.write_text(replace_block(README.read_text(), "test-suite", table()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.split("\n\n")[0])
    p.add_argument("--collect", action="store_true", help="only count the tests (no run)")
    p.add_argument("--fast", action="store_true", help='time the fast subset (-m "not slow") instead of the suite')
    p.add_argument("--write", action="store_true", help="update the README's test-suite table from bench/results")
    args = p.parse_args(argv)
    if args.collect:
        result = {"kind": "count", "tests": collected()}
    else:
        result = run_suite(args.fast)
    print(f"wrote {save(result).relative_to(ROOT)}: {json.dumps(result)}")
    if args.write:
        write_readme()
        print("updated README.md's test-suite table")
    return 0 if result.get("exit_status", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
