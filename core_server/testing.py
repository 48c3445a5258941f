"""Test helpers for core_server and plugin authors (a pytest plugin, registered as ``core_server``).

Fixtures:

- ``app_config``: the highest config layer for ``app``; override it in a conftest to add settings.
- ``app``: ``create_app(app_config)`` over a temporary data dir, with installed plugins and the
  workspace ``./plugins`` folder.
- ``client``: ``app.test_client()``; ``runner``: click's ``CliRunner``; ``registry``.
- ``db_url``: a fresh, empty database namespace, parametrized over ``sqlite``, ``postgresql`` and
  ``mysql`` (DSNs from ``CORE_SERVER_TEST_PG`` / ``CORE_SERVER_TEST_MYSQL``). Unset DSNs skip
  locally; with ``CORE_SERVER_REQUIRE_DBS=1`` (CI) they fail instead.

Document store: :func:`store_app` (an app with the :data:`DEMO_SCHEMAS` collections, or your own,
over a store database) and :func:`serve` (a real threaded HTTP server for concurrency tests).

Races and restarts: :func:`run_at_once` (callables released together from threads) and
:func:`backend_pids` / :func:`terminate_backends` (end a PostgreSQL connection from the server
side, as a restart does).

Users (see :func:`users_config`, :func:`login`, :func:`create_token`, :func:`bearer`)::

    @pytest.fixture
    def app_config():
        return users_config(anonymous_read=False, rules={"db:mydb/*": {"read": "analyst"}})

    def test_analyst_reads(client):
        login(client, "analyst")           # password "analyst-password"
        assert client.get("/api/db/mydb/mytable").status_code == 200
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from core_server.app import create_app
from core_server.config import merge
from core_server.registry import Registry

BACKENDS = ("sqlite", "postgresql", "mysql")
_DSN_ENV = {"postgresql": "CORE_SERVER_TEST_PG", "mysql": "CORE_SERVER_TEST_MYSQL"}


@contextmanager
def temporary_plugin(root: Path, name: str, init: str,
                     files: dict[str, str] | None = None) -> Iterator[Path]:
    """Write a plugin package ``name`` under ``root`` and yield ``root`` (a plugins dir).

    :param init: the source of its ``__init__.py`` (dedented).
    :param files: more files inside the package, e.g. ``{"views.py": "..."}``.
    On exit the package is removed and unimported, so tests never leak plugins into each other.
    """
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(init), encoding="utf-8")
    for relative, source in (files or {}).items():
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source), encoding="utf-8")
    try:
        yield root
    finally:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]
        if str(root.resolve()) in sys.path:
            sys.path.remove(str(root.resolve()))
        shutil.rmtree(package, ignore_errors=True)


def backend_url(backend: str) -> str | None:
    """The configured server DSN for ``backend`` (None for sqlite or when unset)."""
    env = _DSN_ENV.get(backend)
    return os.environ.get(env) if env else None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say why tests were skipped (grouped by reason) and how to run the database-backed ones."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 \
            else "skipped"
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return
    terminalreporter.write_line("skipped: " + "; ".join(
        f"{count} x {reason}" for reason, count in sorted(reasons.items())))
    if any(env in reason for reason in reasons for env in _DSN_ENV.values()):
        terminalreporter.write_line(
            "  to run them: CORE_SERVER_TEST_PG=postgresql+psycopg://postgres@127.0.0.1:5432/test "
            "CORE_SERVER_TEST_MYSQL=mysql+pymysql://root@127.0.0.1:3306/test "
            "(core_server's repository: make test-all uses the local servers)")


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new empty database namespace on ``backend`` and drop it afterwards.

    PostgreSQL: a new schema selected through ``search_path``; MariaDB: a new database.
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    server = backend_url(backend)
    if not server:
        message = f"{_DSN_ENV[backend]} is not set"
        if os.environ.get("CORE_SERVER_REQUIRE_DBS"):
            pytest.fail(message + " (CORE_SERVER_REQUIRE_DBS=1)")
        pytest.skip(message)
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    url = sa.engine.make_url(server)
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
                url = url.update_query_dict({"options": f"-csearch_path={name}"})
            else:
                conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
                url = url.set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            drop = f'DROP SCHEMA IF EXISTS "{name}" CASCADE' if backend == "postgresql" \
                else f"DROP DATABASE IF EXISTS `{name}`"
            conn.execute(sa.text(drop))
        admin.dispose()


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra config for the ``app`` fixture (override in a conftest)."""
    return {}


@pytest.fixture
def app(app_config: dict[str, Any], tmp_path: Path) -> Iterator[Flask]:
    """A core_server app over a temporary data dir."""
    application = create_app(app_config, data_dir=tmp_path / "data")
    application.config["TESTING"] = True
    yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The app's test client."""
    return app.test_client()


@pytest.fixture
def registry(app: Flask) -> Registry:
    """The app's plugin registry."""
    return app.extensions["core_server"].registry  # type: ignore[no-any-return]


@pytest.fixture
def runner() -> CliRunner:
    """A click CliRunner for ``core_server.cli.main``."""
    return CliRunner()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database on each backend (see module docs)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


# --- users ------------------------------------------------------------------------------------

#: The users :func:`users_config` creates by default: name -> roles. Passwords: ``<name>-password``.
DEFAULT_USERS: dict[str, list[str]] = {"admin": ["admin"], "analyst": ["analyst"], "viewer": []}


def password_of(name: str) -> str:
    """The password :func:`users_config` gives user ``name``."""
    return f"{name}-password"


@cache
def quick_hash(password: str) -> str:
    """A werkzeug hash that is fast to check (tests only; real users get scrypt)."""
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


def users_config(users: Mapping[str, list[str]] | None = None, **security: Any) -> dict[str, Any]:
    """Config with users (default :data:`DEFAULT_USERS`) and more ``core_server.security`` keys.

    :param users: name -> roles; each password is :func:`password_of` the name.
    :param security: e.g. ``anonymous_read=False``, ``rules={...}``.
    """
    entries = [{"name": name, "password": quick_hash(password_of(name)), "roles": list(roles)}
               for name, roles in (DEFAULT_USERS if users is None else users).items()]
    return {"core_server": {"security": {"users": entries, **security}}}


def login(client: FlaskClient, name: str, password: str | None = None, *,
          csrf: bool = True) -> dict[str, Any]:
    """Log ``client`` in as ``name`` (asserting success) and return the login answer.

    :param csrf: send the session's CSRF token with every later request of ``client``, as a
        browser page of the server would; False to test the CSRF check itself.
    """
    response = client.post("/api/login", json={"username": name,
                                               "password": password or password_of(name)})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    if csrf:
        client.environ_base["HTTP_X_CSRF_TOKEN"] = body["csrf_token"]
    return body


def logout(client: FlaskClient) -> None:
    """Log ``client`` out."""
    response = client.post("/api/logout")
    assert response.status_code == 200, response.get_data(as_text=True)
    client.environ_base.pop("HTTP_X_CSRF_TOKEN", None)


def create_token(client: FlaskClient, **body: Any) -> dict[str, Any]:
    """Create an API token with the logged-in ``client``: ``{"token", "id", "expires", "name"}``."""
    response = client.post("/api/tokens", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def bearer(token: str | Mapping[str, Any]) -> dict[str, str]:
    """Headers that authenticate with ``token`` (the string, or :func:`create_token`'s answer)."""
    value = token if isinstance(token, str) else token["token"]
    return {"Authorization": f"Bearer {value}"}


# --- document store ---------------------------------------------------------------------------

#: Writes by anonymous users are allowed (login does not exist in these tests).
OPEN_WRITES: dict[str, Any] = {"core_server": {"security": {"anonymous_write": True}}}

#: The spec's example collections and a few more for references, hooks and actions.
DEMO_SCHEMAS = '''
USERS = {"fields": {"login": {"type": "string", "required": True, "max_length": 50},
                    "email": {"type": "string", "rights": {"read": ["admin"], "write": ["admin"]}},
                    "roles": {"type": "list", "items": "string"}},
         "indexes": [{"fields": ["login"], "unique": True}]}
PLUGINS = {"name": "plugins", "fields": {
    "name": {"type": "string", "required": True, "max_length": 200},
    "age": {"type": "int", "min": 0}, "city": {"type": "string"},
    "score": {"type": "float"}, "active": {"type": "bool"}, "born": {"type": "datetime"},
    "tags": {"type": "list", "items": "string", "indexed": True},
    "owner": {"type": "ref", "collection": "users", "required": True},
    "meta": {"type": "dict", "fields": {"color": {"type": "string", "enum": ["red", "blue"]}}}},
    "indexes": [{"fields": ["name"], "unique": True}, {"fields": ["age", "city:desc"]}],
    "rights": {"read": "any"}}
TEAMS = {"fields": {"name": {"type": "string", "required": True},
                    "members": {"type": "refs", "collection": "users", "on_delete": "unlink"},
                    "lead": {"type": "ref", "collection": "users", "on_delete": "set_null",
                             "nullable": True}}}
PROJECTS = {"fields": {"name": {"type": "string"},
                       "team": {"type": "ref", "collection": "teams", "on_delete": "cascade"},
                       "parent": {"type": "ref", "collection": "projects",
                                  "on_delete": "cascade", "nullable": True}}}
TASKS = {"fields": {"title": {"type": "string", "required": True},
                    "project": {"type": "ref", "collection": "projects", "on_delete": "cascade"}},
         "hooks": {"before_delete": "ds_test_plugin.schemas:refuse_locked"}}
NOTES = {"fields": {"title": {"type": "string", "required": True},
                    "n": {"type": "int", "default": 0}, "log": {"type": "list", "items": "string"}},
         "hooks": {"before_create": "ds_test_plugin.schemas:stamp"},
         "actions": {"increment": {"params": {"by": {"type": "int", "required": True, "min": 1}},
                                   "handler": "ds_test_plugin.schemas:increment"}},
         "selections": {"brief": {"fields": ["title", "n"], "filter": {"n": {"$gte": 0}},
                                  "sort": ["-n"]}},
         "rights": {"delete": ["admin"]}}


COUNTERS = {"fields": {"name": {"type": "string", "required": True},
                       "value": {"type": "int", "default": 0},
                       "mirror": {"type": "int", "default": 0}}}


def refuse_locked(tx, doc):
    if doc.get("title") == "locked":
        raise ValueError("task is locked")


def stamp(tx, doc):
    doc.setdefault("log", []).append("created")


def increment(tx, doc, params):
    new = tx.patch("notes", doc["_id"], {"n": doc["n"] + params["by"]})
    return new["n"]


def users(): return USERS
def plugins(): return PLUGINS
def teams(): return TEAMS
def projects(): return PROJECTS
def tasks(): return TASKS
def notes(): return NOTES
def counters(): return COUNTERS
'''

DEMO_INIT = '''
def register(registry):
    for name in ("users", "plugins", "teams", "projects", "tasks", "notes", "counters"):
        registry.append("doc-collection", name, "ds_test_plugin.schemas", {"factory": name})
'''

_counter = itertools.count()


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug's threaded server on 127.0.0.1; yield its base URL."""
    # port 0: the kernel picks a free one (parallel test runs never collide)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@contextmanager
def store_app(tmp_path: Path, db_url: str, config: dict[str, Any] | None = None, *,
              init: str = DEMO_INIT, files: dict[str, str] | None = None,
              name: str = "ds_test_plugin") -> Iterator[Flask]:
    """An app whose store lives at ``db_url`` with the demo collections (or ``files``)."""
    root = tmp_path / f"plugins{next(_counter)}"
    root.mkdir()
    layers = merge(merge({}, OPEN_WRITES), {"store": {"dburl": db_url}})
    with temporary_plugin(root, name, init, files or {"schemas.py": DEMO_SCHEMAS}):
        app = create_app(merge(layers, config or {}), plugins_dirs=[root],
                         data_dir=tmp_path / "data", entry_points=False)
        app.config["TESTING"] = True
        try:
            yield app
        finally:
            app.extensions["core_server"].store.dispose()


#: What a slow client sends before it stalls: headers cut short, or headers and part of a body.
SLOW_PARTIALS = (b"GET /api/_health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                 b"POST /api/store/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n{")


def slow_clients(address: tuple[str, int], count: int, stop: threading.Event) -> None:
    """Start ``count`` daemon threads that each send part of a request to ``address`` and then
    one byte a second, never finishing (reconnecting when cut off), until ``stop`` is set.

    Half stall in the headers, half in the body (:data:`SLOW_PARTIALS`).
    """
    def hold(partial: bytes) -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(address, timeout=5) as sock:
                    sock.sendall(partial)
                    while not stop.wait(1.0):
                        sock.sendall(b"a")
            except OSError:  # cut off by a client timeout, or refused: come back
                stop.wait(0.2)

    for index in range(count):
        threading.Thread(target=hold, args=(SLOW_PARTIALS[index % 2],), daemon=True).start()


def run_at_once(work: Iterable[Callable[[], object]]) -> list[BaseException]:
    """Run the callables in threads released together by one barrier; the errors they raised.

    For race tests (tables created by several processes, unique checks): the calls overlap as
    closely as threads allow; each thread is waited for at most 60 s.
    """
    calls = list(work)
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait(timeout=30)
        try:
            call()
        except BaseException as exc:  # collected for the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def in_transaction(conn: Any) -> bool | None:
    """Whether the driver connection under the SQLAlchemy ``conn`` is inside a transaction
    (``None``: a driver that does not say, MariaDB's)."""
    dbapi = conn.connection.dbapi_connection
    if hasattr(dbapi, "in_transaction"):  # sqlite3
        return bool(dbapi.in_transaction)
    status = getattr(getattr(dbapi, "info", None), "transaction_status", None)
    return None if status is None else status != 0  # psycopg: 0 idle, 2 in a transaction


def backend_pids(connections: Iterable[Any]) -> list[int]:
    """The PostgreSQL server process of each DBAPI connection (its query committed)."""
    pids = []
    for conn in connections:
        cursor = conn.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        pids.append(cursor.fetchone()[0])
        cursor.close()
        conn.commit()
    return pids


def terminate_backends(url: str, pids: Iterable[int]) -> None:
    """End those server processes of the PostgreSQL server at ``url``, as a restart would: only
    the given ones, since the database may be shared with other tests. Each is waited for
    (up to 5 s, PostgreSQL 14+): its connection is closed when this returns."""
    import psycopg  # only PostgreSQL tests need the driver here
    from sqlalchemy.engine import make_url

    parts = make_url(url)
    with psycopg.connect(host=parts.host, port=parts.port, user=parts.username,
                         dbname=parts.database, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
