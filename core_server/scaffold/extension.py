"""``core-server add-extension``: write an extension module and register it in ``register()``.

Idempotent: an existing registration of the same (type, id) is left alone, an existing module
file is kept unless ``force`` is set, and config entries are only added when absent.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from core_server import registry as reg
from core_server.scaffold.errors import ScaffoldError
from core_server.scaffold.render import render_template

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
#: Lines that mark the end of the generated registrations (ours and TDP's generator).
END_MARKERS = ("# core-server:end", "# generator-phovea:end")
LINE_LENGTH = 100


@dataclass
class AddedExtension:
    """What :func:`add_extension` did."""

    type: str
    id: str
    module: str
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    registered: bool = False
    config_changed: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class _Target:
    package: Path
    name: str
    type: str
    id: str
    module: str
    config_key: str
    base: str | None

    def values(self) -> dict[str, str]:
        camel = "".join(p[:1].upper() + p[1:] for p in re.split(r"[_-]", self.id))
        return {"plugin": self.name, "id": self.id, "module": self.module, "type": self.type,
                "config_key": self.config_key, "config_env": self.config_key.replace(".", "__"),
                "base": self.base or "", "idtype": camel + "IDType",
                "namespace": f"/api/{self.id}", "blueprint": f"{self.name}_{self.id}",
                "route": f"{self.id}/{{name}}"}


def canonical_type(type: str) -> str:
    """The extension type for ``type`` (TDP aliases accepted) or :class:`ScaffoldError`."""
    canonical = reg.ALIASES.get(type, type)
    if canonical not in reg.EXTENSION_TYPES:
        known = ", ".join([*reg.EXTENSION_TYPES, *reg.ALIASES])
        raise ScaffoldError(f"unknown extension type {type!r}; known: {known}")
    return canonical


def find_package(plugin_dir: str | Path) -> Path:
    """The plugin package in ``plugin_dir`` (the project folder or the package itself)."""
    folder = Path(plugin_dir).resolve()
    if (folder / "__init__.py").is_file():
        return folder
    for name in (folder.name, _project_name(folder)):
        if name and (folder / name / "__init__.py").is_file():
            return folder / name
    found = [p.parent for p in sorted(folder.glob("*/__init__.py"))
             if p.parent.name not in ("tests", "docs")]
    if len(found) == 1:
        return found[0]
    raise ScaffoldError(f"no plugin package in {folder}: expected {folder.name}/__init__.py "
                        "(run inside the plugin project or pass --plugin DIR)")


def _project_name(folder: Path) -> str | None:
    try:
        import tomllib

        with open(folder / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["name"]).replace("-", "_")
    except (OSError, KeyError, ValueError):
        return None


def add_extension(type: str, id: str, plugin_dir: str | Path = ".", *, module: str | None = None,
                  config_key: str | None = None, base: str | None = None,
                  force: bool = False) -> AddedExtension:
    """Add extension ``id`` of ``type`` to the plugin in ``plugin_dir``.

    :param module: module name inside the package (default: ``id`` with ``-`` as ``_``).
    :param config_key: config section a connector reads ``dburl`` from (default: the plugin).
    :param base: the connector a ``db-connector-extension`` shares its engine with (required).
    :param force: overwrite existing module files.
    """
    target = _target(type, id, plugin_dir, module, config_key, base)
    module_path = "" if target.type in reg.DESC_ONLY_TYPES else f"{target.name}.{target.module}"
    result = AddedExtension(target.type, target.id, module_path)
    for suffix, template in _templates(target.type):
        _write(target.package / f"{target.module}{suffix}",
               render_template("extensions", template, target.values()), force, result)
    result.registered = register_line(target.package / "__init__.py", target.type, target.id,
                                      result.module, _desc(target))
    if target.type == reg.DB_CONNECTOR:
        _add_dburl(target, result)
    return result


def _target(type: str, id: str, plugin_dir: str | Path, module: str | None,
            config_key: str | None, base: str | None) -> _Target:
    canonical = canonical_type(type)
    if not _ID.match(id):
        raise ScaffoldError(f"invalid extension id {id!r}: use letters, digits, _ and -, "
                            "starting with a letter")
    module = module or id.replace("-", "_")
    if not module.isidentifier() or keyword.iskeyword(module) or module == "__init__":
        raise ScaffoldError(f"invalid module name {module!r}: pass --module NAME with a Python "
                            "identifier")
    if canonical == reg.DB_CONNECTOR_EXTENSION and not base:
        raise ScaffoldError("a db-connector-extension shares the engine of another connector: "
                            "pass --base <connector id>")
    if canonical == reg.TDP_DB_MIGRATION and not base:
        raise ScaffoldError("a tdp-sql-database-migration migrates the database of a "
                            "connector: pass --base <connector id>")
    package = find_package(plugin_dir)
    return _Target(package, package.name, canonical, id, module,
                   config_key or package.name, base)


def _templates(type: str) -> list[tuple[str, str]]:
    if type == reg.TDP_DB_MIGRATION:  # an alembic folder; the extension itself has no module
        return [(f"/{name}", f"{type}.{template}") for name, template in (
            ("env.py", "env.py"), ("script.py.mako", "script.py.mako"),
            ("versions/0001_initial.py", "initial.py"))]
    if type in reg.DESC_ONLY_TYPES:
        return []
    files = [(".py", f"{type}.py")]
    if type == reg.DOC_COLLECTION:
        files.append((".yaml", f"{type}.yaml"))
    return files


def _desc(target: _Target) -> dict[str, Any] | None:
    values = target.values()
    descs: dict[str, dict[str, Any]] = {
        reg.DB_CONNECTOR: {"configKey": target.config_key},
        reg.DB_CONNECTOR_EXTENSION: {"base": target.base},
        reg.NAMESPACE: {"namespace": values["namespace"]},
        reg.ENDPOINT: {"route": values["route"], "methods": ["GET"]},
        reg.TDP_PROXY: {"name": target.id, "url": "https://example.org/api/{id}"},
        reg.TDP_CONFIG_SAFE_KEYS: {"configKey": f"{target.config_key}.{target.id}"},
        reg.TDP_DB_MIGRATION: {"scriptLocation": target.module, "dbKey": target.base,
                               "autoUpgrade": False},
    }
    return descs.get(target.type)


def _write(path: Path, text: str, force: bool, result: AddedExtension) -> None:
    if path.exists() and not force:
        result.kept.append(path)
        result.notes.append(f"kept the existing {path.name} (--force overwrites it)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    result.written.append(path)


def register_line(init: Path, type: str, id: str, module: str,
                  desc: dict[str, Any] | None) -> bool:
    """Append ``registry.append(...)`` to ``register()`` in ``init``; False if already there."""
    source = init.read_text(encoding="utf-8")
    function = _register_function(ast.parse(source), init)
    if _registered(function, type, id):
        return False
    lines = source.splitlines(keepends=True)
    index, indent = _insertion_point(function, lines)
    param = function.args.args[0].arg if function.args.args else "registry"
    call = _format_call(indent, param, [type, id, module] + ([desc] if desc else []))
    if index > 0 and not lines[index - 1].endswith("\n"):
        lines[index - 1] += "\n"
    lines.insert(index, call)
    init.write_text("".join(lines), encoding="utf-8")
    return True


def _register_function(tree: ast.Module, init: Path) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("register", "phovea"):
            return node
    raise ScaffoldError(f"{init} defines no register(registry) function to add the extension to")


def _registered(function: ast.FunctionDef, type: str, id: str) -> bool:
    for node in ast.walk(function):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "append" and len(node.args) >= 2
                and all(isinstance(a, ast.Constant) for a in node.args[:2])
                and reg.ALIASES.get(node.args[0].value, node.args[0].value) == type  # type: ignore[attr-defined]
                and node.args[1].value == id):  # type: ignore[attr-defined]
            return True
    return False


def _insertion_point(function: ast.FunctionDef, lines: list[str]) -> tuple[int, str]:
    first = function.body[0]
    indent = lines[first.lineno - 1][:first.col_offset]
    end = function.end_lineno or len(lines)
    for number in range(function.lineno, end + 1):
        if number <= len(lines) and lines[number - 1].strip() in END_MARKERS:
            marker = lines[number - 1]
            return number - 1, marker[:len(marker) - len(marker.lstrip())]
    return end, indent


def _format_call(indent: str, param: str, args: list[Any]) -> str:
    head = f"{indent}{param}.append("
    parts = [repr(a) for a in args]
    one_line = head + ", ".join(parts) + ")\n"
    if len(one_line) <= LINE_LENGTH + 1 or len(parts) < 4:
        return one_line
    return head + ", ".join(parts[:3]) + ",\n" + " " * len(head) + parts[3] + ")\n"


def _add_dburl(target: _Target, result: AddedExtension) -> None:
    plugin, _, rest = target.config_key.partition(".")
    if plugin != target.name:
        result.notes.append(f"set {target.config_key}.dburl in the workspace config: "
                            f"{target.config_key!r} is not a section of this plugin")
        return
    config_file = target.package / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
    section = config
    for part in [p for p in rest.split(".") if p]:
        section = section.setdefault(part, {})
    if "dburl" in section:
        return
    section["dburl"] = f"sqlite:///${{core_server.absoluteDataDir}}/{target.id}.sqlite"
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    result.config_changed = True
    result.notes.append(f"{target.config_key}.dburl = {section['dburl']} added to "
                        f"{config_file.name}; change it there or with the environment variable "
                        f"CORE_SERVER__{target.config_key.replace('.', '__')}__dburl")
