"""What each ``/api/db`` route does, between reading the request and encoding the response.

A handler resolves the connector and view, checks the read right and derives the view's columns
(the one step before validation that may query, once per view); :mod:`~core_server.dbview.params`
validates the request and gives its SQL text, :mod:`~core_server.dbview.execute` runs it and
:mod:`~core_server.dbview.output` encodes the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from itertools import chain
from operator import add
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

from flask import Response
from flask import request
from flask import stream_with_context

from core_server import requestlog
from core_server import security
from core_server.dbview import execute
from core_server.dbview import output
from core_server.dbview import params
from core_server.dbview import plans
from core_server.dbview.builder import DBView
from core_server.dbview.columns import Columns
from core_server.dbview.params import ViewRequest
from core_server.dbview.service import ConnectorEntry
from core_server.dbview.service import DBViews
from core_server.encoding import json_response
from core_server.errors import ApiError
from core_server.errors import BadRequest
from core_server.errors import Forbidden
from core_server.values import Values

#: Pages up to this size are fetched in one go and answered with a Content-Length body.
HEAD_MAX = 10_000
#: Requests under this path read filters as TDP does (unknown keys dropped with a warning).
TDP_PREFIX = "/api/tdp/"
_UNSAFE_HEADER = re.compile(r'[^\x20-\x7e]|["\\]')
_WARNED = 10
_WARNED_LENGTH = 60


# -- listing and description -------------------------------------------------------------------


def connectors(dbv: DBViews) -> Response:
    """Every SQL connector: ``[{"name", "description"}]``."""
    return json_response([e.connector.dump(name) for name, e in sorted(dbv.connectors.items())])


def views(dbv: DBViews, connector: str) -> Response:
    """The public views of ``connector`` the current user may read (no database access)."""
    entry = dbv.entry(connector)
    visible = []
    for name, view in entry.connector.views.items():
        if view.is_private:
            continue
        try:
            security.check(f"db:{connector}/{name}", "read", rule=view.security)
        except ApiError:
            continue
        visible.append(view.dump(name, dbv.known_columns(entry, view)))
    return json_response(visible)


def desc(dbv: DBViews, connector: str, view: str) -> Response:
    """The view's description: type, id type, arguments, columns, filters, queries."""
    _, found, columns = _resolve(dbv, connector, view)
    return json_response(found.dump(view, columns))


def _resolve(dbv: DBViews, connector: str, view: str) -> tuple[ConnectorEntry, DBView, Columns]:
    entry = dbv.entry(connector)
    found = dbv.view(entry, view)
    security.check(f"db:{connector}/{view}", "read", rule=found.security)
    return entry, found, Columns(found.columns) if found.is_callback \
        else dbv.columns(entry, found)


def open_view(dbv: DBViews, connector: str, view: str, values: Values,
              fmt: str | None = None) -> ViewRequest:
    """The validated request for ``connector/view`` after the read check (404/403/400 else).

    Deriving the columns of a table view may query its database (once, then cached). Under
    ``/api/tdp/db`` unknown filter keys are dropped, as TDP does (see :func:`warnings`).
    """
    entry, found, columns = _resolve(dbv, connector, view)
    lenient = request.path.startswith(TDP_PREFIX)
    return plans.view_request(dbv, entry, found, view, values, columns, fmt, lenient)


def warnings(req: ViewRequest) -> dict[str, str]:
    """The ``Warning`` header naming filter keys the view does not know (dropped, as TDP)."""
    ignored = req.parsed.ignored
    if not ignored:
        return {}
    # request text in a header: printable ASCII without quotes, a few keys, each cut short
    keys = ", ".join(_UNSAFE_HEADER.sub("?", key[:_WARNED_LENGTH]) for key in ignored[:_WARNED])
    more = f" and {len(ignored) - _WARNED} more" if len(ignored) > _WARNED else ""
    return {"Warning": f'299 core_server "ignored unknown filter keys: {keys}{more}"'}


class filter_errors:  # noqa: N801 - used like a function: ``with filter_errors(req):``
    """A failing query of a view that took free filter keys is a 400 naming those keys."""

    def __init__(self, req: ViewRequest) -> None:
        self.keys = req.parsed.open_keys

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:
        if self.keys and isinstance(exc, ApiError) and exc.code == "query_failed":
            raise BadRequest("invalid_filter", "the database rejected the query with filter "
                             + ", ".join(map(repr, self.keys)),
                             hint="the view declares no filters or columns: filter keys must be "
                             "columns its SQL can see") from exc


def query_info(dbv: DBViews, req: ViewRequest, sql: str) -> Response:
    """``_return_query``: the SQL and bound values instead of rows (if the user may see SQL)."""
    rule = dbv.return_query_rule
    if not security.allowed(security.current_user(), rule):
        raise Forbidden("_return_query is not allowed for this user",
                        hint="config dbview.return_query names who may see SQL")
    return json_response({"query": sql, "args": req.parsed.binds})


# -- rows --------------------------------------------------------------------------------------


def rows(dbv: DBViews, connector: str, view: str, values: Values) -> Response:
    """The rows of a view (``_format`` or a ``.csv`` suffix), or the ``?target=`` hand-off."""
    entry = dbv.entry(connector)
    name, fmt = params.split_format(entry.connector.views, view)
    handler = dbv.target_handler
    if handler is not None and "target" in values \
            and not params.uses_target(dbv.view(entry, name)):
        return handler(connector, name, values, fmt)  # ids mapped to another id type
    return _rows(dbv, open_view(dbv, connector, name, values, fmt))


def _rows(dbv: DBViews, req: ViewRequest) -> Response:
    if req.view.is_callback:
        return _callback_rows(dbv, req)
    ce = dbv.engine(req.entry)
    options = req.options
    if options.return_query:
        return query_info(dbv, req, req.sql())
    cap = dbv.max_limit if options.limit is None else None
    sql_limit = options.limit + 1 if options.limit is not None else (cap + 1 if cap else None)
    bounded = sql_limit is not None and (sql_limit <= HEAD_MAX or cap is not None)
    head = sql_limit if bounded and sql_limit is not None else dbv.batch_size
    # never more than one batch: what does not fit is streamed in batches, as without a probe
    probe = min(ce.backend.probe_rows, dbv.batch_size) if sql_limit is None else 0
    with requestlog.timed("db"), filter_errors(req):
        result = None
        if probe:  # most unbounded reads are small (a filter on a key): try a bounded one
            found = execute.run(ce, req.statement(req.rows_sql(ce, probe + 1)),
                                req.parsed.binds, req.name, probe + 1, probe + 1, stream=False)
            if len(found.head) <= probe:
                result = found  # that was all of it; larger results are read again, streamed
        if result is None:
            result = execute.run(ce, req.statement(req.rows_sql(ce, sql_limit)),
                                 req.parsed.binds, req.name, head, dbv.batch_size,
                                 stream=not bounded)
    if cap is not None and len(result.head) > cap:
        result.close()
        raise BadRequest("too_many_rows", f"{req.name} has more than {cap} rows",
                         hint=f"page with _limit<={cap} and _offset (config dbview.max_limit)")
    batches = _chain(result.head, result.rest)
    if options.limit is not None:
        batches = _cut(batches, options.limit)
    more = options.limit is not None and (not result.exhausted or len(result.head) > options.limit)
    total = min(len(result.head), options.limit) if result.exhausted and options.limit is not None \
        else (len(result.head) if result.exhausted else None)
    return _respond(dbv, req, result.names, batches, more, total, release=result.close)


def fetch_all(dbv: DBViews, req: ViewRequest) -> tuple[list[str], list[Any]]:
    """Every row of the request's view (callbacks too) as column names and tuples, in memory."""
    if req.view.is_callback:
        return _table(_call(dbv, req))
    ce = dbv.engine(req.entry)
    size = dbv.batch_size
    with requestlog.timed("db"), filter_errors(req):
        result = execute.run(ce, req.statement(req.sql()), req.parsed.binds, req.name, size,
                             size, stream=True)
        found = list(chain(result.head, chain.from_iterable(result.rest)))
    return result.names, found


def _chain(head: list[Any], rest: Iterable[list[Any]]) -> Iterator[list[Any]]:
    if head:
        yield head
    yield from rest


def _cut(batches: Iterable[list[Any]], limit: int) -> Iterator[list[Any]]:
    left = limit
    for batch in batches:
        if left <= 0:
            return
        if len(batch) > left:
            batch = batch[:left]
        left -= len(batch)
        yield batch


def _with_ids(dbv: DBViews, req: ViewRequest, names: list[str],
              batches: Iterable[list[Any]]) -> tuple[list[str], Iterable[list[Any]]]:
    wants = req.view.assign_ids or req.options.assign_ids
    if not wants or "id" not in names or "_id" in names:
        return names, batches
    index = names.index("id")
    mapper = dbv.ids
    idtype = req.view.idtype or req.name

    def with_ids(batch: list[Any]) -> list[Any]:
        ids = mapper(list(map(itemgetter(index), batch)), idtype)
        # DBAPI rows are tuples already (sqlite3, psycopg, pymysql); others are converted
        rows = batch if not batch or type(batch[0]) is tuple else map(tuple, batch)
        return list(map(add, zip(ids), rows))  # (_id,) + row, in C

    # the first batch before the response starts: a server database that is down is a 503
    # JSON answer, not a response cut off after its headers
    rest = iter(batches)
    first = with_ids(next(rest, []))

    def assign() -> Iterator[list[Any]]:
        if first:
            yield first
        for batch in rest:
            yield with_ids(batch)

    return ["_id", *names], assign()


def _next_link(req: ViewRequest) -> str:
    args = [(k, v) for k, values in req.values.items() if k != "_offset" for v in values]
    args.append(("_offset", str(req.options.offset + (req.options.limit or 0))))
    # a relative reference (RFC 8288) keeps the public prefix (script_root) behind a proxy
    return f"<{request.script_root}{request.path}?{urlencode(args)}>; rel=\"next\""


def _respond(dbv: DBViews, req: ViewRequest, names: list[str], batches: Iterable[list[Any]],
             more: bool, total: int | None,
             release: Callable[[], None] | None = None) -> Response:
    names, batches = _with_ids(dbv, req, names, batches)
    fmt = req.options.format
    headers = warnings(req)
    if more:
        headers["Link"] = _next_link(req)
    if total is not None:  # everything is in memory already: one body with a Content-Length
        with requestlog.timed("encode"):
            body = output.encode_body(fmt, names, batches)
        requestlog.set_rows(total)
        return Response(body, content_type=output.MIMETYPES[fmt], headers=headers)
    chunks = output.ENCODERS[fmt](names, batches)
    response = Response(stream_with_context(chunks), content_type=output.MIMETYPES[fmt],
                        headers=headers)
    if release is not None:
        # the WSGI server closes the response also when the client went away or never read the
        # body (HEAD): the connection is released then, not when the generators are collected
        response.call_on_close(release)
    return response


def _callback_rows(dbv: DBViews, req: ViewRequest) -> Response:
    names, table = _table(_call(dbv, req))
    for name, descending in reversed(req.options.sort):
        if name not in names:
            raise BadRequest("unknown_field", f"cannot sort by unknown column {name!r}",
                             hint="columns: " + ", ".join(names))
        index = names.index(name)
        table.sort(key=lambda row: (row[index] is None, row[index]), reverse=descending)
    start = req.options.offset
    end = None if req.options.limit is None else start + req.options.limit
    page = table[start:end]
    more = end is not None and len(table) > end
    return _respond(dbv, req, names, [page], more, len(page))


def _call(dbv: DBViews, req: ViewRequest) -> list[dict[str, Any]]:
    engine = dbv.engine(req.entry)
    callback: Any = req.view.query
    with requestlog.timed("db"), execute.db_errors(engine.backend, req.name):
        result = callback(engine.engine, req.parsed.arguments, req.parsed.filters)
    if hasattr(result, "to_dict"):  # a pandas DataFrame
        result = result.to_dict("records")
    return list(result or [])


def _table(records: list[dict[str, Any]]) -> tuple[list[str], list[Any]]:
    # a callback's records as rows; the first record names the columns
    names = list(dict.fromkeys(k for r in records[:1] for k in r))
    return names, [tuple(r.get(n) for n in names) for r in records]


# -- count, lookup -----------------------------------------------------------------------------


def count(dbv: DBViews, connector: str, view: str, values: Values) -> Response:
    """The number of rows the view (with its filters) returns, as a JSON integer."""
    req = open_view(dbv, connector, view, values)
    counter = req.view.queries.get("count")
    if callable(counter):  # as TDP: a count callback gets the engine, arguments and filters
        ce = dbv.engine(req.entry)
        with requestlog.timed("db"), execute.db_errors(ce.backend, req.name):
            value = counter(ce.engine, req.parsed.arguments, req.parsed.filters)
        return json_response(int(value or 0), headers=warnings(req))
    sql = req.count_sql()
    if req.options.return_query:
        return query_info(dbv, req, sql)
    ce = dbv.engine(req.entry)
    with requestlog.timed("db"), filter_errors(req):
        value = execute.scalar(ce, req.statement(sql), req.parsed.binds, req.name)
    return json_response(int(value or 0), headers=warnings(req))


def lookup(dbv: DBViews, connector: str, view: str, values: Values) -> Response:
    """``{"items": [...], "more": bool}`` for autocompletion (``query``, ``page``, ``limit``)."""
    filled, limit = params.lookup_values(values)
    req = open_view(dbv, connector, view, filled)
    if req.view.is_callback:
        records = _call(dbv, req)
    else:
        ce = dbv.engine(req.entry)
        with requestlog.timed("db"), filter_errors(req):
            result = execute.run(ce, req.statement(req.sql()), req.parsed.binds, req.name,
                                 limit + 1, limit + 1, stream=False)
        names, batches = _with_ids(dbv, req, result.names, [list(result.head)])
        records = [dict(zip(names, row)) for batch in batches for row in batch]
    requestlog.set_rows(min(len(records), limit))
    return Response(output.dumps({"items": records[:limit], "more": len(records) > limit}),
                    mimetype="application/json", headers=warnings(req))
