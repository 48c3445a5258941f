"""Side tables of list fields: the same rows on every database, whoever writes them.

On SQLite a trigger per list field writes a new document's side rows (one INSERT statement for
the create, in autocommit); on PostgreSQL and MariaDB the store writes them. Updates and
deletes rewrite them through the store everywhere.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from core_server.docstore import Store
from core_server.testing import in_transaction
from core_server.testing import store_app

INIT = """
def register(registry):
    registry.append('doc-collection', 'events', 'dss_plugin', {'schema': 'events.yaml'})
"""
FIELDS = """
  name: {type: string}
  words: {type: list, items: string}
  counts: {type: list, items: int}
  ratios: {type: list, items: float}
  flags: {type: list, items: bool}
  meta: {type: dict, fields: {labels: {type: list, items: string}}}
"""
DOCS: list[dict[str, Any]] = [
    {"name": "all", "words": ["a", "it's \"quoted\"", "ü 東京", "a"], "counts": [2, -7, 2, 2**40],
     "ratios": [1.5, 2, -0.25], "flags": [True, False], "meta": {"labels": ["x", "y"]}},
    {"name": "empty", "words": [], "meta": {}},
    {"name": "none"},
    {"name": "one", "counts": [2], "meta": {"labels": ["y"]}},
]


def _app(tmp_path: Path, db_url: str, fields: str = FIELDS, extra: str = "") -> Any:
    files = {"events.yaml": f"fields:{fields}{extra}"}
    return store_app(tmp_path, db_url, init=INIT, files=files, name="dss_plugin")


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Iterator[Flask]:
    with _app(tmp_path, db_url) as application:
        yield application


def _side_rows(store: Store) -> dict[str, Counter[tuple[str, Any]]]:
    """Every side table's rows as (document name, value) counts, by list path."""
    with store.transaction(write=False) as tx:
        layout = tx.layout("events")
        names = dict(tx.conn.execute(sa.select(layout.table.c._id,
                                               layout.scalar("name"))).all())
        return {path: Counter((names[d], v) for d, v in
                              tx.conn.execute(sa.select(side.c.doc_id, side.c.value)))
                for path, side in layout.sides.items()}


def _expected(docs: list[dict[str, Any]]) -> dict[str, Counter[tuple[str, Any]]]:
    rows: dict[str, Counter[tuple[str, Any]]] = {
        p: Counter() for p in ("words", "counts", "ratios", "flags", "meta.labels")}
    for doc in docs:
        for path in rows:
            node: Any = doc
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            rows[path].update((doc["name"], v) for v in node or [])
    return rows


def test_side_rows_are_the_lists_elements_on_every_database(app: Flask) -> None:
    client = app.test_client()
    store = app.extensions["core_server"].store
    ids = {}
    for doc in DOCS:
        r = client.post("/api/store/events", json=doc)
        assert r.status_code == 201, r.json
        ids[doc["name"]] = r.json["_id"]
    with store.transaction() as tx:  # the bulk path
        tx.insert_many("events", [{**d, "name": d["name"] + "2"} for d in DOCS])
    assert _side_rows(store) == _expected(DOCS + [{**d, "name": d["name"] + "2"} for d in DOCS])
    # what the side rows are for: any-element filters
    assert sorted(d["name"] for d in client.get("/api/store/events?counts=2").json["items"]) \
        == ["all", "all2", "one", "one2"]
    assert client.get("/api/store/events?flags=false").json["total"] == 2
    assert client.get("/api/store/events?meta.labels=y").json["total"] == 4
    assert client.get("/api/store/events", query_string={"words": "ü 東京"}).json["total"] == 2
    # an update replaces a document's side rows, a delete removes them
    assert client.put(f"/api/store/events/{ids['all']}",
                      json={"name": "all", "counts": [5]}).status_code == 200
    assert client.delete(f"/api/store/events/{ids['one']}").status_code == 204
    left = [{"name": "all", "counts": [5]}, DOCS[1], DOCS[2]]
    assert _side_rows(store) == _expected(left + [{**d, "name": d["name"] + "2"} for d in DOCS])


def test_a_create_with_lists_is_one_statement_in_autocommit(app: Flask) -> None:
    store = app.extensions["core_server"].store
    store.ensure()
    seen: list[tuple[str, bool | None]] = []
    sa.event.listen(store.engine, "after_cursor_execute", lambda conn, cursor, sql, *args:
                    seen.append((sql.split()[0], in_transaction(conn))))
    assert app.test_client().post("/api/store/events", json=DOCS[0]).status_code == 201
    if store.dialect.name == "mysql":  # the store writes the side rows, in a transaction
        assert [s for s, _ in seen] == ["INSERT"] * 6
    else:  # SQLite: the triggers; PostgreSQL: WITH d AS (INSERT ...) INSERT ...
        assert seen == [("INSERT" if store.dialect.name == "sqlite" else "WITH", False)]
    assert _side_rows(store) == _expected(DOCS[:1])


def test_older_sqlite_tables_get_their_triggers_and_lose_stale_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    with _app(tmp_path, url) as app:
        app.extensions["core_server"].store.ensure()
    con = sqlite3.connect(tmp_path / "s.sqlite")
    with con:  # as a store of the version before the triggers left it; and a user's own trigger
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        assert len(names) == 5 and all(n.startswith("tr_ds_events_l_") for n in names)
        for name in names:
            con.execute(f"DROP TRIGGER {name}")
        con.execute("CREATE TRIGGER audit AFTER INSERT ON ds_events BEGIN SELECT 1; END")
        # one of ours with another text (as a later version might change it)
        con.execute("CREATE TRIGGER tr_ds_events_l_words AFTER INSERT ON ds_events "
                    "BEGIN SELECT 1; END")
    # the next start puts them back and replaces the changed one; a list field removed
    # (allowed: additional properties) loses its trigger, the user's trigger stays
    fields = FIELDS.replace("  counts: {type: list, items: int}\n", "")
    with _app(tmp_path, url, fields, "additional_properties: true\n") as app:
        client = app.test_client()
        assert client.post("/api/store/events", json=DOCS[3]).status_code == 201
        assert client.post("/api/store/events", json={"words": ["w"]}).status_code == 201
        assert client.get("/api/store/events?meta.labels=y").json["total"] == 1
        assert client.get("/api/store/events?words=w").json["total"] == 1
    found = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert found == {"audit"} | set(names) - {"tr_ds_events_l_counts"}
    con.close()
