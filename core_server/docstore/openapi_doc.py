"""The document store's part of ``/api/openapi.json``: every collection's routes and schema."""

from __future__ import annotations

from typing import Any

from core_server.docstore.meta import json_schema
from core_server.openapi import json_content
from core_server.openapi import operation

TAG = "store"


def _param(name: str, where: str = "query", kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": {"type": kind},
            **extra}


_LIST_PARAMS = [
    _param("_sort", description="age,-city (also city:desc); _id is always the tie-break"),
    _param("_limit", kind="integer"), _param("_offset", kind="integer"),
    _param("_cursor", description="next_cursor of the previous page"),
    _param("_count", kind="boolean"), _param("fields", description="a,b.c"),
]
_DOC_PARAM = _param("id", "path")
_IF_MATCH = _param("If-Match", "header", description='"<_version>"')


def _page_schema(ref: str) -> dict[str, Any]:
    return {"type": "object", "properties": {
        "items": {"type": "array", "items": {"$ref": ref}}, "total": {"type": "integer"},
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "next_cursor": {"type": ["string", "null"]}}}


def _collection_paths(name: str) -> dict[str, Any]:
    ref = f"#/components/schemas/store.{name}"
    body = {"required": True, "content": json_content({"$ref": f"{ref}.input"})}
    base = f"/api/store/{name}"
    doc = {"$ref": ref}
    return {
        base: {
            "get": operation(f"list {name} (field=value, field.$op=value filters)",
                             _page_schema(ref), tag=TAG, parameters=_LIST_PARAMS,
                             errors=(400, 401, 403, 404)),
            "post": operation(f"create a {name} document", doc, tag=TAG, status=201,
                              requestBody=body, errors=(400, 401, 403, 409, 413, 415, 422)),
            "delete": operation(f"delete {name} documents by filter (or _all=true)",
                                {"type": "object"}, tag=TAG, errors=(400, 401, 403, 409)),
        },
        f"{base}/_query": {"post": operation(
            f"query {name} with a JSON filter", _page_schema(ref), tag=TAG,
            requestBody={"content": json_content({"type": "object"})}, errors=(400, 415))},
        f"{base}/_count": {"get": operation(f"count {name}", {"type": "object"}, tag=TAG,
                                            errors=(400,))},
        f"{base}/_check": {"post": operation(f"validate a {name} item", {"type": "object"},
                                             tag=TAG, errors=(400, 415))},
        f"{base}/_meta": {"get": operation(f"schema of {name}", tag=TAG),
                          "post": operation(f"rights on {name} for the current user", tag=TAG)},
        f"{base}/{{id}}": {
            "get": operation(f"one {name} document", doc, tag=TAG, parameters=[_DOC_PARAM],
                             errors=(404,)),
            "put": operation(f"replace a {name} document", doc, tag=TAG, requestBody=body,
                             parameters=[_DOC_PARAM, _IF_MATCH],
                             errors=(400, 404, 409, 412, 415, 422, 428)),
            "patch": operation(f"merge-patch or JSON-patch a {name} document", doc, tag=TAG,
                               parameters=[_DOC_PARAM, _IF_MATCH],
                               errors=(400, 404, 409, 412, 415, 422, 428)),
            "delete": {"summary": f"delete a {name} document", "tags": [TAG],
                       "parameters": [_DOC_PARAM, _IF_MATCH],
                       "responses": {"204": {"description": "deleted"}}},
        },
        f"{base}/_actions/{{action}}/{{id}}": {"post": operation(
            f"run an action on a {name} document", tag=TAG,
            parameters=[_param("action", "path"), _DOC_PARAM], errors=(404, 422))},
        f"{base}/_selections/{{selection}}": {
            method: operation(f"a named selection of {name}", tag=TAG,
                              parameters=[_param("selection", "path")], errors=(400, 404))
            for method in ("get", "post")},
    }


def paths(store: Any) -> dict[str, Any]:
    """The OpenAPI fragment of ``store``."""
    out: dict[str, Any] = {
        "/api/store/": {"get": operation("collections and their schemas", tag=TAG)},
        "/api/store/_meta": {"get": operation("collections and their schemas", tag=TAG)},
        "/api/store/_batch": {"post": operation("all-or-nothing batch of writes", tag=TAG,
                                                errors=(400, 409, 412, 415, 422))},
    }
    schemas: dict[str, Any] = {}
    for name, collection in sorted(store.collections.items()):
        out.update(_collection_paths(name))
        schemas[f"store.{name}"] = json_schema(collection, stored=True)
        schemas[f"store.{name}.input"] = json_schema(collection)
    return {"paths": out, "components": {"schemas": schemas},
            "tags": [{"name": TAG, "description": "document store collections"}]}
