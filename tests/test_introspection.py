"""/api/_health, _version, _plugins, _config."""


def test_health(app, client) -> None:
    from core_server.demo import ensure_demo_data

    assert client.get("/api/_health").get_json() == {"status": "ok"}
    missing = client.get("/api/_health?deep=1")  # the demo database is not generated yet
    assert missing.status_code == 200 and "down" not in missing.get_json()
    assert "run `core-server demo-data`" in missing.get_json()["checks"]["db:mydb"]
    ensure_demo_data(app, rows=10)
    deep = client.get("/api/_health?deep=1")
    assert deep.status_code == 200 and deep.get_json()["status"] == "ok"


def test_version_lists_plugins(client) -> None:
    body = client.get("/api/_version").get_json()
    assert body["name"] == "core_server" and body["version"]
    assert body["plugins"]["myserverplugin"] == "0.1.0"


def test_plugins_describe_extensions(client) -> None:
    plugins = client.get("/api/_plugins").get_json()
    mine = next(p for p in plugins if p["name"] == "myserverplugin")
    assert set(mine) >= {"name", "version", "path", "status", "errors", "extensions"}
    assert mine["status"] == "loaded" and mine["errors"] == []


def test_config_is_json(client) -> None:
    body = client.get("/api/_config").get_json()
    assert body["core_server"]["absoluteDataDir"].endswith("data")
