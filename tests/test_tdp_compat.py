"""A TDP-style plugin (phovea(registry), TDP type names, tdp_core/phovea_server imports) runs unchanged."""

import pytest

import tdp_core.dbview
from core_server import dbview
from core_server.app import create_app


def test_tdp_core_dbview_reexports_the_builder_api():
    for name in ("DBViewBuilder", "DBView", "DBConnector", "DBMapping", "add_common_queries",
                 "inject_where", "inject_where_clause", "limit_offset", "default_agg_score"):
        assert getattr(tdp_core.dbview, name) is getattr(dbview, name)


def test_tdp_plugin_loads_and_serves(testdb, testdb_app):
    plugins = {p["name"]: p for p in testdb.get("/api/_plugins").get_json()}
    assert plugins["tdpviews"]["status"] == "loaded", plugins["tdpviews"]["errors"]
    assert plugins["tdpviews"]["extensions"][0]["type"] == "db-connector"
    assert {"name": "testdb", "description": "views of the tests"} in testdb.get(
        "/api/tdp/db/").get_json()
    assert testdb.get("/api/tdp/db/testdb/by_ids?ids=4").get_json()[0]["name"] == "My 4"
    # the module read its config section through phovea_server.config.view at import
    import tdpviews.views

    assert tdpviews.views.config.get("statement_timeout") == 300
    assert tdpviews.views.config.dburl == tdpviews.views.config.get("dburl")


def test_phovea_config_view_inside_and_outside_an_app(tmp_path, monkeypatch):
    from phovea_server.config import get
    from phovea_server.config import view

    app = create_app({"myplugin": {"a": {"b": 1}}}, data_dir=tmp_path, plugins_dirs=[],
                     entry_points=False)
    with app.app_context():
        assert view("myplugin").get("a.b") == 1
        assert view("myplugin").get("missing", "dflt") == "dflt"
        assert get("myplugin.a") == {"b": 1}
    monkeypatch.setenv("CORE_SERVER__myplugin__x", "42")
    outside = view("myplugin")
    assert outside.get("x") == 42  # core defaults + file + env, no app
    assert view("core_server").get("statement_timeout") == 30000


def test_tdp_extension_type_needs_an_existing_base(tmp_path):
    from core_server.testing import temporary_plugin

    init = """
def phovea(registry):
    registry.append('tdp-sql-database-extension', 'orphan', 'orphanplugin.views', {'base': 'nope'})
"""
    views = "from tdp_core.dbview import DBConnector\n\ndef create():\n    return DBConnector({})\n"
    with temporary_plugin(tmp_path / "p", "orphanplugin", init, {"views.py": views}) as root:
        app = create_app({}, plugins_dirs=[root], data_dir=tmp_path / "d")
        plugin = app.extensions["core_server"].registry.plugins["orphanplugin"]
        assert plugin.status == "failed" and "base connector 'nope'" in plugin.errors[0]
        assert app.test_client().get("/api/_health").status_code == 200


@pytest.mark.parametrize("source, message", [
    ("def create():\n    raise RuntimeError('no views')\n", "RuntimeError: no views"),
    ("def create():\n    return 42\n", "not a DBConnector"),
])
def test_failing_connector_is_recorded(tmp_path, source, message):
    from core_server.testing import temporary_plugin

    init = """
def phovea(registry):
    registry.append('tdp-sql-database-definition', 'baddb', 'badplugin.views', {'configKey': 'x'})
"""
    with temporary_plugin(tmp_path / "p", "badplugin", init, {"views.py": source}) as root:
        app = create_app({}, plugins_dirs=[root], data_dir=tmp_path / "d")
        plugin = app.extensions["core_server"].registry.plugins["badplugin"]
        assert plugin.status == "failed" and message in plugin.errors[0]
        assert app.test_client().get("/api/db/baddb/").status_code == 404
