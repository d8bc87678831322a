"""The import graph of zmqzab/: no cycles, and the layering the architecture promises.

Goal: a newcomer can read the package bottom-up; nothing imports back up (README, design in
brief). Setup: every module of zmqzab/ parsed with ``ast`` (no import runs), module-level and
function-level imports alike; only ``if TYPE_CHECKING:`` blocks are left out, because they never
run (they name types for annotations). Expected: no cycle (a failure names it, module by module
with the line of each import); the pure core and game import only themselves, the wire vocabulary
(messages, zxid), msgspec and the stdlib without clocks, I/O or the global random; storage knows
nothing of the chaos tools.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "zmqzab"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # a zmqzab module, or the top-level name of anything else ("os", "zmq")
    names: tuple[str, ...]  # what a ``from X import ...`` takes; () for ``import X``
    line: int

    def where(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


def module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import / ImportFrom node, at any depth, except inside ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _import_nodes(ast.Module(body=node.orelse, type_ignores=[]))
        else:
            yield from _import_nodes(node)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(name, _known(alias.name, modules), (), node.lineno))
            continue
        base = node.module or ""
        if node.level:  # a relative import: resolved against this module's package
            anchor = package
            for _ in range(node.level - 1):
                anchor = anchor.rpartition(".")[0]
            base = f"{anchor}.{base}" if base else anchor
        if base == "__future__":
            continue
        names = tuple(alias.name for alias in node.names)
        submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
        for sub in submodules:  # ``from pkg import module``: the module is what is used
            found.append(Import(name, sub, (), node.lineno))
        if len(submodules) < len(names):
            found.append(Import(name, _known(base, modules), names, node.lineno))
    return found


def _known(dotted: str, modules: dict[str, Path]) -> str:
    """The zmqzab module a dotted name lands in, else its top-level package ("os", "zmq")."""
    name = dotted
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or dotted.partition(".")[0]


def import_graph() -> dict[str, list[Import]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, list[Import]]) -> list[Import] | None:
    """One import cycle (the imports that close it, in order), or None."""
    edges = {m: [i for i in imps if i.target in graph and i.target != m] for m, imps in graph.items()}
    done: set[str] = set()
    stack: list[str] = []  # the modules on the current path ...
    path: list[Import] = []  # ... and the imports between them (path[k]: stack[k] -> stack[k + 1])

    def visit(module: str) -> list[Import] | None:
        stack.append(module)
        for imp in edges[module]:
            if imp.target in stack:
                return path[stack.index(imp.target):] + [imp]
            if imp.target not in done:
                path.append(imp)
                cycle = visit(imp.target)
                if cycle:
                    return cycle
                path.pop()
        stack.pop()
        done.add(module)
        return None

    for module in sorted(edges):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_module_level_function_level_and_relative_imports(tmp_path):
    """The checker itself: a cycle closed by an import inside a function is found and named,
    one under TYPE_CHECKING is not a cycle."""
    pkg = tmp_path / "zz"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from zz import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zz import a\n")
    modules = {"zz": pkg / "__init__.py", "zz.a": pkg / "a.py", "zz.b": pkg / "b.py", "zz.c": pkg / "c.py"}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    cycle = find_cycle(graph)
    assert cycle is not None and [i.where() for i in cycle] == [
        "zz.a (line 1) imports zz.b", "zz.b (line 2) imports zz.a"]
    assert graph["zz.c"] == [Import("zz.c", "typing", ("TYPE_CHECKING",), 1)]


def test_no_import_cycles_in_zmqzab():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(i.where() for i in cycle) + \
        " (break it: move what both sides need into a module below them)"


#: Stdlib modules the pure core and game must not use: clocks, I/O, threads, processes.
IMPURE = {"os", "time", "socket", "threading", "select", "selectors", "signal", "subprocess",
          "multiprocessing", "asyncio", "shutil", "tempfile", "io", "pathlib", "datetime",
          "logging", "sched"}


@pytest.mark.parametrize("layer", ["zmqzab.core", "zmqzab.game"])
def test_core_and_game_are_pure(layer):
    allowed_zmqzab = {layer, "zmqzab.messages", "zmqzab.zxid"}
    wrong = []
    for module, imports in import_graph().items():
        if module != layer and not module.startswith(layer + "."):
            continue
        for imp in imports:
            top = imp.target.partition(".")[0]
            if imp.target.startswith("zmqzab"):
                ok = any(imp.target == a or imp.target.startswith(a + ".") for a in allowed_zmqzab)
            elif top == "random":  # only the class, to be injected; never the global generator
                ok = imp.names == ("Random",)
            else:
                ok = top == "msgspec" or (top in sys.stdlib_module_names and top not in IMPURE)
            if not ok:
                wrong.append(imp.where() + (f" ({', '.join(imp.names)})" if imp.names else ""))
    assert not wrong, f"{layer} must stay pure (no I/O, no clock, no threads, no global random; " \
                      f"only itself, messages and zxid from zmqzab): " + "; ".join(wrong)


def test_storage_does_not_import_the_chaos_tools():
    wrong = [imp.where() for module, imports in import_graph().items()
             if module.startswith("zmqzab.storage") for imp in imports
             if imp.target.startswith("zmqzab.chaos")]
    assert not wrong, "storage must not know the chaos tools (the power-loss witness installs " \
                      "itself through storage.durable.set_witness): " + "; ".join(wrong)
