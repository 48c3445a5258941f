"""The three plugin API generations in one process: discovery, config, settings, warnings.

The fixture plugins under ``tests/plugins_tdp`` are written as a phovea-generator plugin and a
visyn-era (tdp_core 15-17) plugin would be; here they are found as plugin folders.
test_tdp_plugins.py installs them (and published plugins) as distributions.
"""

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from core_server.app import create_app
from core_server.registry import discover
from core_server.testing import login
from core_server.testing import users_config

PLUGINS = Path(__file__).parent / "plugins_tdp"
DEMOS = ("tdp_phovea_demo", "tdp_visyn_demo")


@pytest.fixture(scope="module", autouse=True)
def _unimport_demos() -> Iterator[None]:
    yield
    for name in [m for m in sys.modules if m.split(".")[0] in DEMOS]:
        del sys.modules[name]
    for demo in DEMOS:
        if str(PLUGINS / demo) in sys.path:
            sys.path.remove(str(PLUGINS / demo))


def _demo_tables(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE phovea_item (id VARCHAR(10) PRIMARY KEY, "
                             "name VARCHAR(50), kind VARCHAR(10), size INTEGER)"))
        conn.execute(sa.text("INSERT INTO phovea_item VALUES ('i1', 'one', 'a', 1), "
                             "('i2', 'two', 'b', 2), ('i3', 'three', 'a', 3)"))
        conn.execute(sa.text("CREATE TABLE visyn_item (id VARCHAR(10) PRIMARY KEY, "
                             "label VARCHAR(50), score REAL)"))
        conn.execute(sa.text("INSERT INTO visyn_item VALUES ('v1', 'first', 0.5)"))
    engine.dispose()


def _app(tmp_path: Path, dburl: str, environ: dict[str, str] | None = None,
         **config: Any) -> Flask:
    top = {"tdp_phovea_demo": {"dburl": dburl}, "tdp_visyn_demo": {"dburl": dburl}, **config}
    return create_app(top, plugins_dirs=[PLUGINS], data_dir=tmp_path / "data",
                      entry_points=False, environ=environ or {})


@pytest.fixture
def demo_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/demo.sqlite"
    _demo_tables(url)
    return url


def test_both_generations_load_from_folders_with_warnings(tmp_path: Path, demo_url: str) -> None:
    app = _app(tmp_path, demo_url, **users_config({"root": ["admin"]}))
    client = app.test_client()
    summary = {p["name"]: p for p in client.get("/api/_plugins").get_json()}
    assert summary["tdp_phovea_demo"]["warnings"] == 2  # anonymous: counts only
    login(client, "root")
    plugins = {p["name"]: p for p in client.get("/api/_plugins").get_json()}
    phovea, visyn = plugins["tdp_phovea_demo"], plugins["tdp_visyn_demo"]
    assert (phovea["status"], phovea["generation"], phovea["version"]) == ("loaded", "phovea",
                                                                           "3.1.0")
    assert (visyn["status"], visyn["generation"]) == ("loaded", "visyn"), visyn["errors"]
    assert any("'dataset-provider' (phovea_demo_datasets) is not served" in w
               for w in phovea["warnings"])
    assert any("'fastapi_router' (visyn_demo_router)" in w for w in visyn["warnings"])
    # unserved extensions are kept: listable by their type, not served
    registry = app.extensions["core_server"].registry
    assert [e.id for e in registry.list("dataset-provider")] == ["phovea_demo_datasets"]
    assert "dataset-provider" not in {e.type for e in registry.list()}


def test_commented_config_json_and_setting_defaults_join_the_layers(tmp_path: Path,
                                                                    demo_url: str) -> None:
    app = _app(tmp_path, demo_url, environ={"CORE_SERVER__tdp_visyn_demo__max_items": "7"},
               tdp_visyn_demo={"dburl": demo_url, "greeting": "servus"})
    config = app.extensions["core_server"].config
    # phovea era: phovea_config() returned the path of a config.json with comments
    assert config.get_path("tdp_phovea_demo.statement_timeout_query") == \
        "set statement_timeout to {}"
    assert config["tdp_phovea_demo"]["users"][0]["name"] == "phoebe"
    # visyn era: setting_class defaults < our layers (explicit config, environment)
    assert config.get_path("tdp_visyn_demo.statement_timeout") == "'5min'"
    assert config["tdp_visyn_demo"]["users"][0]["name"] == "vera"
    settings = app.extensions["core_server"].registry.plugins["tdp_visyn_demo"].settings
    assert type(settings).__name__ == "VisynDemoSettings"
    assert (settings.greeting, settings.max_items) == ("servus", 7)


def test_manager_settings_is_the_typed_object(tmp_path: Path, demo_url: str) -> None:
    from tdp_core import manager
    from visyn_core import manager as visyn_manager

    app = _app(tmp_path, demo_url)
    with app.app_context():
        assert manager.settings.tdp_visyn_demo is visyn_manager.settings.tdp_visyn_demo
        assert manager.settings.tdp_visyn_demo.users[0].roles == ["visyn_demo_reader"]
        # a plugin without setting_class: its config section, attributes all the way down
        assert manager.settings.tdp_phovea_demo.engine.pool_pre_ping is True
        assert manager.settings.get_nested("tdp_phovea_demo.statement_timeout") == "'5min'"
        assert manager.settings.get_nested("tdp_phovea_demo.missing", 3) == 3
        assert manager.db.connector("phovea_demo").description.startswith("phovea-era")
        with pytest.raises(AttributeError, match="no settings 'nope'"):
            manager.settings.nope  # noqa: B018
        assert [e.configKey for e in manager.registry.list("tdp-sql-database-definition")
                if e.plugin == "tdp_phovea_demo"] == ["tdp_phovea_demo"]
        assert "PhoveaDemoID" in manager.id_mapping.known_idtypes()
        assert [type(s).__name__ for s in visyn_manager.security.user_stores] == [
            "DemoStore", "DemoStore"]
        vera = manager.security.login("vera", {"password": "vera-secret"})
        assert (type(vera).__name__, vera.name, vera.roles) == ("User", "vera",
                                                                ["visyn_demo_reader"])
        assert manager.security.login("vera", {"password": "nope"}) is None
        assert manager.security.current_user is None  # no request, nobody logged in
    body = app.test_client().get("/api/visyn_demo/greeting").get_json()
    assert body == {"greeting": "hello", "max_items": 10, "type": "VisynDemoSettings",
                    "started": True}


def test_phovea_and_visyn_stores_answer_login(tmp_path: Path, demo_url: str) -> None:
    import base64

    client = _app(tmp_path, demo_url).test_client()
    wrong = client.post("/api/login", data={"username": "phoebe", "password": "nope"})
    assert wrong.status_code == 401
    answer = client.post("/api/login", data={"username": "phoebe", "password": "phoebe-secret"})
    assert answer.status_code == 200 and answer.get_json()["roles"] == ["phovea_demo_reader"]
    # the session reloads the user through the phovea store's load(id)
    assert client.get("/api/loggedinas").get_json()["name"] == "phoebe"
    # phovea_server.security in a phovea_server.ns namespace
    whoami = client.get("/api/phovea_demo/whoami")
    assert whoami.get_json() == {"name": "phoebe", "roles": ["phovea_demo_reader"], "nan": None}
    assert whoami.headers["Cache-Control"].startswith("private, no-cache")
    client.post("/api/logout", headers={"X-CSRF-Token": answer.get_json()["csrf_token"]})
    assert client.get("/api/loggedinas").get_json() == "not_yet_logged_in"
    anonymous = client.get("/api/phovea_demo/whoami")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "unauthorized"
    basic = base64.b64encode(b"vera:vera-secret").decode()
    for headers in ({"apiKey": "vera:vera-secret"}, {"Authorization": f"Basic {basic}"},
                    {"Authorization": "vera:vera-secret"}):
        who = client.get("/api/loggedinas", headers=headers).get_json()
        assert (who["name"], who["roles"], who["auth"]) == ("vera", ["visyn_demo_reader"],
                                                            "request")
    assert client.get("/api/loggedinas", headers={"apiKey": "vera:x"}).get_json() == \
        "not_yet_logged_in"


def test_settings_the_model_rejects_fail_the_plugin_only(tmp_path: Path, demo_url: str) -> None:
    app = _app(tmp_path, demo_url, environ={"CORE_SERVER__tdp_visyn_demo__max_items": "lots"})
    plugin = app.extensions["core_server"].registry.plugins["tdp_visyn_demo"]
    assert plugin.status == "failed" and "max_items" in plugin.errors[0]
    client = app.test_client()
    assert client.get("/api/db/visyn_demo/").status_code == 404  # nothing of it half-loads
    assert client.get("/api/db/phovea_demo/item").status_code == 200


def test_unknown_types_are_warnings_in_check(tmp_path: Path, demo_url: str) -> None:
    from click.testing import CliRunner

    from core_server.cli import main

    config = tmp_path / "workspace.json"
    # a workspace config.json with comments, as TDP read it
    config.write_text('{"tdp_phovea_demo": {"dburl": "%s"}, // ours\n'
                      ' /* the visyn one */ "tdp_visyn_demo": {"dburl": "%s"},}'
                      % (demo_url, demo_url))
    result = CliRunner().invoke(main, ["check", "--config", str(config), "--plugins-dir",
                                       str(PLUGINS), "--data-dir", str(tmp_path / "d")],
                                env={"CORE_SERVER__core_server__entry_points": "false"})
    assert "ok tdp_phovea_demo (phovea, " in result.output
    assert "warning: extension type 'greenifier' (psycopg2) is not served" in result.output
    assert "ok tdp_visyn_demo (visyn, " in result.output, result.output


def _dist(site: Path, name: str, entry_points: str, init: str, files: dict[str, str]) -> None:
    info = site / f"{name}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (site / name).mkdir()
    (site / name / "__init__.py").write_text(textwrap.dedent(init))
    for file, text in files.items():
        (site / name / file).write_text(textwrap.dedent(text))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A site-packages folder on sys.path: distributions written here are installed."""
    import importlib

    path = tmp_path / "site"
    path.mkdir()
    sys.path.insert(0, str(path))
    importlib.invalidate_caches()
    yield path
    sys.path.remove(str(path))
    for name in [m for m in sys.modules if m.split(".")[0] in {"epphovea", "epvisyn"}]:
        del sys.modules[name]
    importlib.invalidate_caches()


PHOVEA_INIT = """
    def phovea(registry):
        registry.append('namespace', 'epphovea_ns', 'epphovea.ns', {'namespace': '/api/epphovea'})

    def phovea_config():
        from os import path
        config_file = path.join(path.abspath(path.dirname(__file__)), 'config.json')
        return config_file if path.exists(config_file) else None
"""


def test_phovea_config_entry_point_may_return_a_path(site: Path) -> None:
    _dist(site, "epphovea", """
        [phovea.registry]
        epphovea = epphovea:phovea
        [phovea.config]
        epphovea = epphovea:phovea_config
    """, PHOVEA_INIT, {"config.json": '{"a": 1, /* b */ "b": [2, 3,],}', "ns.py": ""})
    plugin = discover([], entry_points=True).plugins["epphovea"]
    assert (plugin.status, plugin.generation, plugin.source) == (
        "loaded", "phovea", "entry-point:phovea.registry"), plugin.errors
    assert plugin.config == {"a": 1, "b": [2, 3]} and plugin.version == "1.2.3"


def test_phovea_config_without_a_file_is_no_config(site: Path) -> None:
    _dist(site, "epphovea", "[phovea.registry]\nepphovea = epphovea:phovea\n"
          "[phovea.config]\nepphovea = epphovea:phovea_config\n", PHOVEA_INIT, {"ns.py": ""})
    plugin = discover([], entry_points=True).plugins["epphovea"]
    assert plugin.status == "loaded" and plugin.config == {}


def test_broken_config_json_names_the_file(site: Path) -> None:
    _dist(site, "epphovea", "[phovea.registry]\nepphovea = epphovea:phovea\n"
          "[phovea.config]\nepphovea = epphovea:phovea_config\n", PHOVEA_INIT,
          {"config.json": '{"a": }'})
    plugin = discover([], entry_points=True).plugins["epphovea"]
    assert plugin.status == "failed" and "config.json is not valid JSON" in plugin.errors[0]


def test_visyn_entry_point_class_registers_once(site: Path) -> None:
    _dist(site, "epvisyn", "[visyn.plugin]\nepvisyn = epvisyn:VisynPlugin\n", """
        from tdp_core.plugin.model import AVisynPlugin

        class VisynPlugin(AVisynPlugin):
            def register(self, registry):
                registry.append('namespace', 'epvisyn_ns', 'epvisyn.ns', {'namespace': '/x'})
    """, {"ns.py": ""})
    registry = discover([site], entry_points=True)  # also a folder in a plugins dir
    plugin = registry.plugins["epvisyn"]
    assert (plugin.status, plugin.generation) == ("loaded", "visyn"), plugin.errors
    assert plugin.source == "entry-point:visyn.plugin"
    assert [e.id for e in registry.list("namespace") if e.plugin == "epvisyn"] == ["epvisyn_ns"]


@pytest.mark.db
def test_tdp_timeout_strings_and_engine_options_on_each_database(tmp_path: Path,
                                                                 db_url: str) -> None:
    from tdp_core import manager

    _demo_tables(db_url)
    backend = sa.engine.make_url(db_url).get_backend_name()
    # config.json's "'5min'" and "set statement_timeout to {}" as TDP wrote them (PostgreSQL);
    # MariaDB has its own default statement
    section: dict[str, Any] = {"dburl": db_url, "engine": {"pool_pre_ping": True,
                                                           "pool_size": 3}}
    if backend == "mysql":
        section["statement_timeout_query"] = None
    app = _app(tmp_path, db_url, tdp_phovea_demo=section)
    client = app.test_client()
    rows = client.get("/api/db/phovea_demo/item?filter_kind=a").get_json()
    assert sorted((r["id"], r["size"]) for r in rows) == [("i1", 1), ("i3", 3)]
    by_kind = client.get("/api/db/phovea_demo/item_by_kind?kind=b").get_json()
    assert [(r["id"], r["name"]) for r in by_kind] == [("i2", "two")]
    with app.app_context():
        engine = manager.db.engine("phovea_demo")
        assert engine.pool.size() == 3
        with engine.connect() as conn:
            if backend == "postgresql":
                assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "5min"
            elif backend == "mysql":
                assert float(conn.execute(sa.text("SELECT @@max_statement_time")).scalar()) == 300
    app.extensions["core_server"].dbviews.dispose()


def test_a_failing_or_switched_off_store_counts_as_no_user(tmp_path: Path) -> None:
    from core_server.testing import temporary_plugin

    init = """
    def phovea(registry):
        registry.append('user_stores', 'flaky', 'flakystore.store', {})
        registry.append('user_stores', 'off', 'flakystore.off', {})
    """
    store = """
    class Flaky:
        def load_from_key(self, key):
            raise RuntimeError('directory down')

        def login(self, username, extra_fields={}):
            raise RuntimeError('directory down')

    def create():
        return Flaky()
    """
    with temporary_plugin(tmp_path / "p", "flakystore", init,
                          {"store.py": store, "off.py": "def create():\n    return None\n"}) as root:
        app = create_app({}, plugins_dirs=[root], data_dir=tmp_path / "d", entry_points=False)
        assert app.extensions["core_server"].registry.plugins["flakystore"].status == "loaded"
        client = app.test_client()
        assert client.get("/api/loggedinas", headers={"apiKey": "a:b"}).get_json() == \
            "not_yet_logged_in"
        login = client.post("/api/login", json={"username": "a", "password": "b"})
        assert login.status_code == 401


def test_visyn_core_is_tdp_core_under_its_later_name() -> None:
    import tdp_core.dbview
    import tdp_core.plugin.model
    import tdp_core.security.store.base_store
    import tdp_core.server.visyn_server
    import visyn_core.dbview
    import visyn_core.plugin.model
    import visyn_core.security.store.base_store
    import visyn_core.server.visyn_server

    assert visyn_core.dbview.DBViewBuilder is tdp_core.dbview.DBViewBuilder
    assert visyn_core.plugin.model.AVisynPlugin is tdp_core.plugin.model.AVisynPlugin
    assert visyn_core.security.store.base_store.BaseStore is \
        tdp_core.security.store.base_store.BaseStore
    assert visyn_core.server.visyn_server.create_visyn_server is \
        tdp_core.server.visyn_server.create_visyn_server
