"""The Python API (spec §9): transactions, CAS, references, delete strategies, hooks."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from core_server.docstore import Store
from core_server.docstore import current_store
from core_server.errors import ApiError
from core_server.testing import backend_pids
from core_server.testing import in_transaction
from core_server.testing import store_app
from core_server.testing import terminate_backends


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Iterator[Flask]:
    with store_app(tmp_path, db_url) as application:
        yield application


@pytest.fixture
def store(app: Flask) -> Store:
    return app.extensions["core_server"].store  # type: ignore[no-any-return]


def _raises(code: str, fn: Any, *args: Any, **kw: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kw)
    assert info.value.code == code, info.value.message
    return info.value


def test_spec_example_transaction(store: Store) -> None:
    with store.transaction() as tx:
        uid = tx.insert("users", {"login": "a"})
        tx.update("users", uid, {"login": "b"}, if_version=1)
        for i in range(5):
            tx.insert("plugins", {"name": f"p{i}", "age": i * 4, "city": "c%d" % (i % 2),
                                  "owner": uid})
        rows = tx.select("plugins", {"age": {"$lt": 10}}, sort=["age", "city:desc"], limit=20)
        assert [r["age"] for r in rows] == [0, 4, 8]
        assert tx.count("plugins", {"owner": uid}) == 5
        assert tx.get("users", uid)["login"] == "b" and tx.get("users", uid)["_version"] == 2
        assert tx.get("users", uid)["_created_by"] == "system"
    with store.transaction(write=False) as tx:
        assert tx.count("plugins") == 5


def test_rollback_on_exception(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.insert("users", {"login": "gone"})
            raise RuntimeError("abort")
    with store.transaction() as tx:
        assert tx.count("users") == 0
        uid = tx.insert("users", {"login": "x"})
    _raises("precondition_failed", _in_tx, store, lambda tx: tx.update("users", uid,
                                                                        {"login": "y"},
                                                                        if_version=5))
    _raises("duplicate", _in_tx, store, lambda tx: tx.insert("users", {"login": "x"}))


def _in_tx(store: Store, fn: Any) -> Any:
    with store.transaction() as tx:
        return fn(tx)


def test_current_store_and_ids(app: Flask, store: Store) -> None:
    with app.test_request_context():
        assert current_store() is store
    ids = [store.ids.next() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert all(len(i) == 36 and i[14] == "7" and not i.replace("-", "").isdigit() for i in ids)


def test_unlink_and_set_null(store: Store) -> None:
    with store.transaction() as tx:
        a, b = tx.insert("users", {"login": "a"}), tx.insert("users", {"login": "b"})
        team = tx.insert("teams", {"name": "t", "members": [a, b], "lead": a})
        assert tx.count("teams", {"members": a}) == 1
        assert tx.delete("users", a) == 1
        doc = tx.get("teams", team)
        assert doc["members"] == [b] and doc["lead"] is None and doc["_version"] == 2
        assert tx.count("teams", {"members": a}) == 0
        assert tx.count("teams", {"members": {"$contains": b}}) == 1


def test_cascade_with_cycle(store: Store) -> None:
    with store.transaction() as tx:
        team = tx.insert("teams", {"name": "t"})
        top = tx.insert("projects", {"name": "top", "team": team})
        child = tx.insert("projects", {"name": "child", "parent": top})
        tx.patch("projects", top, {"parent": child})  # a reference cycle
        tx.insert("tasks", {"title": "t1", "project": child})
        other = tx.insert("projects", {"name": "other"})
        assert tx.delete("teams", team) == 4  # team, top, child, task
        assert tx.count("projects") == 1 and tx.get("projects", other) is not None
        assert tx.count("tasks") == 0


def test_failure_halfway_through_cascade_rolls_back(store: Store) -> None:
    with store.transaction() as tx:
        team = tx.insert("teams", {"name": "t"})
        project = tx.insert("projects", {"team": team})
        tx.insert("tasks", {"title": "free", "project": project})
        tx.insert("tasks", {"title": "locked", "project": project})
    error = _raises("hook_rejected", _in_tx, store, lambda tx: tx.delete("teams", team))
    assert error.status == 422 and "locked" in error.message
    with store.transaction() as tx:
        assert (tx.count("teams"), tx.count("projects"), tx.count("tasks")) == (1, 1, 2)


def test_restrict_lists_referrers(store: Store) -> None:
    with store.transaction() as tx:
        uid = tx.insert("users", {"login": "u"})
        pid = tx.insert("plugins", {"name": "p", "owner": uid})
    error = _raises("ref_restrict", _in_tx, store, lambda tx: tx.delete("users", uid))
    assert error.details == [{"collection": "plugins", "field": "owner", "ids": [pid],
                              "count": 1}]
    _raises("ref_not_found", _in_tx, store,
            lambda tx: tx.insert("teams", {"name": "x", "members": [uid, "ghost"]}))
    with store.transaction() as tx:
        assert tx.delete_where("plugins", {"owner": uid}) == 1
        assert tx.delete("users", uid) == 1


def test_hooks_map_their_errors(store: Store) -> None:
    seen: list[tuple[str, Any]] = []

    def before_update(tx: Any, old: dict[str, Any], new: dict[str, Any]) -> None:
        seen.append(("before_update", old["login"]))
        if new["login"] == "forbidden":
            raise PermissionError("not this name")

    store.add_hook("users", "before_update", before_update)
    store.add_hook("users", "after_create",
                   lambda tx, doc: seen.append(("after_create", doc["_id"])))
    store.add_hook("users", "before_validate",
                   lambda tx, doc: {**doc, "login": doc["login"].strip()})
    with store.transaction() as tx:
        uid = tx.insert("users", {"login": "  padded "})
        assert tx.get("users", uid)["login"] == "padded"
    error = _raises("forbidden", _in_tx, store,
                    lambda tx: tx.update("users", uid, {"login": "forbidden"}))
    assert error.status == 403
    assert seen == [("after_create", uid), ("before_update", "padded")]
    with pytest.raises(ValueError):
        store.add_hook("users", "on_whatever", print)


def test_types_round_trip_and_side_tables(store: Store) -> None:
    with store.transaction() as tx:
        uid = tx.insert("users", {"login": "u"})
        pid = tx.insert("plugins", {"name": "t", "owner": uid, "score": 2, "active": False,
                                    "born": "2024-01-01T12:00:00+02:00", "tags": ["a", "b"]})
        doc = tx.get("plugins", pid)
        assert doc["born"] == "2024-01-01T10:00:00.000000Z" and doc["score"] == 2.0
        assert tx.count("plugins", {"born": {"$gt": "2024-01-01T09:59:59Z"}}) == 1
        assert tx.count("plugins", {"active": False}) == 1
        assert tx.count("plugins", {"score": {"$gte": 2}}) == 1
        tx.patch("plugins", pid, {"tags": ["c"]})
        assert tx.count("plugins", {"tags": "a"}) == 0 and tx.count("plugins", {"tags": "c"}) == 1
        tx.patch("plugins", pid, [{"op": "add", "path": "/tags/-", "value": "d"}], kind="json")
        assert tx.select("plugins", {"tags": {"$size": 2}})[0]["tags"] == ["c", "d"]


def test_sqlite_uses_wal_and_immediate_writes(tmp_path: Path) -> None:
    # a write transaction holds SQLite's write lock from its BEGIN on (BEGIN IMMEDIATE), before
    # any statement of its own; a read transaction takes none (WAL: the writer goes on)
    path = tmp_path / "w.sqlite"

    def lock_is_free() -> bool:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        finally:
            other.close()

    with store_app(tmp_path, f"sqlite:///{path}") as application:
        store = application.extensions["core_server"].store
        with store.transaction() as tx:
            tx.insert("users", {"login": "w"})
        for _ in range(2):  # connections that ran a transaction before too
            with store.transaction() as tx:
                assert not lock_is_free()
                mode = tx.conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            with store.transaction(write=False) as tx:
                assert tx.count("users") == 1 and lock_is_free()
        assert lock_is_free()
    assert mode == "wal"


def test_sqlite_kept_connections_stay_clean_and_close_on_dispose(tmp_path: Path) -> None:
    # SQLite transactions reuse their connections: one that failed (validation, a duplicate,
    # an error after a write) leaves nothing open for the next, and dispose() closes them all
    path = tmp_path / "k.sqlite"
    with store_app(tmp_path, f"sqlite:///{path}") as application:
        store = application.extensions["core_server"].store
        with store.transaction() as tx:
            tx.insert("users", {"login": "k"})
        _raises("duplicate", _in_tx, store, lambda tx: tx.insert("users", {"login": "k"}))
        _raises("validation_failed", _in_tx, store, lambda tx: tx.insert("users", {"login": 3}))
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.insert("users", {"login": "undone"})
            raise RuntimeError("after a write")
        for login in ("a", "b"):
            with store.transaction() as tx:
                tx.insert("users", {"login": login})
        with store.transaction(write=False) as tx:
            assert sorted(d["login"] for d in tx.select("users")) == ["a", "b", "k"]
        assert Path(f"{path}-wal").exists()
        store.dispose()
        # the last connection to close checkpoints and removes the WAL: none is left open
        assert not Path(f"{path}-wal").exists()
        with store.transaction(write=False) as tx:  # and the store still works
            assert tx.count("users") == 3


def test_connection_dropped_by_the_server_is_replaced_at_begin(store: Store, db_url: str) -> None:
    # PostgreSQL: no pool pre-ping; the BEGIN finds a dead connection and one fresh one is tried
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    with store.transaction() as tx:
        tx.insert("users", {"login": "before"})
    pooled = [store.engine.raw_connection() for _ in range(store.engine.pool.checkedin())]
    pids = backend_pids(pooled)  # only this store's own connections: the database is shared
    for conn in pooled:
        conn.close()
    terminate_backends(db_url, pids)
    with store.transaction() as tx:  # a pooled connection first: dead at BEGIN
        tx.insert("users", {"login": "after"})
        assert tx.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() not in pids
    with store.transaction(write=False) as tx:
        assert tx.count("users") == 2


def test_dropped_connection_is_replaced_for_a_read_in_autocommit(store: Store,
                                                                 db_url: str) -> None:
    # no BEGIN in autocommit: the first statement finds the dead connection; the read reruns
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    with store.transaction() as tx:
        tx.insert("users", {"login": "before"})
    pooled = [store.engine.raw_connection() for _ in range(store.engine.pool.checkedin())]
    pids = backend_pids(pooled)
    for conn in pooled:
        conn.close()
    terminate_backends(db_url, pids)
    count, pid = store.run(lambda tx: (tx.count("users"), tx.conn.exec_driver_sql(
        "SELECT pg_backend_pid()").scalar()), write=False, autocommit=True)
    assert count == 1 and pid not in pids


def test_a_create_in_autocommit_gets_no_connection_the_server_closed(store: Store,
                                                                     db_url: str) -> None:
    # a write in autocommit is not retried (it may have run): the pool's checkout test finds
    # the closed connections first, at no round trip, and the INSERT runs on a new one
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    assert store.creates_in_one_statement("counters")
    store.run(lambda tx: tx.create("counters", {"name": "before"}), autocommit=True)
    pooled = [store.engine.raw_connection() for _ in range(store.engine.pool.checkedin())]
    pids = backend_pids(pooled)
    for conn in pooled:
        conn.close()
    terminate_backends(db_url, pids)
    pid = store.run(lambda tx: (tx.create("counters", {"name": "after"}), tx.conn.exec_driver_sql(
        "SELECT pg_backend_pid()").scalar())[1], autocommit=True)
    assert pid not in pids
    with store.transaction(write=False) as tx:
        assert sorted(d["name"] for d in tx.select("counters")) == ["after", "before"]


def test_a_create_whose_connection_breaks_at_its_insert_runs_once_more(store: Store,
                                                                      db_url: str) -> None:
    # the server's end vanishes after the checkout test: the INSERT fails on a dead
    # connection, and Store.run reruns the create once, with the id of the failed attempt
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    store.run(lambda tx: tx.count("counters"), write=False)  # tables and a pooled connection
    ended: list[int] = []

    def end_backend(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT") and not ended:
            ended.append(conn.connection.dbapi_connection.info.backend_pid)
            terminate_backends(db_url, ended)

    sa.event.listen(store.engine, "before_cursor_execute", end_backend)
    try:
        doc = store.run(lambda tx: tx.create("counters", {"name": "once"}), autocommit=True)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", end_backend)
    assert ended  # the first INSERT did meet a dead connection
    with store.transaction(write=False) as tx:
        assert [d["_id"] for d in tx.select("counters")] == [doc["_id"]]


def test_a_rerun_create_that_finds_its_id_stored_answers_with_that_document(
        store: Store) -> None:
    # the dropped attempt's INSERT ran before its answer was lost: no copy, no 409
    stored = store.run(lambda tx: tx.create("counters", {"name": "first"}), autocommit=True)
    with store._unit(write=True, user=None, enforce=False, autocommit=True,
                     retry_dropped=False, replay_ids=[stored["_id"]]) as tx:
        again = tx.create("counters", {"name": "first"})
        assert tx.issued_ids == [stored["_id"]]
    assert again == stored
    with store.transaction(write=False) as tx:
        assert tx.count("counters") == 1
    second = store.run(lambda tx: tx.create("counters", {"name": "second"}), autocommit=True)
    assert second["_id"] != stored["_id"]  # nothing left to replay: a new id


def test_a_create_without_checks_is_one_statement_in_autocommit(client: FlaskClient,
                                                                app: Flask) -> None:
    store = app.extensions["core_server"].store
    store.ensure()  # the tables: created on first use
    seen: list[tuple[str, bool | None]] = []
    sa.event.listen(store.engine, "after_cursor_execute",
                    lambda conn, cursor, sql, *args: seen.append((sql.split()[0],
                                                                  in_transaction(conn))))
    r = client.post("/api/store/counters", json={"name": "a"})
    assert r.status_code == 201 and r.json["value"] == 0
    mariadb = store.engine.dialect.name == "mysql"  # keeps its implicit transaction
    assert seen == [("INSERT", None if mariadb else False)]  # committed by itself, no BEGIN
    # reads before the INSERT (a unique value) or a hook need the transaction
    seen.clear()
    assert client.post("/api/store/users", json={"login": "u1"}).status_code == 201
    assert len(seen) == 2 and seen[0][0] == "SELECT"  # then INSERT (PostgreSQL: WITH .. INSERT)
    assert all(in_tx in (True, None) for _, in_tx in seen), seen
    store.add_hook("counters", "after_create", lambda tx, doc: None)
    seen.clear()
    assert client.post("/api/store/counters", json={"name": "b"}).status_code == 201
    assert [in_tx for _, in_tx in seen] == [None if mariadb else True]
    assert client.get("/api/store/counters/_count").json == {"count": 2}
