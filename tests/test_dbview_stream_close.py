"""A streamed rows response closed early releases its connection at once, healthy and undrained.

A client that disconnects, a HEAD request or a reader that stops early must not leave the pooled
connection with an unread server-side result (MariaDB: pymysql warns "Previous unbuffered result
was left incomplete" and reads every remaining row; PostgreSQL: an unclosed named cursor).
"""

import json
import warnings
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from myserverplugin.demo_data import write
from sqlalchemy.engine import make_url

ROWS = 3000
BATCH = 100


@pytest.fixture
def streaming(db_url: str, app_factory) -> Iterator[tuple[Flask, list[str]]]:
    """An app streaming ``mytable`` in batches of 100, and the pool events of its engine."""
    write(db_url, rows=ROWS)
    app = app_factory(db_url, dbview={"batch_size": BATCH})
    dbv = app.extensions["core_server"].dbviews
    ce = dbv.engine(dbv.entry("mydb"))
    ce.backend.probe_rows = 0  # these tests are about streams: no bounded probe first
    engine = ce.engine
    events: list[str] = []
    for name in ("invalidate", "checkin"):
        sa.event.listen(engine.pool, name, lambda *a, n=name: events.append(n))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pymysql's warning, psycopg's ResourceWarning
        yield app, events


class _Held:
    """How many connections of mydb's engine are out (pool's and SQLite's kept ones)."""

    def __init__(self, app: Flask) -> None:
        dbv = app.extensions["core_server"].dbviews
        self.engine = dbv.engine(dbv.entry("mydb"))

    def checkedout(self) -> int:
        return self.engine.lent()


def _pool(app: Flask) -> _Held:
    return _Held(app)


def _next_request_works(app: Flask) -> None:
    response = app.test_client().get("/api/db/mydb/mytable?_limit=3&_sort=my_id")
    assert response.status_code == 200
    assert [r["my_id"] for r in response.get_json()] == [1, 2, 3]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("chunks", [1, 4], ids=["in-head", "in-rest"])
def test_stream_closed_early_releases_connection(streaming, db_url, chunks):
    app, events = streaming
    response = app.test_client().get("/api/db/mydb/mytable", buffered=False)
    assert response.is_streamed
    body = iter(response.response)
    read = [next(body) for _ in range(chunks)]
    assert read[0].startswith(b"[")
    assert _pool(app).checkedout() == 1  # the stream holds its connection
    response.close()  # what the WSGI server does when the client goes away
    assert _pool(app).checkedout() == 0
    # thousands of rows were unread: MariaDB drops the connection instead of reading them,
    # the others close their cursor and return the connection to the pool
    mysql = make_url(db_url).get_backend_name() == "mysql"
    assert events.count("invalidate") == (1 if mysql else 0)
    _next_request_works(app)


@pytest.mark.filterwarnings("error")
def test_head_request_of_a_streamed_view_releases_connection(streaming, db_url):
    app, events = streaming
    response = app.test_client().head("/api/db/mydb/mytable")
    assert response.status_code == 200 and response.get_data() == b""
    response.close()
    assert _pool(app).checkedout() == 0
    mysql = make_url(db_url).get_backend_name() == "mysql"
    assert events.count("invalidate") == (1 if mysql else 0)
    _next_request_works(app)


@pytest.mark.filterwarnings("error")
def test_few_unread_rows_keep_the_connection(streaming, db_url):
    app, events = streaming
    # head of 100 rows, then 50 more: a short tail is read and the connection kept (MariaDB too)
    response = app.test_client().get(f"/api/db/mydb/mytable?_offset={ROWS - 150}",
                                     buffered=False)
    assert response.is_streamed
    next(iter(response.response))
    response.close()
    assert _pool(app).checkedout() == 0
    assert events.count("invalidate") == 0
    # kept, not closed: the pool saw it come back (SQLite: it is idle in the engine's stack)
    sqlite = make_url(db_url).get_backend_name() == "sqlite"
    assert events.count("checkin") >= (0 if sqlite else 1)
    _next_request_works(app)


@pytest.mark.filterwarnings("error")
def test_stream_read_to_the_end_returns_connection(streaming):
    app, events = streaming
    response = app.test_client().get("/api/db/mydb/mytable", buffered=False)
    rows = b"".join(response.response)
    response.close()
    assert rows.count(b'"my_id"') == ROWS
    assert _pool(app).checkedout() == 0 and events.count("invalidate") == 0
    _next_request_works(app)


def test_small_unbounded_result_is_one_bounded_read(db_url, app_factory):
    # PostgreSQL and MariaDB probe with a bounded read first (SQLite streams locally): a few
    # rows come with a Content-Length, a large result is streamed as before
    write(db_url, rows=ROWS)
    app = app_factory(db_url, dbview={"batch_size": BATCH})
    client = app.test_client()
    few = client.get(f"/api/db/mydb/mytable?_offset={ROWS - 5}&_sort=my_id", buffered=False)
    assert "Content-Length" in few.headers  # one body: the rows fit the first read
    assert [r["my_id"] for r in json.loads(b"".join(few.response))] == list(
        range(ROWS - 4, ROWS + 1))
    few.close()
    many = client.get("/api/db/mydb/mytable", buffered=False)
    assert "Content-Length" not in many.headers
    assert b"".join(many.response).count(b'"my_id"') == ROWS
    many.close()
    assert _pool(app).checkedout() == 0
