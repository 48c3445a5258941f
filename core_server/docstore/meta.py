"""Collection descriptions (``_meta``, JSON Schema), rights evaluation, actions, reverse refs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from core_server import security
from core_server.docstore import refs
from core_server.docstore.model import AUTO_TYPES
from core_server.docstore.model import Action
from core_server.docstore.model import Collection
from core_server.docstore.model import Field
from core_server.docstore.query import MAX_CLAUSES
from core_server.docstore.query import MAX_DEPTH
from core_server.docstore.query import OPERATORS
from core_server.docstore.rights import guard
from core_server.docstore.rights import may
from core_server.docstore.validate import _object
from core_server.errors import ApiError
from core_server.errors import BadRequest
from core_server.errors import NotFound
from core_server.errors import Unprocessable

_JSON_TYPES = {"string": "string", "int": "integer", "float": "number", "bool": "boolean",
               "datetime": "string", "ref": "string", "list": "array", "refs": "array",
               "dict": "object"}


def field_schema(field: Field) -> dict[str, Any]:
    """JSON Schema of one field."""
    out: dict[str, Any] = {"type": _JSON_TYPES[field.type]}
    if field.nullable:
        out["type"] = [out["type"], "null"]
    if field.type == "datetime":
        out["format"] = "date-time"
    for key, target in (("min", "minimum"), ("max", "maximum"), ("min_length", "minLength"),
                        ("max_length", "maxLength")):
        value = getattr(field, key)
        if value is not None:
            name = target if field.type not in ("list", "refs") else target.replace("Length",
                                                                                    "Items")
            out[name] = value
    if field.enum is not None:
        out["enum"] = list(field.enum)
    if field.pattern is not None:
        out["pattern"] = field.pattern.pattern
    if field.type == "list" and field.items is not None:
        out["items"] = field_schema(field.items)
    if field.type == "refs":
        out["items"] = {"type": "string", "description": f"id of a {field.collection} document"}
    if field.type == "ref":
        out["description"] = f"id of a {field.collection} document"
    if field.type == "dict" and field.fields:
        out.update(object_schema(field.fields, False))
    if field.has_default:
        out["default"] = field.default
    return out


def object_schema(fields: dict[str, Field], additional: bool) -> dict[str, Any]:
    """JSON Schema of an object with ``fields``."""
    out: dict[str, Any] = {"type": "object",
                           "properties": {k: field_schema(f) for k, f in fields.items()},
                           "additionalProperties": additional}
    required = [k for k, f in fields.items() if f.required and not f.has_default]
    if required:
        out["required"] = required
    return out


def json_schema(collection: Collection, stored: bool = False) -> dict[str, Any]:
    """JSON Schema of a collection's documents (``stored`` adds the server-owned fields)."""
    out = object_schema(collection.fields, collection.additional_properties)
    if stored:
        auto = {name: {"type": "integer" if kind == "int" else "string", "readOnly": True}
                for name, kind in AUTO_TYPES.items()}
        out = {**out, "properties": {**auto, **out["properties"]}}
    return out


def collection_meta(store: Any, name: str) -> dict[str, Any]:
    """Everything a client needs to know about a collection."""
    c = store.collection(name)
    return {
        "name": c.name, "description": c.description, "schema": c.source,
        "json_schema": json_schema(c),
        "indexes": [{"name": i.name, "fields": [f"{p}:desc" if d else p for p, d in i.fields],
                     "unique": i.unique} for i in c.indexes],
        "refs": {f.path: {"collection": f.collection, "on_delete": f.on_delete, "type": f.type}
                 for f in c.ref_fields()},
        "referenced_by": [{"collection": s.name, "field": f.path, "on_delete": f.on_delete}
                          for s, f in refs.referrers_of(store, name)],
        "actions": {a.name: {"params": object_schema(a.params, False)}
                    for a in c.actions.values()},
        "selections": {s.name: {"fields": ["_id", *s.fields], "filter": s.filter}
                       for s in c.selections.values()},
        "status": "unavailable" if name in store.unavailable else "ok",
        **({"problem": store.unavailable[name]} if name in store.unavailable else {}),
    }


def store_meta(store: Any) -> dict[str, Any]:
    """The ``GET /api/store/_meta`` document."""
    return {
        "collections": {name: collection_meta(store, name) for name in sorted(store.collections)},
        "operators": list(OPERATORS),
        "limits": {"default_limit": store.default_limit, "max_limit": store.max_limit,
                   "max_clauses": MAX_CLAUSES, "max_depth": MAX_DEPTH,
                   "max_batch": store.max_batch, "require_if_match": store.require_if_match},
    }


def evaluate_rights(store: Any, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Which actions and fields the current user may use (``POST /{c}/_meta``)."""
    collection = store.collection(name)
    user = security.current_user()
    actions = {}
    for action in ("read", "create", "update", "delete"):
        try:
            guard(collection, action)
            actions[action] = True
        except ApiError:
            actions[action] = False
    fields = {f.path: {"read": may(collection, f, "read", user),
                       "write": may(collection, f, "write", user)}
              for f in collection.walk()}
    item = body.get("item")
    result: dict[str, Any] = {"collection": name, "user": user.name, "rights": actions,
                              "fields": fields}
    if isinstance(item, dict):
        result["item_fields"] = {k: fields[k] for k in item if k in fields}
    return result


def reverse(tx: Any, name: str, doc_id: str, sources: list[str], user: Any) -> dict[str, Any]:
    """Ids of documents in ``sources`` that reference ``doc_id`` (an indexed query)."""
    out: dict[str, Any] = {}
    limit = tx.store.max_limit
    for source in sources:
        guard(tx.store.collection(source), "read")
        pairs = [(c, f) for c, f in refs.referrers_of(tx.store, name) if c.name == source]
        if not pairs:
            raise BadRequest("invalid_value", f"collection {source!r} does not reference {name}")
        ids: set[str] = set()
        for collection, field in pairs:
            ids |= refs._referring_ids(tx, collection, field, [doc_id])
        if len(ids) > limit:
            raise BadRequest("too_many_rows", f"{len(ids)} {source} documents reference "
                             f"{doc_id}", hint=f"list them with GET /api/store/{source}?...")
        out[source] = sorted(ids)
    return out


def run_action(tx: Any, name: str, action: Action, doc_id: str, params: Any) -> dict[str, Any]:
    """Validate params into a fresh object, run the handler, return its result and the doc."""
    if not isinstance(params, dict):
        raise BadRequest("invalid_body", "action parameters must be a JSON object")
    errors: list[dict[str, Any]] = []
    fresh = _object(action.params, dict(params), "$", errors, additional=False, partial=False)
    if errors:
        raise Unprocessable("validation_failed", f"invalid parameters for action {action.name}",
                            details=errors)
    doc = tx.get(name, doc_id, for_update=True)
    if doc is None:
        raise NotFound(f"no document {doc_id!r} in collection {name}")
    result = action.handler(tx, doc, fresh)
    return {"result": result, "doc": tx.get(name, doc_id)}


def health(store: Any) -> Callable[[], None]:
    """A deep health check of the store database."""

    def check() -> None:
        store.ping()
        store.ensure()
        if store.unavailable:
            raise RuntimeError("; ".join(store.unavailable.values()))

    return check


def count_rows(tx: Any, name: str) -> int:
    """All documents of ``name`` (used by tests and the benchmark)."""
    layout = tx.layout(name)
    return int(tx.conn.execute(sa.select(sa.func.count()).select_from(layout.table)).scalar_one())
