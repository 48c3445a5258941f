"""Field-level rights: hide unreadable fields, refuse writes to protected ones."""

from __future__ import annotations

from typing import Any

from core_server import security
from core_server.docstore.schema import Collection
from core_server.docstore.schema import Field
from core_server.errors import Forbidden
from core_server.security import User


def may(collection: Collection, field: Field, action: str, user: User) -> bool:
    """Whether ``user`` may ``read``/``write`` ``field`` (resource ``store:<c>.<field>``).

    A config rule for the resource wins over the field's own ``rights``; a field without
    rights is as open as its collection.
    """
    rule = field.rights.get(action)
    return security.can(f"store:{collection.name}.{field.path}", action, rule, user,
                        fallback=True)


def hidden_paths(collection: Collection, user: User | None) -> set[str]:
    """Paths ``user`` may not read (``None`` user: trusted code, nothing hidden)."""
    if user is None:
        return set()
    return {f.path for f in collection.walk() if not may(collection, f, "read", user)}


def protected_paths(collection: Collection, user: User | None) -> set[str]:
    """Paths ``user`` may not write."""
    if user is None:
        return set()
    return {f.path for f in collection.walk() if not may(collection, f, "write", user)}


def readable(collection: Collection, user: User | None) -> Any:
    """``fn(path) -> bool`` for the query compiler."""
    hidden = hidden_paths(collection, user)
    return lambda path: not any(path == h or path.startswith(h + ".") for h in hidden)


def strip(doc: dict[str, Any], paths: set[str]) -> dict[str, Any]:
    """A copy of ``doc`` without the dotted ``paths``."""
    if not paths:
        return doc
    out = dict(doc)
    for path in paths:
        head, _, rest = path.partition(".")
        if rest and isinstance(out.get(head), dict):
            out[head] = strip(out[head], {rest})
        elif not rest:
            out.pop(head, None)
    return out


def get_path(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or :data:`MISSING`."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


MISSING = object()


def check_writes(collection: Collection, user: User | None, new: dict[str, Any],
                 old: dict[str, Any] | None) -> dict[str, Any]:
    """403 if ``new`` changes a protected field; on a replace, carry protected values over."""
    protected = protected_paths(collection, user)
    if not protected:
        return new
    out = dict(new)
    for path in sorted(protected):
        before = get_path(old, path) if old is not None else MISSING
        after = get_path(new, path)
        if after is not MISSING and after != before:
            raise Forbidden(f"user {user.name if user else '?'!r} may not write "
                            f"{collection.name}.{path}")
        if after is MISSING and before is not MISSING:
            set_path(out, path, before)
    return out


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path, copying the nested dicts on the way (no aliasing)."""
    head, _, rest = path.partition(".")
    if not rest:
        doc[head] = value
        return
    child = dict(doc.get(head) or {})
    set_path(child, rest, value)
    doc[head] = child
