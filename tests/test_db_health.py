"""Deep health per database, ``core-server check`` agreeing with it, and the server database
down or stalled under views that assign ids (issue 14, item 8)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from core_server.cli import main
from core_server.testing import BACKENDS

NETWORK = [b for b in BACKENDS if b != "sqlite"]
#: short bounds: a stalled server database answers nothing, each wait ends quickly
LIMITS = {"connect_timeout": 2000, "pool_size": 2, "pool_timeout": 200, "read_timeout": 1500,
          "health_timeout": 500}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code, error
    return error


def test_check_and_health_agree_on_a_missing_file(runner, tmp_path: Path, app_factory) -> None:
    # the tutorial connector's SQLite file is not written yet (as after add-extension db-connector)
    result = runner.invoke(main, ["check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    line = next(li for li in result.output.splitlines() if "connector mydb:" in li)
    assert line.startswith("warning") and "does not exist" in line \
        and "run `core-server demo-data`" in line
    client = app_factory(f"sqlite:///{tmp_path / 'mydb.sqlite'}").test_client()
    health = client.get("/api/_health?deep=1")
    assert health.status_code == 200 and "down" not in health.get_json()
    assert health.get_json()["checks"]["db:mydb"].startswith("not created: the database file")


def test_a_bad_dburl_fails_check_and_is_503(runner, tmp_path: Path, app_factory) -> None:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"myserverplugin": {"dburl": "nosuchdb://host/x"}}))
    result = runner.invoke(main, ["check", "--config", str(config), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "FAILED connector mydb: dburl cannot be used" in result.output
    client = app_factory("nosuchdb://host/x").test_client()
    error = _error(client.get("/api/db/mydb/mytable"), 503, "db_unavailable")
    assert "dburl" in error["message"] and "core-server check" in error["hint"]
    health = client.get("/api/_health?deep=1")
    down = health.get_json()["down"]  # the connector and its extension, nothing else
    assert health.status_code == 503 and "db:mydb" in down and all(d.startswith("db:") for d in down)


@pytest.fixture(params=NETWORK)
def stalled_server_db(request, tmp_path: Path, tcp_proxy):
    """A PostgreSQL/MariaDB server database behind a proxy that stalls once the tables exist."""
    from core_server.testing import fresh_database

    with fresh_database(request.param, tmp_path) as url:
        parsed = make_url(url)
        proxy = tcp_proxy(8370 + NETWORK.index(request.param), (parsed.host, parsed.port))
        yield proxy, parsed.set(port=proxy.port).render_as_string(False)


@pytest.fixture(scope="module")
def sqlite_mydb(tmp_path_factory) -> str:
    """The tutorial tables in SQLite (the stalled database here is the server database)."""
    from myserverplugin.demo_data import write

    url = f"sqlite:///{tmp_path_factory.mktemp('mydb') / 'mydb.sqlite'}"
    write(url, rows=20)
    return url


def test_deep_health_lists_only_what_is_down(stalled_server_db, sqlite_mydb, app_factory) -> None:
    proxy, server_db = stalled_server_db
    app = app_factory(sqlite_mydb, core_server={"server_db": server_db, "db": LIMITS})
    client = app.test_client()
    assert client.get("/api/_health?deep=1").status_code == 200
    proxy.stall()
    for _ in range(3):  # a check still waiting is not started again: one thread per database
        start = time.monotonic()
        health = client.get("/api/_health?deep=1")
        took = time.monotonic() - start
        body = health.get_json()
        assert health.status_code == 503 and body["down"] == ["server_db"], body
        assert body["checks"]["store"] == "ok" and body["checks"]["db:mydb"] == "ok"
        assert body["checks"]["server_db"].startswith("timeout") and took < 1.5, (body, took)
    probes = [t for t in threading.enumerate() if t.name == "core_server-health"]
    assert len(probes) <= 1
    assert client.get("/api/_health").get_json() == {"status": "ok"}  # never touches a database
    proxy.resume()
    deadline = time.monotonic() + 5
    while client.get("/api/_health?deep=1").status_code != 200:
        assert time.monotonic() < deadline, "the server database did not come back"
        time.sleep(0.2)


def test_server_db_down_is_503_for_views_that_assign_ids(stalled_server_db, testdb_app_factory):
    proxy, server_db = stalled_server_db
    client = testdb_app_factory(server_db).test_client()
    proxy.stop()  # refused
    error = _error(client.get("/api/db/testdb/by_ids?ids=1&ids=2"), 503, "db_unavailable")
    assert "server database" in error["message"]
    assert client.get("/api/db/testdb/public").get_json() == [{"x": 1}]  # no ids: no server db
    proxy.start()
    rows = client.get("/api/db/testdb/by_ids?ids=1&ids=2").get_json()
    assert [r["id"] for r in rows] == [1, 2] and all("_id" in r for r in rows)
    proxy.stall()  # silent: bounded by the read (or connect) timeout, then 503 as JSON
    client.application.extensions["core_server"].dbviews.ids._cache.clear()
    start = time.monotonic()
    _error(client.get("/api/db/testdb/by_ids?ids=3"), 503, "db_unavailable")
    # the pool's ping of its idle connection times out (read), the new connection too (connect)
    assert time.monotonic() - start < 1.5 + 2.0 + 0.2 + 1.0
    proxy.resume()


@pytest.fixture
def testdb_app_factory(sqlite_mydb, tdp_plugin, tmp_path):
    from core_server.app import create_app

    made = []

    def factory(server_db: str):
        config = {"myserverplugin": {"dburl": sqlite_mydb}, "tdpviews": {"dburl": sqlite_mydb},
                  "core_server": {"server_db": server_db, "db": LIMITS}}
        app = create_app(config, plugins_dirs=[tdp_plugin], data_dir=tmp_path / "data")
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield factory
    for app in made:
        app.extensions["core_server"].dbviews.dispose()


@pytest.mark.parametrize("backend", NETWORK)
def test_engine_bounds_and_a_plugins_own_pool(backend: str, tmp_path: Path) -> None:
    from sqlalchemy.pool import NullPool

    from core_server.dblimits import BulkheadPool
    from core_server.dbview.engines import ConnectorEngine
    from core_server.testing import fresh_database

    with fresh_database(backend, tmp_path) as url:
        bounded = ConnectorEngine(url, 1000, None, {})
        assert isinstance(bounded.engine.pool, BulkheadPool) and bounded.engine.pool.size() == 3
        # a connector's engine options win: its own pool class takes no pool sizes of ours
        own = ConnectorEngine(url, 1000, None, {"poolclass": NullPool})
        with own.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert isinstance(own.engine.pool, NullPool)
        bounded.dispose()
        own.dispose()


@pytest.mark.parametrize("backend", NETWORK)
def test_the_server_database_engine_pings_every_checkout(backend: str, tmp_path: Path) -> None:
    # connectors' reads ping idle connections only (ConnectorEngine); the id mapper's writer
    # engine has none of that and keeps the pool's pre-ping
    from core_server.dblimits import DbLimits
    from core_server.dbview.engines import writer_engine
    from core_server.testing import fresh_database

    with fresh_database(backend, tmp_path) as url:
        engine = writer_engine(url, DbLimits())
        try:
            assert engine.pool._pre_ping
        finally:
            engine.dispose()
