"""Collection schemas: a YAML file or dict becomes a validated, immutable :class:`Collection`.

Every name that will ever reach SQL text (collection, field and index names) is checked here
against :data:`~core_server.docstore.model.NAME_RE`, so the SQL builders can trust them. A bad
schema raises :class:`SchemaError` naming the collection and the field. The types themselves live
in :mod:`core_server.docstore.model`; fields are read by ``fields``, hooks, actions and selections
by ``behaviour``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import yaml

from core_server.docstore import behaviour
from core_server.docstore.fields import Context
from core_server.docstore.fields import field_of
from core_server.docstore.fields import no_unknown
from core_server.docstore.fields import rights_of
from core_server.docstore.model import AUTO_TYPES
from core_server.docstore.model import COLLECTION_RE
from core_server.docstore.model import RIGHT_ACTIONS
from core_server.docstore.model import SCALAR_TYPES
from core_server.docstore.model import Collection
from core_server.docstore.model import Index
from core_server.docstore.model import SchemaError

_TOP_KEYS = frozenset({"name", "description", "fields", "indexes", "additional_properties",
                       "rights", "hooks", "actions", "selections"})


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
    no_unknown(data, _TOP_KEYS, f"collection {cname}")
    ctx = Context(cname, resolve)
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, Mapping) or not raw_fields:
        raise SchemaError(f"collection {cname}: 'fields' must be a non-empty mapping")
    fields = {key: field_of(ctx, key, spec) for key, spec in raw_fields.items()}
    collection = Collection(
        name=cname, fields=fields, indexes=(),
        additional_properties=bool(data.get("additional_properties", False)),
        rights=rights_of(ctx, data.get("rights"), RIGHT_ACTIONS, "rights"),
        description=str(data.get("description") or ""), source=_plain(data))
    indexes = tuple(_index(ctx, collection, i, spec)
                    for i, spec in enumerate(data.get("indexes") or []))
    indexes = tuple(i for i in indexes if i.fields)
    indexes += _implicit_indexes(collection, indexes)
    # replace(), not the instance __dict__: that also holds cached properties (ref_fields)
    return dataclasses.replace(collection, indexes=indexes,
                               hooks=behaviour.hooks(ctx, data.get("hooks")),
                               actions=behaviour.actions(ctx, data.get("actions")),
                               selections=behaviour.selections(ctx, collection,
                                                               data.get("selections")))


def _index(ctx: Context, collection: Collection, number: int, spec: Any) -> Index:
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
