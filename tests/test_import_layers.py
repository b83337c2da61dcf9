"""Floors without upward imports: every import inside mebench/ goes to the same floor or one below.

The floors, bottom to top, are in ``FLOORS``; imports inside functions count too (a lazy import is
still a dependency). Import cycles between modules are refused as well.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mebench"

# module prefix -> floor; the longest matching prefix wins.
FLOORS = {
    "mebench": 0,  # the package itself (__version__)
    "mebench.errors": 0, "mebench.config": 0, "mebench.hashing": 0, "mebench.fsutil": 0, "mebench.registry": 0,
    "mebench.formatting": 0, "mebench.model_files": 0, "mebench.catalog": 0, "mebench.workers": 0,
    "mebench.plotting": 0,
    "mebench.progress": 0,
    "mebench.crashwatch": 0,
    "mebench.io": 1,
    "mebench.data": 2,
    "mebench.face": 3,
    "mebench.features": 4,
    "mebench.classifiers": 5,
    "mebench.protocols": 6,
    "mebench.metrics": 7,
    "mebench.run": 8, "mebench.store": 8, "mebench.cache": 8, "mebench.backends": 8, "mebench.checkpoint": 8,
    "mebench.preflight": 8,
    "mebench.stats": 9,
    "mebench.leaderboard": 10, "mebench.tracking": 10,
    "mebench.commands": 11, "mebench.cli_utils": 11, "mebench.api": 11,
    "mebench.cli": 12,
}
NAMES = {v: k for k, v in sorted(FLOORS.items(), key=lambda kv: -len(kv[0]))}


def floor_of(module: str) -> int:
    best = None
    for prefix, floor in FLOORS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, floor)
    if best is None:
        raise AssertionError(f"{module} is on no floor; add it to FLOORS in {__file__}")
    return best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported mebench module, line) for every import statement in the file, lazy ones included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "mebench"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "mebench":
                target = node.module
            else:
                continue
            # ``from . import x`` names a submodule when x is one
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or \
                    (PACKAGE.parent / Path(*sub.split("."))).is_dir()
                found.append((sub if is_module else target, node.lineno))
    return found


def graph() -> dict[str, list[tuple[str, int]]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_on_a_floor():
    for module in graph():
        floor_of(module)


def test_no_upward_imports():
    upward = []
    for module, deps in graph().items():
        mine = floor_of(module)
        for dep, line in deps:
            if floor_of(dep) > mine:
                upward.append(f"{module}:{line} imports {dep} (floor {floor_of(dep)} > {mine})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = graph()
    edges = {m: sorted({d for d, _ in deps if d in g and d != m}) for m, deps in g.items()}
    # a package's __init__ importing its own submodules is a facade, not a cycle
    edges = {m: [d for d in ds if not d.startswith(m + ".")] for m, ds in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in edges[m]:
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("source,target", [("mebench.io.clips", "mebench.data.synthetic"),
                                           ("mebench.data.common", "mebench.face.spotting")])
def test_the_checker_catches_an_upward_import(source, target):
    assert floor_of(target) > floor_of(source)
