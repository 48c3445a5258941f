"""Login, logout, loggedinas, user stores, CSRF and what anonymous users see of the server."""

from pathlib import Path

import pytest
from werkzeug.security import check_password_hash

from core_server.security import _users as userstore
from core_server.app import create_app
from core_server.config import ConfigError
from core_server.testing import login
from core_server.testing import logout
from core_server.testing import password_of
from core_server.testing import quick_hash
from core_server.testing import temporary_plugin
from core_server.testing import users_config


@pytest.fixture
def app_config():
    return users_config()


def _error(response):
    error = dict(response.get_json()["error"])
    error.pop("request_id")
    return error


def test_login_json_sets_session_and_loggedinas(client) -> None:
    assert client.get("/api/loggedinas").get_json() == "not_yet_logged_in"
    response = client.post("/api/login", json={"username": "analyst",
                                               "password": "analyst-password"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "analyst" and body["roles"] == ["analyst"]
    assert body["csrf_token"] and body["expires"].endswith("Z")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("core_server_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("core_server_csrf="))
    assert "HttpOnly" not in csrf_cookie  # scripts of the page read it (double submit)
    me = client.get("/api/loggedinas").get_json()
    assert me == {"name": "analyst", "roles": ["analyst"], "auth": "session",
                  "csrf_token": body["csrf_token"]}
    assert client.post("/api/loggedinas").get_json()["name"] == "analyst"  # TDP clients POST


def test_login_form(client) -> None:
    response = client.post("/api/login", data={"username": "admin",
                                               "password": "admin-password", "remember": "on"})
    assert response.status_code == 200 and response.get_json()["roles"] == ["admin"]


def test_wrong_password_and_unknown_user_answer_alike(client) -> None:
    wrong = client.post("/api/login", json={"username": "admin", "password": "nope"})
    unknown = client.post("/api/login", json={"username": "mallory", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert _error(wrong) == _error(unknown) == {
        "status": 401, "code": "unauthorized", "message": "wrong user name or password"}
    assert wrong.headers.get("Set-Cookie") is None and unknown.headers.get("Set-Cookie") is None
    assert client.get("/api/loggedinas").get_json() == "not_yet_logged_in"


def test_unknown_user_costs_one_hash_check_of_the_same_method(client, monkeypatch) -> None:
    checked: list[str] = []

    def spy(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$", 1)[0])
        return check_password_hash(pwhash, password)

    monkeypatch.setattr(userstore, "check_password_hash", spy)
    for name in ("admin", "mallory", "nobody"):
        client.post("/api/login", json={"username": name, "password": "nope"})
    assert checked == ["pbkdf2:sha256:1000"] * 3


@pytest.mark.parametrize("body", [
    {"json": {"username": "admin"}}, {"json": {"password": "x"}}, {"json": ["admin", "x"]},
    {"json": {"username": 1, "password": "x"}}, {"data": "username=admin"},
    {"data": b"\x00\xff", "content_type": "application/octet-stream"},
])
def test_login_without_credentials_is_400(client, body) -> None:
    response = client.post("/api/login", **body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_value"


def test_login_with_malformed_json_is_400(client) -> None:
    response = client.post("/api/login", data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_logout_ends_the_session(client) -> None:
    login(client, "viewer")
    assert client.get("/api/loggedinas").get_json()["name"] == "viewer"
    logout(client)
    assert client.get("/api/loggedinas").get_json() == "not_yet_logged_in"


def test_login_replaces_the_previous_session(client) -> None:
    first = login(client, "viewer")
    second = login(client, "analyst")
    assert first["csrf_token"] != second["csrf_token"]
    assert client.get("/api/loggedinas").get_json()["name"] == "analyst"


def test_server_without_users(tmp_path: Path) -> None:
    with temporary_plugin(tmp_path / "p", "emptyplugin", "def register(r):\n    pass\n") as root:
        app = create_app(None, plugins_dirs=[root], data_dir=tmp_path / "d", entry_points=False)
    client = app.test_client()
    response = client.post("/api/login", json={"username": "admin", "password": "x"})
    assert response.status_code == 401
    assert "no users" in response.get_json()["error"]["hint"]
    # everyone is anonymous, so the server details are everyone's
    assert client.get("/api/_config").status_code == 200
    (plugin,) = client.get("/api/_plugins").get_json()
    assert plugin["name"] == "emptyplugin" and "path" in plugin


# --- config validation ------------------------------------------------------------------------

@pytest.mark.parametrize(("users", "message"), [
    ([{"name": "admin", "password": "admin-password"}], "werkzeug password hash"),
    ([{"password": quick_hash("x")}], "needs a 'name'"),
    ([{"name": "a", "password": quick_hash("x")}] * 2, "appears twice"),
    ([{"name": "anonymous", "password": quick_hash("x")}], "reserved"),
    ([{"name": "a", "password": quick_hash("x"), "roles": "admin"}], "list of role names"),
])
def test_bad_user_config_is_a_startup_error(tmp_path: Path, users, message) -> None:
    config = {"core_server": {"security": {"users": users}}}
    with pytest.raises(ConfigError, match=message):
        create_app(config, plugins_dirs=[], data_dir=tmp_path, entry_points=False)


def test_password_from_env_secret(tmp_path: Path) -> None:
    config = {"core_server": {"security": {"users": [
        {"name": "ops", "password": {"$env": "OPS_HASH"}, "roles": ["admin"]}]}}}
    app = create_app(config, plugins_dirs=[], data_dir=tmp_path, entry_points=False,
                     environ={"OPS_HASH": quick_hash("opspw")})
    client = app.test_client()
    assert login(client, "ops", "opspw")["roles"] == ["admin"]
    shown = client.get("/api/_config").get_json()["core_server"]["security"]["users"][0]
    assert shown["password"] == "***"


def test_config_never_shows_password_hashes(client) -> None:
    login(client, "admin")
    text = client.get("/api/_config").get_data(as_text=True)
    assert "pbkdf2" not in text
    users = client.get("/api/_config").get_json()["core_server"]["security"]["users"]
    assert [u["password"] for u in users] == ["***"] * 3


# --- server details for anonymous users -------------------------------------------------------

def test_config_is_admin_only_on_a_server_with_users(client) -> None:
    assert client.get("/api/_config").status_code == 401
    login(client, "analyst")
    assert client.get("/api/_config").status_code == 403
    login(client, "admin")
    assert client.get("/api/_config").status_code == 200


def test_plugins_details_are_for_admins(client) -> None:
    summary = client.get("/api/_plugins").get_json()
    assert summary and all(set(p) == {"name", "version", "status", "generation", "errors",
                                       "warnings", "extensions"}
                           for p in summary)
    login(client, "admin")
    full = client.get("/api/_plugins").get_json()
    assert all("path" in p and isinstance(p["errors"], list) for p in full)


def test_config_rule_opens_server_config(tmp_path: Path) -> None:
    config = users_config(rules={"server:config": "analyst"})
    client = create_app(config, plugins_dirs=[], data_dir=tmp_path,
                        entry_points=False).test_client()
    login(client, "analyst")
    assert client.get("/api/_config").status_code == 200


# --- CSRF -------------------------------------------------------------------------------------

def test_cookie_write_needs_csrf_token_or_same_origin(client) -> None:
    token = login(client, "analyst", csrf=False)["csrf_token"]
    refused = client.post("/api/tokens")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    assert client.post("/api/tokens", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/api/tokens", headers={"X-CSRF-Token": "\xe9t\xe9"}).status_code == 403
    foreign = client.post("/api/tokens", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "trusted_origins" in foreign.get_json()["error"]["hint"]
    evil_page = {"Referer": "http://evil.example/x"}
    assert client.post("/api/tokens", headers=evil_page).status_code == 403
    assert client.post("/api/tokens", headers={"Origin": "null"}).status_code == 403
    assert client.post("/api/tokens", headers={"X-CSRF-Token": token}).status_code == 201
    assert client.post("/api/tokens", headers={"Origin": "http://localhost"}).status_code == 201
    assert client.post("/api/tokens",
                       headers={"Referer": "http://localhost/app/index.html"}).status_code == 201
    # reads are never checked
    assert client.get("/api/tokens").status_code == 200


def test_csrf_token_of_another_session_is_refused(client, app) -> None:
    other = app.test_client()
    foreign = login(other, "viewer", csrf=False)["csrf_token"]
    login(client, "analyst", csrf=False)
    assert client.post("/api/tokens", headers={"X-CSRF-Token": foreign}).status_code == 403


def test_bearer_writes_need_no_csrf(client, app) -> None:
    token = login(client, "analyst")
    created = client.post("/api/tokens").get_json()
    plain = app.test_client()
    response = plain.delete(f"/api/tokens/{created['id']}",
                            headers={"Authorization": f"Bearer {created['token']}",
                                     "Origin": "https://evil.example"})
    assert response.status_code == 204 and token


def test_trusted_origins(tmp_path: Path) -> None:
    config = users_config(trusted_origins=["http://localhost:3000/"])
    client = create_app(config, plugins_dirs=[], data_dir=tmp_path,
                        entry_points=False).test_client()
    login(client, "analyst", csrf=False)
    ok = client.post("/api/tokens", headers={"Origin": "http://localhost:3000"})
    assert ok.status_code == 201
    other = client.post("/api/tokens", headers={"Origin": "http://localhost:3001"})
    assert other.status_code == 403


def test_login_from_a_foreign_page_is_refused(client) -> None:
    response = client.post("/api/login", headers={"Origin": "https://evil.example"},
                           json={"username": "admin", "password": password_of("admin")})
    assert response.status_code == 403
    assert client.get("/api/loggedinas").get_json() == "not_yet_logged_in"


def test_logout_is_a_checked_write(client) -> None:
    login(client, "viewer", csrf=False)
    assert client.post("/api/logout").status_code == 403
    assert client.post("/api/logout", headers={"Origin": "http://localhost"}).status_code == 200


# --- security-provider extensions ---------------------------------------------------------------

PROVIDER_INIT = """
def register(registry):
    registry.append('security-provider', 'header_store', '.store')
"""

PROVIDER = """
from core_server.security import User


class HeaderStore:
    # Trusts X-Remote-User as set by an authenticating proxy, and knows one password user.
    def login(self, name, password):
        if name == 'ldapuser' and password == 'ldap-pw':
            return {'name': 'ldapuser', 'roles': ['analyst']}
        return None

    def load(self, name):
        return User(name, frozenset({'analyst'})) if name in ('ldapuser', 'proxied') else None

    def load_from_request(self, request):
        name = request.headers.get('X-Remote-User')
        return self.load(name) if name else None


def create():
    return HeaderStore()
"""


def test_security_provider_extension(tmp_path: Path) -> None:
    with temporary_plugin(tmp_path / "p", "provplugin", PROVIDER_INIT,
                          {"store.py": PROVIDER}) as root:
        app = create_app(users_config(), plugins_dirs=[root], data_dir=tmp_path / "d",
                         entry_points=False)
        client = app.test_client()
        assert login(client, "ldapuser", "ldap-pw")["roles"] == ["analyst"]
        assert client.get("/api/loggedinas").get_json()["name"] == "ldapuser"
        assert login(client, "admin")["roles"] == ["admin"]  # config users still work
        proxied = app.test_client().get("/api/loggedinas", headers={"X-Remote-User": "proxied"})
        assert proxied.get_json() == {"name": "proxied", "roles": ["analyst"], "auth": "request"}


def test_broken_security_provider_is_recorded(tmp_path: Path) -> None:
    init = "def register(r):\n    r.append('security-provider', 'bad', '.store')\n"
    with temporary_plugin(tmp_path / "p", "badprov", init,
                          {"store.py": "def create():\n    return object()\n"}) as root:
        app = create_app(users_config(), plugins_dirs=[root], data_dir=tmp_path / "d",
                         entry_points=False)
        registry = app.extensions["core_server"].registry
        assert "without login()" in registry.plugins["badprov"].errors[0]
        assert login(app.test_client(), "viewer")["name"] == "viewer"


# --- CLI ----------------------------------------------------------------------------------------

def test_hash_password_command(runner) -> None:
    from core_server.cli import main

    result = runner.invoke(main, ["hash-password"], input="pw1\npw1\n")
    assert result.exit_code == 0, result.output
    hashed = result.output.strip().splitlines()[-1]
    assert hashed.startswith("scrypt:") and check_password_hash(hashed, "pw1")
    piped = runner.invoke(main, ["hash-password", "--stdin", "--method", "pbkdf2:sha256"],
                          input="pw2\n")
    assert check_password_hash(piped.output.strip(), "pw2")
    assert runner.invoke(main, ["hash-password", "--stdin"], input="\n").exit_code == 2
    assert runner.invoke(main, ["hash-password", "--stdin", "--method", "md5"],
                         input="x\n").exit_code == 2


# --- namespaces that are whole Flask apps (TDP style) ------------------------------------------

APP_NAMESPACE = """
from flask import Flask
from core_server import security


def create():
    app = Flask(__name__)

    @app.get('/me')
    def me():
        return {'user': security.current_user().name}

    @app.post('/guarded')
    def guarded():
        return {'user': security.check('store:things', 'create').name}

    return app
"""


def test_mounted_namespace_app_knows_the_user(tmp_path: Path) -> None:
    init = ("def register(r):\n    r.append('namespace', 'tdpapp', '.ns', "
            "{'namespace': '/api/tdpapp'})\n")
    with temporary_plugin(tmp_path / "p", "tdpplugin", init, {"ns.py": APP_NAMESPACE}) as root:
        app = create_app(users_config(), plugins_dirs=[root], data_dir=tmp_path / "d",
                         entry_points=False)
        client = app.test_client()
        assert client.get("/api/tdpapp/me").get_json() == {"user": "anonymous"}
        assert client.post("/api/tdpapp/guarded").status_code == 401
        login(client, "analyst", csrf=False)
        assert client.get("/api/tdpapp/me").get_json() == {"user": "analyst"}
        refused = client.post("/api/tdpapp/guarded")  # cookie write without CSRF proof
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf_failed"
        ok = client.post("/api/tdpapp/guarded", headers={"Origin": "http://localhost"})
        assert ok.get_json() == {"user": "analyst"}


def test_openapi_lists_the_security_routes(client) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    for path in ("/api/login", "/api/logout", "/api/loggedinas", "/api/tokens",
                 "/api/tokens/{token_id}"):
        assert path in spec["paths"], path
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "session"}


@pytest.mark.parametrize("rules", [
    {"db:x/y": {"groups": ["a"]}}, {"db:x/y": {"read": 5}}, {"db:x/y": 3}, ["db:x/y"],
])
def test_bad_rules_are_a_startup_error(tmp_path: Path, rules) -> None:
    with pytest.raises(ConfigError, match="core_server.security.rules"):
        create_app(users_config(rules=rules), plugins_dirs=[], data_dir=tmp_path,
                   entry_points=False)


def test_same_origin_behind_a_tls_proxy(tmp_path: Path) -> None:
    config = users_config()
    config["core_server"]["proxy_fix"] = {"x_proto": 1, "x_host": 1}
    client = create_app(config, plugins_dirs=[], data_dir=tmp_path,
                        entry_points=False).test_client()
    login(client, "analyst", csrf=False)
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "data.example.org"}
    page = {"Origin": "https://data.example.org", **proxied}
    assert client.post("/api/tokens", headers=page).status_code == 201
    assert client.post("/api/tokens", headers={"Origin": "https://data.example.org"}).status_code \
        == 403  # without the proxy headers the server is http://localhost


def test_cli_config_never_prints_password_hashes(runner, tmp_path: Path) -> None:
    import json

    from core_server.cli import main

    config_file = tmp_path / "config.json"
    config = users_config()
    config["core_server"]["secret_key"] = "plain-secret"
    config_file.write_text(json.dumps(config))
    for args in ([], ["--json"]):
        result = runner.invoke(main, ["config", "--config", str(config_file), "--plugins-dir",
                                      str(tmp_path / "none"), "--data-dir", str(tmp_path), *args])
        assert result.exit_code == 0, result.output
        assert "pbkdf2" not in result.output and "plain-secret" not in result.output
        assert "***" in result.output
