"""Render the scaffold's template files: ``@{name}`` placeholders, ``.tmpl`` suffixes stripped.

``@{...}`` is used instead of ``$``/``{{ }}`` because the generated files legitimately contain
``${core_server.absoluteDataDir}`` (config), ``${POSTGRES_PASSWORD}`` (compose) and ``{where}``
(SQL templates), which must pass through untouched.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

#: Template file names that cannot be stored under their real name in the package.
_RENAMES = {"dot-gitignore": ".gitignore"}
#: A folder of this name is renamed to the plugin's package name.
PACKAGE_PLACEHOLDER = "__package__"


# Only ``@{name}`` is a placeholder (and ``@@`` a literal ``@``); a bare ``@`` stays text, so
# decorators in templates need no escaping.
_PLACEHOLDER = r"""
    @(?:
      (?P<escaped>@) |
      \{(?P<braced>[a-z_][a-z0-9_]*)\} |
      (?P<named>(?!)) |
      (?P<invalid>\{)
    )
"""


class _Template(string.Template):
    pattern = _PLACEHOLDER  # type: ignore[assignment]  # str is compiled by Template itself


def render_text(text: str, values: Mapping[str, str]) -> str:
    """Fill ``@{name}`` placeholders; a missing value raises :class:`KeyError`."""
    return _Template(text).substitute(values)


def templates(kind: str) -> Traversable:
    """The template folder ``kind`` (``plugin`` or ``extensions``) inside the package."""
    return resources.files("core_server.scaffold").joinpath("templates", kind)


def _walk(folder: Traversable, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                               Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _walk(entry, (*prefix, entry.name))
        elif entry.name.endswith(".tmpl"):
            yield (*prefix, entry.name), entry


def target_name(parts: tuple[str, ...], package: str) -> Path:
    """Where a template file lands: ``.tmpl`` stripped, placeholders and renames applied."""
    names = [package if p == PACKAGE_PLACEHOLDER else p for p in parts]
    last = names[-1].removesuffix(".tmpl")
    names[-1] = _RENAMES.get(last, last)
    return Path(*names)


def render_tree(kind: str, destination: Path, values: Mapping[str, str]) -> list[Path]:
    """Render every template of ``kind`` below ``destination``; return the written files."""
    written = []
    for parts, entry in _walk(templates(kind)):
        target = destination / target_name(parts, values["name"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_text(entry.read_text(encoding="utf-8"), values), encoding="utf-8")
        written.append(target)
    return written


def render_template(kind: str, name: str, values: Mapping[str, str]) -> str:
    """Render the single template ``templates/<kind>/<name>.tmpl``."""
    text = templates(kind).joinpath(name + ".tmpl").read_text(encoding="utf-8")
    return render_text(text, values)
