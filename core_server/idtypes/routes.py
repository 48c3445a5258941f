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
from core_server.dbview import MAX_ID
from core_server.dbview import NAME_LENGTH
from core_server.encoding import json_response
from core_server.idtypes.service import IDTYPES
from core_server.idtypes.service import IdTypes
from core_server.state import state_of
from core_server.values import Values
from core_server.values import first
from core_server.values import get_choice
from core_server.values import get_int
from core_server.values import get_text
from core_server.values import id_list
from core_server.values import integer
from core_server.values import request_values
from core_server.values import text

METHODS = ["GET", "POST"]
MODES = ("all", "first")
MAX_SEARCH = 1000

blueprint = Blueprint("idtypes", __name__)


def _idtypes() -> IdTypes:
    return state_of(current_app).get(IDTYPES)


def _one_or_many(idtypes: IdTypes, values: Values) -> tuple[list[Any], bool]:
    """The request's ``id`` (single: answer a value) or ``ids``/``ids[]`` (answer a list)."""
    single = first(values, "id")
    items = [single] if single is not None else id_list(values, "ids")
    idtypes.check_size(items)
    return items, single is not None


def _limit(values: Values) -> int:
    return min(get_int(values, "limit", 10, minimum=1), MAX_SEARCH)


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
    raw, single = _one_or_many(idtypes, request_values())
    names = [text(n, "id" if single else "ids", NAME_LENGTH) for n in raw]
    with requestlog.timed("db"), idtypes.assigned.guard():
        ids = idtypes.dbv.ids(names, idtype)
    requestlog.set_rows(len(ids))
    return json_response(ids[0] if single else ids)


@blueprint.route("/<idtype>/unmap", methods=METHODS)
def unmap_ids(idtype: str) -> Response:
    """Assigned integer ids -> names (null for ids never assigned)."""
    idtypes = _idtypes()
    idtypes.require(idtype)
    raw, single = _one_or_many(idtypes, request_values())
    ids = [integer(v, "id" if single else "ids", 0, MAX_ID) for v in raw]
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
        found = idtypes.assigned.search(idtype, get_text(values, "q"), _limit(values))
    return json_response(found)


@blueprint.route("/<source>/<target>", methods=METHODS)
def map_ids(source: str, target: str) -> Response:
    """Ids of ``source`` (``q=a,b`` or ``q[]=``) -> ``target`` ids; ``mode=all|first``."""
    idtypes = _idtypes()
    idtypes.require(source)
    idtypes.require(target)
    values = request_values()
    mode = get_choice(values, "mode", MODES, "all")
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
        found = idtypes.search(source, target, get_text(values, "q"), _limit(values))
    return json_response(found)
