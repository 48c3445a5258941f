from tdp_core import manager


def test_health(client):
    response = client.get("/health", headers={"Authorization": "admin:admin"})
    assert response.status_code == 200
    assert response.json() == "ok"


def test_build_info_lists_the_plugin(client):
    info = client.get("/api/buildInfo.json").json()
    assert "tdp_visyn_demo" in [p["name"] for p in info["plugins"]]


def test_settings_are_typed_and_init_app_ran(client):
    body = client.get("/api/visyn_demo/greeting").json()
    assert body == {"greeting": "hello", "max_items": 10, "type": "VisynDemoSettings", "started": True}
    assert manager.settings.tdp_visyn_demo.max_items == 10


def test_login_through_the_user_store(client):
    assert client.post("/api/login", data={"username": "vera", "password": "wrong"}).status_code == 401
    response = client.post("/api/login", data={"username": "vera", "password": "vera-secret"})
    assert response.status_code == 200
    assert response.json()["roles"] == ["visyn_demo_reader"]
    assert client.get("/api/loggedinas").json()["name"] == "vera"


def test_api_key_header_authenticates(client):
    who = client.get("/api/loggedinas", headers={"apiKey": "vera:vera-secret"}).json()
    assert who["name"] == "vera"
