"""The OpenAPI document is valid OpenAPI 3.1 and lists the core routes."""

from openapi_spec_validator import validate


def test_openapi_is_valid_and_lists_core_routes(client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    for path in ("/api/_health", "/api/_version", "/api/_plugins", "/api/_config"):
        assert path in spec["paths"]


def test_openapi_servers_use_the_public_prefix(tmp_path) -> None:
    from core_server.app import create_app

    app = create_app({"core_server": {"proxy_fix": {"x_prefix": 1}}}, plugins_dirs=[],
                     data_dir=tmp_path, entry_points=False)
    response = app.test_client().get("/api/openapi.json", headers={"X-Forwarded-Prefix": "/public"})
    assert response.get_json()["servers"] == [{"url": "/public/"}]
    # and errors under the prefix are still JSON
    missing = app.test_client().get("/api/nope", headers={"X-Forwarded-Prefix": "/public"})
    assert missing.get_json()["error"]["code"] == "not_found"
