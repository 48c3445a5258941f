"""API tokens: issue, use, list, expire, revoke; revocations live in the server database."""

from pathlib import Path

import pytest
import sqlalchemy as sa

from core_server.app import create_app
from core_server.testing import bearer
from core_server.testing import create_token
from core_server.testing import login
from core_server.testing import users_config
from core_server.security._tokens import TABLE_NAME

SECRET = "test-secret-key-for-tokens"


def _app(tmp_path: Path, server_db: str | None = None, secret: str = SECRET, **security):
    config = users_config(**security)
    config["core_server"]["secret_key"] = secret
    if server_db:
        config["core_server"]["server_db"] = server_db
    app = create_app(config, plugins_dirs=[], data_dir=tmp_path / "d", entry_points=False)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def server(tmp_path: Path, db_url: str):
    app = _app(tmp_path, db_url)
    yield app
    app.extensions["core_server"].security.tokens.dispose()


def _rows(db_url: str) -> list:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f"SELECT id, user_name, name, revoked FROM "
                                             f"{TABLE_NAME} ORDER BY created, id")))
    finally:
        engine.dispose()


def test_token_lifecycle_on_each_backend(server, db_url: str) -> None:
    browser = server.test_client()
    login(browser, "analyst")
    first = create_token(browser, name="laptop")
    second = create_token(browser)
    assert set(first) == {"token", "id", "name", "expires"} and first["name"] == "laptop"
    api = server.test_client()  # no cookies: only the token
    me = api.get("/api/loggedinas", headers=bearer(first)).get_json()
    assert me == {"name": "analyst", "roles": ["analyst"], "auth": "token"}
    listed = api.get("/api/tokens", headers=bearer(first)).get_json()
    assert {t["id"] for t in listed} == {first["id"], second["id"]}
    assert all("token" not in t and t["expired"] is False for t in listed)
    # revoke with the token itself; the revocation is a row in the server database
    assert api.delete(f"/api/tokens/{first['id']}", headers=bearer(first)).status_code == 204
    rows = {row.id: row for row in _rows(db_url)}
    assert rows[first["id"]].revoked is not None and rows[second["id"]].revoked is None
    assert rows[first["id"]].user_name == "analyst" and rows[first["id"]].name == "laptop"
    refused = api.get("/api/loggedinas", headers=bearer(first))
    assert refused.status_code == 401
    assert refused.get_json()["error"]["message"] == "the API token has been revoked"
    assert [t["id"] for t in browser.get("/api/tokens").get_json()] == [second["id"]]
    assert api.delete(f"/api/tokens/{first['id']}", headers=bearer(second)).status_code == 404


def test_revocation_is_seen_by_another_app_on_the_same_database(server, tmp_path, db_url) -> None:
    browser = server.test_client()
    login(browser, "viewer")
    token = create_token(browser)
    other = _app(tmp_path / "worker2", db_url)  # another worker / a restart, same secret and DB
    try:
        assert other.test_client().get("/api/loggedinas", headers=bearer(token)).status_code == 200
        assert browser.delete(f"/api/tokens/{token['id']}").status_code == 204
        again = other.test_client().get("/api/loggedinas", headers=bearer(token))
        assert again.status_code == 401
    finally:
        other.extensions["core_server"].security.tokens.dispose()


def test_only_own_tokens_unless_admin(server) -> None:
    app = server
    analyst, viewer, admin = app.test_client(), app.test_client(), app.test_client()
    login(analyst, "analyst"), login(viewer, "viewer"), login(admin, "admin")
    token = create_token(analyst)
    assert viewer.get("/api/tokens").get_json() == []
    missing = viewer.delete(f"/api/tokens/{token['id']}")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert admin.delete(f"/api/tokens/{token['id']}").status_code == 204
    assert app.test_client().get("/", headers=bearer(token)).status_code == 401


def test_expiry(tmp_path: Path, db_url: str) -> None:
    app = _app(tmp_path, db_url, token_max_age=3600)
    store = app.extensions["core_server"].security.tokens
    try:
        _check_expiry(app, store)
    finally:
        store.dispose()


def _check_expiry(app, store) -> None:
    client = app.test_client()
    login(client, "analyst")
    capped = create_token(client, expires_in=10 ** 9)
    short = create_token(client, expires_in=60)
    now = store.clock()
    api = app.test_client()
    assert api.get("/api/loggedinas", headers=bearer(short)).status_code == 200
    store.clock = lambda: now + 61
    expired = api.get("/api/loggedinas", headers=bearer(short))
    assert expired.status_code == 401
    assert expired.get_json()["error"]["message"] == "the API token has expired"
    listed = {t["id"]: t["expired"] for t in client.get("/api/tokens").get_json()}
    assert listed == {capped["id"]: False, short["id"]: True}
    assert api.get("/api/loggedinas", headers=bearer(capped)).status_code == 200
    store.clock = lambda: now + 3601  # token_max_age caps what was asked for
    assert api.get("/api/loggedinas", headers=bearer(capped)).status_code == 401


def test_forged_and_foreign_tokens(tmp_path: Path) -> None:
    app = _app(tmp_path)
    client = app.test_client()
    login(client, "analyst")
    token = create_token(client)["token"]
    payload, _, signature = token.rpartition(".")
    # claim to be admin with the analyst's signature
    import base64
    forged_payload = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "==").replace(b"analyst", b"admin")).rstrip(b"=")
    other_server = _app(tmp_path / "other", secret="another-secret")
    foreign = other_server.test_client()
    login(foreign, "admin")
    foreign_token = create_token(foreign)["token"]
    api = app.test_client()
    for bad in (token[:-2] + "xx", forged_payload.decode() + "." + signature, "garbage",
                foreign_token, "a.b.c"):
        response = api.get("/api/loggedinas", headers=bearer(bad))
        assert response.status_code == 401, bad
        assert response.get_json()["error"]["message"] == "the API token is invalid"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    empty = api.get("/api/loggedinas", headers={"Authorization": "Bearer "})
    assert empty.status_code == 401


def test_token_of_another_database_is_unknown(tmp_path: Path) -> None:
    first = _app(tmp_path / "a")
    client = first.test_client()
    login(client, "viewer")
    token = create_token(client)
    second = _app(tmp_path / "b")  # same secret, different server database
    response = second.test_client().get("/api/loggedinas", headers=bearer(token))
    assert response.status_code == 401
    assert "unknown" in response.get_json()["error"]["message"]


def test_token_of_a_removed_user(tmp_path: Path) -> None:
    app = _app(tmp_path)
    client = app.test_client()
    login(client, "viewer")
    token = create_token(client)
    config = users_config({"admin": ["admin"]})
    config["core_server"].update(secret_key=SECRET,
                                 server_db=app.extensions["core_server"].config.get_path(
                                     "core_server.server_db"))
    # one worker restarts with the user removed: it revokes their tokens in the server database,
    # so a worker still running the old config refuses them as well
    restarted = create_app(config, plugins_dirs=[], data_dir=tmp_path / "d", entry_points=False)
    for worker in (restarted, app):
        response = worker.test_client().get("/api/loggedinas", headers=bearer(token))
        assert response.status_code == 401
        assert response.get_json()["error"]["message"] == "the API token has been revoked"


def test_token_of_a_user_removed_in_a_provider(tmp_path: Path) -> None:
    app = _app(tmp_path)
    client = app.test_client()
    login(client, "viewer")
    token = create_token(client)
    security = app.extensions["core_server"].security
    security.providers[0]._users.pop("viewer")  # the store forgets the user while running
    response = app.test_client().get("/api/loggedinas", headers=bearer(token))
    assert response.status_code == 401
    assert "no longer exists" in response.get_json()["error"]["message"]


def test_token_routes_need_a_login(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    for method in ("get", "post"):
        response = getattr(client, method)("/api/tokens")
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.delete("/api/tokens/abc").status_code == 401


def test_tokens_are_created_from_a_session_only(tmp_path: Path) -> None:
    app = _app(tmp_path)
    client = app.test_client()
    login(client, "analyst")
    token = create_token(client)
    response = app.test_client().post("/api/tokens", headers=bearer(token))
    assert response.status_code == 403


@pytest.mark.parametrize("body", [{"expires_in": 0}, {"expires_in": "1d"}, {"expires_in": True},
                                  {"name": 5}, {"name": "x" * 256}, [1]])
def test_bad_token_options_are_400(tmp_path: Path, body) -> None:
    client = _app(tmp_path).test_client()
    login(client, "analyst")
    response = client.post("/api/tokens", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_value"


def test_non_json_token_body_is_415(tmp_path: Path) -> None:
    client = _app(tmp_path).test_client()
    login(client, "analyst")
    response = client.post("/api/tokens", data="name=x", content_type="text/plain")
    assert response.status_code == 415


def test_other_authorization_schemes_are_ignored(tmp_path: Path) -> None:
    # e.g. Basic credentials of an authenticating reverse proxy in front of the server
    client = _app(tmp_path).test_client()
    response = client.get("/api/loggedinas", headers={"Authorization": "Basic YTpi"})
    assert response.status_code == 200 and response.get_json() == "not_yet_logged_in"


def test_unreachable_server_db_is_503_and_the_server_starts(tmp_path: Path) -> None:
    app = _app(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:9/nodb?connect_timeout=2")
    client = app.test_client()
    assert client.get("/api/_health").status_code == 200
    assert client.get("/api/loggedinas").get_json() == "not_yet_logged_in"  # anonymous: no DB
    # sessions and login counters live in the server database: logins wait for it
    response = client.post("/api/login", json={"username": "analyst",
                                               "password": "analyst-password"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "db_unavailable"
    deep = client.get("/api/_health?deep=1")
    assert deep.status_code == 503 and deep.get_json()["checks"]["server_db"] != "ok"


def test_lowering_token_max_age_shortens_existing_tokens(tmp_path: Path) -> None:
    app = _app(tmp_path, token_max_age=3600)
    client = app.test_client()
    login(client, "viewer")
    token = create_token(client)
    config = users_config(token_max_age=60)
    config["core_server"].update(secret_key=SECRET,
                                 server_db=app.extensions["core_server"].config.get_path(
                                     "core_server.server_db"))
    restarted = create_app(config, plugins_dirs=[], data_dir=tmp_path / "d", entry_points=False)
    store = restarted.extensions["core_server"].security.tokens
    api = restarted.test_client()
    assert api.get("/api/loggedinas", headers=bearer(token)).status_code == 200
    now = store.clock()
    store.clock = lambda: now + 61
    response = api.get("/api/loggedinas", headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "the API token has expired"
