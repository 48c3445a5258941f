"""The OpenAPI contribution of the SQL views: one path per connector view, with its parameters.

Built from what the views declare (and columns already derived); it never queries a database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core_server.dbview.builder import DBView
from core_server.dbview.params import FORMATS
from core_server.dbview.params import filter_keys
from core_server.dbview.params import is_server_replacement
from core_server.dbview.service import DBViews
from core_server.openapi import operation
from core_server.values import INT64_MAX

TAG = "db"
_COMMON_ERRORS = (400, 401, 403, 404, 500, 503, 504)
_JSON_TYPES = {"number": "number", "string": "string", "categorical": "string", "set": "string"}


def _query_param(name: str, schema: dict[str, Any], description: str = "",
                 required: bool = False) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def _options() -> list[dict[str, Any]]:
    return [
        _query_param("_format", {"type": "string", "enum": list(FORMATS)}, "output format"),
        _query_param("_limit", {"type": "integer", "minimum": 0, "maximum": INT64_MAX - 1},
                     "page size (Link rel=next)"),
        _query_param("_offset", {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
                     "rows to skip"),
        _query_param("_sort", {"type": "string"}, "col,-col,+col over declared columns"),
        _query_param("_return_query", {"type": "boolean"}, "return the SQL (privileged users)"),
        _query_param("_assignids", {"type": "boolean"}, "force _id assignment"),
    ]


def _replacement_schema(valid: Any) -> dict[str, Any]:
    if isinstance(valid, (list, tuple, set, frozenset)):
        return {"type": "string", "enum": [str(v) for v in valid]}
    if valid is int:
        return {"type": "integer"}
    if valid is float:
        return {"type": "number"}
    if isinstance(valid, re.Pattern):
        return {"type": "string", "pattern": valid.pattern}
    return {"type": "string", "pattern": "^[A-Za-z0-9_.]+$"}


def _view_parameters(view: DBView, columns: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    for name in view.arguments:
        info = view.argument_infos.get(name)
        schema: dict[str, Any] = {"type": "string"}
        if info and info.as_list:
            schema = {"type": "array", "items": {"type": "string"}}
        params.append(_query_param(name, schema, info.description if info else "", True))
    for name in view.replacements:
        if not is_server_replacement(name, view):
            params.append(_query_param(name, _replacement_schema(view.valid_replacements.get(name)),
                                       "replacement", True))
    for key in filter_keys(view, columns):
        params.append(_query_param(f"filter_{key}", {"type": "array", "items": {"type": "string"}},
                                   "filter: one value =, several IN"))
        if columns.get(key, {}).get("type") == "number":
            for cmp in ("lt", "lte", "gt", "gte"):
                params.append(_query_param(f"filter_{cmp}_{key}", {"type": "number"}))
    return params


def _row_schema(view: DBView, columns: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"_id": {"type": "integer"}} if view.assign_ids else {}
    for name, column in columns.items():
        props[name] = {"type": [_JSON_TYPES.get(column.get("type", "string"), "string"), "null"]}
        if column.get("categories"):
            props[name]["description"] = "categories: " + ", ".join(map(str, column["categories"]))
    return {"type": "array", "items": {"type": "object", "properties": props}}


_TEXT_TYPES = ("text/csv", "text/tab-separated-values", "application/x-ndjson")


def _rows_operation(summary: str, view: DBView, columns: dict[str, Any],
                    params: list[dict[str, Any]], operation_id: str) -> dict[str, Any]:
    op = operation(summary, _row_schema(view, columns), tag=TAG, parameters=params + _options(),
                   errors=_COMMON_ERRORS, operationId=operation_id)
    for mimetype in _TEXT_TYPES:
        op["responses"]["200"]["content"][mimetype] = {"schema": {"type": "string"}}
    return op


def _lookup_operation(name: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    server_set = ("query", "limit", "offset", "offset2")
    result = {"type": "object", "properties": {"items": {"type": "array"},
                                               "more": {"type": "boolean"}}}
    return operation(f"autocomplete over {name}", result, tag=TAG, errors=_COMMON_ERRORS,
                     parameters=[p for p in params if p["name"] not in server_set] + [
                         _query_param("query", {"type": "string"}),
                         _query_param("page", {"type": "integer", "minimum": 0}),
                         _query_param("limit", {"type": "integer", "minimum": 1})])


def _view_paths(connector: str, name: str, view: DBView,
                columns: dict[str, Any]) -> dict[str, Any]:
    base = f"/api/db/{connector}/{name}"
    params = _view_parameters(view, columns)
    summary = view.summary or view.description or f"view {name} of {connector}"
    paths = {
        base: {"get": _rows_operation(summary, view, columns, params, f"get_{connector}_{name}"),
               "post": _rows_operation(summary + " (parameters as form or JSON body)", view,
                                       columns, params, f"post_{connector}_{name}")},
        f"{base}/count": {"get": operation(f"row count of {name}", {"type": "integer"}, tag=TAG,
                                           parameters=params, errors=_COMMON_ERRORS)},
        f"{base}/desc": {"get": operation(f"description of {name}", {"type": "object"}, tag=TAG,
                                          errors=(401, 403, 404, 503))},
    }
    if view.query_type == "lookup":
        paths[f"{base}/lookup"] = {"get": _lookup_operation(name, params)}
    return paths


def contributor(dbv: DBViews) -> Callable[[], dict[str, Any]]:
    """The OpenAPI contributor function for ``state.openapi``."""

    def contribute() -> dict[str, Any]:
        listing = {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "description": {"type": "string"}}}}
        paths: dict[str, Any] = {
            "/api/db/": {"get": operation("SQL connectors (also under /api/tdp/db/)", listing,
                                          tag=TAG)},
        }
        for connector, entry in sorted(dbv.connectors.items()):
            paths[f"/api/db/{connector}/"] = {"get": operation(
                entry.connector.description or f"views of {connector}",
                {"type": "array", "items": {"type": "object"}}, tag=TAG, errors=(404,))}
            for name, view in entry.connector.views.items():
                if not view.is_private:
                    columns = dbv.known_columns(entry, view)
                    paths.update(_view_paths(connector, name, view, columns))
        return {"paths": paths, "tags": [{"name": TAG, "description": "SQL views"}]}

    return contribute
