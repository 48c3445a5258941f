"""Permission levels through HTTP: a test-only collection-like namespace and custom endpoints.

The ``guarded`` namespace guards itself exactly as the document store and the SQL views do:
``security.check("store:<c>", action, rule)`` for the collection and
``security.can("store:<c>.<field>", action, field_rule, fallback=True)`` for fields.
"""

from pathlib import Path

import pytest

from core_server import security
from core_server.app import create_app
from core_server.security import User
from core_server.testing import bearer
from core_server.testing import create_token
from core_server.testing import login
from core_server.testing import temporary_plugin
from core_server.testing import users_config

INIT = """
def register(registry):
    registry.append('namespace', 'guarded', '.guarded', {'namespace': '/api/guarded'})
    registry.append('endpoint', 'open', '.eps', {'route': 'open', 'methods': ['GET', 'POST']})
    registry.append('endpoint', 'analysts', '.eps', {'route': 'analysts/{x:int}',
                    'security': {'roles': ['analyst']}})
    registry.append('endpoint', 'viewer_only', '.eps', {'route': 'viewer',
                    'security': {'users': ['viewer']}})
    registry.append('endpoint', 'by_fn', '.eps', {'route': 'by_fn',
                    'security': lambda user, resource: resource == 'endpoint:by_fn'
                                and user.name.startswith('v')})
    registry.append('endpoint', 'public', '.eps', {'route': 'public', 'methods': ['POST'],
                    'security': False})
"""

EPS = """
def create():
    return lambda request, user, app: {'user': user.name}
"""

GUARDED = """
import itertools

from flask import Blueprint, request
from core_server import security
from core_server.encoding import json_response
from core_server.errors import Forbidden, NotFound

RULES = {
    'notes': None,  # the server default
    'vault': {'read': 'analyst', 'write': 'admin'},
    'diary': lambda user: user.name == 'viewer',
}
FIELDS = {'notes': {'secret': {'read': 'analyst', 'write': 'admin'}}}


def create():
    bp = Blueprint('guarded', __name__)
    docs = {c: {} for c in RULES}
    ids = itertools.count(1)

    def fields_allowed(c, doc, action):
        for name in doc:
            rule = FIELDS.get(c, {}).get(name)
            if not security.can(f'store:{c}.{name}', action, rule, fallback=True):
                raise Forbidden(f'field {name!r} of {c} may not be written')

    def visible(c, doc):
        return {k: v for k, v in doc.items()
                if security.can(f'store:{c}.{k}', 'read', FIELDS.get(c, {}).get(k), fallback=True)}

    @bp.get('/<c>')
    def list_docs(c):
        security.check(f'store:{c}', 'read', RULES[c])
        return json_response([visible(c, d) for d in docs[c].values()])

    @bp.post('/<c>')
    def create_doc(c):
        user = security.check(f'store:{c}', 'create', RULES[c])
        body = request.get_json()
        fields_allowed(c, body, 'create')
        doc = {**body, '_id': next(ids), '_created_by': user.name}
        docs[c][doc['_id']] = doc
        return json_response(visible(c, doc), status=201)

    @bp.put('/<c>/<int:i>')
    def update_doc(c, i):
        security.check(f'store:{c}', 'update', RULES[c])
        body = request.get_json()
        old = docs[c].get(i) or {}
        fields_allowed(c, {k: v for k, v in body.items() if old.get(k) != v}, 'update')
        docs[c][i] = {**old, **body}
        return json_response(visible(c, docs[c][i]))

    @bp.delete('/<c>/<int:i>')
    def delete_doc(c, i):
        security.check(f'store:{c}', 'delete', RULES[c])
        if docs[c].pop(i, None) is None:
            raise NotFound(f'no document {i} in {c}')
        return '', 204

    return bp
"""


def _client(tmp_path: Path, **security_config):
    root = tmp_path / "plugins"
    with temporary_plugin(root, "guardplugin", INIT, {"eps.py": EPS, "guarded.py": GUARDED}):
        app = create_app(users_config(**security_config), plugins_dirs=[root],
                         data_dir=tmp_path / "d", entry_points=False)
    return app


def _as(app, name):
    client = app.test_client()
    if name != "anonymous":
        login(client, name)
    return client


@pytest.fixture
def app(tmp_path: Path):
    return _client(tmp_path)


def _statuses(app, method, url, json=None):
    result = {}
    for name in ("anonymous", "viewer", "analyst", "admin"):
        result[name] = _as(app, name).open(url, method=method, json=json).status_code
    return result


def test_default_levels_read_open_write_needs_login(app) -> None:
    assert _statuses(app, "GET", "/api/guarded/notes") == dict.fromkeys(
        ("anonymous", "viewer", "analyst", "admin"), 200)
    assert _statuses(app, "POST", "/api/guarded/notes", {"t": 1}) == {
        "anonymous": 401, "viewer": 201, "analyst": 201, "admin": 201}


def test_resource_rule_with_read_and_write_actions(app) -> None:
    assert _statuses(app, "GET", "/api/guarded/vault") == {
        "anonymous": 401, "viewer": 403, "analyst": 200, "admin": 200}
    assert _statuses(app, "POST", "/api/guarded/vault", {"t": 1}) == {
        "anonymous": 401, "viewer": 403, "analyst": 403, "admin": 201}
    assert _as(app, "analyst").delete("/api/guarded/vault/1").status_code == 403
    assert _as(app, "admin").delete("/api/guarded/vault/1").status_code == 204


def test_401_and_403_are_json(app) -> None:
    anonymous = app.test_client().get("/api/guarded/vault")
    assert anonymous.status_code == 401 and anonymous.content_type == "application/json"
    error = anonymous.get_json()["error"]
    assert error["code"] == "unauthorized" and "store:vault (read)" in error["message"]
    assert "Bearer" in anonymous.headers["WWW-Authenticate"]
    viewer = _as(app, "viewer").get("/api/guarded/vault")
    error = viewer.get_json()["error"]
    assert error["code"] == "forbidden" and "'viewer'" in error["message"]


def test_callable_rule(app) -> None:
    assert _statuses(app, "GET", "/api/guarded/diary") == {
        "anonymous": 401, "viewer": 200, "analyst": 403, "admin": 200}


def test_field_rights_hide_reads_and_refuse_writes(app) -> None:
    admin = _as(app, "admin")
    assert admin.post("/api/guarded/notes", json={"title": "a", "secret": "s"}).status_code == 201
    anonymous, viewer, analyst = (_as(app, n) for n in ("anonymous", "viewer", "analyst"))
    assert anonymous.get("/api/guarded/notes").get_json() == [
        {"title": "a", "_id": 1, "_created_by": "admin"}]
    assert "secret" not in viewer.get("/api/guarded/notes").get_json()[0]
    assert analyst.get("/api/guarded/notes").get_json()[0]["secret"] == "s"
    refused = analyst.post("/api/guarded/notes", json={"title": "b", "secret": "x"})
    assert refused.status_code == 403 and "'secret'" in refused.get_json()["error"]["message"]
    assert analyst.post("/api/guarded/notes", json={"title": "b"}).status_code == 201
    assert analyst.put("/api/guarded/notes/1", json={"title": "a2"}).status_code == 200
    assert analyst.put("/api/guarded/notes/1", json={"secret": "y"}).status_code == 403
    assert admin.put("/api/guarded/notes/1", json={"secret": "y"}).get_json()["secret"] == "y"


def test_anonymous_read_off(tmp_path: Path) -> None:
    app = _client(tmp_path, anonymous_read=False)
    assert _statuses(app, "GET", "/api/guarded/notes") == {
        "anonymous": 401, "viewer": 200, "analyst": 200, "admin": 200}
    assert app.test_client().get("/api/proxy/open").status_code == 401


def test_anonymous_write_on(tmp_path: Path) -> None:
    app = _client(tmp_path, anonymous_write=True)
    assert app.test_client().post("/api/guarded/notes", json={"t": 1}).status_code == 201
    # a resource's own rule still wins over the server default
    assert app.test_client().post("/api/guarded/vault", json={"t": 1}).status_code == 401
    assert app.test_client().post("/api/proxy/open").status_code == 200


def test_config_rules_beat_resource_rules(tmp_path: Path) -> None:
    app = _client(tmp_path, rules={
        "store:vault": {"read": "any"},  # opens what the resource closes
        # closes what is open
        "store:notes": {"read": {"roles": ["analyst"], "users": ["viewer"]}, "write": "admin"},
        "store:*": {"delete": "nobody-has-this-role"},
        "store:notes.secret": {"read": "any"},
        "endpoint:analysts": "authenticated",
    })
    assert _statuses(app, "GET", "/api/guarded/vault")["anonymous"] == 200
    assert _statuses(app, "GET", "/api/guarded/notes") == {
        "anonymous": 401, "viewer": 200, "analyst": 200, "admin": 200}
    assert _statuses(app, "POST", "/api/guarded/notes", {"secret": 1}) == {
        "anonymous": 401, "viewer": 403, "analyst": 403, "admin": 201}
    admin = _as(app, "admin")
    admin.post("/api/guarded/diary", json={"t": 1})
    assert _as(app, "viewer").delete("/api/guarded/diary/1").status_code == 403  # glob rule
    assert admin.post("/api/guarded/notes", json={"secret": 7}).status_code == 201
    assert app.test_client().get("/api/guarded/vault").status_code == 200
    # the config rule on the field opens it to the viewer, whom the field's own rule keeps out
    assert _as(app, "viewer").get("/api/guarded/notes").get_json()[-1]["secret"] == 7
    assert _statuses(app, "GET", "/api/proxy/analysts/1") == {
        "anonymous": 401, "viewer": 200, "analyst": 200, "admin": 200}


def test_endpoint_rules_from_descs(app) -> None:
    assert _statuses(app, "GET", "/api/proxy/open") == dict.fromkeys(
        ("anonymous", "viewer", "analyst", "admin"), 200)
    assert _statuses(app, "POST", "/api/proxy/open") == {
        "anonymous": 401, "viewer": 200, "analyst": 200, "admin": 200}
    assert _statuses(app, "GET", "/api/proxy/analysts/1") == {
        "anonymous": 401, "viewer": 403, "analyst": 200, "admin": 200}
    assert _statuses(app, "GET", "/api/proxy/viewer") == {
        "anonymous": 401, "viewer": 200, "analyst": 403, "admin": 200}
    assert _statuses(app, "GET", "/api/proxy/by_fn") == {
        "anonymous": 401, "viewer": 200, "analyst": 403, "admin": 200}
    assert _statuses(app, "POST", "/api/proxy/public")["anonymous"] == 200


def test_access_is_checked_before_the_path_param_type(app) -> None:
    assert app.test_client().get("/api/proxy/analysts/x").status_code == 401
    assert _as(app, "analyst").get("/api/proxy/analysts/x").status_code == 400


def test_bearer_token_carries_the_users_rights(app) -> None:
    token = create_token(_as(app, "analyst"))
    api = app.test_client()
    assert api.get("/api/guarded/vault", headers=bearer(token)).status_code == 200
    assert api.post("/api/guarded/vault", headers=bearer(token), json={}).status_code == 403
    response = api.get("/api/proxy/analysts/3", headers=bearer(token))
    assert response.get_json() == {"user": "analyst"}


def test_writes_are_recorded_with_the_real_user(app) -> None:
    created = _as(app, "viewer").post("/api/guarded/notes", json={"t": 1}).get_json()
    assert created["_created_by"] == "viewer"


# --- the rule language itself -----------------------------------------------------------------

ANALYST = User("ann", frozenset({"analyst"}))
NOBODY = security.ANONYMOUS


@pytest.mark.parametrize(("rule", "ann", "anonymous"), [
    (None, True, True), ("any", True, True), (True, True, True), (False, True, True),
    ("authenticated", True, False), ("analyst", True, False), ("admin", False, False),
    (["admin", "analyst"], True, False), ({"roles": ["analyst"]}, True, False),
    ({"roles": "admin", "users": ["ann"]}, True, False), ({"users": ["anonymous"]}, False, False),
    ({"authenticated": True}, True, False), ("anonymous", False, True),
    (lambda user: user.name == "ann", True, False),
    (lambda user, resource: resource == "db:x/y", True, True),
])
def test_allowed(rule, ann, anonymous) -> None:
    assert security.allowed(ANALYST, rule, "db:x/y") is ann
    assert security.allowed(NOBODY, rule, "db:x/y") is anonymous


@pytest.mark.parametrize("rule", [3, {"groups": ["a"]}, object()])
def test_unsupported_rules_raise(rule) -> None:
    with pytest.raises(TypeError):
        security.allowed(ANALYST, rule)
