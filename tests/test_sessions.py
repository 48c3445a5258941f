"""Server-side sessions: logout, a password change and a removed user end a session everywhere.

Two apps on one server database stand for two workers (or hosts); each test runs on SQLite,
PostgreSQL and MariaDB. The same in real processes: tests/test_two_workers.py.
"""

from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from core_server.app import create_app
from core_server.security._serverdb import ServerDb
from core_server.security._sessions import TABLE_NAME
from core_server.security._sessions import SessionStore
from core_server.security._throttle import ServerDbStorage
from core_server.security._tokens import TokenStore
from core_server.testing import DEMO_INIT
from core_server.testing import DEMO_SCHEMAS
from core_server.testing import login
from core_server.testing import run_at_once
from core_server.testing import logout
from core_server.testing import temporary_plugin
from core_server.testing import users_config

SECRET = "test-secret-key-for-sessions"
COOKIE = "core_server_session"


@pytest.fixture
def plugins(tmp_path: Path):
    with temporary_plugin(tmp_path / "plugins", "ds_test_plugin", DEMO_INIT,
                          {"schemas.py": DEMO_SCHEMAS}) as root:
        yield root


def _worker(tmp_path: Path, db_url: str, plugins: Path | None = None, users=None,
            entries: list | None = None, **security):
    config = users_config(users, **{"session_check_interval": 0, **security})
    if entries is not None:  # the user entries themselves (e.g. another password hash)
        config["core_server"]["security"]["users"] = entries
    config["core_server"].update(secret_key=SECRET, server_db=db_url)
    config["store"] = {"dburl": db_url}
    app = create_app(config, plugins_dirs=[plugins] if plugins else [],
                     data_dir=tmp_path / "data", entry_points=False)
    app.config["TESTING"] = True
    return app


def _dispose(*apps) -> None:
    for app in apps:
        state = app.extensions["core_server"]
        state.security.tokens.dispose()
        if getattr(state, "store", None) is not None:
            state.store.dispose()


def _replay(app, cookie: str, csrf: str):
    """A client of ``app`` that sends a saved session cookie (and its CSRF token)."""
    client = app.test_client()
    client.set_cookie(COOKIE, cookie)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf
    return client


def test_a_cookie_saved_before_logout_is_dead_in_every_worker(tmp_path, db_url, plugins) -> None:
    first, second = (_worker(tmp_path / name, db_url, plugins) for name in ("w1", "w2"))
    try:
        browser = first.test_client()
        csrf = login(browser, "admin")["csrf_token"]
        saved = browser.get_cookie(COOKIE).value
        thief = _replay(second, saved, csrf)
        assert thief.get("/api/loggedinas").get_json()["name"] == "admin"
        logout(browser)
        for worker in (first, second):
            replay = _replay(worker, saved, csrf)
            assert replay.get("/api/loggedinas").get_json() == "not_yet_logged_in"
            created = replay.post("/api/store/notes", json={"title": "after logout"})
            assert created.status_code == 401, created.get_json()
            minted = replay.post("/api/tokens", json={"name": "stolen"})
            assert minted.status_code == 401
    finally:
        _dispose(first, second)


def test_a_new_password_in_one_worker_ends_sessions_in_all(tmp_path, db_url) -> None:
    old = _worker(tmp_path / "old", db_url)
    try:
        viewer, analyst = old.test_client(), old.test_client()
        login(viewer, "viewer")
        login(analyst, "analyst")
        # another worker starts with a new hash for viewer (same password, new salt)
        entries = users_config()["core_server"]["security"]["users"]
        changed = [dict(u, password=generate_password_hash("viewer-password", "pbkdf2:sha256:1000"))
                   if u["name"] == "viewer" else u for u in entries]
        new = _worker(tmp_path / "new", db_url, entries=changed)
        assert viewer.get("/api/loggedinas").get_json() == "not_yet_logged_in"
        assert analyst.get("/api/loggedinas").get_json()["name"] == "analyst"
        again = new.test_client()  # the new password works where the new config runs
        assert login(again, "viewer")["name"] == "viewer"
        _dispose(new)
    finally:
        _dispose(old)


def test_a_removed_user_loses_their_sessions_everywhere(tmp_path, db_url) -> None:
    old = _worker(tmp_path / "old", db_url)
    try:
        viewer = old.test_client()
        login(viewer, "viewer")
        restarted = _worker(tmp_path / "new", db_url, users={"admin": ["admin"],
                                                             "analyst": ["analyst"]})
        assert viewer.get("/api/loggedinas").get_json() == "not_yet_logged_in"
        _dispose(restarted)
    finally:
        _dispose(old)


def test_anonymous_requests_never_ask_the_database_and_sessions_rarely(tmp_path) -> None:
    app = _worker(tmp_path, f"sqlite:///{tmp_path / 'server.sqlite'}",
                  session_check_interval="10s")
    statements: list[str] = []
    engine = app.extensions["core_server"].security.tokens.db.engine
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, sql, *rest: statements.append(sql))
    anonymous = app.test_client()
    for _ in range(20):
        assert anonymous.get("/api/loggedinas").status_code == 200
    assert statements == []
    browser = app.test_client()
    login(browser, "viewer")
    statements.clear()
    for _ in range(20):
        assert browser.get("/api/loggedinas").get_json()["name"] == "viewer"
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    _dispose(app)


def test_cookies_without_a_live_session_are_anonymous(tmp_path) -> None:
    app = _worker(tmp_path, f"sqlite:///{tmp_path / 'server.sqlite'}")
    serializer = app.session_interface.get_signing_serializer(app)
    browser = app.test_client()
    login(browser, "admin")
    sessions = app.extensions["core_server"].security.sessions
    for forged in ({"user": "admin"},  # a cookie from before server-side sessions
                   {"user": "admin", "sid": "made-up"},
                   {"user": "analyst", "sid": _session_id(app, browser)}):  # another name
        client = app.test_client()
        client.set_cookie(COOKIE, serializer.dumps(forged))
        assert client.get("/api/loggedinas").get_json() == "not_yet_logged_in", forged
    now = sessions.clock()
    sessions.clock = lambda: now + sessions.max_age + 1  # the login's "expires" has passed
    assert browser.get("/api/loggedinas").get_json() == "not_yet_logged_in"
    _dispose(app)


def _session_id(app, client) -> str:
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(client.get_cookie(COOKIE).value)["sid"]


def test_the_table_keeps_digests_not_session_ids(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'server.sqlite'}"
    app = _worker(tmp_path, url)
    browser = app.test_client()
    login(browser, "viewer")
    session_id = _session_id(app, browser)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT id, user_name FROM {TABLE_NAME}")).all()
    engine.dispose()
    assert [row.user_name for row in rows] == ["viewer"]
    assert session_id not in rows[0].id and len(rows[0].id) == 64
    logout(browser)
    _dispose(app)


def test_many_workers_create_the_tables_at_once(db_url) -> None:
    # One connection each, as many processes would have: the race is in the database.
    dbs = [ServerDb(db_url) for _ in range(6)]
    for db in dbs:
        TokenStore(db, "secret", 60), SessionStore(db, 60, 0), ServerDbStorage(db=db)
    assert run_at_once([db.create_tables for db in dbs]) == []
    with dbs[0].engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    for db in dbs:
        db.dispose()
    assert {"core_server_api_tokens", TABLE_NAME, "core_server_login_counters"} <= tables
