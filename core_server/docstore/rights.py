"""Store rights: check a collection action, hide unreadable fields, refuse protected writes."""

from __future__ import annotations

from typing import Any

from core_server import security
from core_server.docstore.model import Collection
from core_server.docstore.model import Field
from core_server.errors import Forbidden
from core_server.trees import MISSING
from core_server.trees import get_path
from core_server.trees import set_path


def guard(collection: Collection, action: str, rule: Any = None) -> security.User:
    """``security.check`` on ``store:<name>`` with the schema's rights for ``action``.

    :param rule: a rule of its own (actions) instead of the schema's.
    :return: the user.
    """
    return security.check(f"store:{collection.name}", action,
                          rule=rule if rule is not None else collection.rights.get(action))


def may(collection: Collection, field: Field, action: str, user: security.User) -> bool:
    """Whether ``user`` may ``read``/``write`` ``field`` (resource ``store:<c>.<field>``).

    A config rule for the resource wins over the field's own ``rights``; a field without rights
    is as open as its collection.
    """
    return security.can(f"store:{collection.name}.{field.path}", action,
                        field.rights.get(action), user, fallback=True)


def hidden_paths(collection: Collection, user: security.User | None) -> set[str]:
    """Paths ``user`` may not read (``None`` user: trusted code, nothing hidden)."""
    return _refused(collection, "read", user)


def protected_paths(collection: Collection, user: security.User | None) -> set[str]:
    """Paths ``user`` may not write."""
    return _refused(collection, "write", user)


#: (collection, action) -> its fields as (resource, rule) pairs: schemas do not change
_RESOURCES: dict[tuple[int, str], tuple[Collection, tuple[tuple[str, Any], ...]]] = {}


def _refused(collection: Collection, action: str, user: security.User | None) -> set[str]:
    # what may() answers for each field, asked at once so that the answer can be remembered
    if user is None:
        return set()
    prefix = f"store:{collection.name}."
    known = _RESOURCES.get((id(collection), action))
    if known is None or known[0] is not collection:
        if len(_RESOURCES) > 4096:  # apps made and dropped (tests): start over
            _RESOURCES.clear()
        known = _RESOURCES[(id(collection), action)] = (collection, tuple(
            (prefix + f.path, f.rights.get(action)) for f in collection.walk()))
    refused = security.denied(known[1], action, user, fallback=True)
    return {resource[len(prefix):] for resource in refused} if refused else set()


def readable(collection: Collection, user: security.User | None) -> Any:
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


def check_writes(collection: Collection, user: security.User | None, new: dict[str, Any],
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
