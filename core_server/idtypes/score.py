"""``/api/db/<connector>/<view>/score?target=<idtype>``: a view's rows with mapped ``id``s.

Also answers ``/api/db/<connector>/<view>?target=...`` (the rows route hands over when a view
does not declare ``target`` itself). Each row is repeated once per target id of its ``id``;
rows whose ``id`` maps to nothing are dropped. ``_sort``, ``_offset`` and ``_limit`` apply to
the mapped rows.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from core_server import requestlog
from core_server import security
from core_server import dbview
from core_server.dbview import ViewRequest
from core_server.dbview import parse_sort
from core_server.errors import ApiError
from core_server.errors import BadRequest
from core_server.idtypes.service import IDTYPES
from core_server.idtypes.service import IdTypes
from core_server.state import state_of
from core_server.values import Values
from core_server.values import first
from core_server.values import request_values

METHODS = ["GET", "POST"]

blueprint = Blueprint("idtypes_score", __name__)


def score_response(idtypes: IdTypes, connector: str, view: str, values: Values,
                   fmt: str | None = None) -> Response:
    """Rows of ``connector/view`` with ids mapped to ``values['target']``.

    Also the ``?target=`` hand-off of the rows route (registered by :func:`init_app`).
    """
    dbv = idtypes.dbv
    # _sort names the mapped result's columns, checked once the rows are there
    req = dbview.open_view(dbv, connector, view,
                             {k: v for k, v in values.items() if k != "_sort"}, fmt)
    source = req.view.idtype
    target = str(first(values, "target") or source or "")
    if not source:
        raise BadRequest("unmappable", f"{req.name} has no id type, its ids cannot be mapped",
                         hint="views with .idtype(...) can be mapped")
    path = idtypes.path(source, target)  # an unknown target is unmappable too (400)
    if target != source:
        security.check(f"idtype:{target}", "read")
    if req.options.return_query:
        return dbview.query_info(dbv, req, req.sql())
    names, rows = dbview.fetch_all(dbv, req)
    if "id" not in names:
        raise ApiError(500, "invalid_view", f"{req.name} has no id column to map",
                       hint="a score view returns the columns id and score")
    index = names.index("id")
    if len(path) > 1:
        rows = _mapped(idtypes, path, rows, index)
    return _respond(idtypes, req, values, names, rows, index, target)


def _mapped(idtypes: IdTypes, path: list[str], rows: list[Any], index: int) -> list[Any]:
    with requestlog.timed("map"):
        targets = idtypes.graph.map(path, list(map(itemgetter(index), rows)))
    return [(*row[:index], t, *row[index + 1:]) for row, ts in zip(rows, targets) for t in ts]


def _respond(idtypes: IdTypes, req: ViewRequest, values: Values, names: list[str],
             rows: list[Any], index: int, target: str) -> Response:
    sort = parse_sort(first(values, "_sort"), dict.fromkeys(names))
    for name, desc in reversed(sort):
        i = names.index(name)
        rows.sort(key=lambda row: (row[i] is None, row[i]), reverse=desc)
    start = req.options.offset
    end = None if req.options.limit is None else start + req.options.limit
    cap = idtypes.dbv.max_limit
    if cap is not None and end is None and len(rows) - start > cap:
        raise BadRequest("too_many_rows", f"{req.name} mapped to {target} has more than {cap} "
                         "rows", hint=f"page with _limit<={cap} and _offset (config dbview.max_limit)")
    page = rows[start:end]
    headers = dbview.warnings(req)
    if end is not None and len(rows) > end:
        headers["Link"] = _next_link(values, end)
    if req.view.assign_ids or req.options.assign_ids:
        ids = idtypes.dbv.ids(list(map(itemgetter(index), page)), target)
        names = ["_id", *names]
        page = [(i, *row) for i, row in zip(ids, page)]
    fmt = req.options.format
    with requestlog.timed("encode"):
        body = dbview.encode_body(fmt, names, [page])
    requestlog.set_rows(len(page))
    return Response(body, content_type=dbview.MIMETYPES[fmt], headers=headers)


def _next_link(values: Values, end: int) -> str:
    args = [(k, v) for k, items in values.items() if k != "_offset" for v in items]
    args.append(("_offset", str(end)))
    return f"<{request.script_root}{request.path}?{urlencode(args)}>; rel=\"next\""


@blueprint.route("/<connector>/<view>/score", methods=METHODS)
def view_score(connector: str, view: str) -> Response:
    """Rows of a (score) view with ``id`` mapped to the ``target`` id type."""
    idtypes = state_of(current_app).get(IDTYPES)
    return score_response(idtypes, connector, view, request_values())
