"""Bad input and failing databases: always the JSON error envelope, never a 500 page or HTML."""

import time
from pathlib import Path

import pytest

from core_server.testing import backend_pids
from core_server.testing import terminate_backends


def _error(response, status, code):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code, error
    return error


def test_unknown_connector_and_view(testdb):
    error = _error(testdb.get("/api/db/nodb/"), 404, "not_found")
    assert "mydb" in error["hint"] and "testdb" in error["hint"]
    error = _error(testdb.get("/api/tdp/db/mydb/nope"), 404, "not_found")
    assert "mytable" in error["hint"] and "mytable_items" in error["hint"]
    _error(testdb.get("/api/db/mydb/nope/count"), 404, "not_found")


def test_missing_and_unparseable_arguments(testdb):
    error = _error(testdb.get("/api/db/testdb/by_ids"), 400, "missing_argument")
    assert "ids" in error["message"]
    _error(testdb.get("/api/db/testdb/by_ids?ids=1&ids=x"), 400, "invalid_argument")
    _error(testdb.get("/api/db/testdb/echo?n=1.5"), 400, "invalid_argument")


@pytest.mark.parametrize("value", ["name;drop table mytable", "name--", "nope", "value)"])
def test_replacement_outside_whitelist(testdb, value):
    error = _error(testdb.get(f"/api/db/mydb/mytable_unique_all?column={value}"), 400,
                   "invalid_replacement")
    assert "name, cat, value" in error["hint"]
    assert testdb.get("/api/db/mydb/mytable/count").get_json() == 1000  # table still there


def test_replacement_without_validator_accepts_only_safe_names(tdp_plugin, mydb_url, app_factory):
    from core_server.dbview import DBViewBuilder
    from core_server.dbview.params import parse
    from core_server.errors import ApiError

    view = DBViewBuilder().query("SELECT {col} FROM t").replace("col").build()
    assert parse(view, {"col": ["my_col.x_1"]}).replacements["col"] == "my_col.x_1"
    for bad in ("a b", "x'--", "1;drop"):
        with pytest.raises(ApiError) as info:
            parse(view, {"col": [bad]})
        assert info.value.code == "invalid_replacement"


@pytest.mark.parametrize("key", ["filter_nope", "filter_name'--", "filter_cat) OR (1=1",
                                 "filter_gt_1;drop"])
def test_unknown_filter_names_valid_keys(testdb, key):
    error = _error(testdb.get("/api/db/mydb/mytable", query_string={key: "x"}), 400,
                   "unknown_filter")
    assert "cat" in error["hint"] and "value" in error["hint"]


def test_unknown_filter_ignored_when_not_strict(mydb_url, app_factory):
    client = app_factory(mydb_url, dbview={"strict_filters": False}).test_client()
    assert len(client.get("/api/db/mydb/mytable?filter_nope=1").get_json()) == 1000


def test_comparison_filters_need_numbers(testdb):
    _error(testdb.get("/api/db/mydb/mytable?filter_gt_name=a"), 400, "invalid_filter")
    _error(testdb.get("/api/db/mydb/mytable?filter_gt_value=abc"), 400, "invalid_value")
    _error(testdb.get("/api/db/mydb/mytable?filter_gt_value=1&filter_gte_value=2"), 400,
           "invalid_filter")
    _error(testdb.get("/api/db/mydb/mytable?filter_gt_value=1&filter_gt_value=2"), 400,
           "invalid_filter")


@pytest.mark.parametrize("query", ["_limit=-1", "_limit=abc", "_offset=-5", "_offset=1e3",
                                   "_format=xml", "_sort=nope", "_sort=-value;drop", "_bogus=1"])
def test_bad_options(testdb, query):
    response = testdb.get(f"/api/db/mydb/mytable?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("invalid_value", "unknown_field",
                                                    "unknown_parameter")


def test_malformed_json_body(testdb):
    response = testdb.post("/api/db/mydb/mytable", data="{nope", content_type="application/json")
    _error(response, 400, "malformed_json")
    _error(testdb.post("/api/db/mydb/mytable", json=[1, 2]), 400, "malformed_json")


def test_failing_view_sql_keeps_the_server_serving(testdb):
    error = _error(testdb.get("/api/db/testdb/broken"), 500, "query_failed")
    assert error["request_id"] and "no_such_table" not in error["message"]
    assert testdb.get("/api/db/testdb/public").status_code == 200


def test_statement_timeout_is_504_and_returns_the_connection(testdb, testdb_app):
    start = time.monotonic()
    response = testdb.get("/api/db/testdb/slow")
    elapsed = time.monotonic() - start
    _error(response, 504, "timeout")
    assert elapsed < 0.3 + 0.5
    dbv = testdb_app.extensions["core_server"].dbviews
    ce = dbv.engine(dbv.connectors["testdb"])
    assert ce.engine.pool.checkedout() == 0 and ce.lent() == 0
    assert testdb.get("/api/db/testdb/public").get_json() == [{"x": 1}]
    assert _error(testdb.get("/api/db/testdb/slow"), 504, "timeout")


def test_callback_without_count_query(testdb):
    _error(testdb.get("/api/db/testdb/frame/count"), 400, "count_unsupported")


def test_missing_sqlite_file_is_503_until_it_appears(tmp_path, app_factory):
    from myserverplugin.demo_data import write

    path = tmp_path / "later" / "mydb.sqlite"
    client = app_factory(f"sqlite:///{path}").test_client()
    error = _error(client.get("/api/db/mydb/mytable"), 503, "db_unavailable")
    assert "mydb" in error["message"]
    # the tutorial plugin ships demo data: the hint says how to write it, not "try again later"
    assert str(path) in error["hint"] and "run `core-server demo-data`" in error["hint"]
    assert not path.exists()  # we never create an empty database in its place
    # a database not written yet is reported per connector, not a server that is down
    health = client.get("/api/_health?deep=1")
    assert health.status_code == 200, health.get_json()
    assert health.get_json()["checks"]["db:mydb"].startswith("not created: the database file")
    path.parent.mkdir()
    write(f"sqlite:///{path}", rows=10)
    assert len(client.get("/api/db/mydb/mytable").get_json()) == 10
    assert client.get("/api/_health?deep=1").get_json()["checks"]["db:mydb"] == "ok"


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:18199/nodb",
                                 "mysql+pymysql://root@127.0.0.1:18198/nodb"])
def test_closed_port_is_503(url, app_factory):
    client = app_factory(url).test_client()
    _error(client.get("/api/db/mydb/mytable?_limit=1"), 503, "db_unavailable")
    _error(client.get("/api/db/mydb/mytable/count"), 503, "db_unavailable")
    _error(client.get("/api/db/mydb/mytable/desc"), 503, "db_unavailable")
    _error(client.get("/api/db/mydb/callback"), 503, "db_unavailable")


def test_outage_is_503_and_recovers_without_restart(mydb_url, backend, app_factory, tmp_path,
                                                    tcp_proxy):
    from sqlalchemy.engine import make_url

    if backend == "sqlite":  # the file goes away (before first use) and comes back
        path = Path(make_url(mydb_url).database)
        moved = path.rename(tmp_path / "away.sqlite")
        client = app_factory(mydb_url).test_client()
        _error(client.get("/api/db/mydb/mytable?_limit=2"), 503, "db_unavailable")
        moved.rename(path)
        assert len(client.get("/api/db/mydb/mytable?_limit=2").get_json()) == 2
        return
    url = make_url(mydb_url)
    proxy = tcp_proxy(18150 if backend == "postgresql" else 18151, (url.host, url.port))
    client = app_factory(url.set(port=proxy.port).render_as_string(False)).test_client()
    assert len(client.get("/api/db/mydb/mytable?_limit=2").get_json()) == 2
    proxy.stop()  # the server goes away while the pool holds a connection
    _error(client.get("/api/db/mydb/mytable?_limit=2"), 503, "db_unavailable")
    _error(client.get("/api/db/mydb/mytable/count"), 503, "db_unavailable")
    assert client.get("/api/_health?deep=1").status_code == 503
    proxy.start()
    assert len(client.get("/api/db/mydb/mytable?_limit=2").get_json()) == 2
    assert client.get("/api/db/mydb/mytable/count").get_json() == 1000
    assert client.get("/api/_health?deep=1").status_code == 200


def test_server_stays_up_for_unrelated_routes(tmp_path, app_factory):
    client = app_factory(f"sqlite:///{tmp_path / 'missing.sqlite'}").test_client()
    assert client.get("/api/db/").status_code == 200
    assert client.get("/api/db/mydb/").status_code == 200
    assert client.get("/api/_health").get_json() == {"status": "ok"}
    assert Path(tmp_path / "missing.sqlite").exists() is False


def _drop_app_connections(app, mydb_url: str) -> None:
    """End this app's idle PostgreSQL connections from the server side (as a restart does)."""
    dbv = app.extensions["core_server"].dbviews
    ce = dbv.engine(dbv.entry("mydb"))
    pooled = ce.engine.raw_connection()
    # only this app's own connections: the database is shared
    pids = backend_pids([*ce._idle, pooled])
    pooled.close()
    terminate_backends(mydb_url, pids)


def test_connection_dropped_by_the_server_is_replaced(mydb_url, backend, app_factory):
    # a server that ended the app's idle connections right after a request (a restart) costs
    # the client nothing: pooled ones are pinged, kept ones are replaced and the read retried
    app = app_factory(mydb_url)
    client = app.test_client()
    for _ in range(3):
        assert len(client.get("/api/db/mydb/mytable?_limit=2").get_json()) == 2
    if backend != "postgresql":  # SQLite has no server; MariaDB: the same pool as PostgreSQL
        return
    _drop_app_connections(app, mydb_url)
    assert len(client.get("/api/db/mydb/mytable?_limit=2").get_json()) == 2
    assert client.get("/api/db/mydb/mytable?filter_my_id=5").get_json()[0]["my_id"] == 5


def test_counts_and_deep_health_survive_a_dropped_connection(mydb_url, backend, app_factory):
    # the first count and the first deep health check after a restart within the idle-ping
    # interval retry on a new connection, as reads do (no false "down" for one check)
    app = app_factory(mydb_url)
    client = app.test_client()
    assert client.get("/api/db/mydb/mytable/count").get_json() > 0
    if backend != "postgresql":
        return
    _drop_app_connections(app, mydb_url)
    assert client.get("/api/db/mydb/mytable/count").get_json() > 0
    _drop_app_connections(app, mydb_url)
    health = client.get("/api/_health?deep=1")
    assert health.status_code == 200, health.get_json()


def test_reads_leave_pooled_connections_as_the_pool_gave_them(mydb_url, backend, app_factory):
    # PostgreSQL's bounded reads run in autocommit on a pooled connection (no BEGIN/ROLLBACK):
    # whoever takes that connection next (count, callbacks, plugins) gets a transaction again
    app = app_factory(mydb_url)
    client = app.test_client()
    assert client.get("/api/db/mydb/mytable?filter_my_id=5").get_json()[0]["my_id"] == 5
    assert client.get("/api/db/mydb/mytable/count").get_json() > 0
    if backend != "postgresql":
        return
    dbv = app.extensions["core_server"].dbviews
    ce = dbv.engine(dbv.entry("mydb"))
    assert ce.engine.pool.checkedout() == 0
    conn = ce.engine.raw_connection()
    try:
        assert conn.driver_connection.autocommit is False
    finally:
        conn.close()
