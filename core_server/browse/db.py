"""``/browse/db/...``: connectors, views, rows with filters, sorting and paging, summaries."""

from __future__ import annotations

from typing import Any

from flask import request

from core_server import dbview
from core_server.browse import client
from core_server.browse import links
from core_server.browse.base import PAGE_SIZE
from core_server.browse.base import PageError
from core_server.browse.base import blueprint
from core_server.browse.base import fragment_wanted
from core_server.browse.base import must
from core_server.browse.base import render
from core_server.browse.store import readable_collections

#: The export links of a rows page: label and the API path suffix.
FORMATS = (("JSON", ""), ("CSV", ".csv"), ("TSV", ".tsv"), ("NDJSON", ".ndjson"))
#: Parameters that page and sort; the summary and the count ignore them.
PAGING = ("_limit", "_offset", "_sort", "_format")


@blueprint.get("/")
def index() -> tuple[str, int]:
    """Everything to browse: SQL connectors, document collections, id types."""
    connectors = must(client.get("/api/db/"))
    idtypes = client.get("/api/idtype/")
    return render("index.html", connectors=connectors, collections=readable_collections(),
                  idtypes=idtypes.json() if idtypes.ok else [])


@blueprint.get("/db/<connector>/")
def connector_page(connector: str) -> tuple[str, int]:
    """The views of one connector the user may read."""
    views = must(client.get(links.api_path("db", connector) + "/"))
    return render("connector.html", connector=connector, views=views)


def _missing_inputs(inputs: dict[str, Any], params: links.Pairs) -> list[str]:
    given = {k.removesuffix("[]") for k, _ in params}
    needed = [a["name"] for a in inputs["arguments"]] + [r["name"] for r in inputs["replacements"]]
    return [n for n in needed if n not in given]


def _rows(path: str, params: links.Pairs) -> dict[str, Any]:
    query = params if any(k == "_limit" for k, _ in params) else \
        [*params, ("_limit", str(PAGE_SIZE))]
    answer = client.get(path, query)
    if not answer.ok:
        return {"error": answer.error, "records": [], "next": None, "query": query}
    records = answer.json() or []
    return {"error": None, "records": records, "next": links.next_params(answer.headers.get("Link")),
            "query": query}


@blueprint.get("/db/<connector>/<view>")
def view_page(connector: str, view: str) -> tuple[str, int]:
    """A view: its description, a form of its arguments and filters, and a page of rows."""
    path = links.api_path("db", connector, view)
    desc = must(client.get(path + "/desc"))
    inputs = dbview.view_inputs(connector, view)
    params = links.pairs()
    missing = _missing_inputs(inputs, params)
    rows = {"error": None, "records": [], "next": None, "query": params}
    total = None
    if not missing:
        rows = _rows(path, params)
        counted = None if inputs["callback"] else client.get(
            path + "/count", links.with_params(params, drop=PAGING))
        total = counted.json() if counted is not None and counted.ok else None
    columns = list(rows["records"][0]) if rows["records"] else \
        [c["column"] for c in desc["columns"]]
    offset, limit = _number(params, "_offset", 0), _number(params, "_limit", PAGE_SIZE)
    prev = links.with_params(params, _offset=str(max(offset - limit, 0))) if offset else None
    return render("view.html", connector=connector, view=view, desc=desc, inputs=inputs,
                  params=params, current=request.args.to_dict(flat=False), missing=missing,
                  rows=rows, total=total, columns=columns, path=path, formats=FORMATS,
                  offset=offset, prev=prev)


def _number(params: links.Pairs, key: str, default: int) -> int:
    value = dict(params).get(key, "")
    return int(value) if value.isdecimal() and len(value) < 10 else default


@blueprint.get("/db/<connector>/<view>/summary")
def summary_page(connector: str, view: str) -> tuple[str, int]:
    """The column summary of a view (with the page's arguments and filters)."""
    path = links.api_path("db", connector, view)
    params = links.with_params(links.pairs(), drop=PAGING)
    answer = client.get(path + "/summary", params)
    if not answer.ok and not fragment_wanted():
        raise PageError(answer.error)
    template = "summary_fragment.html" if fragment_wanted() else "summary.html"
    return render(template, connector=connector, view=view, params=params, path=path,
                  summary=answer.json() if answer.ok else None,
                  error=None if answer.ok else answer.error)
