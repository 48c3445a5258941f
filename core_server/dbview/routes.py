"""The ``/api/db`` blueprint (also mounted at ``/api/tdp/db`` for TDP clients).

Each route reads the request values (:func:`core_server.values.request_values`: the query
string, plus a form or JSON object body on POST for long id lists), calls its function in
:mod:`core_server.dbview.handlers` and returns that response.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import current_app

from core_server.dbview import handlers
from core_server.dbview.service import DBViews
from core_server.dbview.service import dbviews_of
from core_server.values import request_values

METHODS = ["GET", "POST"]

blueprint = Blueprint("dbview", __name__)


def _dbv() -> DBViews:
    return dbviews_of(current_app)


@blueprint.get("/")
def list_connectors() -> Response:
    """Every SQL connector: ``[{"name", "description"}]``."""
    return handlers.connectors(_dbv())


@blueprint.get("/<connector>/")
def list_views(connector: str) -> Response:
    """The views of a connector the current user may read."""
    return handlers.views(_dbv(), connector)


@blueprint.route("/<connector>/<view>", methods=METHODS)
@blueprint.route("/<connector>/<view>/filter", methods=METHODS)
def view_rows(connector: str, view: str) -> Response:
    """The rows of a view (``_format`` or a ``.csv/.tsv/.ndjson/.json`` suffix)."""
    return handlers.rows(_dbv(), connector, view, request_values())


@blueprint.route("/<connector>/<view>/count", methods=METHODS)
def view_count(connector: str, view: str) -> Response:
    """The number of rows, as a JSON integer."""
    return handlers.count(_dbv(), connector, view, request_values())


@blueprint.get("/<connector>/<view>/desc")
def view_desc(connector: str, view: str) -> Response:
    """The view's description: type, id type, arguments, columns, filters, queries."""
    return handlers.desc(_dbv(), connector, view)


@blueprint.route("/<connector>/<view>/lookup", methods=METHODS)
def view_lookup(connector: str, view: str) -> Response:
    """Autocompletion: ``{"items": [...], "more": bool}`` (``query``, ``page``, ``limit``)."""
    return handlers.lookup(_dbv(), connector, view, request_values())


# ``/<connector>/<view>/score`` (rows mapped to another id type) is a blueprint of
# core_server.idtypes.score, mounted under the same prefixes; it registers the ``?target=``
# hand-off of the rows route with DBViews.register_target_handler.
