"""The tutorial plugin's document-store collections, as the README's curl round trip uses them."""

import pytest


@pytest.fixture
def app_config():
    # login does not exist yet; let anonymous users write, as the README's demo does
    return {"core_server": {"security": {"anonymous_write": True}}}


def test_selection_round_trip(client):
    analyst = client.post("/api/store/analysts", json={"login": "ada"})
    assert analyst.status_code == 201
    owner = analyst.get_json()["_id"]
    created = client.post("/api/store/selections",
                          json={"name": "top genes", "ids": [1, 5, 9], "owner": owner})
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    client.post("/api/store/selections", json={"name": "other", "ids": [2], "owner": owner})
    listed = client.get("/api/store/selections?ids=5").get_json()
    assert [s["name"] for s in listed["items"]] == ["top genes"] and listed["total"] == 1
    names = client.get("/api/store/selections/_selections/names").get_json()
    assert names["rows"] == [[names["rows"][0][0], "other", owner],
                             [created.get_json()["_id"], "top genes", owner]]
    assert client.delete(f"/api/store/analysts/{owner}").status_code == 204  # cascades
    assert client.get("/api/store/selections/_count").get_json() == {"count": 0}


def test_anonymous_cannot_write_by_default(tmp_path):
    from core_server.app import create_app

    app = create_app(data_dir=tmp_path)
    response = app.test_client().post("/api/store/analysts", json={"login": "x"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
