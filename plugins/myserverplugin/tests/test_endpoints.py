"""The tutorial plugin's custom endpoints, through the core_server test client."""

import pytest

from core_server.testing import bearer
from core_server.testing import create_token
from core_server.testing import login
from core_server.testing import users_config


@pytest.fixture
def app_config():
    return users_config()


def test_planets_and_typed_path_param(client):
    assert [p["name"] for p in client.get("/api/proxy/planets?min_moons=20").get_json()] == [
        "Jupiter", "Saturn", "Uranus"]
    assert client.get("/api/proxy/planets/3").get_json()["name"] == "Earth"
    assert client.get("/api/proxy/planets/9").status_code == 404
    wrong_type = client.get("/api/proxy/planets/earth")
    assert wrong_type.status_code == 400
    assert "planet_id" in wrong_type.get_json()["error"]["message"]
    assert client.get("/api/proxy/planets?min_moons=x").status_code == 400


def test_greet_get_is_open_post_needs_login(client):
    assert client.get("/api/proxy/greet/Ada?lang=de").get_json() == {
        "message": "Hallo Ada!", "by": "anonymous"}
    assert client.post("/api/proxy/greet/Ada", json={"lang": "fr"}).status_code == 401
    login(client, "viewer")
    assert client.post("/api/proxy/greet/Ada", json={"lang": "fr"}).get_json() == {
        "message": "Bonjour Ada!", "by": "viewer"}
    unknown = client.post("/api/proxy/greet/Ada", json={"lang": "xx"})
    assert unknown.status_code == 400 and "de, en" in unknown.get_json()["error"]["hint"]


def test_whoami_with_a_token(client, app):
    assert client.get("/api/proxy/whoami").status_code == 401
    login(client, "analyst")
    token = create_token(client)
    response = app.test_client().get("/api/proxy/whoami", headers=bearer(token))
    assert response.get_json() == {"name": "analyst", "roles": ["analyst"]}
