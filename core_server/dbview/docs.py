"""The OpenAPI contribution of the SQL views: one path per connector view, with its parameters.

Built from what the views declare (and columns already derived); it never queries a database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core_server.dbview.builder import DBView
from core_server.dbview.params import FORMATS
from core_server.dbview.params import MAX_PAGING
from core_server.dbview.params import filter_keys
from core_server.dbview.params import counts
from core_server.dbview.params import is_server_replacement
from core_server.dbview.params import paging_replacements
from core_server.dbview.service import DBViews
from core_server.openapi import operation
from core_server.openapi import or_empty
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


def _sort_schema(columns: dict[str, Any]) -> dict[str, Any]:
    # what parse_sort accepts: a comma list of declared columns, each with an optional - or +
    names = "|".join(re.escape(c) for c in sorted(columns, key=len, reverse=True)) or "(?!)"
    item = f"[-+]?(?:{names})"
    return {"type": "string", "pattern": f"^(?:{item})?(?:,(?:{item})?)*$"}


def _options(columns: dict[str, Any], max_limit: int | None) -> list[dict[str, Any]]:
    return [
        _query_param("_format", {"type": "string", "enum": [*FORMATS, ""]},
                     "output format (empty: json)"),
        _query_param("_limit", or_empty({"type": "integer", "minimum": 0,
                                         "maximum": max_limit or MAX_PAGING}),
                     "page size (Link rel=next)"),
        _query_param("_offset", or_empty({"type": "integer", "minimum": 0,
                                          "maximum": MAX_PAGING}), "rows to skip"),
        _query_param("_sort", _sort_schema(columns), "col,-col,+col over declared columns"),
        _query_param("_return_query", {"type": "boolean"}, "return the SQL (privileged users)"),
        _query_param("_assignids", {"type": "boolean"}, "force _id assignment"),
    ]


_INT64 = {"type": "integer", "minimum": -INT64_MAX - 1, "maximum": INT64_MAX}


def _replacement_schema(valid: Any, paging: bool = False) -> dict[str, Any]:
    if isinstance(valid, (list, tuple, set, frozenset)):
        return {"type": "string", "enum": [str(v) for v in valid]}
    if valid is int:  # in a LIMIT or OFFSET: not negative (params.paging_replacements)
        return {"type": "integer", "minimum": 0, "maximum": MAX_PAGING} if paging \
            else dict(_INT64)
    if valid is float:
        return {"type": "number"}
    if isinstance(valid, re.Pattern):
        return {"type": "string", "pattern": valid.pattern}
    return {"type": "string", "pattern": "^[A-Za-z0-9_.]*$"}


_ARGUMENT_TYPES: dict[Any, dict[str, Any]] = {int: _INT64, float: {"type": "number"}}
_INERT = "; also SQL-inert: no whitespace, quotes, ;, (), \\, #, $, :, -- or comments"
_NAMEDSET = "ids of named sets (TDP storage) whose ids are added to filter_{key}"


def _replacements(view: DBView) -> list[dict[str, Any]]:
    params = []
    paging = paging_replacements(view.query)
    for name in view.replacements:
        if is_server_replacement(name, view):
            continue
        valid = view.valid_replacements.get(name)
        note = _INERT if isinstance(valid, re.Pattern) else ""
        params.append(_query_param(name, _replacement_schema(valid, name in paging),
                                   "replacement" + ("" if valid else ", empty if missing") + note,
                                   valid is not None))
    return params


def _agg_parameters(view: DBView, agg_view: DBView | None) -> list[dict[str, Any]]:
    # {agg_score}: agg picks the aggregation, the agg view's replacements fill it in
    if agg_view is None or "{agg_score}" not in str(view.query) or "agg" in view.replacements:
        return []
    named = sorted({*agg_view.queries, *(k[10:] for k in view.queries
                                         if k.startswith("agg_score_"))})
    agg: dict[str, Any] = {"type": "string", "enum": named} if named else {"type": "string"}
    params = [_query_param("agg", agg, "aggregation of {agg_score}: "
                           + ", ".join(named or ["min, max, avg, sum, count"]), True)]
    for name in agg_view.replacements:
        if name != "agg" and name not in view.replacements:
            params.append(_query_param(name, _replacement_schema(
                agg_view.valid_replacements.get(name)), "replacement of agg_score"))
    return params


def _view_parameters(view: DBView, columns: dict[str, Any],
                     agg_view: DBView | None = None) -> list[dict[str, Any]]:
    params = []
    for name in view.arguments:
        info = view.argument_infos.get(name)
        schema: dict[str, Any] = _ARGUMENT_TYPES.get(info.type if info else None,
                                                     {"type": "string"})
        if info and info.as_list:
            schema = {"type": "array", "items": schema, "minItems": 1}
        params.append(_query_param(name, schema, info.description if info else "", True))
    params += _replacements(view) + _agg_parameters(view, agg_view)
    for key in filter_keys(view, columns):
        numeric = columns.get(key, {}).get("type") == "number"
        value = {"type": "number"} if numeric else {"type": "string"}
        params.append(_query_param(f"filter_{key}", {"type": "array", "items": value},
                                   "filter: one value =, several IN"))
        params.append(_query_param(f"filter_namedset4{key}", {"type": "array", "items": {
            "type": "string"}}, _NAMEDSET.format(key=key)))
        if columns.get(key, {}).get("type") == "number":
            for cmp in ("lt", "lte", "gt", "gte"):
                params.append(_query_param(f"filter_{cmp}_{key}", {"type": "number"}))
    return params


def view_parameters(dbv: DBViews, entry: Any, view: DBView) -> list[dict[str, Any]]:
    """The query parameters of ``view`` (arguments, replacements, filters) as OpenAPI."""
    return _view_parameters(view, dbv.known_columns(entry, view), entry.connector.agg_score)


def _row_schema(view: DBView, columns: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"_id": {"type": "integer"}} if view.assign_ids else {}
    for name, column in columns.items():
        props[name] = {"type": [_JSON_TYPES.get(column.get("type", "string"), "string"), "null"]}
        if column.get("categories"):
            props[name]["description"] = "categories: " + ", ".join(map(str, column["categories"]))
    return {"type": "array", "items": {"type": "object", "properties": props}}


_TEXT_TYPES = ("text/csv", "text/tab-separated-values", "application/x-ndjson")


def _rows_operation(summary: str, view: DBView, columns: dict[str, Any],
                    params: list[dict[str, Any]], operation_id: str,
                    max_limit: int | None) -> dict[str, Any]:
    # _return_query=true (privileged users): the SQL and its arguments instead of rows
    query = {"type": "object", "required": ["query"], "properties": {
        "query": {"type": "string"}, "args": {"type": "object"}}}
    op = operation(summary, {"oneOf": [_row_schema(view, columns), query]}, tag=TAG,
                   parameters=params + _options(columns, max_limit),
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
                         _query_param("page", {**_INT64, "minimum": 0}),
                         _query_param("limit", {**_INT64, "minimum": 1,
                                                "maximum": MAX_PAGING - 1})])


_STRINGS = {"type": "array", "items": {"type": "string"}}
#: ``/desc`` and each entry of the view listing: TDP's fields, then ours
DESC_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "name": {"type": "string"}, "description": {"type": "string"}, "type": {"type": "string"},
    "idType": {"type": ["string", "null"]}, "query": {"type": ["string", "null"]},
    "arguments": {**_STRINGS, "description": "arguments, then replacements (as TDP)"},
    "columns": {"type": "array", "items": {"type": "object"}}, "filters": _STRINGS,
    "queries": {"type": "object", "additionalProperties": {"type": "string"}},
    "no_cache": {"type": "boolean"}, "summary": {"type": ["string", "null"]}, "tags": _STRINGS,
    "replacements": _STRINGS, "assign_ids": {"type": "boolean"}}}
_WARNING = {"Warning": {"description": "under /api/tdp/db: filter keys the view does not know, "
                                       "dropped as TDP does", "schema": {"type": "string"}}}


def _view_paths(connector: str, name: str, view: DBView, columns: dict[str, Any],
                agg_view: DBView | None = None, max_limit: int | None = None
                ) -> dict[str, Any]:
    base = f"/api/db/{connector}/{name}"
    params = _view_parameters(view, columns, agg_view)
    summary = view.summary or view.description or f"view {name} of {connector}"
    paths = {
        base: {"get": _rows_operation(summary, view, columns, params, f"get_{connector}_{name}",
                                      max_limit),
               "post": _rows_operation(summary + " (parameters as form or JSON body)", view,
                                       columns, params, f"post_{connector}_{name}", max_limit)},
        f"{base}/desc": {"get": operation(f"description of {name} (TDP's fields)",
                                          DESC_SCHEMA, tag=TAG, errors=(401, 403, 404, 503))},
    }
    if counts(view):  # a callback view without a count query has no count route (400)
        # POST answers too (TDP's clients); it is left out of this document because Swagger UI
        # of /api/docs stops rendering with those operations in it (docs/api.rst)
        paths[f"{base}/count"] = {"get": operation(
            f"row count of {name} (POST: the same)", {"type": "integer"}, tag=TAG,
            parameters=params, errors=_COMMON_ERRORS)}
    for item in (paths[base], paths.get(f"{base}/count", {})):
        for op in item.values():
            op["responses"]["200"]["headers"] = _WARNING
    if view.query_type == "lookup" or "query" in view.arguments:
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
                {"type": "array", "items": DESC_SCHEMA}, tag=TAG, errors=(404,))}
            for name, view in entry.connector.views.items():
                if not view.is_private:
                    columns = dbv.known_columns(entry, view)
                    paths.update(_view_paths(connector, name, view, columns,
                                             entry.connector.agg_score, dbv.max_limit))
        return {"paths": paths, "tags": [{"name": TAG, "description": "SQL views"}]}

    return contribute
