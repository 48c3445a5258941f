"""What each ``/api/db`` route does, between parsing the request and encoding the response."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
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
from core_server.dbview.builder import DBView
from core_server.dbview.params import Options
from core_server.dbview.params import Parsed
from core_server.dbview.params import Values
from core_server.dbview.params import parse
from core_server.dbview.params import parse_int
from core_server.dbview.params import parse_options
from core_server.dbview.service import ConnectorEntry
from core_server.dbview.service import DBViews
from core_server.encoding import json_response
from core_server.errors import BadRequest
from core_server.errors import Forbidden

#: Pages up to this size are fetched in one go and answered with a Content-Length body.
HEAD_MAX = 10_000


class ViewRequest:
    """One request for one view: the resolved connector, view and validated parameters."""

    def __init__(self, dbv: DBViews, connector: str, view: str, values: Values,
                 fmt: str | None = None) -> None:
        self.dbv = dbv
        self.entry: ConnectorEntry = dbv.entry(connector)
        self.view: DBView = dbv.view(self.entry, view)
        self.name = f"{connector}/{view}"
        security.check(f"db:{self.name}", "read", rule=self.view.security)
        self.values = values
        self.ce = None if self.view.is_callback else dbv.engine(self.entry)
        self.columns = self.view.columns if self.view.is_callback else dbv.columns(self.entry,
                                                                                    self.view)
        self.options: Options = parse_options(
            values, None if self.view.is_callback else self.columns, fmt)
        execute.check_limit(self.options, dbv.max_limit)
        self.parsed: Parsed = parse(self.view, values, dbv.strict_filters, self.columns)
        execute.agg_score(self.entry, self.view, values, self.parsed)

    def sql(self, template: str | None = None) -> str:
        """The main (or given) SQL template with the replacements filled in."""
        return execute.format_sql(str(template or self.view.query), self.parsed.replacements,
                                  self.name)

    def query_info(self, sql: str) -> Response:
        """``_return_query``: the SQL and bound values instead of rows (if the user may see SQL)."""
        rule = self.dbv.config.get_path("dbview.return_query", "admin")
        if not security.allowed(security.current_user(), rule):
            raise Forbidden("_return_query is not allowed for this user",
                            hint="config dbview.return_query names who may see SQL")
        return json_response({"query": sql, "args": self.parsed.binds})


# -- rows --------------------------------------------------------------------------------------


def rows(req: ViewRequest) -> Response:
    """The rows of a view in the requested format (streamed when large)."""
    if req.view.is_callback:
        return _callback_rows(req)
    assert req.ce is not None
    options = req.options
    sql = req.sql()
    if options.return_query:
        return req.query_info(sql)
    cap = req.dbv.max_limit if options.limit is None else None
    sql_limit = options.limit + 1 if options.limit is not None else (cap + 1 if cap else None)
    quote = req.ce.engine.dialect.identifier_preparer.quote
    sql = execute.wrap(sql, options.sort, sql_limit, options.offset, req.ce.backend, quote)
    bounded = sql_limit is not None and (sql_limit <= HEAD_MAX or cap is not None)
    head = sql_limit if bounded and sql_limit is not None else req.dbv.batch_size
    with requestlog.timed("db"):
        result = execute.run(req.ce, execute.statement(req.entry, sql, req.parsed),
                             req.parsed.binds, req.name, head, req.dbv.batch_size,
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
    return _respond(req, result.names, batches, more, total, release=result.close)


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


def _with_ids(req: ViewRequest, names: list[str],
              batches: Iterable[list[Any]]) -> tuple[list[str], Iterable[list[Any]]]:
    wants = req.view.assign_ids or req.options.assign_ids
    if not wants or "id" not in names or "_id" in names:
        return names, batches
    index = names.index("id")
    mapper = req.dbv.ids
    idtype = req.view.idtype or req.name

    def assign() -> Iterator[list[Any]]:
        for batch in batches:
            ids = mapper(list(map(itemgetter(index), batch)), idtype)
            # DBAPI rows are tuples already (sqlite3, psycopg, pymysql); others are converted
            rows = batch if not batch or type(batch[0]) is tuple else map(tuple, batch)
            yield list(map(add, zip(ids), rows))  # (_id,) + row, in C

    return ["_id", *names], assign()


def _next_link(req: ViewRequest) -> str:
    args = [(k, v) for k, values in req.values.items() if k != "_offset" for v in values]
    args.append(("_offset", str(req.options.offset + (req.options.limit or 0))))
    # a relative reference (RFC 8288) keeps the public prefix (script_root) behind a proxy
    return f"<{request.script_root}{request.path}?{urlencode(args)}>; rel=\"next\""


def _respond(req: ViewRequest, names: list[str], batches: Iterable[list[Any]], more: bool,
             total: int | None, release: Callable[[], None] | None = None) -> Response:
    names, batches = _with_ids(req, names, batches)
    fmt = req.options.format
    headers = {"Link": _next_link(req)} if more else {}
    if total is not None:  # everything is in memory already: one body with a Content-Length
        with requestlog.timed("encode"):
            body = output.encode_body(fmt, names, batches)
        requestlog.set_rows(total)
        return Response(body, mimetype=output.MIMETYPES[fmt], headers=headers)
    chunks = output.ENCODERS[fmt](names, batches)
    response = Response(stream_with_context(chunks), mimetype=output.MIMETYPES[fmt],
                        headers=headers)
    if release is not None:
        # the WSGI server closes the response also when the client went away or never read the
        # body (HEAD): the connection is released then, not when the generators are collected
        response.call_on_close(release)
    return response


def _callback_rows(req: ViewRequest) -> Response:
    records = _call(req)
    names = list(dict.fromkeys(k for r in records[:1] for k in r)) if records else []
    table = [tuple(r.get(n) for n in names) for r in records]
    for name, desc in reversed(req.options.sort):
        if name not in names:
            raise BadRequest("unknown_field", f"cannot sort by unknown column {name!r}",
                             hint="columns: " + ", ".join(names))
        index = names.index(name)
        table.sort(key=lambda row: (row[index] is None, row[index]), reverse=desc)
    start = req.options.offset
    end = None if req.options.limit is None else start + req.options.limit
    page = table[start:end]
    more = end is not None and len(table) > end
    return _respond(req, names, [page], more, len(page))


def _call(req: ViewRequest) -> list[dict[str, Any]]:
    engine = req.dbv.engine(req.entry)
    callback: Any = req.view.query
    with requestlog.timed("db"), execute.db_errors(engine.backend, req.name):
        result = callback(engine.engine, req.parsed.arguments, req.parsed.filters)
    if hasattr(result, "to_dict"):  # a pandas DataFrame
        result = result.to_dict("records")
    return list(result or [])


# -- count, desc, lookup -----------------------------------------------------------------------


def count(req: ViewRequest) -> Response:
    """The number of rows the view (with its filters) returns."""
    view = req.view
    if "count" in view.queries:
        sql = req.sql(view.queries["count"])
    elif view.table:
        sql = req.sql(f"SELECT count(*) AS count FROM {view.table} d {{joins}} {{where}}")
    elif isinstance(view.query, str):
        sql = f"SELECT count(*) AS count FROM ({req.sql()}) _c"
    else:
        raise BadRequest("count_unsupported", f"{req.name} is a callback view without a count "
                         "query", hint="fetch the rows instead")
    if req.options.return_query:
        return req.query_info(sql)
    assert req.ce is not None
    with requestlog.timed("db"):
        value = execute.scalar(req.ce, execute.statement(req.entry, sql, req.parsed),
                               req.parsed.binds, req.name)
    return json_response(int(value or 0))


def lookup_values(values: Values) -> tuple[dict[str, list[Any]], int]:
    """Request values of ``/lookup`` with the TDP query/limit/offset arguments filled in."""
    query = str((values.get("query") or [""])[0]).lower()
    page = parse_int((values.get("page") or ["0"])[0], "page")
    limit = parse_int((values.get("limit") or ["30"])[0], "limit", minimum=1)
    offset = page * limit
    filled = dict(values)
    filled.update({"query": [f"%{query}%"], "query_end": [f"%{query}"],
                   "query_start": [f"{query}%"], "query_match": [query],
                   "limit": [str(limit + 1)], "offset": [str(offset)],
                   "offset2": [str(offset + limit + 1)]})
    filled.pop("page", None)
    return filled, limit


def lookup(req: ViewRequest, limit: int) -> Response:
    """``{"items": [...], "more": bool}`` for autocompletion."""
    if req.view.is_callback:
        records = _call(req)
    else:
        assert req.ce is not None
        with requestlog.timed("db"):
            result = execute.run(req.ce, execute.statement(req.entry, req.sql(), req.parsed),
                                 req.parsed.binds, req.name, limit + 1, limit + 1, stream=False)
        names, batches = _with_ids(req, result.names, [list(result.head)])
        records = [dict(zip(names, row)) for batch in batches for row in batch]
    requestlog.set_rows(min(len(records), limit))
    return Response(output.dumps({"items": records[:limit], "more": len(records) > limit}),
                    mimetype="application/json")
