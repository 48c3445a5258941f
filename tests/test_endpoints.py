"""Custom endpoints at /api/proxy: routing, path parameter types, bodies, return values, errors."""

import uuid
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from core_server.app import create_app
from core_server.testing import temporary_plugin

INIT = """
def register(registry):
    public = {'security': False}
    registry.append('endpoint', 'row', '.eps', {
        'route': 'rows/{table}/{row_id:int}', 'factory': 'create_row', **public,
        'methods': ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], 'description': 'one row'})
    registry.append('endpoint', 'types', '.eps', {
        'route': '/types/{i:int}/{f:float}/{u:uuid}/{rest:path}/', 'factory': 'create_types'})
    registry.append('endpoint', 'returns', '.eps', {'route': 'returns/{kind}',
                                                    'factory': 'create_returns'})
    registry.append('endpoint', 'boom', '.eps', {'route': 'boom/{how}', 'factory': 'create_boom'})
    registry.append('endpoint', 'me', '.eps', {'route': 'me', 'factory': 'create_me'})
"""

EPS = """
import flask
import pandas as pd
from core_server.errors import Conflict


def create_row():
    def row(request, user, app):
        return {'method': request.method, 'params': request.path_params,
                'param_types': {k: type(v).__name__ for k, v in request.path_params.items()},
                'json': request.json, 'body': request.body, 'args': dict(request.args),
                'same': request.path_parameters is request.path_params}
    return row


def create_types():
    def types(request, user, app):
        return {k: [str(v), type(v).__name__] for k, v in request.path_params.items()}
    return types


VALUES = {
    'dict': {'a': 1}, 'list': [1, 'two', None], 'int': 42, 'str': 'text', 'bool': False,
    'float': 2.5, 'none': None, 'nan': float('nan'),
    'frame': pd.DataFrame({'id': [1, 2], 'name': ['a', None]}),
    'series': pd.Series({'x': 1, 'y': 2}),
    'response': flask.Response('plain', mimetype='text/plain', status=202),
    'tuple': ({'created': True}, 201, {'Location': '/somewhere'}),
    'pair': (1, 2),
}


def create_returns():
    return lambda request, user, app: VALUES[request.path_params['kind']]


def create_boom():
    def boom(request, user, app):
        how = request.path_params['how']
        if how == 'conflict':
            raise Conflict('already_there', 'row 1 exists', hint='use PUT')
        if how == 'abort':
            flask.abort(404)
        raise RuntimeError('secret internals of the plugin')
    return boom


def create_me():
    def me(request, user, app):
        return {'user': user.name, 'app': app.name, 'config': 'core_server' in app.extensions}
    return me
"""


@pytest.fixture
def client(tmp_path: Path):
    with temporary_plugin(tmp_path / "plugins", "epplugin", INIT, {"eps.py": EPS}) as root:
        app = create_app(None, plugins_dirs=[root], data_dir=tmp_path / "d", entry_points=False)
        yield app.test_client()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_method_reaches_the_endpoint_with_typed_params(client, method) -> None:
    body = {"v": 1} if method != "GET" else None
    response = client.open("/api/proxy/rows/people/7?x=1", method=method, json=body)
    assert response.status_code == 200, response.get_json()
    got = response.get_json()
    assert got["method"] == method
    assert got["params"] == {"table": "people", "row_id": 7}
    assert got["param_types"] == {"table": "str", "row_id": "int"}
    assert got["json"] == got["body"] == body
    assert got["args"] == {"x": "1"} and got["same"] is True


def test_param_of_wrong_type_is_400_naming_it(client) -> None:
    for bad in ("seven", "7.5", "+7", " 7", "1_000"):
        response = client.get(f"/api/proxy/rows/people/{bad}")
        assert response.status_code == 400, bad
        error = response.get_json()["error"]
        assert error["code"] == "invalid_value"
        assert "row_id" in error["message"] and "int" in error["message"]
        assert "rows/{table}/{row_id:int}" in error["hint"]
    assert client.get("/api/proxy/rows/people/-3").get_json()["params"]["row_id"] == -3


def test_param_types_float_uuid_path(client) -> None:
    u = uuid.UUID(int=5)
    ok = client.get(f"/api/proxy/types/3/1.5e2/{u}/a/b/c.txt").get_json()
    assert ok == {"i": ["3", "int"], "f": ["150.0", "float"], "u": [str(u), "UUID"],
                  "rest": ["a/b/c.txt", "str"]}
    for bad in (f"3/inf/{u}/x", f"3/nan/{u}/x", "3/1/not-a-uuid/x", f"x/1/{u}/x"):
        response = client.get(f"/api/proxy/types/{bad}")
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "invalid_value"


def test_unknown_route_and_wrong_method_are_json(client) -> None:
    missing = client.get("/api/proxy/rows/people")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = client.post("/api/proxy/returns/dict")
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"


def test_json_bodies(client) -> None:
    url = "/api/proxy/rows/t/1"
    assert client.post(url).get_json()["json"] is None  # empty body: no JSON
    assert client.post(url, json=[1, 2]).get_json()["json"] == [1, 2]
    malformed = client.post(url, data="{nope", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.get_json()["error"]["code"] == "malformed_json"
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        other = client.put(url, data="a=1", content_type=content_type)
        assert other.status_code == 415, content_type
        assert other.get_json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize(("kind", "status", "expected"), [
    ("dict", 200, {"a": 1}), ("list", 200, [1, "two", None]), ("int", 200, 42),
    ("str", 200, "text"), ("bool", 200, False), ("float", 200, 2.5), ("nan", 200, None),
    ("frame", 200, [{"id": 1, "name": "a"}, {"id": 2, "name": None}]),
    ("series", 200, {"x": 1, "y": 2}), ("tuple", 201, {"created": True}), ("pair", 200, [1, 2]),
])
def test_return_values_are_json(client, kind, status, expected) -> None:
    response = client.get(f"/api/proxy/returns/{kind}")
    assert response.status_code == status
    assert response.content_type == "application/json"
    assert response.get_json() == expected


def test_none_is_204_and_a_response_is_passed_through(client) -> None:
    empty = client.get("/api/proxy/returns/none")
    assert empty.status_code == 204 and empty.data == b""
    raw = client.get("/api/proxy/returns/response")
    assert raw.status_code == 202 and raw.content_type.startswith("text/plain")
    assert raw.data == b"plain"
    assert client.get("/api/proxy/returns/tuple").headers["Location"] == "/somewhere"


def test_raising_endpoint_is_json_500_and_server_keeps_serving(client, caplog) -> None:
    response = client.get("/api/proxy/boom/crash")
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "internal" and error["request_id"] == response.headers["X-Request-Id"]
    assert "secret internals" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text  # the traceback is logged
    assert client.get("/api/proxy/returns/dict").status_code == 200


def test_endpoint_errors_keep_their_status(client) -> None:
    conflict = client.get("/api/proxy/boom/conflict")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"] == {
        "status": 409, "code": "already_there", "message": "row 1 exists", "hint": "use PUT",
        "request_id": conflict.headers["X-Request-Id"]}
    aborted = client.get("/api/proxy/boom/abort")
    assert aborted.status_code == 404 and aborted.get_json()["error"]["code"] == "not_found"


def test_endpoint_gets_user_and_app(client) -> None:
    assert client.get("/api/proxy/me").get_json() == {"user": "anonymous", "app": "core_server",
                                                      "config": True}


def test_openapi_lists_endpoints_with_typed_params(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    item = spec["paths"]["/api/proxy/rows/{table}/{row_id}"]
    assert set(item) == {"get", "post", "put", "patch", "delete"}
    params = {p["name"]: p["schema"] for p in item["get"]["parameters"]}
    # text never holds a NUL (openapi.complete says so for every text parameter)
    assert params == {"table": {"type": "string", "pattern": "^[^\\u0000]*$"},
                      "row_id": {"type": "integer"}}
    assert item["get"]["summary"] == "one row" and "requestBody" in item["put"]
    types = spec["paths"]["/api/proxy/types/{i}/{f}/{u}/{rest}"]["get"]["parameters"]
    assert [p["schema"].get("format") for p in types] == [None, None, "uuid", None]


# --- load errors ------------------------------------------------------------------------------

def _plugin_src(route: str, methods: list[str] | str = "GET", module: str = ".eps") -> str:
    return (f"def register(r):\n    r.append('endpoint', __name__ + '_ep', '{module}', "
            f"{{'route': {route!r}, 'methods': {methods!r}}})\n")


EP_SRC = "def create():\n    return lambda request, user, app: {'from': __name__}\n"


def _app(tmp_path: Path, plugins: dict[str, str]):
    root = tmp_path / "plugins"
    stack = []
    for name, init in plugins.items():
        ctx = temporary_plugin(root, name, init, {"eps.py": EP_SRC})
        ctx.__enter__()
        stack.append(ctx)
    try:
        app = create_app(None, plugins_dirs=[root], data_dir=tmp_path / "d", entry_points=False)
        client = app.test_client()
        status = {p["name"]: p for p in client.get("/api/_plugins").get_json()}
        return client, status
    finally:
        for ctx in reversed(stack):
            ctx.__exit__(None, None, None)


def test_conflicting_routes_are_a_load_error_naming_both_plugins(tmp_path: Path) -> None:
    client, status = _app(tmp_path, {
        "alpha": _plugin_src("items/{id}", ["GET", "POST"]),
        "beta": _plugin_src("items/{name:int}", ["POST", "PUT"]),
        "gamma": _plugin_src("items/{x}", ["DELETE"]),  # same route, other method: fine
    })
    assert status["alpha"]["status"] == "loaded" and status["gamma"]["status"] == "loaded"
    assert status["beta"]["status"] == "failed"
    (error,) = status["beta"]["errors"]
    assert "alpha" in error and "beta" in error and "POST" in error
    assert client.get("/api/proxy/items/1").get_json() == {"from": "alpha.eps"}
    assert client.put("/api/proxy/items/1").status_code == 405  # beta is not served at all


def test_bad_endpoint_descs_are_recorded(tmp_path: Path) -> None:
    _, status = _app(tmp_path, {
        "badtype": _plugin_src("x/{id:date}"),
        "badname": _plugin_src("x/{1id}"),
        "brace": _plugin_src("x/{id"),
        "noroute": "def register(r):\n    r.append('endpoint', 'nr', '.eps', {})\n",
        "badmethod": _plugin_src("y", ["FETCH"]),
        "nofn": _plugin_src("z", module=".nothere"),
        "good": _plugin_src("fine/{id:int}"),
    })
    assert status["good"]["status"] == "loaded"
    expected = {"badtype": "unknown type 'date'", "badname": "bad or repeated parameter name",
                "brace": "not allowed", "noroute": "non-empty string", "badmethod": "FETCH",
                "nofn": "No module named"}
    for name, text in expected.items():
        assert status[name]["status"] == "failed", name
        assert text in status[name]["errors"][0], (name, status[name]["errors"])
