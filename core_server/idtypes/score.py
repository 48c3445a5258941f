"""``/api/db/<connector>/<view>/score?target=<idtype>``: a view's rows with mapped ``id``s.

Also answers ``/api/db/<connector>/<view>?target=...`` (the rows route hands over when a view
does not declare ``target`` itself). Each row is repeated once per target id of its ``id``;
rows whose ``id`` maps to nothing are dropped. ``_sort``, ``_offset`` and ``_limit`` apply to
the mapped rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from core_server import requestlog
from core_server import security
from core_server.dbview import execute
from core_server.dbview import output
from core_server.dbview.handlers import ViewRequest
from core_server.dbview.params import Values
from core_server.dbview.params import first
from core_server.dbview.params import parse_options
from core_server.dbview.routes import METHODS
from core_server.dbview.routes import request_values
from core_server.errors import ApiError
from core_server.errors import BadRequest
from core_server.idtypes.service import IdTypes
from core_server.state import state_of

blueprint = Blueprint("idtypes_score", __name__)


def wants_mapping(view: Any, values: Values) -> bool:
    """True when a rows request asks for ``target`` and the view does not use it itself."""
    return "target" in values and "target" not in view.arguments \
        and "target" not in view.replacements


def score_response(idtypes: IdTypes, connector: str, view: str, values: Values,
                   fmt: str | None = None) -> Response:
    """Rows of ``connector/view`` with ids mapped to ``values['target']``."""
    # _sort names the mapped result's columns, checked once the rows are there
    req = ViewRequest(idtypes.dbv, connector, view,
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
        return req.query_info(req.sql())
    names, rows = _fetch(req)
    if "id" not in names:
        raise ApiError(500, "invalid_view", f"{req.name} has no id column to map",
                       hint="a score view returns the columns id and score")
    index = names.index("id")
    if len(path) > 1:
        rows = _mapped(idtypes, path, rows, index)
    return _respond(req, values, names, rows, index, target)


def _fetch(req: ViewRequest) -> tuple[list[str], list[Any]]:
    if req.view.is_callback:
        callback: Any = req.view.query
        ce = req.dbv.engine(req.entry)
        with requestlog.timed("db"), execute.db_errors(ce.backend, req.name):
            result = callback(ce.engine, req.parsed.arguments, req.parsed.filters)
        records = result.to_dict("records") if hasattr(result, "to_dict") else list(result or [])
        names = list(dict.fromkeys(k for r in records[:1] for k in r))
        return names, [tuple(r.get(n) for n in names) for r in records]
    assert req.ce is not None
    size = req.dbv.batch_size
    with requestlog.timed("db"):
        result = execute.run(req.ce, execute.statement(req.entry, req.sql(), req.parsed),
                             req.parsed.binds, req.name, size, size, stream=True)
        rows = list(chain(result.head, chain.from_iterable(result.rest)))
    return result.names, rows


def _mapped(idtypes: IdTypes, path: list[str], rows: list[Any], index: int) -> list[Any]:
    with requestlog.timed("map"):
        targets = idtypes.graph.map(path, list(map(itemgetter(index), rows)))
    return [(*row[:index], t, *row[index + 1:]) for row, ts in zip(rows, targets) for t in ts]


def _respond(req: ViewRequest, values: Values, names: list[str], rows: list[Any], index: int,
             target: str) -> Response:
    sort = parse_options({"_sort": values.get("_sort") or [""]}, dict.fromkeys(names), None).sort
    for name, desc in reversed(sort):
        i = names.index(name)
        rows.sort(key=lambda row: (row[i] is None, row[i]), reverse=desc)
    start = req.options.offset
    end = None if req.options.limit is None else start + req.options.limit
    cap = req.dbv.max_limit
    if cap is not None and end is None and len(rows) - start > cap:
        raise BadRequest("too_many_rows", f"{req.name} mapped to {target} has more than {cap} "
                         "rows", hint=f"page with _limit<={cap} and _offset (config dbview.max_limit)")
    page = rows[start:end]
    headers = {"Link": _next_link(req, end)} if end is not None and len(rows) > end else {}
    if req.view.assign_ids or req.options.assign_ids:
        ids = req.dbv.ids(list(map(itemgetter(index), page)), target)
        names = ["_id", *names]
        page = [(i, *row) for i, row in zip(ids, page)]
    fmt = req.options.format
    with requestlog.timed("encode"):
        body = b"".join(output.ENCODERS[fmt](names, _one(page)))
    requestlog.set_rows(len(page))
    return Response(body, mimetype=output.MIMETYPES[fmt], headers=headers)


def _one(page: list[Any]) -> Iterator[list[Any]]:
    yield page


def _next_link(req: ViewRequest, end: int) -> str:
    args = [(k, v) for k, values in request_values().items() if k != "_offset" for v in values]
    args.append(("_offset", str(end)))
    return f"<{request.script_root}{request.path}?{urlencode(args)}>; rel=\"next\""


@blueprint.route("/<connector>/<view>/score", methods=METHODS)
def view_score(connector: str, view: str) -> Response:
    """Rows of a (score) view with ``id`` mapped to the ``target`` id type."""
    idtypes: IdTypes = state_of(current_app).idtypes
    return score_response(idtypes, connector, view, request_values())
