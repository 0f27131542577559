"""The module graph of src/kanjinet: no import cycle, and no import that climbs.

The subpackages are stages, lowest first (docs/ARCHITECTURE.md). A module imports its
own subpackage and the ones below it, never one above; the top-level modules (the CLI
and the commands that span stages) may import any. Every import counts, also one inside
a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kanjinet

PACKAGE = Path(kanjinet.__file__).parent
#: The stages, lowest first; "" is the top level (cli, check, inspect, script_aliases).
LAYERS = (
    "core",
    "etl",
    "preprocess",
    "synthesis",
    "data",
    "training",
    "inference",
    "export",
    "web",
    "",
)


def module_name(path: Path) -> str:
    """src/kanjinet/etl/etl9g.py -> "etl.etl9g"; a package's __init__ -> its name."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
#: The most lines a module may hold: a longer one holds more than one concern to split.
MAX_MODULE_LINES = 600
#: The most modules at the package's top (the CLI and the commands that span stages).
MAX_TOP_LEVEL_MODULES = 8


def resolve(dotted: str) -> str | None:
    """The kanjinet module a dotted name (a module, or a name in one) refers to."""
    while dotted:
        if dotted in MODULES:
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


def imports_of(module: str) -> list[tuple[str, str | None]]:
    """(kanjinet module imported, enclosing function or None) for every import in `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, str | None]] = []

    def add(dotted: str, function: str | None) -> None:
        target = resolve(dotted)
        if target is not None and target != "":
            found.append((target, function))

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
            )
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("kanjinet."):
                        add(alias.name[len("kanjinet.") :], function)
            elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("kanjinet"):
                base = child.module[len("kanjinet.") :] if "." in child.module else ""
                for alias in child.names:
                    add(f"{base}.{alias.name}".lstrip("."), function)
            visit(child, inner or function)

    visit(tree, None)
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        module: {target for target, _ in imports_of(module) if target != module}
        for module in MODULES
    }


def layer(module: str) -> str:
    head = module.split(".")[0]
    return head if "." in module or head in LAYERS and (PACKAGE / head).is_dir() else ""


def climbing_imports(graph: dict[str, set[str]]) -> list[str]:
    """`a -> b` for every import of a module in a higher stage than the importer's."""
    return [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if LAYERS.index(layer(target)) > LAYERS.index(layer(module))
    ]


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


def subpackage_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in LAYERS}
    for module, targets in import_graph().items():
        graph[layer(module)] |= {layer(t) for t in targets} - {layer(module)}
    return graph


def long_modules(paths: list[Path], limit: int = MAX_MODULE_LINES) -> list[str]:
    """`path: N lines` for every file of `paths` over `limit` lines."""
    counts = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in paths}
    return [f"{path}: {lines} lines" for path, lines in sorted(counts.items()) if lines > limit]


def test_no_module_is_over_600_lines():
    assert long_modules(list(MODULES.values())) == []


def test_the_package_top_holds_at_most_8_modules():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_the_length_check_finds_a_long_module(tmp_path):
    short, long = tmp_path / "short.py", tmp_path / "long.py"
    short.write_text("x = 1\n" * MAX_MODULE_LINES, encoding="utf-8")
    long.write_text("x = 1\n" * (MAX_MODULE_LINES + 1), encoding="utf-8")
    assert long_modules([short, long]) == [f"{long}: {MAX_MODULE_LINES + 1} lines"]


def test_every_module_lives_in_a_known_stage():
    assert {layer(module) for module in MODULES} <= set(LAYERS)
    assert all((PACKAGE / name / "__init__.py").is_file() for name in LAYERS if name)


def test_every_subpackage_says_what_it_holds_and_may_import():
    for name in filter(None, LAYERS):
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text("utf-8")))
        assert doc and "Imports" in doc, name


def test_no_import_cycle_among_kanjinet_modules():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_no_import_cycle_among_subpackages():
    assert find_cycle(subpackage_graph()) is None


def test_no_import_climbs_to_a_higher_stage():
    assert climbing_imports(import_graph()) == []


def test_training_never_imports_export():
    """`train --export-onnx` is composed by the CLI (`Command.then`)."""
    assert not [t for t in import_graph()["training.train"] if t.startswith("export")]


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_climb_finder_finds_a_climb():
    graph = import_graph()
    graph["core.errors"] = graph["core.errors"] | {"export.exporter", "cli"}
    climbs = climbing_imports(graph)
    assert climbs == ["core.errors -> cli", "core.errors -> export.exporter"]


def test_a_missing_tract_names_the_extra_that_installs_it(monkeypatch):
    import sys

    import pytest

    from kanjinet.core.errors import KanjinetError
    from kanjinet.core.optional import require

    monkeypatch.setitem(sys.modules, "tract", None)  # None there: `import tract` fails
    with pytest.raises(KanjinetError, match=r'\(pip install "kanjinet\[tract\]"\)'):
        require("tract")
