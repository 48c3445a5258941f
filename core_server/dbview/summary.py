"""Column summary of a view, computed in SQL: histograms of number columns, category counts.

``GET /api/db/<connector>/<view>/summary`` takes the view's arguments and filters (like the rows)
and answers ``{"rows", "columns": {name: {...}}, "complete", "skipped"}``. Each column summary
is one aggregate over the view's query: one statement for count/min/max of every column, one for
the histogram buckets of every number column, one per categorical column for its most frequent
values. Every statement runs under the connector's statement timeout, and all of them together
within one such budget: columns left when it is spent are listed in ``skipped`` instead of
waiting longer. SQL is built from quoted names of known columns and bound parameters only.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app

from core_server import requestlog
from core_server.dbview import execute
from core_server.dbview.engines import ConnectorEngine
from core_server.dbview.handlers import open_view
from core_server.dbview.params import ViewRequest
from core_server.dbview.service import DBViews
from core_server.dbview.service import dbviews_of
from core_server.encoding import json_response
from core_server.errors import BadRequest
from core_server.errors import GatewayTimeout
from core_server.openapi import operation
from core_server.values import request_values

#: Histogram buckets per number column; most frequent values shown per categorical column.
BUCKETS = 10
TOP = 20
_NUMBER = "number"
_CATEGORIES = ("categorical", "set")

blueprint = Blueprint("dbview_summary", __name__)


class _Budget:
    """The time left of one statement timeout for all statements of a summary."""

    def __init__(self, timeout_ms: int | None) -> None:
        self.end = None if not timeout_ms else time.monotonic() + timeout_ms / 1000

    def spent(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end


class _Query:
    """The view's SQL (arguments and filters applied) as a subquery, and its engine."""

    def __init__(self, req: ViewRequest, ce: ConnectorEngine) -> None:
        self.req = req
        self.ce = ce
        self.base = f"({req.sql()}) _s"
        self.quote = ce.quote

    def run(self, sql: str, binds: dict[str, Any], rows: int) -> execute.Rows:
        """Execute ``sql`` (a bounded aggregate) with the view's binds and ``binds``."""
        with requestlog.timed("db"):
            return execute.run(self.ce, self.req.statement(sql),
                               {**self.req.parsed.binds, **binds}, self.req.name, rows, rows,
                               stream=False)

    def rows(self, sql: str, binds: dict[str, Any], rows: int) -> list[Any]:
        """The result rows of :meth:`run`."""
        return self.run(sql, binds, rows).head


def summarize(dbv: DBViews, req: ViewRequest) -> dict[str, Any]:
    """The summary of the view of ``req`` (its arguments and filters applied)."""
    if req.view.is_callback:
        raise BadRequest("summary_unsupported", f"{req.name} is a callback view",
                         hint="column summaries need a SQL view; fetch the rows instead")
    ce = dbv.engine(req.entry)
    q = _Query(req, ce)
    present = set(q.run(f"SELECT * FROM {q.base}{ce.backend.limit_offset(0, None)}", {}, 1).names)
    kinds = {n: c.get("type") for n, c in req.columns.items() if n in present}
    numbers = [n for n, k in kinds.items() if k == _NUMBER]
    categories = [n for n, k in kinds.items() if k in _CATEGORIES]
    budget = _Budget(ce.timeout_ms)
    stats = _stats(q, numbers, categories)
    result: dict[str, Any] = {"rows": stats.pop("_rows"), "columns": stats, "skipped": []}
    if numbers:
        _guarded(result, numbers, budget, lambda: _histograms(q, numbers, stats))
    for name in categories:
        _guarded(result, [name], budget, lambda n=name: _top_values(q, n, stats[n]))
    result["complete"] = not result["skipped"]
    return result


def _guarded(result: dict[str, Any], names: list[str], budget: _Budget, step: Any) -> None:
    # a statement past the budget (or the timeout) drops its columns, not the whole summary
    if budget.spent():
        result["skipped"].extend(names)
        return
    try:
        step()
    except GatewayTimeout:
        result["skipped"].extend(names)


def _stats(q: _Query, numbers: list[str], categories: list[str]) -> dict[str, Any]:
    quote = q.quote
    parts = ["count(*)"]
    for name in numbers:
        parts += [f"count({quote(name)})", f"min({quote(name)})", f"max({quote(name)})"]
    for name in categories:
        parts += [f"count({quote(name)})", f"count(DISTINCT {quote(name)})"]
    row = list(q.rows(f"SELECT {', '.join(parts)} FROM {q.base}", {}, 1)[0])
    out: dict[str, Any] = {"_rows": int(row.pop(0))}
    for name in numbers:
        count, low, high = row.pop(0), _plain(row.pop(0)), _plain(row.pop(0))
        out[name] = {"type": _NUMBER, "count": int(count), "nulls": out["_rows"] - int(count),
                     "min": low, "max": high, "histogram": []}
    for name in categories:
        count, distinct = row.pop(0), row.pop(0)
        out[name] = {"type": "categorical", "count": int(count),
                     "nulls": out["_rows"] - int(count), "distinct": int(distinct), "top": []}
    return out


def _edges(low: float, high: float) -> list[float]:
    width = (high - low) / BUCKETS
    return [low + i * width for i in range(BUCKETS)] + [high]


def _histograms(q: _Query, numbers: list[str], stats: dict[str, Any]) -> None:
    quote = q.quote
    parts: list[str] = []
    binds: dict[str, Any] = {}
    edges: dict[str, list[float]] = {}
    for k, name in enumerate(numbers):
        low, high = stats[name]["min"], stats[name]["max"]
        if low is None or high is None:
            continue
        if low == high:  # one value: one bucket, no query needed
            stats[name]["histogram"] = [{"from": low, "to": high, "count": stats[name]["count"]}]
            continue
        edges[name] = _edges(float(low), float(high))
        for i in range(BUCKETS):
            lo, hi = f"_h{k}_{i}", f"_h{k}_{i + 1}"
            binds[lo], binds[hi] = edges[name][i], edges[name][i + 1]
            upper = "<=" if i == BUCKETS - 1 else "<"
            parts.append(f"count(CASE WHEN {quote(name)} >= :{lo} AND {quote(name)} {upper} :{hi}"
                         " THEN 1 END)")
    if not parts:
        return
    row = list(q.rows(f"SELECT {', '.join(parts)} FROM {q.base}", binds, 1)[0])
    for name, bounds in edges.items():
        stats[name]["histogram"] = [{"from": bounds[i], "to": bounds[i + 1],
                                     "count": int(row.pop(0))} for i in range(BUCKETS)]


def _top_values(q: _Query, name: str, entry: dict[str, Any]) -> None:
    column = q.quote(name)
    sql = (f"SELECT {column}, count(*) FROM {q.base} WHERE {column} IS NOT NULL GROUP BY "
           f"{column} ORDER BY count(*) DESC, {column}{q.ce.backend.limit_offset(TOP, None)}")
    rows = q.rows(sql, {}, TOP)
    entry["top"] = [{"value": _plain(value), "count": int(count)} for value, count in rows]
    entry["other"] = entry["count"] - sum(t["count"] for t in entry["top"])


def _plain(value: Any) -> Any:
    # Decimal and other driver numbers become JSON numbers; strings and None stay
    if value is None or isinstance(value, (int, float, str)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


@blueprint.get("/<connector>/<view>/summary")
def view_summary(connector: str, view: str) -> Response:
    """The column summary of a view (arguments and filters as for its rows)."""
    dbv = dbviews_of(current_app)
    req = open_view(dbv, connector, view, request_values())
    return json_response(summarize(dbv, req))


def openapi_fragment() -> dict[str, Any]:
    """The summary route, once for every view."""
    path = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in ("connector", "view")]
    schema = {"type": "object", "properties": {
        "rows": {"type": "integer"}, "complete": {"type": "boolean"},
        "skipped": {"type": "array", "items": {"type": "string"}},
        "columns": {"type": "object", "additionalProperties": {"type": "object"}}}}
    return {"paths": {"/api/db/{connector}/{view}/summary": {method: operation(
        "column summary: histograms of number columns, counts of categorical ones; the "
        "view's arguments and filter_* parameters apply", schema, tag="db", parameters=path,
        errors=(400, 401, 403, 404, 503, 504)) for method in ("get",)}}}
