"""The floor: the least work any Python server must do for the four benchmark scenarios.

A minimal Flask app with core_server's URLs and output shape (``SELECT my_id as id, * FROM mytable``
plus an integer ``_id``), but no registry, no view layer, no SQLAlchemy, no id table: stdlib
``sqlite3`` with bound parameters, ``orjson`` for JSON, ``csv`` for the export. ``_id`` is
``my_id - 1`` (what the persistent id assignment yields for ids first seen in order). Served by the
same gunicorn settings as core_server::

    FLOOR_DB=/abs/db.sqlite gunicorn -w 2 -k gthread --threads 4 --chdir bench 'floor_app:create()'
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Flask
from flask import Response
from flask import request

VIEW_SQL = "SELECT my_id AS id, * FROM mytable"
FILTERS = (("filter_cat", "cat = ?", str), ("filter_gt_value", "value > ?", int),
           ("filter_my_id", "my_id = ?", int))
CHUNK_ROWS = 5000


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _query(args: Any) -> tuple[str, list[Any]]:
    """The view SQL with the request's filters and ``_limit`` as bound parameters."""
    where = []
    params: list[Any] = []
    for key, clause, parse in FILTERS:
        if key in args:
            where.append(clause)
            params.append(parse(args[key]))
    sql = VIEW_SQL + (" WHERE " + " AND ".join(where) if where else "") + " LIMIT ?"
    params.append(int(args.get("_limit", -1)))
    return sql, params


def _csv_chunks(path: str, sql: str, params: list[Any]) -> Iterator[bytes]:
    """Stream the result as CSV (header first), ``CHUNK_ROWS`` rows per chunk."""
    con = _connect(path)
    try:
        cur = con.execute(sql, params)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["_id"] + [d[0] for d in cur.description])
        while rows := cur.fetchmany(CHUNK_ROWS):
            writer.writerows((row[0] - 1,) + row for row in rows)
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue().encode()
    finally:
        con.close()


def create(db_path: str | None = None) -> Flask:
    """The floor app over the database at ``db_path`` (default: env ``FLOOR_DB``)."""
    path = db_path or os.environ["FLOOR_DB"]
    local = threading.local()
    app = Flask(__name__)

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "con"):
            local.con = _connect(path)
        return local.con  # type: ignore[no-any-return]

    @app.get("/api/db/mydb/mytable")
    def mytable() -> Response:
        sql, params = _query(request.args)
        if request.args.get("_format") == "csv":
            return Response(_csv_chunks(path, sql, params), mimetype="text/csv")
        cur = connection().execute(sql, params)
        names = ("_id",) + tuple(d[0] for d in cur.description)
        rows = [dict(zip(names, (row[0] - 1,) + row, strict=True)) for row in cur]
        return Response(orjson.dumps(rows), mimetype="application/json")

    return app
