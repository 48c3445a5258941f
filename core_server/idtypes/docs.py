"""The OpenAPI contribution of the id types: the ``/api/idtype`` routes and score routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core_server.dbview import MAX_ID
from core_server.dbview import NAME_LENGTH
from core_server.idtypes.service import IdTypes
from core_server.openapi import operation

TAG = "idtype"
_ERRORS = (400, 401, 403, 404, 500, 503, 504)
_LIST = {"type": "array", "items": {"type": "string"}}


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description}


def _ids(name: str, description: str) -> list[dict[str, Any]]:
    return [_param(f"{name}[]", _LIST, description + " (repeat the key)"),
            _param(name, {"type": "string"}, description + " (comma-separated)")]


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
            {"type": "array", "items": {"type": "integer"}},
            [idtype, _param("id", {"type": "string", "maxLength": NAME_LENGTH},
                             "one name: answers one id"),
             *_ids("ids", "names")], "idtype_map"),
        f"{base}/{{idtype}}/unmap": _both(
            "assigned integer ids -> names (null when unknown)",
            {"type": "array", "items": {"type": ["string", "null"]}},
            [idtype, _param("id", {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                             "one id: answers one name"),
             *_ids("ids", "integer ids")], "idtype_unmap"),
        f"{base}/{{idtype}}/search": _both(
            "assigned names starting with q", {"type": "array", "items": {"type": "object"}},
            [idtype, query, limit], "idtype_search"),
        f"{base}/{{source}}/{{target}}": _both(
            "map ids of source to target (shortest path over the mappings)",
            {"type": "array"}, [source, target, *_ids("q", "ids to map"), mode],
            "idtype_map_to"),
        f"{base}/{{source}}/{{target}}/search": _both(
            "source ids starting with q with their target ids: [{match, to}]",
            {"type": "array", "items": {"type": "object"}}, [source, target, query, limit],
            "idtype_map_search"),
    }


def _score_paths(idtypes: IdTypes) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    target = _param("target", {"type": "string"}, "the id type of the answered ids", "query",
                    True)
    for connector, entry in sorted(idtypes.dbv.connectors.items()):
        for name, view in entry.connector.views.items():
            if view.query_type != "score" or view.is_private or not view.idtype:
                continue
            reachable = idtypes.graph.reachable(view.idtype)
            summary = f"rows of {name} with ids mapped from {view.idtype} to target " \
                      f"({', '.join(reachable) or 'no mappings'})"
            paths[f"/api/db/{connector}/{name}/score"] = _both(
                summary, {"type": "array", "items": {"type": "object"}}, [target],
                f"{connector}_{name}_score")
    return paths


def contributor(idtypes: IdTypes) -> Callable[[], dict[str, Any]]:
    """The OpenAPI contributor function for ``state.openapi``."""

    def contribute() -> dict[str, Any]:
        return {"paths": {**_paths(), **_score_paths(idtypes)},
                "tags": [{"name": TAG, "description": "id types and id mapping"}]}

    return contribute
