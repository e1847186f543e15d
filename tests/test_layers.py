"""The package's layers, read from its source: every import of an aekit module, also those inside functions (not
those under ``if TYPE_CHECKING:``), goes down or sideways, never up, and no chain of imports comes back to its
start. Low to high: the core (top-level modules), data, training and reporting (reporting never imports
training), the uses, the CLI (imported by nothing but ``python -m aekit``)."""

import ast
from pathlib import Path

import pytest

import aekit

ROOT = Path(aekit.__file__).parent
ROOMS = ("data", "training", "reporting", "uses", "cli")
ALLOWED = {  # room -> the rooms its modules may import ("package": ``from aekit import __version__``)
    "core": {"core", "package"},
    "data": {"core", "package", "data"},
    "reporting": {"core", "package", "data", "reporting"},
    "training": {"core", "package", "data", "reporting", "training"},
    "uses": {"core", "package", "data", "reporting", "training", "uses"},
    "cli": {"core", "package", "data", "reporting", "training", "uses", "cli"},
}
PLACED = {"aekit.sklearn": "uses", "aekit.__main__": "cli"}  # top-level by name (the public API), above the core


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")


def _room(module: str) -> str:
    parts = module.split(".")
    if module in PLACED:
        return PLACED[module]
    if len(parts) == 1:
        return "package"
    return parts[1] if parts[1] in ROOMS else "core"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The aekit modules `path` imports (a name imported from a module counts as that module, or as the
    submodule of that name where there is one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("aekit")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("aekit"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found - {_name(path)}


MODULES = {_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {name: _imports(path, set(MODULES)) for name, path in MODULES.items()}


def test_the_source_is_read():
    assert len(MODULES) > 60 and "aekit.training.loop" in GRAPH["aekit.training.finishing"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_or_sideways(module):
    room = _room(module)
    if room == "package":
        return  # __init__ maps public names to their homes, lazily
    up = sorted(m for m in GRAPH[module] if _room(m) not in ALLOWED[room])
    assert not up, f"{module} ({room}) imports {up} from a higher layer"


def test_nothing_imports_the_cli_but_the_cli():
    users = sorted(m for m, deps in GRAPH.items() if _room(m) != "cli" and any(_room(d) == "cli" for d in deps))
    assert not users


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(GRAPH.get(m, ())):
            if d not in MODULES or _room(d) == "package":
                continue  # `from aekit import __version__`: the package's own attribute
            if state.get(d) == 1:
                cycles.append(path[path.index(d) :] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m, [m])
    assert not cycles
