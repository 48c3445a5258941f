"""Fixtures of the SQL view tests: the tutorial data in each backend, and an app serving it."""

import contextlib
import socket
import threading
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core_server.app import create_app
from core_server.testing import BACKENDS
from core_server.testing import fresh_database

# Fixture plugins of the TDP generations carry their own test suites; test_tdp_plugins.py runs
# them against core_server in a throwaway venv, the main run must not collect them.
collect_ignore_glob = ["plugins_tdp/*"]


@pytest.fixture(scope="module", params=BACKENDS)
def mydb_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tutorial tables (1,000 rows) in a fresh database of each backend, per test module."""
    from myserverplugin.demo_data import write

    with fresh_database(request.param, tmp_path_factory.mktemp("mydb")) as url:
        write(url, rows=1000)
        yield url


def make_app(dburl: str, tmp_path: Path, **config: object) -> Flask:
    """An app whose ``mydb`` connector reads ``dburl``."""
    app = create_app({"myserverplugin": {"dburl": dburl}, **config}, data_dir=tmp_path / "data")
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """``factory(dburl, **config)``: apps over the tutorial data with extra config."""
    made: list[Flask] = []

    def factory(dburl: str, **config: object) -> Flask:
        made.append(make_app(dburl, tmp_path / str(len(made)), **config))
        return made[-1]

    yield factory
    for app in made:
        app.extensions["core_server"].dbviews.dispose()


@pytest.fixture
def mydb_app(mydb_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app serving the tutorial connector over ``mydb_url``."""
    app = make_app(mydb_url, tmp_path)
    yield app
    app.extensions["core_server"].dbviews.dispose()


@pytest.fixture
def mydb_client(mydb_app: Flask) -> FlaskClient:
    """Test client of :func:`mydb_app`."""
    return mydb_app.test_client()


@pytest.fixture
def backend(mydb_url: str) -> str:
    """The backend name of ``mydb_url`` (sqlite, postgresql, mysql)."""
    from sqlalchemy.engine import make_url

    return make_url(mydb_url).get_backend_name()


#: A TDP-style plugin (phovea(registry), TDP type name, tdp_core and phovea_server imports) whose
#: connector ``testdb`` has the views the route, format and error tests need.
TDP_PLUGIN_INIT = """
def phovea(registry):
    registry.append('tdp-sql-database-definition', 'testdb', 'tdpviews.views',
                    {'configKey': 'tdpviews'})
"""

TDP_PLUGIN_VIEWS = r'''
from tdp_core.dbview import DBViewBuilder, DBConnector, inject_where, limit_offset
from phovea_server.config import view

from core_server.dbview.engines import backend_for

config = view('tdpviews')


def build_views():
    views = dict()
    views['by_ids'] = DBViewBuilder().idtype('MyIDType') \
        .query("""SELECT my_id AS id, name FROM mytable WHERE my_id IN :ids ORDER BY my_id""") \
        .arg('ids', type=int, as_list=True).assign_ids().build()
    views['by_ids_any'] = DBViewBuilder().idtype('MyIDType') \
        .query("""SELECT my_id AS id, name FROM mytable WHERE my_id = ANY(:ids) ORDER BY my_id""") \
        .arg('ids', type=int, as_list=True).build()
    views['by_cat'] = DBViewBuilder().idtype('MyIDType').table('mytable') \
        .query("""SELECT my_id AS id, name, cat, value FROM mytable WHERE cat = :cat""") \
        .arg('cat').derive_columns().call(inject_where) \
        .filter('named', "lower(name) {operator} {value}").build()
    views['column_of'] = DBViewBuilder().table('mytable') \
        .query("""SELECT my_id AS id, {col} AS v FROM mytable ORDER BY my_id""") \
        .replace('col', ['name', 'value']).call(limit_offset).build()
    views['secret'] = DBViewBuilder().query("SELECT 1 AS x").security('analyst').build()
    views['public'] = DBViewBuilder().query("SELECT 1 AS x").security(False).build()
    views['hidden'] = DBViewBuilder('private').query("SELECT 1 AS x").build()
    views['broken'] = DBViewBuilder().query("SELECT nope FROM no_such_table").build()
    views['slow'] = DBViewBuilder().query(backend_for(config.get('dburl')).sleep_sql(5)).build()
    views['typed'] = DBViewBuilder().query(
        """SELECT CAST(1.5 AS DECIMAL(5,2)) AS d, 'a,b' AS comma, 'say "hi"' AS quote, """
        """NULL AS empty""").build()
    views['frame'] = DBViewBuilder().callback(lambda engine, args, filters: __import__('pandas')
        .DataFrame({'id': [1, 2], 'x': [float('nan'), 2.5],
                    'when': __import__('pandas').to_datetime(['1970-01-02', '2020-01-01'])})) \
        .build()
    views['echo'] = DBViewBuilder().callback(
        lambda engine, args, filters: [{'args': args, 'filters': filters}]) \
        .arg('n', type=int).filter('cat').build()
    return views


def create():
    connector = DBConnector(build_views())
    connector.description = 'views of the tests'
    return connector
'''


@pytest.fixture
def tdp_plugin(tmp_path: Path) -> Iterator[Path]:
    """A plugins dir holding the TDP-style test plugin ``tdpviews``."""
    from core_server.testing import temporary_plugin

    with temporary_plugin(tmp_path / "plugins", "tdpviews", TDP_PLUGIN_INIT,
                          {"views.py": TDP_PLUGIN_VIEWS}) as root:
        yield root


@pytest.fixture
def testdb_config() -> dict[str, object]:
    """Extra config of :func:`testdb_app` (override per module)."""
    return {}


@pytest.fixture
def testdb_app(mydb_url: str, tdp_plugin: Path, tmp_path: Path,
               testdb_config: dict[str, object]) -> Iterator[Flask]:
    """An app with the tutorial plugin and ``tdpviews`` (connector ``testdb``) on ``mydb_url``."""
    config = {"myserverplugin": {"dburl": mydb_url},
              "tdpviews": {"dburl": mydb_url, "statement_timeout": 300}, **testdb_config}
    app = create_app(config, plugins_dirs=[tdp_plugin], data_dir=tmp_path / "data")
    app.config["TESTING"] = True
    yield app
    app.extensions["core_server"].dbviews.dispose()


@pytest.fixture
def testdb(testdb_app: Flask) -> FlaskClient:
    """Test client of :func:`testdb_app`."""
    return testdb_app.test_client()


@pytest.fixture(scope="module")
def testdb_module(mydb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """Like :func:`testdb`, but one app per test module and backend (many read-only requests)."""
    from core_server.testing import temporary_plugin

    root = tmp_path_factory.mktemp("testdb")
    with temporary_plugin(root / "plugins", "tdpviews", TDP_PLUGIN_INIT,
                          {"views.py": TDP_PLUGIN_VIEWS}) as plugins:
        config = {"myserverplugin": {"dburl": mydb_url}, "tdpviews": {"dburl": mydb_url},
                  "core_server": {"server_db": mydb_url}}
        app = create_app(config, plugins_dirs=[plugins], data_dir=root / "data")
        app.config["TESTING"] = True
        yield app.test_client()
        app.extensions["core_server"].dbviews.dispose()


class TcpProxy:
    """A TCP forwarder on 127.0.0.1:``port`` to ``target``; ``stop()`` simulates a database outage."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def start(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the blocked accept() on Linux
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[int, tuple[str, int]], TcpProxy]]:
    """``tcp_proxy(port, (host, port))``: a started :class:`TcpProxy`, stopped after the test."""
    proxies: list[TcpProxy] = []

    def make(port: int, target: tuple[str, int]) -> TcpProxy:
        proxies.append(TcpProxy(port, target))
        proxies[-1].start()
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.stop()
