"""The module graph of src/kanjinet has no import cycle (docs/ARCHITECTURE.md).

Every import counts, also one inside a function. The one deliberate lazy import of a
kanjinet module by another that could import it at the top is `export` inside
`train.run_train` (only --export-onnx needs it), and it says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kanjinet

PACKAGE = Path(kanjinet.__file__).parent
MODULES = {path.stem for path in PACKAGE.glob("*.py")}


def imports_of(module: str) -> list[tuple[str, str | None]]:
    """(kanjinet module imported, enclosing function or None) for every import in `module`."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
            )
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names if a.name.startswith("kanjinet.")]
                found.extend((name.split(".")[1], function) for name in names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                if child.module == "kanjinet":
                    found.extend((a.name, function) for a in child.names if a.name in MODULES)
                elif child.module.startswith("kanjinet."):
                    found.append((child.module.split(".")[1], function))
            visit(child, inner or function)

    visit(tree, None)
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        graph[module] = {target for target, _ in imports_of(module) if target != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None if the graph is acyclic."""
    state: dict[str, str] = {}
    path: list[str] = []

    def walk(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := walk(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := walk(module)):
            return cycle
    return None


def test_no_import_cycle_among_kanjinet_modules():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_export_is_imported_lazily_inside_run_train_only_and_says_why():
    assert [f for target, f in imports_of("train") if target == "export"] == ["run_train"]
    source = (PACKAGE / "train.py").read_text(encoding="utf-8")
    before = source[: source.index("    from kanjinet import export\n")].splitlines()
    assert "lazily" in " ".join(before[-3:])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_a_missing_tract_names_the_extra_that_installs_it(monkeypatch):
    import sys

    import pytest

    from kanjinet.errors import KanjinetError
    from kanjinet.runtime import require

    monkeypatch.setitem(sys.modules, "tract", None)  # None there: `import tract` fails
    with pytest.raises(KanjinetError, match=r'\(pip install "kanjinet\[tract\]"\)'):
        require("tract")
