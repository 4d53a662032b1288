"""The package's layers, checked: no import cycles, and a pure core that loads no I/O library.

The cycle check reads the source with `ast` and counts only imports made when a module is
loaded: an import inside a function, or under `if TYPE_CHECKING:`, runs later or never, so it
cannot make a cycle at start-up. A cycle is named module by module, so the fix is obvious.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "foi_mailbot"

# The pure core: deciding, counting and naming things, with no database, network or parser.
PURE_MODULES = (
    "foi_mailbot.classify",
    "foi_mailbot.cases.reference",
    "foi_mailbot.deadlines",
    "foi_mailbot.cases.lifecycle",
    "foi_mailbot.cases.senders",
)
IO_LIBRARIES = ("mailparser", "sqlalchemy", "imapclient", "smtplib")


def module_name(path: Path) -> str:
    """`foi_mailbot/cases/reference.py` -> `foi_mailbot.cases.reference` (a package is its name)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def load_time_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements run when the module loads: not in functions, not under TYPE_CHECKING."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            pending.extend(node.body)


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
                     known: set[str]) -> set[str]:
    """The package's modules an import statement loads (`from pkg import mod` loads `pkg.mod`)."""
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        source = _resolve(node, importer, is_package)
        names = {source} | {f"{source}.{alias.name}" for alias in node.names}
    # Importing `a.b.c` runs `a` and `a.b` first: each is an edge of its own, except the
    # importer's own packages, which are always loaded (or being loaded) before it runs.
    parts = importer.split(".")
    own = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    found: set[str] = set()
    for name in names:
        parts = name.split(".")
        found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & known
    return found - own


def import_graph() -> dict[str, set[str]]:
    """Each module of foi_mailbot and the package's modules it imports when it loads."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = set().union(
            *(imported_modules(n, name, is_package, known) for n in load_time_imports(tree))
        )
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules, each as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the package is small enough to recurse.
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(_one_cycle(graph, set(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _one_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A path from the group's first module back to itself, staying inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return sorted(group)  # pragma: no cover - a strongly connected group always has a cycle


def test_no_module_of_the_package_imports_itself_in_a_cycle() -> None:
    """Each layer can be loaded and understood without the ones that use it."""
    cycles = find_cycles(import_graph())

    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_cycle_and_ignores_type_checking_and_function_imports() -> None:
    """The checker itself: a real cycle is named; imports that run later are not counted."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import foi_mailbot.b\n"
        "if TYPE_CHECKING:\n    import foi_mailbot.c\n"
        "def later() -> None:\n    import foi_mailbot.c\n"
    )
    known = {"foi_mailbot.a", "foi_mailbot.b", "foi_mailbot.c"}
    edges = set().union(*(
        imported_modules(n, "foi_mailbot.a", False, known)
        for n in load_time_imports(ast.parse(source))
    ))
    graph = {"foi_mailbot.a": edges, "foi_mailbot.b": {"foi_mailbot.a"},
             "foi_mailbot.c": {"foi_mailbot.a"}}

    assert {"foi_mailbot.b"} == edges
    assert [["foi_mailbot.a", "foi_mailbot.b", "foi_mailbot.a"]] == find_cycles(graph)


def modules_loaded_by(statement: str) -> set[str]:
    """The top-level names in sys.modules after running `statement` in a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_the_pure_core_loads_no_database_network_or_parser_library(module: str) -> None:
    """Classification, references, the clock, the life cycle and who sent a message are plain
    functions of data."""
    loaded = modules_loaded_by(f"import {module}")

    assert not loaded & set(IO_LIBRARIES), sorted(loaded & set(IO_LIBRARIES))
