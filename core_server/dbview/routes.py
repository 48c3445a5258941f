"""The ``/api/db`` blueprint (also mounted at ``/api/tdp/db`` for TDP clients).

Handlers only read the request, call :mod:`core_server.dbview.handlers` and return its response.
GET reads the query string; POST reads a form or a JSON object body (for long id lists).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from core_server import security
from core_server.dbview import handlers
from core_server.dbview.params import FORMATS
from core_server.dbview.service import DBViews
from core_server.dbview.service import dbviews_of
from core_server.encoding import json_response
from core_server.errors import ApiError
from core_server.errors import BadRequest
from core_server.state import current_state

METHODS = ["GET", "POST"]

blueprint = Blueprint("dbview", __name__)


def _dbv() -> DBViews:
    return dbviews_of(current_app)


def request_values() -> dict[str, list[Any]]:
    """The request's parameters as ``key -> list``: query string, plus form or JSON body."""
    values: dict[str, list[Any]] = request.args.to_dict(flat=False)
    if request.method != "POST":
        return values
    if request.is_json:
        body = request.get_json()
        if not isinstance(body, dict):
            raise BadRequest("malformed_json", "the JSON body must be an object of parameters")
        for key, value in body.items():
            values[key] = [str(v) if isinstance(v, (int, float)) else v for v in
                           (value if isinstance(value, list) else [value])]
    else:
        values.update({k: request.form.getlist(k) for k in request.form})
    return values


def _split_format(dbv: DBViews, connector: str, view: str) -> tuple[str, str | None]:
    entry = dbv.connectors.get(connector)
    name, dot, suffix = view.rpartition(".")
    if dot and suffix in FORMATS and (entry is None or view not in entry.connector.views):
        return name, suffix
    return view, None


@blueprint.route("/", methods=METHODS)
def list_connectors() -> Response:
    """Every SQL connector: ``[{"name", "description"}]``."""
    dbv = _dbv()
    return json_response([e.connector.dump(name) for name, e in sorted(dbv.connectors.items())])


@blueprint.route("/<connector>/", methods=METHODS)
def list_views(connector: str) -> Response:
    """The views of a connector the current user may read."""
    entry = _dbv().entry(connector)
    visible = []
    for name, view in entry.connector.views.items():
        if view.is_private:
            continue
        try:
            security.check(f"db:{connector}/{name}", "read", rule=view.security)
        except ApiError:
            continue
        visible.append(view.dump(name, _dbv().known_columns(entry, view)))
    return json_response(visible)


@blueprint.route("/<connector>/<view>", methods=METHODS)
@blueprint.route("/<connector>/<view>/filter", methods=METHODS)
def view_rows(connector: str, view: str) -> Response:
    """The rows of a view (``_format`` or a ``.csv/.tsv/.ndjson/.json`` suffix)."""
    dbv = _dbv()
    name, fmt = _split_format(dbv, connector, view)
    values = request_values()
    if "target" in values:  # ids mapped to another id type (core_server.idtypes)
        from core_server.idtypes import score

        if score.wants_mapping(dbv.view(dbv.entry(connector), name), values):
            return score.score_response(current_state().idtypes, connector, name, values, fmt)
    return handlers.rows(handlers.ViewRequest(dbv, connector, name, values, fmt))


@blueprint.route("/<connector>/<view>/count", methods=METHODS)
def view_count(connector: str, view: str) -> Response:
    """The number of rows, as a JSON integer."""
    return handlers.count(handlers.ViewRequest(_dbv(), connector, view, request_values()))


@blueprint.route("/<connector>/<view>/desc", methods=METHODS)
def view_desc(connector: str, view: str) -> Response:
    """The view's description: type, id type, arguments, columns, filters, queries."""
    dbv = _dbv()
    entry = dbv.entry(connector)
    found = dbv.view(entry, view)
    security.check(f"db:{connector}/{view}", "read", rule=found.security)
    columns = found.columns if found.is_callback else dbv.columns(entry, found)
    return json_response(found.dump(view, columns))


@blueprint.route("/<connector>/<view>/lookup", methods=METHODS)
def view_lookup(connector: str, view: str) -> Response:
    """Autocompletion: ``{"items": [...], "more": bool}`` (``query``, ``page``, ``limit``)."""
    values, limit = handlers.lookup_values(request_values())
    return handlers.lookup(handlers.ViewRequest(_dbv(), connector, view, values), limit)


# ``/<connector>/<view>/score`` (rows mapped to another id type) is a blueprint of
# core_server.idtypes.score, mounted under the same prefixes.
