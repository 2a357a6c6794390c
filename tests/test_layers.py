"""The house rules of the code, read from the source with ``ast``: core's layers import one way only and in no
circle, no function grows past a screenful, and statuses are compared only by the lifecycle module."""

import ast
import re
from collections import defaultdict
from pathlib import Path

from conftest import ROOT

CORE = ROOT / "core"
# A module may import its own layer and the layers below it, never one above.
LAYERS = {"engine": 0, "runs": 1, "analysis": 2, "cli": 3}
MAX_FUNCTION_LINES = 80
STATUS_NAMES = ("queued", "running", "done", "cancelled", "interrupted", "diverged", "failed")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_imports(path: Path) -> set[str]:
    """Every core module that ``path`` imports, at the top or inside a function."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "core"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "core":
                continue
            for alias in node.names:  # `from .x import y`: y may itself be a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if module_path(candidate) else base)
    return {m for m in found if module_path(m)}


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): core_imports(p) for p in sorted(CORE.rglob("*.py"))}


def test_every_module_of_core_belongs_to_a_layer():
    loose = [
        module_name(p)
        for p in CORE.rglob("*.py")
        if layer(module_name(p)) is None and p.name not in ("__init__.py", "__main__.py")
    ]
    assert not loose, f"modules outside engine/, runs/, analysis/ and cli/: {loose}"


def test_imports_point_down_the_layers():
    wrong = [
        f"{m} -> {t}"
        for m, targets in import_graph().items()
        for t in targets
        if layer(m) is not None and layer(t) is not None and layer(t) > layer(m)
    ]
    assert not wrong, "imports against the layers (engine < runs < analysis < cli): " + "; ".join(sorted(wrong))


def test_engine_imports_neither_the_store_nor_the_command_line():
    engine = {m: t for m, t in import_graph().items() if layer(m) == 0}
    assert engine and all(layer(x) == 0 for targets in engine.values() for x in targets)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = defaultdict(int), []  # 0 new, 1 on the stack, 2 done

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == node:
                continue
            if state[nxt] == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if state[nxt] == 0 and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state[node] == 0 and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circles_in_core():
    graph = {m: {t for t in targets if t != m} for m, targets in import_graph().items()}
    # A package's __init__ that imports its own modules is not a circle through them.
    graph = {
        m: {t for t in targets if not (m.startswith(t + ".") and module_path(t).name == "__init__.py")}
        for m, targets in graph.items()
    }
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph))}"


def test_the_circle_finder_finds_circles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_core_never_imports_streamlit_or_the_dashboard():
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        assert not {n for n in names if n.split(".")[0] in ("streamlit", "dashboard", "pages")}, path


def long_functions(paths) -> list[tuple[int, str]]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines >= MAX_FUNCTION_LINES:
                    found.append((lines, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def test_no_function_is_longer_than_a_screen():
    paths = [*CORE.rglob("*.py"), *(ROOT / "dashboard").rglob("*.py"), *(ROOT / "pages").glob("*.py")]
    assert not long_functions(paths), f"functions of {MAX_FUNCTION_LINES}+ lines: {long_functions(paths)}"


STATUS_LITERAL = "|".join(STATUS_NAMES)
STRING_COMPARISON = re.compile(
    rf"""status\w*\s*(==|!=)\s*["']({STATUS_LITERAL})["']|["']({STATUS_LITERAL})["']\s*(==|!=)\s*[\w.]*status"""
    rf"""|status\w*\s+(not\s+)?in\s+[(\[{{]\s*["']({STATUS_LITERAL})["']|statuses\s*=\s*[(\[]\s*["']"""
)


def test_statuses_are_compared_only_in_the_lifecycle_module():
    allowed = {CORE / "runs" / "lifecycle.py"}
    paths = [p for d in ("core", "dashboard", "pages", "bench") for p in (ROOT / d).rglob("*.py") if p not in allowed]
    hits = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in paths
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if STRING_COMPARISON.search(line)
    ]
    assert not hits, "status strings compared outside core/runs/lifecycle.py:\n" + "\n".join(hits)


def test_the_status_grep_sees_string_comparisons():
    for line in (
        'if record.status == "done":',
        "x = r.status != 'failed'",
        'if status in ("queued", "running"):',
        'stored_runs(store, statuses=("done",))',
        'if "done" == record.status:',
    ):
        assert STRING_COMPARISON.search(line), line
    assert not STRING_COMPARISON.search("if lifecycle.is_done(record):")
