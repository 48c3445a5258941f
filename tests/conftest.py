"""Fixtures of the SQL view tests: the tutorial data in each backend, and an app serving it."""

import contextlib
import importlib
import importlib.abc
import select
import socket
import subprocess
import sys
import threading
import types
import zipfile
from collections.abc import Callable
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.orm
from flask import Flask
from flask.testing import FlaskClient

from core_server.app import create_app
from core_server.testing import BACKENDS
from core_server.testing import fresh_database
from core_server.testing import users_config

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
    """A TCP forwarder on 127.0.0.1:``port`` to ``target`` that can fail like a network path.

    ``stop()`` refuses (closes the listener, resets every connection: a database that went away),
    ``stall()`` goes silent (connections are accepted, nothing is forwarded either way: a path
    that drops packets), ``resume()`` forwards again (stalled connections continue), ``start()``
    listens again after ``stop()``.
    """

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        self._flowing.set()
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
        self._flowing.set()  # pipes of reset connections end instead of waiting

    def stall(self) -> None:
        """Forward nothing more (connections stay open, new ones are accepted)."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again."""
        self._flowing.set()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            self._conns.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()  # a stalled path does not reach the server either
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self._conns.append(upstream)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                self._flowing.wait()
                ready, _, _ = select.select([source], [], [], 0.05)
                if not ready:
                    continue
                if not self._flowing.is_set():
                    continue  # stalled between select and recv: leave the bytes unread
                data = source.recv(65536)
                if not data:
                    break
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


# -- tdp_core 17 as the reference of the differential tests -------------------------------------

#: the published release whose semantics the differential tests compare against
TDP_WHEEL = "tdp_core-17.0.0-py3-none-any.whl"
TDP_PACKAGE = "tdp17ref"
PLUGINS = Path(__file__).parent / "plugins"


class _WheelFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``tdp17ref.<module>`` from ``tdp_core/<module>.py`` inside the wheel.

    The wheel is read where it lies: nothing is extracted, installed or committed, and our own
    ``tdp_core`` shim stays what ``import tdp_core`` gives.
    """

    def __init__(self, wheel: Path) -> None:
        self.wheel = wheel
        self.zip = zipfile.ZipFile(wheel)
        self.names = set(self.zip.namelist())

    def find_spec(self, fullname: str, path: object, target: object = None) -> ModuleSpec | None:
        if fullname == TDP_PACKAGE:
            return ModuleSpec(fullname, self, is_package=True)
        if not fullname.startswith(TDP_PACKAGE + "."):
            return None
        inner = "tdp_core" + fullname[len(TDP_PACKAGE):].replace(".", "/")
        for origin, package in ((inner + "/__init__.py", True), (inner + ".py", False)):
            if origin in self.names:
                return ModuleSpec(fullname, self, origin=origin, is_package=package)
        return None

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        spec = module.__spec__
        if spec.submodule_search_locations is not None:
            module.__path__ = []
        if module.__name__ == TDP_PACKAGE:
            return  # the real __init__ starts a FastAPI app; its modules are what we need
        source = self.zip.read(spec.origin).decode("utf-8")
        exec(compile(source, f"{self.wheel}/{spec.origin}", "exec"), module.__dict__)


def _tdp_wheel() -> Path:
    folder = Path(sys.prefix) / "reference"
    wheel = folder / TDP_WHEEL
    if not wheel.is_file():  # once per virtualenv, from PyPI with pip itself
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "tdp-core==17.0.0", "-d", str(folder)], check=True, timeout=300)
    return wheel


@pytest.fixture(scope="session")
def tdp17() -> types.SimpleNamespace:
    """tdp_core 17's ``dbview``, ``sql_filter``, ``db``, ``utils`` and ``manager`` modules."""
    if not any(isinstance(f, _WheelFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _WheelFinder(_tdp_wheel()))
    # dbview.py imports current_user/is_logged_in of tdp_core.security (the real one needs
    # FastAPI); they are only called by DBView.can_access, which the tests never reach
    security = types.ModuleType("tdp_core.security")
    security.current_user = security.is_logged_in = _never  # type: ignore[attr-defined]
    sys.modules["tdp_core.security"] = security
    try:
        modules = {name: importlib.import_module(f"{TDP_PACKAGE}.{name}")
                   for name in ("manager", "utils", "dbview", "sql_filter", "db")}
    finally:
        del sys.modules["tdp_core.security"]
    return types.SimpleNamespace(**modules)


def _never(*args: object) -> None:
    raise AssertionError("the reference's security is not part of the comparison")


class _Sessions(sa.orm.Session):
    # tdp_core 17 was written for SQLAlchemy 1.4, whose rows were indexed by column name
    def execute(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().execute(*args, **kwargs).mappings()


class _DBManager:
    """What tdp_core 17's ``manager.db`` offers ``db.py``: its connectors and their engine."""

    def __init__(self, connectors: dict[str, Any], engine: sa.Engine) -> None:
        self.connectors = connectors
        self._engine = engine

    def connector_and_engine(self, name: str) -> tuple[Any, sa.Engine]:
        return self.connectors[name], self._engine

    def engine(self, name: str) -> sa.Engine:
        return self._engine

    def create_session(self, engine: sa.Engine) -> sa.orm.Session:
        return _Sessions(bind=engine)


class Tdp17:
    """The ``publiclike`` connector served by tdp_core 17's own ``db.py`` over ``url``.

    On PostgreSQL it uses psycopg2, the driver of a TDP 17 deployment (tuples for ``IN``).
    """

    def __init__(self, ref: types.SimpleNamespace, url: str) -> None:
        from tdpconn.views import build

        self.ref = ref
        backend = self.backend = sa.engine.make_url(url).get_backend_name()
        reference_url = url.replace("postgresql+psycopg://", "postgresql+psycopg2://")
        self.engine = sa.create_engine(reference_url)
        views, agg, mappings = build(ref.dbview, backend)
        self.connector = ref.dbview.DBConnector(views, agg, mappings)
        self.manager = _DBManager({"publiclike": self.connector}, self.engine)

    def call(self, name: str, *args: Any) -> tuple[int, Any]:
        """``(status, answer)`` of ``db.<name>("publiclike", *args)``; 500 for a crash."""
        from werkzeug.exceptions import HTTPException

        self.ref.manager.db = self.manager
        try:
            return 200, getattr(self.ref.db, name)("publiclike", *args)
        except HTTPException as exc:
            return int(exc.code or 500), None
        except Exception:  # noqa: BLE001 - TDP answered a 500
            return 500, None

    def score(self, view: str, values: Any, target: str) -> tuple[int, Any]:
        """``/score``: the rows mapped to ``target`` by TDP's own mapping manager."""
        status, answer = self.call("get_filtered_data", view, values)
        if status != 200:
            return status, None
        mapping_table = importlib.import_module(f"{TDP_PACKAGE}.mapping_table")
        manager = importlib.import_module(f"{TDP_PACKAGE}.id_mapping.manager")
        self.ref.manager.id_mapping = manager.MappingManager(mapping_table.SQLMappingProvider())
        rows, found = answer
        if target == found.idtype:  # as the route: only other id types are mapped
            return 200, rows
        return 200, self.ref.utils.map_scores(rows, found.idtype, target)

    def desc(self, view: str) -> dict[str, Any]:
        """The view's ``dump`` after TDP derived the connector's columns (as ``/desc``)."""
        self.ref.manager.db = self.manager
        _, _, found = self.ref.db.resolve_view("publiclike", view)
        return dict(found.dump(view))

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def publiclike_url(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture connector's tables in a fresh database of each backend, per module."""
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))
    from tdpconn.data import write

    with fresh_database(request.param, tmp_path_factory.mktemp("publiclike")) as url:
        write(url)
        yield url


@pytest.fixture(scope="module")
def publiclike(publiclike_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app serving the fixture connector ``publiclike`` (and the tutorial plugin)."""
    sys.modules.pop("tdpconn.sql", None)  # it builds its views for its database at import
    users = users_config()
    users["core_server"]["server_db"] = publiclike_url
    app = create_app({"tdpconn": {"dburl": publiclike_url}, **users},
                     plugins_dirs=[PLUGINS], data_dir=tmp_path_factory.mktemp("data"))
    app.config["TESTING"] = True
    yield app
    app.extensions["core_server"].dbviews.dispose()


@pytest.fixture(scope="module")
def reference(tdp17: types.SimpleNamespace, publiclike_url: str) -> Iterator[Tdp17]:
    """tdp_core 17 serving the same connector over the same database."""
    ref = Tdp17(tdp17, publiclike_url)
    yield ref
    ref.dispose()
