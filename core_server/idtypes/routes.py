"""The ``/api/idtype`` blueprint: id types, mapping between them and assigned integer ids.

GET reads the query string; POST reads a form or a JSON object body (long id lists). Id types
named ``map``, ``unmap`` or ``search`` cannot be mapping targets in a URL (those words are routes).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app

from core_server import requestlog
from core_server.dbview.params import Values
from core_server.dbview.params import first
from core_server.dbview.params import parse_int
from core_server.dbview.routes import request_values
from core_server.encoding import json_response
from core_server.errors import BadRequest
from core_server.idtypes.service import IdTypes
from core_server.state import state_of

METHODS = ["GET", "POST"]
MODES = ("all", "first")
MAX_SEARCH = 1000

blueprint = Blueprint("idtypes", __name__)


def _idtypes() -> IdTypes:
    return state_of(current_app).idtypes  # type: ignore[no-any-return]


def id_list(values: Values, name: str, required: bool = True) -> list[Any]:
    """``name[]=a&name[]=b``, or ``name=a,b`` (or a JSON list); 400 when required and absent."""
    if name + "[]" in values:
        return list(values[name + "[]"])
    raw = values.get(name)
    if raw is None:
        if required:
            raise BadRequest("missing_argument", f"{name} is missing",
                             hint=f"send {name}[]=a&{name}[]=b or {name}=a,b")
        return []
    if len(raw) == 1 and isinstance(raw[0], str):
        return [v for v in raw[0].split(",") if v != ""]
    return list(raw)


def _one_or_many(idtypes: IdTypes) -> tuple[list[Any], bool]:
    """The request's ``id`` (single: answer a value) or ``ids``/``ids[]`` (answer a list)."""
    values = request_values()
    single = first(values, "id")
    items = [single] if single is not None else id_list(values, "ids")
    idtypes.check_size(items)
    return items, single is not None


def _limit(values: Values) -> int:
    limit = parse_int(first(values, "limit") or "10", "limit", minimum=1)
    return min(limit, MAX_SEARCH)


@blueprint.route("/", methods=METHODS)
def list_idtypes() -> Response:
    """The known id types: ``[{"id", "name", "names"}]``."""
    return json_response([{"id": t, "name": t, "names": f"{t}s"} for t in _idtypes().visible()])


@blueprint.route("/<idtype>/", methods=METHODS)
def maps_to(idtype: str) -> Response:
    """The id types ``idtype`` maps to (directly or through others), nearest first."""
    idtypes = _idtypes()
    idtypes.require(idtype)
    return json_response(idtypes.graph.reachable(idtype))


@blueprint.route("/<idtype>/map", methods=METHODS)
def map_names(idtype: str) -> Response:
    """Names -> assigned integer ids; names seen for the first time get the next free ids."""
    idtypes = _idtypes()
    idtypes.require(idtype)
    names, single = _one_or_many(idtypes)
    with requestlog.timed("db"), idtypes.assigned.guard():
        ids = idtypes.dbv.ids([str(n) for n in names], idtype)
    requestlog.set_rows(len(ids))
    return json_response(ids[0] if single else ids)


@blueprint.route("/<idtype>/unmap", methods=METHODS)
def unmap_ids(idtype: str) -> Response:
    """Assigned integer ids -> names (null for ids never assigned)."""
    idtypes = _idtypes()
    idtypes.require(idtype)
    raw, single = _one_or_many(idtypes)
    ids = [parse_int(v, "ids") for v in raw]
    with requestlog.timed("db"):
        names = idtypes.assigned.unmap(ids, idtype)
    requestlog.set_rows(len(names))
    return json_response(names[0] if single else names)


@blueprint.route("/<idtype>/search", methods=METHODS)
def search_names(idtype: str) -> Response:
    """Assigned names starting with ``q``: ``[{"id", "name"}]`` (``limit``, default 10)."""
    idtypes = _idtypes()
    idtypes.require(idtype)
    values = request_values()
    with requestlog.timed("db"):
        found = idtypes.assigned.search(idtype, str(first(values, "q") or ""), _limit(values))
    return json_response(found)


@blueprint.route("/<source>/<target>", methods=METHODS)
def map_ids(source: str, target: str) -> Response:
    """Ids of ``source`` (``q=a,b`` or ``q[]=``) -> ``target`` ids; ``mode=all|first``."""
    idtypes = _idtypes()
    idtypes.require(source)
    idtypes.require(target)
    values = request_values()
    mode = str(first(values, "mode") or "all")
    if mode not in MODES:
        raise BadRequest("invalid_value", f"unknown mode {mode!r}", hint="mode=all or mode=first")
    ids = id_list(values, "q")
    with requestlog.timed("db"):
        mapped = idtypes.map(source, target, ids)
    requestlog.set_rows(len(mapped))
    if mode == "first":
        return json_response([targets[0] if targets else None for targets in mapped])
    return json_response(mapped)


@blueprint.route("/<source>/<target>/search", methods=METHODS)
def search_mapped(source: str, target: str) -> Response:
    """``source`` ids starting with ``q`` and their ``target`` ids: ``[{"match", "to"}]``."""
    idtypes = _idtypes()
    idtypes.require(source)
    idtypes.require(target)
    values = request_values()
    with requestlog.timed("db"):
        found = idtypes.search(source, target, str(first(values, "q") or ""), _limit(values))
    return json_response(found)
