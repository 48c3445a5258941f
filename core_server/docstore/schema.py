"""Collection schemas: a YAML file or dict becomes a validated, immutable :class:`Collection`.

Every name that will ever reach SQL text (collection, field and index names) is checked here
against :data:`NAME_RE`, so the SQL builders can trust them. A bad schema raises
:class:`SchemaError` naming the collection and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING
from typing import Any

import yaml

if TYPE_CHECKING:
    from core_server.docstore.behaviour import Action
    from core_server.docstore.behaviour import Selection

#: Names of collections and fields: safe to appear in SQL text and JSON paths.
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
COLLECTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

SCALAR_TYPES = frozenset({"string", "int", "float", "bool", "datetime", "ref"})
TYPES = SCALAR_TYPES | {"list", "dict", "refs"}
ON_DELETE = ("restrict", "cascade", "unlink", "set_null")
#: Server-owned fields; each one is a real column of the collection table.
AUTO_FIELDS = ("_id", "_version", "_created_at", "_updated_at", "_created_by", "_updated_by")
AUTO_TYPES = {"_id": "string", "_version": "int", "_created_at": "datetime",
              "_updated_at": "datetime", "_created_by": "string", "_updated_by": "string"}
HOOKS = ("before_validate", "before_create", "after_create", "before_update", "after_update",
         "before_delete", "after_delete")
RIGHT_ACTIONS = ("read", "create", "update", "delete")
#: Strings stored in an index or side table are capped (MariaDB index key size).
INDEXED_STRING_MAX = 500

_FIELD_KEYS = frozenset({"type", "required", "nullable", "default", "enum", "pattern", "min",
                         "max", "min_length", "max_length", "items", "fields", "collection",
                         "on_delete", "rights", "indexed", "description"})
_TOP_KEYS = frozenset({"name", "description", "fields", "indexes", "additional_properties",
                       "rights", "hooks", "actions", "selections"})


class SchemaError(ValueError):
    """A collection schema is invalid; the message names the collection and field."""


@dataclass(frozen=True)
class Field:
    """One declared field (``path`` is dotted for nested dict fields)."""

    path: str
    type: str
    required: bool = False
    nullable: bool = False
    default: Any = None
    has_default: bool = False
    enum: tuple[Any, ...] | None = None
    pattern: re.Pattern[str] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    items: Field | None = None
    fields: dict[str, Field] = dc_field(default_factory=dict)
    collection: str | None = None
    on_delete: str = "restrict"
    rights: dict[str, Any] = dc_field(default_factory=dict)
    indexed: bool = False
    description: str = ""

    @property
    def name(self) -> str:
        """The last path segment."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def is_list(self) -> bool:
        """True for ``list`` and ``refs``."""
        return self.type in ("list", "refs")

    @property
    def element_type(self) -> str:
        """The scalar type compared in filters (list items' type for lists, ``ref`` for refs)."""
        if self.type == "refs":
            return "ref"
        if self.type == "list" and self.items is not None:
            return self.items.type
        return self.type

    @property
    def has_side_table(self) -> bool:
        """Lists of scalars and refs get a ``(doc_id, value)`` side table."""
        return self.type == "refs" or (self.type == "list" and self.items is not None
                                       and self.items.type in SCALAR_TYPES)


@dataclass(frozen=True)
class Index:
    """A schema index: ``(path, descending)`` pairs."""

    name: str
    fields: tuple[tuple[str, bool], ...]
    unique: bool = False


@dataclass(frozen=True)
class Collection:
    """A validated collection schema."""

    name: str
    fields: dict[str, Field]
    indexes: tuple[Index, ...] = ()
    additional_properties: bool = False
    rights: dict[str, Any] = dc_field(default_factory=dict)
    hooks: dict[str, tuple[Callable[..., Any], ...]] = dc_field(default_factory=dict)
    actions: dict[str, Action] = dc_field(default_factory=dict)
    selections: dict[str, Selection] = dc_field(default_factory=dict)
    description: str = ""
    source: dict[str, Any] = dc_field(default_factory=dict)

    def field(self, path: str) -> Field | None:
        """The field at a dotted ``path`` (auto fields included), or ``None``."""
        if path in AUTO_TYPES:
            return Field(path, AUTO_TYPES[path])
        parts = path.split(".")
        node = self.fields.get(parts[0])
        for part in parts[1:]:
            if node is None or node.type != "dict":
                return None
            node = node.fields.get(part)
        return node

    def walk(self) -> Iterator[Field]:
        """Every declared field, nested ones included, parents first."""
        stack = list(self.fields.values())
        while stack:
            current = stack.pop(0)
            yield current
            stack[0:0] = list(current.fields.values())

    def side_fields(self) -> list[Field]:
        """Fields with a side table."""
        return [f for f in self.walk() if f.has_side_table]

    def ref_fields(self) -> list[Field]:
        """``ref`` and ``refs`` fields."""
        return [f for f in self.walk() if f.type in ("ref", "refs")]

    def index_paths(self) -> set[str]:
        """Paths that appear in some index."""
        return {path for index in self.indexes for path, _ in index.fields}


def load_yaml(text: str, name: str | None = None,
              resolve: Callable[[str], Callable[..., Any]] | None = None) -> Collection:
    """Parse a YAML schema (see :func:`load_schema`)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"collection {name or '?'}: invalid YAML: {exc}") from exc
    return load_schema(data, name, resolve)


def load_schema(data: Any, name: str | None = None,
                resolve: Callable[[str], Callable[..., Any]] | None = None) -> Collection:
    """Validate a schema dict and build its :class:`Collection`.

    :param name: the registered collection id (wins over ``data['name']``, which must agree).
    :param resolve: turns ``"module:function"`` strings (hooks, actions in YAML) into callables.
    """
    if not isinstance(data, Mapping):
        raise SchemaError(f"collection {name or '?'}: the schema must be a mapping")
    cname = name or data.get("name")
    if not isinstance(cname, str) or not COLLECTION_RE.match(cname):
        raise SchemaError(f"collection {cname!r}: name must match {COLLECTION_RE.pattern}")
    if data.get("name") not in (None, cname):
        raise SchemaError(f"collection {cname}: schema name {data['name']!r} differs from the id")
    _no_unknown(data, _TOP_KEYS, f"collection {cname}")
    ctx = _Context(cname, resolve)
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, Mapping) or not raw_fields:
        raise SchemaError(f"collection {cname}: 'fields' must be a non-empty mapping")
    fields = {key: _field(ctx, key, spec) for key, spec in raw_fields.items()}
    collection = Collection(
        name=cname, fields=fields, indexes=(),
        additional_properties=bool(data.get("additional_properties", False)),
        rights=_rights(ctx, data.get("rights"), RIGHT_ACTIONS, "rights"),
        description=str(data.get("description") or ""), source=_plain(data))
    indexes = tuple(_index(ctx, collection, i, spec)
                    for i, spec in enumerate(data.get("indexes") or []))
    indexes = tuple(i for i in indexes if i.fields)
    indexes += _implicit_indexes(collection, indexes)
    from core_server.docstore import behaviour

    return Collection(**{**collection.__dict__, "indexes": indexes,
                         "hooks": behaviour.hooks(ctx, data.get("hooks")),
                         "actions": behaviour.actions(ctx, data.get("actions")),
                         "selections": behaviour.selections(ctx, collection,
                                                            data.get("selections"))})


@dataclass
class _Context:
    collection: str
    resolve: Callable[[str], Callable[..., Any]] | None

    def error(self, path: str, message: str) -> SchemaError:
        return SchemaError(f"collection {self.collection}, field {path}: {message}")

    def callable(self, value: Any, what: str) -> Callable[..., Any]:
        if callable(value):
            return value  # type: ignore[no-any-return]
        if isinstance(value, str) and self.resolve is not None:
            try:
                return self.resolve(value)
            except Exception as exc:  # report any import problem as a schema error
                raise SchemaError(f"collection {self.collection}: {what} {value!r}: {exc}") from exc
        raise SchemaError(f"collection {self.collection}: {what} must be a callable or "
                          f"'module:function', got {value!r}")


def _no_unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SchemaError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def _field(ctx: _Context, path: str, spec: Any) -> Field:
    if not NAME_RE.match(path.rsplit(".", 1)[-1]):
        raise ctx.error(path, f"field names must match {NAME_RE.pattern}")
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ctx.error(path, "a field must be a mapping with a 'type'")
    _no_unknown(spec, _FIELD_KEYS, f"collection {ctx.collection}, field {path}")
    ftype = spec.get("type")
    if ftype not in TYPES:
        raise ctx.error(path, f"unknown type {ftype!r}; types: {', '.join(sorted(TYPES))}")
    kw: dict[str, Any] = {"path": path, "type": ftype}
    for key in ("required", "nullable", "indexed"):
        kw[key] = bool(spec.get(key, False))
    kw.update(_constraints(ctx, path, ftype, spec))
    kw.update(_structure(ctx, path, ftype, spec))
    kw["rights"] = _rights(ctx, spec.get("rights"), ("read", "write"), f"field {path} rights")
    kw["description"] = str(spec.get("description") or "")
    result = Field(**kw)
    if "default" in spec:
        from core_server.docstore.validate import check_value

        errors = check_value(result, spec["default"], "$." + path)
        if errors:
            raise ctx.error(path, f"default {spec['default']!r} is invalid: {errors[0]['code']}")
        result = Field(**{**kw, "default": spec["default"], "has_default": True})
    return result


def _constraints(ctx: _Context, path: str, ftype: str, spec: Mapping[str, Any]) -> dict[str, Any]:
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


def _structure(ctx: _Context, path: str, ftype: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if ftype == "list":
        items = spec.get("items", "string")
        kw["items"] = _items(ctx, path, items)
    if ftype == "dict":
        sub = spec.get("fields") or {}
        if not isinstance(sub, Mapping):
            raise ctx.error(path, "'fields' of a dict must be a mapping")
        kw["fields"] = {k: _field(ctx, f"{path}.{k}", v) for k, v in sub.items()}
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


def _items(ctx: _Context, path: str, items: Any) -> Field:
    spec = {"type": items} if isinstance(items, str) else items
    if not isinstance(spec, Mapping) or spec.get("type") in ("list", "refs", "ref"):
        raise ctx.error(path, "'items' must be a scalar type or a dict (use refs for id lists)")
    sub = _field(ctx, path, {k: v for k, v in spec.items() if k not in ("rights", "indexed")})
    return Field(**{**sub.__dict__, "path": path + "[]"})


def _rights(ctx: _Context, rights: Any, actions: tuple[str, ...], what: str) -> dict[str, Any]:
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


def _index(ctx: _Context, collection: Collection, number: int, spec: Any) -> Index:
    if isinstance(spec, (list, tuple)):
        spec = {"fields": spec}
    if not isinstance(spec, Mapping) or not spec.get("fields"):
        raise SchemaError(f"collection {ctx.collection}: index {number} needs 'fields'")
    pairs = []
    for item in spec["fields"]:
        path, _, direction = str(item).partition(":")
        descending = path.startswith("-") or direction == "desc"
        path = path.lstrip("-")
        target = collection.field(path)
        if target is None or target.type in ("dict", "list", "refs") and path not in AUTO_TYPES:
            if target is not None and target.has_side_table and len(spec["fields"]) == 1:
                continue  # list fields are indexed through their side table
            raise ctx.error(path, f"index {number}: only declared scalar fields can be indexed")
        if direction not in ("", "asc", "desc"):
            raise ctx.error(path, f"index {number}: direction must be asc or desc")
        pairs.append((path, descending))
    name = "ix_" + "_".join(p.replace(".", "_") for p, _ in pairs) if pairs else ""
    return Index(name=name, fields=tuple(pairs), unique=bool(spec.get("unique", False)))


def _implicit_indexes(collection: Collection, declared: tuple[Index, ...]) -> tuple[Index, ...]:
    covered = {i.fields[0][0] for i in declared if i.fields}
    extra = []
    for f in collection.walk():
        # refs are looked up on every delete of the target; indexed scalars asked for one
        if f.path not in covered and (f.type == "ref" or (f.indexed and f.type in SCALAR_TYPES)):
            extra.append(Index("ix_" + f.path.replace(".", "_"), ((f.path, False),)))
    return tuple(extra)


def _plain(value: Any) -> Any:
    """A JSON-able copy of the schema source (callables shown by name)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    return value
