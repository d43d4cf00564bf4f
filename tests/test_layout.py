"""The package's layout: imports only point down the layers of DESIGN.md, no import
circles, every module imports, every dotted ``ras_lightning.…`` name written in the code or
the README exists."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import ras_lightning
from tests.conftest import REPO

PACKAGE = Path(ras_lightning.__file__).parent


def _modules() -> list[str]:
    return ["ras_lightning"] + [
        m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="ras_lightning.")
    ]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` names, relative imports resolved in ``package``."""
    base = node.module or ""
    if node.level:
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return base


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports, at module level or inside functions (a lazy
    import closes a circle as surely), but not under ``if TYPE_CHECKING:``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child, package)
                # `from pkg import mod` needs the module pkg.mod; `from pkg import name`, pkg
                for a in child.names:
                    found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in modules and m != name}


#: DESIGN.md's floors: ``utils`` <- ``data``, ``models`` <- ``metrics`` <- ``training``,
#: ``inference`` <- the entry points (the package's top-level modules) <- ``benchmarks``
LAYERS = {"utils": 0, "data": 1, "models": 1, "metrics": 2, "training": 3, "inference": 3}
ENTRY = 4


def layer(module: str) -> int:
    """The floor of a module of the package (``ras_lightning.conf`` holds no code)."""
    parts = module.split(".")
    if len(parts) == 1:
        return ENTRY  # the package's __init__ exports the public API
    if parts[1] in LAYERS:
        return LAYERS[parts[1]]
    assert len(parts) == 2, f"{module}: a sub-package that is not a layer of DESIGN.md"
    return ENTRY


def _all_imports(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every module the code of module ``name`` names in an import statement, anywhere:
    module level, inside functions (a lazy import points up as surely) and under
    ``if TYPE_CHECKING:``."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def _upward(sources: dict[str, tuple[str, bool]], modules: set[str]) -> list[str]:
    """``importer -> imported`` for every import of a higher floor (or of ``benchmarks``)."""
    bad = []
    for mod, (source, is_package) in sorted(sources.items()):
        for target in sorted(_all_imports(source, mod, is_package)):
            if target.split(".")[0] == "benchmarks":
                bad.append(f"{mod} -> {target} (benchmarks sit above the package)")
            elif target in modules and target != mod and layer(target) > layer(mod):
                bad.append(f"{mod} (floor {layer(mod)}) -> {target} (floor {layer(target)})")
    return bad


def test_layer_of_each_floor() -> None:
    assert layer("ras_lightning.utils.errors") == 0
    assert layer("ras_lightning.data.readers") == layer("ras_lightning.models.ras") == 1
    assert layer("ras_lightning.metrics.registry") == 2
    assert layer("ras_lightning.training.module") == layer("ras_lightning.inference") == 3
    assert layer("ras_lightning.eval") == layer("ras_lightning") == ENTRY


def test_upward_finder_sees_lazy_relative_and_type_checking_imports() -> None:
    modules = {
        "ras_lightning.data.readers",
        "ras_lightning.data.sample",
        "ras_lightning.training.module",
        "ras_lightning.metrics",
        "ras_lightning.eval",
        "ras_lightning.utils.errors",
    }
    code = (
        "from typing import TYPE_CHECKING\n"
        "from ras_lightning.utils.errors import UserError\n"
        "from .sample import Sample\n"
        "if TYPE_CHECKING:\n    from ras_lightning.training import module\n"
        "def f():\n    import ras_lightning.eval\n"
        "    from .. import metrics\n"
    )
    bad = _upward({"ras_lightning.data.readers": (code, False)}, modules)
    assert [b.split(" -> ")[1].split(" ")[0] for b in bad] == [
        "ras_lightning.eval",
        "ras_lightning.metrics",
        "ras_lightning.training.module",
    ]
    assert _upward({"ras_lightning.eval": (code, False)}, modules) == []


def test_imports_only_point_down() -> None:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "conf" not in p.parts}
    sources = {m: (p.read_text(), p.name == "__init__.py") for m, p in files.items()}
    assert _upward(sources, set(files)) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def test_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph = {m: _imports(p, modules) for m, p in files.items()}
    assert "ras_lightning.data.checks" in graph["ras_lightning.data.discovery"]  # edges seen
    assert _cycles(graph) == []


@pytest.mark.parametrize("name", _modules())
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_dotted_names_in_code_and_readme_exist() -> None:
    texts = [p.read_text() for p in PACKAGE.rglob("*.py")]
    texts += [(REPO / "README.md").read_text()]
    texts += [p.read_text() for p in (PACKAGE / "conf").rglob("*.yaml")]
    names = set()
    for text in texts:
        # `python -m ras_lightning.train` and ``ras_lightning.models.RAS`` alike
        names.update(m.rstrip(".") for m in re.findall(r"\bras_lightning(?:\.\w+)+", text))
    missing = sorted(n for n in names if not _resolves(n))
    assert not missing, missing
