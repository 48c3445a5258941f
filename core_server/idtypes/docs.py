"""The OpenAPI contribution of the id types: the ``/api/idtype`` routes and score routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core_server.dbview import MAX_ID
from core_server.dbview import NAME_LENGTH
from core_server.dbview import view_parameters
from core_server.idtypes.service import IdTypes
from core_server.openapi import operation

TAG = "idtype"
_ERRORS = (400, 401, 403, 404, 500, 503, 504)
_LIST = {"type": "array", "items": {"type": "string"}}


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description}


_NAME = {"type": "string", "maxLength": NAME_LENGTH, "pattern": "^[^\\u0000]*$"}
_NAMES = f"^[^,\\u0000]{{0,{NAME_LENGTH}}}(?:,[^,\\u0000]{{0,{NAME_LENGTH}}})*$"
_ID = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
_INTEGERS = "^(?:[0-9]{1,9}(?:,[0-9]{1,9})*)?$"  # 9 digits stay below MAX_ID


def _ids(name: str, description: str, integers: bool = False,
         required: bool = False) -> list[dict[str, Any]]:
    """``name[]`` (repeated) and ``name`` (comma-separated); with both, ``name[]`` counts."""
    item = _ID if integers else _NAME
    joined = {"type": "string", "pattern": _INTEGERS if integers else _NAMES}
    return [_param(f"{name}[]", {"type": "array", "items": item}, description +
                   " (repeat the key)"),
            _param(name, joined, description + " (comma-separated)", required=required)]


def _one_or_list(item: dict[str, Any]) -> dict[str, Any]:
    # ?id= answers one value, ids a list of them
    return {"oneOf": [{"type": "array", "items": item}, item]}


def _both(summary: str, schema: dict[str, Any], params: list[dict[str, Any]],
          op_id: str) -> dict[str, Any]:
    # GET with the query string, POST with the same parameters as form or JSON body
    return {method: operation(summary if method == "get" else summary + " (form or JSON body)",
                              schema, tag=TAG, parameters=params, errors=_ERRORS,
                              operationId=f"{method}_{op_id}")
            for method in ("get", "post")}


def _paths() -> dict[str, Any]:
    idtype = _param("idtype", {"type": "string"}, "an id type", "path")
    source = _param("source", {"type": "string"}, "the id type of the given ids", "path")
    target = _param("target", {"type": "string"}, "the id type to map to", "path")
    query = _param("q", {"type": "string"}, "prefix to search for")
    limit = _param("limit", {"type": "integer", "minimum": 1}, "most results (default 10)")
    entry = {"type": "object", "properties": {"id": {"type": "string"},
                                              "name": {"type": "string"},
                                              "names": {"type": "string"}}}
    mode = _param("mode", {"type": "string", "enum": ["all", "first"]},
                  "all: a list of targets per id; first: one target or null per id")
    base = "/api/idtype"
    return {
        f"{base}/": _both("the known id types", {"type": "array", "items": entry}, [],
                          "idtypes"),
        f"{base}/{{idtype}}/": _both("the id types this one maps to", _LIST, [idtype],
                                     "idtype_maps_to"),
        f"{base}/{{idtype}}/map": _both(
            "names -> assigned integer ids (new names get new ids)",
            _one_or_list({"type": "integer"}),
            [idtype, _param("id", _NAME, "one name: answers one id (instead of ids)"),
             *_ids("ids", "names", required=True)], "idtype_map"),
        f"{base}/{{idtype}}/unmap": _both(
            "assigned integer ids -> names (null when unknown)",
            _one_or_list({"anyOf": [{"type": "string"}, {"type": "null"}]}),
            [idtype, _param("id", _ID, "one id: answers one name (instead of ids)"),
             *_ids("ids", "integer ids", integers=True, required=True)], "idtype_unmap"),
        f"{base}/{{idtype}}/search": _both(
            "assigned names starting with q", {"type": "array", "items": {"type": "object"}},
            [idtype, query, limit], "idtype_search"),
        f"{base}/{{source}}/{{target}}": _both(
            "map ids of source to target (shortest path over the mappings)",
            {"type": "array"}, [source, target, *_ids("q", "ids to map", required=True), mode],
            "idtype_map_to"),
        f"{base}/{{source}}/{{target}}/search": _both(
            "source ids starting with q with their target ids: [{match, to}]",
            {"type": "array", "items": {"type": "object"}}, [source, target, query, limit],
            "idtype_map_search"),
    }


def _score_paths(idtypes: IdTypes) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for connector, entry in sorted(idtypes.dbv.connectors.items()):
        for name, view in entry.connector.views.items():
            if view.query_type != "score" or view.is_private or not view.idtype:
                continue
            reachable = sorted(idtypes.graph.reachable(view.idtype))
            summary = f"rows of {name} with ids mapped from {view.idtype} to target " \
                      f"({', '.join(reachable) or 'no mappings'})"
            target = _param("target", {"type": "string", "enum": sorted(
                {view.idtype, *reachable})}, "the id type of the answered ids", "query", True)
            params = view_parameters(idtypes.dbv, entry, view)
            paths[f"/api/db/{connector}/{name}/score"] = _both(
                summary, {"type": "array", "items": {"type": "object"}}, [target, *params],
                f"{connector}_{name}_score")
    return paths


def contributor(idtypes: IdTypes) -> Callable[[], dict[str, Any]]:
    """The OpenAPI contributor function for ``state.openapi``."""

    def contribute() -> dict[str, Any]:
        return {"paths": {**_paths(), **_score_paths(idtypes)},
                "tags": [{"name": TAG, "description": "id types and id mapping"}]}

    return contribute
