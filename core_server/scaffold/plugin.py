"""``core-server new-plugin``: a plugin project in the layout of TDP's backend library (slib)."""

from __future__ import annotations

import importlib.util
import json
import keyword
import re
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from core_server.scaffold.errors import ScaffoldError
from core_server.scaffold.render import render_tree
from core_server.version import version

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
#: Names taken by core_server itself, its compatibility shims and the ``/api/<name>`` prefixes of
#: core routes (a plugin's hello namespace is mounted at ``/api/<name>``).
RESERVED_NAMES = frozenset({
    "core_server", "tdp_core", "phovea_server", "plugins", "tests", "docs", "deploy",
    "db", "store", "proxy", "tdp", "login", "logout", "loggedinas", "tokens", "browse",
})


@dataclass
class NewPlugin:
    """What :func:`new_plugin` created."""

    name: str
    root: Path
    files: list[Path]
    warnings: list[str] = field(default_factory=list)


def validate_name(name: str) -> list[str]:
    """Raise :class:`ScaffoldError` if ``name`` cannot be a plugin package; return warnings.

    A name must be a lowercase Python identifier (PEP 8 package name), not a keyword, not a
    standard-library module and not one of :data:`RESERVED_NAMES`. A name that an installed
    package already uses is allowed with a warning (the installed one would win on import).
    """
    if not _NAME.match(name):
        better = re.sub(r"[^a-z0-9_]", "_", name.lower()).lstrip("0123456789_")
        hint = f"; try {better!r}" if better and _NAME.match(better) else ""
        raise ScaffoldError(f"{name!r} is not a valid plugin name: use lowercase letters, digits "
                            f"and underscores, starting with a letter{hint}")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"{name!r} is a Python keyword and cannot name a package")
    if name in sys.stdlib_module_names:
        raise ScaffoldError(f"{name!r} would shadow the standard-library module {name}")
    if name in RESERVED_NAMES:
        raise ScaffoldError(f"{name!r} is reserved by core_server (a core module, shim or "
                            "/api prefix); choose another name")
    if importlib.util.find_spec(name) is not None:
        return [f"a module named {name!r} is already importable here; an installed package of "
                "that name shadows the new plugin until you install it with pip install -e"]
    return []


def template_values(name: str, description: str, author: str) -> dict[str, str]:
    """The placeholder values of the plugin templates (escaped per target format)."""
    core_version = version().split("+")[0]
    authors = f"authors = [{{ name = {json.dumps(author)} }}]\n" if author else ""
    return {
        "name": name,
        "title": name.replace("_", " ").title(),
        "underline": "=" * len(name),
        "description": description,
        "description_json": json.dumps(description),
        "description_toml": json.dumps(description),
        "description_py": description.replace("\\", "\\\\").replace('"', '\\"'),
        "author_json": json.dumps(author),
        "authors_toml": authors,
        "core_version": core_version if core_version[0].isdigit() else "0.1.0",
        "env_name": name.upper(),
    }


def new_plugin(name: str, directory: str | Path = ".", *, description: str = "",
               author: str = "") -> NewPlugin:
    """Create the plugin project ``<directory>/<name>`` from the templates.

    :param description: one line for package.json, pyproject.toml and the README.
    :raises ScaffoldError: invalid name, or the folder exists already.
    """
    warnings = validate_name(name)
    root = Path(directory) / name
    if root.exists():
        raise ScaffoldError(f"{root} exists already; choose another name or --dir")
    values = template_values(name, description or f"The {name} core_server plugin", author)
    files = render_tree("plugin", root, values)
    return NewPlugin(name, root, files, warnings)
