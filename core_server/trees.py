"""Dotted paths into nested dicts (``"store.dburl"``, ``"address.city"``): one reader, one writer.

Configuration, documents of the store and the TDP config views all address values this way; they
share these two functions so that a path means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What :func:`get_path` returns for a path that does not exist (``None`` may be a real value).
MISSING: Any = object()


def get_path(tree: Any, path: str | list[str], default: Any = MISSING) -> Any:
    """The value at ``path`` (dotted string or list of keys), else ``default``.

    Lists are entered by a decimal index (``"users.0.name"``).
    """
    node = tree
    for part in path.split(".") if isinstance(path, str) else path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted ``path``, copying the nested dicts on the way (no aliasing)."""
    head, _, rest = path.partition(".")
    if not rest:
        tree[head] = value
        return
    child = tree.get(head)
    child = dict(child) if isinstance(child, Mapping) else {}
    set_path(child, rest, value)
    tree[head] = child
