"""Every /api failure is the JSON envelope (DESIGN.md §6)."""

import logging
from pathlib import Path

from flask import Blueprint

from core_server.app import create_app
from core_server.errors import ApiError


def test_unknown_route_is_json_404(client) -> None:
    response = client.get("/api/does/not/exist")
    assert response.status_code == 404
    assert response.content_type == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and error["status"] == 404
    assert "openapi" in error["hint"]
    assert error["request_id"] == response.headers["X-Request-Id"]


def test_wrong_method_is_json_405(client) -> None:
    response = client.delete("/api/_health")
    assert response.status_code == 405
    error = response.get_json()["error"]
    assert error["code"] == "method_not_allowed" and "GET" in error["hint"]
    assert "GET" in response.headers["Allow"]


def _app_with_routes(tmp_path: Path):
    app = create_app({"core_server": {"max_content_length": 1024}}, plugins_dirs=[],
                     data_dir=tmp_path / "d", entry_points=False)
    bp = Blueprint("t", __name__, url_prefix="/api/t")

    @bp.post("/echo")
    def echo():
        from flask import request
        return {"got": request.get_json()}

    @bp.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @bp.get("/teapot")
    def teapot():
        raise ApiError(409, "custom_conflict", "it conflicts", hint="try less")

    app.register_blueprint(bp)
    return app


def test_malformed_json_is_400(tmp_path: Path) -> None:
    client = _app_with_routes(tmp_path).test_client()
    response = client.post("/api/t/echo", data="{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"
    ok = client.post("/api/t/echo", json={"a": 1})
    assert ok.get_json() == {"got": {"a": 1}}


def test_non_json_content_type_is_415(tmp_path: Path) -> None:
    client = _app_with_routes(tmp_path).test_client()
    response = client.post("/api/t/echo", data="a=1", content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


def test_too_large_body_is_413(tmp_path: Path) -> None:
    client = _app_with_routes(tmp_path).test_client()
    response = client.post("/api/t/echo", data=b"x" * 5000, content_type="application/json")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "payload_too_large" and "1024" in error["hint"]


def test_100mb_body_is_413_without_reading_it(client) -> None:
    # 100 MB announced; the default limit is 16 MB
    response = client.post("/api/hello_world/", data=b"x" * (100 * 1024 * 1024),
                           content_type="application/json")
    assert response.status_code in (405, 413)
    assert response.get_json()["error"]["status"] == response.status_code


def test_unexpected_exception_is_500_with_request_id(tmp_path: Path, caplog) -> None:
    client = _app_with_routes(tmp_path).test_client()
    with caplog.at_level(logging.ERROR, logger="core_server.errors"):
        response = client.get("/api/t/boom", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["code"] == "internal" and body["error"]["request_id"] == "req-42"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)


def test_api_error_envelope(tmp_path: Path) -> None:
    response = _app_with_routes(tmp_path).test_client().get("/api/t/teapot")
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "status": 409, "code": "custom_conflict", "message": "it conflicts", "hint": "try less",
        "request_id": response.headers["X-Request-Id"]}


def test_server_timing_and_request_id_generated(client) -> None:
    response = client.get("/api/_health")
    assert "total;dur=" in response.headers["Server-Timing"]
    assert len(response.headers["X-Request-Id"]) == 32


def test_a_missing_trailing_slash_redirects_with_a_json_body(client) -> None:
    got = client.get("/api/tdp/storage/namedsets")
    assert got.status_code == 308
    assert got.headers["Location"].endswith("/api/tdp/storage/namedsets/")
    assert got.mimetype == "application/json"
    assert got.get_json()["redirect"].endswith("/api/tdp/storage/namedsets/")
