"""The floor: the least work any Python server must do for the benchmark's requests.

A minimal Flask app with core_server's URLs and output shape (``SELECT my_id AS id, * FROM
mytable`` plus an integer ``_id``), but no registry, no view layer, no SQLAlchemy, no id table:
the driver with bound parameters, ``orjson`` for JSON and NDJSON, ``csv`` for the export.
``_id`` is ``my_id - 1`` (what the persistent id assignment yields for ids first seen in
order). Its document "store" parses the JSON body, INSERTs it (one commit per request) and
answers 201 with the document. Served with gunicorn's defaults (sync workers)::

    FLOOR_DB=/abs/db.sqlite FLOOR_STORE=/abs/store.sqlite gunicorn -w 2 --chdir bench 'floor_app:create()'
    FLOOR_PG=postgresql://postgres@127.0.0.1:5432/bench gunicorn -w 2 --chdir bench 'floor_app:create()'

With ``FLOOR_PG`` it reads ``mytable`` and stores documents (table ``floor_docs``) in
PostgreSQL through psycopg 3 instead of SQLite.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import threading
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Flask
from flask import Response
from flask import request

VIEW_SQL = "SELECT my_id AS id, * FROM mytable"
FILTERS = (("filter_cat", "cat = {}", str), ("filter_gt_value", "value > {}", int),
           ("filter_my_id", "my_id = {}", int))
CHUNK_ROWS = 5000
MIMETYPES = {"json": "application/json", "ndjson": "application/x-ndjson",
             "csv": "text/csv; charset=utf-8"}


def _query(args: Any, mark: str) -> tuple[str, list[Any]]:
    """The view SQL with the request's filters and ``_limit`` as bound parameters."""
    where = []
    params: list[Any] = []
    for key, clause, parse in FILTERS:
        if key in args:
            where.append(clause.format(mark))
            params.append(parse(args[key]))
    sql = VIEW_SQL + (" WHERE " + " AND ".join(where) if where else "")
    if "_limit" in args:
        sql += f" LIMIT {mark}"
        params.append(int(args["_limit"]))
    return sql, params


def _encode(fmt: str, names: tuple[str, ...], rows: list[tuple[Any, ...]], first: bool) -> bytes:
    with_ids = [(row[0] - 1,) + tuple(row) for row in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        if first:
            writer.writerow(names)
        writer.writerows(with_ids)
        return buf.getvalue().encode()
    dicts = [dict(zip(names, row, strict=True)) for row in with_ids]
    if fmt == "ndjson":
        return b"".join(orjson.dumps(d) + b"\n" for d in dicts)
    return orjson.dumps(dicts)


class SQLite:
    """``mytable`` and the document table in SQLite files (stdlib ``sqlite3``)."""

    mark = "?"

    def __init__(self, db: str, store: str | None) -> None:
        self.db, self.store = db, store
        self.local = threading.local()
        if store:
            con = self._store()
            con.execute("CREATE TABLE IF NOT EXISTS floor_docs (id TEXT PRIMARY KEY, doc TEXT)")
            con.commit()

    def read(self) -> sqlite3.Connection:
        if not hasattr(self.local, "con"):
            self.local.con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True,
                                             check_same_thread=False)
        return self.local.con  # type: ignore[no-any-return]

    def stream(self, sql: str, params: list[Any]) -> Iterator[tuple[tuple[str, ...], Any]]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            cur = con.execute(sql, params)
            yield tuple(d[0] for d in cur.description), cur
        finally:
            con.close()

    def _store(self) -> sqlite3.Connection:
        if not hasattr(self.local, "store"):
            con = sqlite3.connect(str(self.store), timeout=30, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self.local.store = con
        return self.local.store  # type: ignore[no-any-return]

    def insert(self, doc_id: str, body: bytes) -> None:
        con = self._store()
        con.execute("INSERT INTO floor_docs (id, doc) VALUES (?, ?)", (doc_id, body.decode()))
        con.commit()


class Postgres:
    """``mytable`` and the document table in PostgreSQL (psycopg 3, one connection per thread)."""

    mark = "%s"

    def __init__(self, url: str) -> None:
        import psycopg

        self.psycopg = psycopg
        self.url = url
        self.local = threading.local()
        with psycopg.connect(url) as con:
            # the workers start at once: concurrent CREATE TABLE IF NOT EXISTS collide in
            # pg_type on a fresh database (a worker that fails to boot stops gunicorn)
            con.execute("SELECT pg_advisory_xact_lock(16016)")
            con.execute("CREATE TABLE IF NOT EXISTS floor_docs (id TEXT PRIMARY KEY, doc JSONB)")

    def read(self) -> Any:
        if not hasattr(self.local, "con"):
            self.local.con = self.psycopg.connect(self.url, autocommit=True)
        return self.local.con

    def stream(self, sql: str, params: list[Any]) -> Iterator[tuple[tuple[str, ...], Any]]:
        with self.psycopg.connect(self.url) as con, con.cursor(name="floor_csv") as cur:
            cur.itersize = CHUNK_ROWS
            cur.execute(sql, params)
            yield tuple(d[0] for d in cur.description), cur

    def insert(self, doc_id: str, body: bytes) -> None:
        if not hasattr(self.local, "store"):
            self.local.store = self.psycopg.connect(self.url)
        con = self.local.store
        con.execute("INSERT INTO floor_docs (id, doc) VALUES (%s, %s::jsonb)",
                    (doc_id, body.decode()))
        con.commit()


def _chunks(db: Any, fmt: str, sql: str, params: list[Any]) -> Iterator[bytes]:
    """Stream the result as CSV or NDJSON, ``CHUNK_ROWS`` rows per chunk."""
    for names, cur in db.stream(sql, params):
        names = ("_id",) + names
        first = True
        while rows := cur.fetchmany(CHUNK_ROWS):
            yield _encode(fmt, names, rows, first)
            first = False


def create(db_path: str | None = None) -> Flask:
    """The floor app (``FLOOR_DB``/``FLOOR_STORE`` SQLite files, or ``FLOOR_PG``)."""
    pg = os.environ.get("FLOOR_PG")
    db: Any = Postgres(pg) if pg else SQLite(db_path or os.environ["FLOOR_DB"],
                                              os.environ.get("FLOOR_STORE"))
    app = Flask(__name__)
    fetch: Callable[[], Any] = db.read

    @app.get("/api/db/mydb/mytable")
    def mytable() -> Response:
        sql, params = _query(request.args, db.mark)
        fmt = request.args.get("_format", "json")
        if fmt != "json":  # the exports: streamed in chunks, as core does
            return Response(_chunks(db, fmt, sql, params), mimetype=MIMETYPES[fmt])
        cur = fetch().execute(sql, params)
        names = ("_id",) + tuple(d[0] for d in cur.description)
        return Response(_encode(fmt, names, cur.fetchall(), True), mimetype=MIMETYPES[fmt])

    @app.post("/api/store/<collection>")
    def create_doc(collection: str) -> Response:
        doc = request.get_json()
        if not isinstance(doc, dict):
            return Response(b'{"error": "not an object"}', 400, mimetype="application/json")
        doc_id = os.urandom(8).hex()
        db.insert(doc_id, request.get_data())
        return Response(orjson.dumps({"_id": doc_id, **doc}), 201, mimetype="application/json")

    return app
