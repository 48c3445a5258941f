"""The document store's part of ``/api/openapi.json``: every collection's routes and schema."""

from __future__ import annotations

import re
from typing import Any

from core_server.docstore.meta import json_schema
from core_server.docstore.model import AUTO_FIELDS
from core_server.docstore.model import SCALAR_TYPES
from core_server.openapi import NO_NUL
from core_server.openapi import error_responses
from core_server.openapi import json_content
from core_server.openapi import operation
from core_server.openapi import or_empty

TAG = "store"


def _param(name: str, where: str = "query", kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": {"type": kind},
            **extra}


_INT64_MAX = 2**63 - 1


def _paths_pattern(paths: list[str], sort: bool) -> str:
    """What ``sort_keys`` / ``parse_fields`` accept: a comma list of known scalar paths."""
    names = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True)) or "(?!)"
    item = f"[-+]?(?:{names})(?::(?:asc|desc))?" if sort else f"(?:{names})"
    return f"^(?:{item}(?:,{item})*)?$"


def _list_params(collection: Any, max_limit: int) -> list[dict[str, Any]]:
    scalars = _sortable(collection)
    return [
        {**_param("_sort", description="age,-city (also city:desc); _id is always the "
                  "tie-break"), "schema": {"type": "string",
                                            "pattern": _paths_pattern(scalars, True)}},
        {**_param("_limit"), "schema": or_empty({"type": "integer", "minimum": 0,
                                                 "maximum": max_limit})},
        {**_param("_offset"), "schema": or_empty({"type": "integer", "minimum": 0,
                                                  "maximum": _INT64_MAX})},
        _param("_cursor", description="next_cursor of the previous page"),
        _param("_count", kind="boolean"),
        {**_param("fields", description="a,b.c"),
         "schema": {"type": "string", "pattern": _paths_pattern(_readable(collection), False)}},
    ]


def _sortable(collection: Any) -> list[str]:
    return [*AUTO_FIELDS, *(f.path for f in collection.walk() if f.type in SCALAR_TYPES)]


def _readable(collection: Any) -> list[str]:
    return [*AUTO_FIELDS, *(f.path for f in collection.walk())]


_JSON = {"string": "string", "ref": "string", "datetime": "string", "int": "integer",
         "float": "number", "bool": "boolean"}


def _filter_schema(collection: Any) -> dict[str, Any]:
    """Equality filters on the declared scalar fields (operators are in docs/store.rst)."""
    props = {f.path: {"type": _JSON[f.element_type]} for f in collection.walk()
             if f.element_type in _JSON and (f.type in SCALAR_TYPES or f.has_side_table)
             and "." not in f.path}
    for path, schema in props.items():
        if collection.field(path).element_type == "datetime":
            schema["format"] = "date-time"
        elif schema["type"] == "string":
            schema["pattern"] = NO_NUL
    # null matches a missing or null field
    return {"type": "object", "properties": {k: _nullable(v) for k, v in props.items()},
            "additionalProperties": False}


def _query_body(collection: Any, max_limit: int) -> dict[str, Any]:
    sort = {"type": "string", "pattern": _paths_pattern(_sortable(collection), True)}
    fields = {"type": "string", "pattern": _paths_pattern(_readable(collection), False)}
    # null is "not given" for all but count (body_args)
    return {"type": "object", "additionalProperties": False, "properties": {
        "filter": _nullable(_filter_schema(collection)), "sort": _nullable(sort),
        "limit": _nullable({"type": "integer", "minimum": 0, "maximum": max_limit}),
        "offset": _nullable({"type": "integer", "minimum": 0, "maximum": _INT64_MAX}),
        "fields": _nullable(fields), "count": {"type": "boolean"}}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _check_body() -> dict[str, Any]:
    # any object is checked: the answer says whether it is valid and why not
    return {"type": "object", "required": ["item"], "properties": {
        "item": {"type": "object"}, "mode": {"type": "string", "enum": ["create", "update"]},
        "path": _nullable({"type": "string", "pattern": NO_NUL})}}


def _required(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": json_content(schema)}


_DOC_PARAM = {**_param("id", "path"), "schema": {"type": "string", "pattern": "^[^_/\\u0000]"
                                                 "[^/\\u0000]*$"}}
_IF_MATCH = _param("If-Match", "header", description='"<_version>"')


def _page_schema(ref: str) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "items": {"type": "array", "items": {"$ref": ref}}, "total": {"type": "integer"},
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "next_cursor": {"type": ["string", "null"]}}}


def _collection_paths(name: str, collection: Any, max_limit: int) -> dict[str, Any]:
    ref = f"#/components/schemas/store.{name}"
    body = {"required": True, "content": json_content({"$ref": f"{ref}.input"})}
    base = f"/api/store/{name}"
    doc = {"$ref": ref}
    return {
        base: {
            "get": operation(f"list {name} (field=value, field.$op=value filters)",
                             _page_schema(ref), tag=TAG,
                             parameters=_list_params(collection, max_limit),
                             errors=(400, 401, 403, 404)),
            "post": operation(f"create a {name} document", doc, tag=TAG, status=201,
                              requestBody=body, errors=(400, 401, 403, 409, 413, 415, 422)),
            "delete": operation(f"delete {name} documents by filter (or _all=true)",
                                {"type": "object"}, tag=TAG, errors=(400, 401, 403, 409),
                                parameters=[{**_param("_all"), "required": True, "schema": {
                                    "type": "string", "enum": ["true"]}, "description":
                                    "without a filter on a field, _all=true is required"}]),
        },
        f"{base}/_query": {"post": operation(
            f"query {name} with a JSON filter", _page_schema(ref), tag=TAG,
            requestBody=_required(_query_body(collection, max_limit)), errors=(400, 415))},
        f"{base}/_count": {"get": operation(f"count {name}", {"type": "object"}, tag=TAG,
                                            errors=(400,))},
        f"{base}/_check": {"post": operation(f"validate a {name} item", {"type": "object"},
                                             tag=TAG, errors=(400, 415),
                                             requestBody=_required(_check_body()))},
        f"{base}/_meta": {"get": operation(f"schema of {name}", tag=TAG),
                          "post": operation(f"rights on {name} for the current user", tag=TAG,
                                            requestBody=_required({"type": "object"}))},
        f"{base}/{{id}}": {
            "get": operation(f"one {name} document", doc, tag=TAG, parameters=[_DOC_PARAM],
                             errors=(404,)),
            "put": operation(f"replace a {name} document", doc, tag=TAG, requestBody=body,
                             parameters=[_DOC_PARAM, _IF_MATCH],
                             errors=(400, 404, 409, 412, 415, 422, 428)),
            "patch": operation(f"merge-patch or JSON-patch a {name} document", doc, tag=TAG,
                               parameters=[_DOC_PARAM, _IF_MATCH],
                               requestBody=_required({"$ref": f"{ref}.patch"}),
                               errors=(400, 404, 409, 412, 415, 422, 428)),
            "delete": {"summary": f"delete a {name} document", "tags": [TAG],
                       "parameters": [_DOC_PARAM, _IF_MATCH],
                       "responses": {"204": {"description": "deleted"},
                                     **error_responses(404, 409, 412, 428)}},
        },
        f"{base}/_actions/{{action}}/{{id}}": {"post": operation(
            f"run an action on a {name} document", tag=TAG,
            parameters=[_param("action", "path"), _DOC_PARAM], errors=(404, 422))},
        f"{base}/_selections/{{selection}}": {
            method: operation(f"a named selection of {name}", tag=TAG,
                              parameters=[_param("selection", "path")], errors=(400, 404))
            for method in ("get", "post")},
    }


def _batch_op(store: Any) -> dict[str, Any]:
    # the deletes: the other ops carry documents, which the collection schemas describe
    return {"type": "object", "required": ["op", "collection", "id"],
            "additionalProperties": False, "properties": {
                "op": {"type": "string", "enum": ["delete"]},
                "collection": {"type": "string", "enum": sorted(store.collections)},
                "id": {"type": "string", "pattern": "^[^\\u0000]*$"},
                "if_version": {"type": "integer", "minimum": 1, "maximum": _INT64_MAX}}}


def paths(store: Any) -> dict[str, Any]:
    """The OpenAPI fragment of ``store``."""
    out: dict[str, Any] = {
        "/api/store/": {"get": operation("collections and their schemas", tag=TAG)},
        "/api/store/_meta": {"get": operation("collections and their schemas", tag=TAG)},
        "/api/store/_batch": {"post": operation(
            "all-or-nothing batch of writes", tag=TAG, errors=(400, 404, 409, 412, 415, 422),
            requestBody=_required({"type": "object", "required": ["ops"],
                                   "additionalProperties": False, "properties": {"ops": {
                                       "type": "array", "maxItems": store.max_batch,
                                       "items": _batch_op(store)}}}))},
    }
    schemas: dict[str, Any] = {}
    for name, collection in sorted(store.collections.items()):
        out.update(_collection_paths(name, collection, store.max_limit))
        schemas[f"store.{name}"] = json_schema(collection, stored=True)
        schemas[f"store.{name}.input"] = json_schema(collection)
        # a merge patch sets some fields (null would remove one, which the schema may refuse)
        schemas[f"store.{name}.patch"] = {**json_schema(collection), "required": []}
    return {"paths": out, "components": {"schemas": schemas},
            "tags": [{"name": TAG, "description": "document store collections"}]}
