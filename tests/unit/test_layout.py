"""The package's layout says what runs where, and the import graph keeps to it.

- ``sparkify.pipeline`` (what Airflow workers import) imports nothing of ``local``,
  ``control`` or ``cli``, nor anything of the ``local`` extra (moto, rich);
- ``sparkify.control`` (any Airflow's REST API) imports nothing of ``local``, ``cli`` or
  Airflow itself, at module level;
- no module imports itself back through another (no cycles), counting imports inside
  functions too (only ``TYPE_CHECKING`` blocks are left out);
- every package folder is listed in ``pyproject.toml`` (the wheel ships only those).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sparkify"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules ``path`` imports, anywhere but under ``if TYPE_CHECKING:`` (never run).

    ``from a.b import c`` counts ``a.b`` and ``a.b.c``.
    """
    found: set[str] = set()

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                walk(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(ast.parse(path.read_text()))
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _in(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize(
    "name", [n for n in MODULES if _in(n, "sparkify.pipeline")], ids=lambda n: n
)
def test_worker_code_imports_no_local_tooling(name):
    imported = _imports(MODULES[name])
    bad = sorted(
        i
        for i in imported
        if _in(i, "sparkify.local", "sparkify.control", "sparkify.cli", "moto", "rich")
    )
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize(
    "name", [n for n in MODULES if _in(n, "sparkify.control")], ids=lambda n: n
)
def test_control_imports_neither_airflow_nor_local_tooling(name):
    imported = _imports(MODULES[name])
    bad = sorted(i for i in imported if _in(i, "sparkify.local", "sparkify.cli", "airflow", "moto"))
    assert not bad, f"{name} imports {bad}"


def test_no_import_cycles():
    graph = {
        name: {i for i in _imports(path) if i in MODULES and i != name}
        for name, path in MODULES.items()
    }
    # A package's __init__ importing its own submodules is not a cycle of responsibility;
    # a submodule importing its package back through a sibling is.
    cycles = []

    def visit(node: str, stack: list[str], seen: set[str]) -> None:
        for nxt in graph[node]:
            if nxt in stack:
                cycle = [*stack[stack.index(nxt) :], nxt]
                if not all(_in(c, cycle[0]) or _in(cycle[0], c) for c in cycle):
                    cycles.append(" -> ".join(cycle))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, [*stack, nxt], seen)

    for start in graph:
        visit(start, [start], {start})
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_every_package_folder_ships_in_the_wheel():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert on_disk <= listed, f"not in pyproject.toml's packages: {sorted(on_disk - listed)}"


def test_no_module_name_stands_in_for_a_subpackage():
    # `stack_api`, `generate_dirty`: a prefix shared by two modules of one folder.
    for folder in {p.parent for p in PACKAGE.rglob("*.py")}:
        stems = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        prefixes = [s.split("_")[0] for s in stems if "_" in s]
        shared = {p for p in prefixes if prefixes.count(p) > 1 and p in stems}
        assert not shared, f"{folder}: modules prefixed {shared} want a subpackage"
