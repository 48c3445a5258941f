"""One field of a collection schema: its spec (a type name or a mapping) becomes a :class:`Field`.

:class:`Context` names the collection in every :class:`SchemaError`; :func:`field_of` is used by
the collection loader (``schema``) and by ``behaviour`` for the parameters of actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core_server.docstore.model import COLLECTION_RE
from core_server.docstore.model import NAME_RE
from core_server.docstore.model import ON_DELETE
from core_server.docstore.model import TYPES
from core_server.docstore.model import Field
from core_server.docstore.model import SchemaError
from core_server.docstore.validate import check_value

_FIELD_KEYS = frozenset({"type", "required", "nullable", "default", "enum", "pattern", "min",
                         "max", "min_length", "max_length", "items", "fields", "collection",
                         "on_delete", "rights", "indexed", "description"})


@dataclass
class Context:
    """The collection being loaded and how to turn ``"module:function"`` into a callable."""

    collection: str
    resolve: Callable[[str], Callable[..., Any]] | None

    def error(self, path: str, message: str) -> SchemaError:
        """A :class:`SchemaError` naming the collection and the field at ``path``."""
        return SchemaError(f"collection {self.collection}, field {path}: {message}")

    def callable(self, value: Any, what: str) -> Callable[..., Any]:
        """``value`` itself if callable, else resolved from ``"module:function"``."""
        if callable(value):
            return value  # type: ignore[no-any-return]
        if isinstance(value, str) and self.resolve is not None:
            try:
                return self.resolve(value)
            except Exception as exc:  # report any import problem as a schema error
                raise SchemaError(f"collection {self.collection}: {what} {value!r}: {exc}") from exc
        raise SchemaError(f"collection {self.collection}: {what} must be a callable or "
                          f"'module:function', got {value!r}")


def no_unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    """Refuse keys of ``data`` outside ``allowed`` (typos fail loudly)."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SchemaError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def field_of(ctx: Context, path: str, spec: Any) -> Field:
    """The validated :class:`Field` at ``path`` (dotted for nested dict fields) of ``spec``."""
    if not NAME_RE.match(path.rsplit(".", 1)[-1]):
        raise ctx.error(path, f"field names must match {NAME_RE.pattern}")
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ctx.error(path, "a field must be a mapping with a 'type'")
    no_unknown(spec, _FIELD_KEYS, f"collection {ctx.collection}, field {path}")
    ftype = spec.get("type")
    if ftype not in TYPES:
        raise ctx.error(path, f"unknown type {ftype!r}; types: {', '.join(sorted(TYPES))}")
    kw: dict[str, Any] = {"path": path, "type": ftype}
    for key in ("required", "nullable", "indexed"):
        kw[key] = bool(spec.get(key, False))
    kw.update(_constraints(ctx, path, ftype, spec))
    kw.update(_structure(ctx, path, ftype, spec))
    kw["rights"] = rights_of(ctx, spec.get("rights"), ("read", "write"), f"field {path} rights")
    kw["description"] = str(spec.get("description") or "")
    result = Field(**kw)
    if "default" in spec:
        errors = check_value(result, spec["default"], "$." + path)
        if errors:
            raise ctx.error(path, f"default {spec['default']!r} is invalid: {errors[0]['code']}")
        result = Field(**{**kw, "default": spec["default"], "has_default": True})
    return result


def _constraints(ctx: Context, path: str, ftype: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for key in ("min", "max"):
        if spec.get(key) is not None:
            if ftype not in ("int", "float") or isinstance(spec[key], bool) \
                    or not isinstance(spec[key], (int, float)):
                raise ctx.error(path, f"'{key}' needs a number on an int or float field")
            kw[key] = spec[key]
    for key in ("min_length", "max_length"):
        if spec.get(key) is not None:
            if not isinstance(spec[key], int) or spec[key] < 0:
                raise ctx.error(path, f"'{key}' must be a non-negative integer")
            kw[key] = spec[key]
    if spec.get("enum") is not None:
        if not isinstance(spec["enum"], (list, tuple)) or not spec["enum"]:
            raise ctx.error(path, "'enum' must be a non-empty list")
        kw["enum"] = tuple(spec["enum"])
    if spec.get("pattern") is not None:
        if ftype != "string":
            raise ctx.error(path, "'pattern' only applies to string fields")
        try:
            kw["pattern"] = re.compile(str(spec["pattern"]))
        except re.error as exc:
            raise ctx.error(path, f"bad pattern: {exc}") from exc
    return kw


def _structure(ctx: Context, path: str, ftype: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if ftype == "list":
        items = spec.get("items", "string")
        kw["items"] = _items(ctx, path, items)
    if ftype == "dict":
        sub = spec.get("fields") or {}
        if not isinstance(sub, Mapping):
            raise ctx.error(path, "'fields' of a dict must be a mapping")
        kw["fields"] = {k: field_of(ctx, f"{path}.{k}", v) for k, v in sub.items()}
    if ftype in ("ref", "refs"):
        target = spec.get("collection")
        if not isinstance(target, str) or not COLLECTION_RE.match(target):
            raise ctx.error(path, "a ref needs 'collection' naming the target collection")
        on_delete = spec.get("on_delete", "restrict")
        if on_delete not in ON_DELETE:
            raise ctx.error(path, f"on_delete must be one of {', '.join(ON_DELETE)}")
        if on_delete == "set_null" and ftype == "ref" and spec.get("required"):
            raise ctx.error(path, "on_delete set_null needs a field that is not required")
        kw["collection"], kw["on_delete"] = target, on_delete
    return kw


def _items(ctx: Context, path: str, items: Any) -> Field:
    spec = {"type": items} if isinstance(items, str) else items
    if not isinstance(spec, Mapping) or spec.get("type") in ("list", "refs", "ref"):
        raise ctx.error(path, "'items' must be a scalar type or a dict (use refs for id lists)")
    sub = field_of(ctx, path, {k: v for k, v in spec.items() if k not in ("rights", "indexed")})
    return Field(**{**sub.__dict__, "path": path + "[]"})


def rights_of(ctx: Context, rights: Any, actions: tuple[str, ...], what: str) -> dict[str, Any]:
    """A copy of a ``rights`` mapping after checking its actions and rules."""
    if rights is None:
        return {}
    if not isinstance(rights, Mapping):
        raise SchemaError(f"collection {ctx.collection}: {what} must be a mapping")
    unknown = sorted(set(rights) - set(actions))
    if unknown:
        raise SchemaError(f"collection {ctx.collection}: {what} has unknown actions {unknown}")
    for action, rule in rights.items():
        ok = rule is None or isinstance(rule, (str, bool)) or callable(rule) or (
            isinstance(rule, (list, tuple)) and all(isinstance(r, str) for r in rule))
        if not ok:
            raise SchemaError(f"collection {ctx.collection}: {what}.{action} is not a rule")
    return dict(rights)
