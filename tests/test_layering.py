"""The import structure of docs/architecture.rst: no cycles, calls go down, packages show one face.

Imports inside functions count like any other (they hide cycles, they don't remove them). The
rules mirror the diagram in docs/architecture.rst; a change of the design changes both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPAT = ("tdp_core", "visyn_core", "phovea_server")
WIRE = ("core_server.errors", "core_server.encoding", "core_server.requestlog",
        "core_server.openapi", "core_server.introspection", "core_server.values",
        "core_server.trees")
SUBSYSTEMS = ("core_server.dbview", "core_server.docstore", "core_server.idtypes",
              "core_server.tdp", "core_server.browse")
#: Modules that may build the app: the entry points and the pytest plugin.
APP_USERS = ("core_server", "core_server.cli", "core_server.wsgi", "core_server.testing")
#: The most imports inside functions of our own modules (each with a comment saying why).
MAX_LOCAL_IMPORTS = 8


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for file in sorted((ROOT / package).rglob("*.py")):
        parts = file.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


MODULES = {name: file for package in ("core_server", *COMPAT) if (ROOT / package).is_dir()
           for name, file in _modules(package).items()}


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module.split(".")
    if node.level:
        package = base if MODULES[module].name == "__init__.py" else base[:-1]
        base_name = ".".join(package[:len(package) - node.level + 1] + ([node.module]
                                                                        if node.module else []))
    else:
        base_name = node.module or ""
    return [f"{base_name}.{a.name}" if f"{base_name}.{a.name}" in MODULES else base_name
            for a in node.names]


def _own(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _imports() -> tuple[dict[str, set[str]], list[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    local: list[str] = []
    for name, file in MODULES.items():
        tree = ast.parse(file.read_text(encoding="utf-8"))
        inner = {id(n) for fn in ast.walk(tree)
                 if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in filter(None, map(_own, _targets(name, node))):
                if target != name:
                    edges[name].add(target)
                    if id(node) in inner and target.startswith("core_server"):
                        local.append(f"{file.relative_to(ROOT)}:{node.lineno} -> {target}")
    return edges, local


EDGES, LOCAL = _imports()


def _cycles() -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in EDGES[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            # a package importing its own submodules is its public face, not a cycle
            if len(component) > 1 and not all(m.startswith(min(component)) for m in component):
                found.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    return found


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _package_of(module: str) -> str | None:
    return next((p for p in SUBSYSTEMS + ("core_server.security",) if _within(module, (p,))), None)


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_few_imports_inside_functions() -> None:
    assert len(LOCAL) <= MAX_LOCAL_IMPORTS, "\n".join(LOCAL)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module: str) -> None:
    broken = []
    for target in sorted(EDGES[module]):
        if _within(module, WIRE) and _within(target, SUBSYSTEMS):
            broken.append(f"{target} (the wire layer serves every subsystem, it uses none)")
        if _within(module, ("core_server.dbview",)) and _within(target, ("core_server.docstore",)) \
                or _within(module, ("core_server.docstore",)) \
                and _within(target, ("core_server.dbview",)):
            broken.append(f"{target} (dbview and docstore are independent)")
        if target == "core_server.app" and module not in APP_USERS:
            broken.append(f"{target} (only entry points build the app)")
        if module.startswith("core_server") and _within(target, COMPAT):
            broken.append(f"{target} (the core never uses its compat packages)")
        mine, theirs = _package_of(module), _package_of(target)
        if theirs and mine != theirs and target != theirs:
            broken.append(f"{target} (other packages import {theirs}'s face only)")
        if _within(module, COMPAT) and target.startswith("core_server") \
                and any(part.startswith("_") for part in target.split(".")):
            broken.append(f"{target} (compat packages re-export public names only)")
    assert broken == [], f"{module} imports " + "; ".join(broken)
