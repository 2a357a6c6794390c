"""How big `pip install -r requirements.txt` is, measured: the README's install size comes from here.

    python -m bench.install_size [--write]

Reads requirements.txt, follows every requirement's own requirements (with their environment markers and the
extras asked for) through the installed distributions' metadata, and adds up, per distribution of that closure,
the sizes of the files its RECORD lists (the files pip installed; byte-code compiled later is not counted).
``--write`` saves bench/results/install-size-<date>.json (packages, bytes per package, the groups the README
names, the machine) and rewrites the README's block from it; tests/test_readme.py checks the block against the
newest file, and the file against this environment when it has the versions requirements.txt pins.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
REQUIREMENTS = ROOT / "requirements.txt"
GIB = 2**30
GROUPS = {  # the README's parts of the total, in its order (the first match wins)
    "the `nvidia-*`/`cuda-*` libraries": lambda n: n.startswith(("nvidia-", "cuda-")),
    "`torch`": lambda n: n == "torch",
    "`triton`": lambda n: n == "triton",
    "everything else": lambda n: True,
}


def requirements(path: Path = REQUIREMENTS) -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    env = default_environment()
    return any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""}))


def closure(roots: list[Requirement]) -> tuple[dict[str, metadata.Distribution], list[str]]:
    """Every installed distribution the requirements need, by canonical name, and the names not installed."""
    found: dict[str, metadata.Distribution] = {}
    extras_seen: dict[str, set[str]] = {}
    missing: list[str] = []
    todo = [(r, set()) for r in roots]
    while todo:
        req, parent_extras = todo.pop()
        if not _applies(req, parent_extras):
            continue
        name = canonicalize_name(req.name)
        new_extras = set(req.extras) - extras_seen.get(name, set())
        if name in found and not new_extras:
            continue
        try:
            dist = found.get(name) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found[name] = dist
        extras_seen[name] = extras_seen.get(name, set()) | set(req.extras)
        todo += [(Requirement(r), extras_seen[name]) for r in dist.requires or ()]
    return found, sorted(set(missing))


def installed_bytes(dist: metadata.Distribution) -> int:
    """The sizes of the files the distribution's RECORD lists, each file once."""
    seen, total = set(), 0
    for f in dist.files or ():
        path = Path(dist.locate_file(f)).resolve()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        total += path.stat().st_size
    return total


def measure() -> dict:
    dists, missing = closure(requirements())
    sizes = {name: installed_bytes(d) for name, d in sorted(dists.items())}
    groups = dict.fromkeys(GROUPS, 0)
    for name, size in sizes.items():
        groups[next(g for g, match in GROUPS.items() if match(name))] += size
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "packages": len(sizes),
        "bytes": sum(sizes.values()),
        "groups": groups,
        "versions": {name: d.version for name, d in sorted(dists.items())},
        "sizes": sizes,
        "missing": missing,
        "machine": {"machine": platform.machine(), "system": platform.system(), "python": platform.python_version()},
    }


def newest() -> dict | None:
    files = sorted(RESULTS.glob("install-size-*.json"))
    return json.loads(files[-1].read_text()) if files else None


def gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def sentence(result: dict) -> str:
    """The README's words for a measurement."""
    m = result["machine"]
    parts = ", ".join(f"{name} {gib(size)}" for name, size in result["groups"].items())
    return (
        f"`pip install -r requirements.txt` installs {result['packages']} packages taking {gib(result['bytes'])} "
        "(the files pip installed for "
        f"`requirements.txt`'s dependency closure, measured by `python -m bench.install_size` on {m['system']} "
        f"{m['machine']} with Python {m['python'][:4]} on {result['date']}: {parts})."
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="save the result and rewrite the README's block")
    args = p.parse_args(argv)
    result = measure()
    print(sentence(result))
    if result["missing"]:
        print("not installed here (not counted):", ", ".join(result["missing"]))
    if args.write:
        from core.cli import readme

        out = RESULTS / f"install-size-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
        readme.README.write_text(readme.replace_block(readme.README.read_text(), "install-size", sentence(result)))
        print(f"wrote {out.relative_to(ROOT)} and the README's block")


if __name__ == "__main__":
    main()
