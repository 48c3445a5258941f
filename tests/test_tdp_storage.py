"""TDP's named sets and attachments (/api/tdp/storage) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core_server import tdp
from core_server.app import create_app
from core_server.testing import BACKENDS
from core_server.testing import fresh_database
from core_server.testing import login
from core_server.testing import users_config

BASE = "/api/tdp/storage"
USERS = {"admin": ["admin"], "analyst": ["analyst"], "viewer": ["viewer"], "buddy": []}


@pytest.fixture(scope="module", params=BACKENDS)
def store_url(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("tdpstore")) as url:
        yield url


def _app(url: str, data: Path) -> Flask:
    config = {**users_config(USERS), "store": {"dburl": url}}
    app = create_app(config, plugins_dirs=[], data_dir=data, entry_points=False)
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def apps(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Flask]]:
    """Two apps over one store database, as two workers or hosts."""
    made = [_app(store_url, tmp_path_factory.mktemp(name)) for name in ("a", "b")]
    yield made
    for app in made:
        tdp.tdp_of(app).dispose()


def client_of(app: Flask, user: str | None = None) -> FlaskClient:
    client = app.test_client()
    if user:
        login(client, user)
    return client


def _create(client: FlaskClient, **form: object) -> dict:
    response = client.post(f"{BASE}/namedsets/", data=form)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_clients_form_creates_a_set_owned_by_the_user(apps: list[Flask]) -> None:
    analyst = client_of(apps[0], "analyst")
    # the web client's body: ids[] repeated, numbers as text, creator from the client
    created = _create(analyst, name="My set", idType="IDTypeA", **{"ids[]": ["a1", "a2"]},
                      permissions="740", type="0", subTypeKey="species", subTypeValue="human",
                      description="d", creator="admin")
    assert created["creator"] == "analyst"  # never the name the client claims
    assert created["ids"] == ["a1", "a2"] and created["permissions"] == 740
    assert {k: created[k] for k in ("name", "idType", "type", "subTypeKey", "subTypeValue",
                                    "description", "subTypeFromSession", "buddies")} == {
        "name": "My set", "idType": "IDTypeA", "type": 0, "subTypeKey": "species",
        "subTypeValue": "human", "description": "d", "subTypeFromSession": False, "buddies": []}
    assert isinstance(created["id"], str) and "readers" not in created
    # the other worker reads what this one wrote
    other = client_of(apps[1], "analyst")
    assert other.get(f"{BASE}/namedset/{created['id']}").get_json() == created


@pytest.mark.parametrize("ids", [json.dumps(["x", "y"]), "x,y", ["x", "y"]])
def test_ids_as_a_json_string_a_comma_list_or_repeated(apps: list[Flask], ids: object) -> None:
    created = _create(client_of(apps[0], "analyst"), name="s", ids=ids)
    assert created["ids"] == ["x", "y"]


def test_a_json_body_works_too(apps: list[Flask]) -> None:
    response = client_of(apps[0], "analyst").post(f"{BASE}/namedsets/", json={
        "name": "j", "ids": [1, 2], "subTypeFromSession": True, "buddies": ["buddy"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ids"] == ["1", "2"] and body["subTypeFromSession"] is True
    assert body["buddies"] == ["buddy"] and body["permissions"] == 744  # TDP's default


def test_tdp_permissions_decide_who_reads_and_writes(apps: list[Flask]) -> None:
    analyst, viewer = client_of(apps[0], "analyst"), client_of(apps[0], "viewer")
    private = _create(analyst, name="private", idType="IDTypeP", permissions=700)
    url = f"{BASE}/namedset/{private['id']}"
    assert viewer.get(url).status_code == 403
    assert apps[0].test_client().get(url).status_code == 401  # anonymous: log in
    listed = [s["id"] for s in viewer.get(f"{BASE}/namedsets/?idType=IDTypeP").get_json()]
    assert private["id"] not in listed
    assert viewer.put(url, data={"name": "mine now"}).status_code == 403
    assert viewer.delete(url).status_code == 403
    # the owner opens it for reading: now the viewer lists and reads it, but may not write
    changed = analyst.put(url, data={"permissions": "744", "name": "shared"})
    assert changed.status_code == 200 and changed.get_json()["name"] == "shared"
    listed = [s["id"] for s in viewer.get(f"{BASE}/namedsets/?idType=IDTypeP").get_json()]
    assert listed == [private["id"]]
    assert viewer.get(url).get_json()["permissions"] == 744
    assert viewer.put(url, data={"name": "x"}).status_code == 403


def test_buddies_and_groups(apps: list[Flask]) -> None:
    analyst = client_of(apps[0], "analyst")
    buddy, viewer = client_of(apps[0], "buddy"), client_of(apps[0], "viewer")
    shared = _create(analyst, name="b", idType="IDTypeB", permissions="7700",
                     **{"buddies[]": ["Buddy"]})  # names compare case-insensitively, as in TDP
    url = f"{BASE}/namedset/{shared['id']}"
    assert buddy.put(url, data={"description": "by a buddy"}).status_code == 200
    assert viewer.get(url).status_code == 403
    grouped = _create(analyst, name="g", idType="IDTypeB", permissions="740", group="viewer")
    assert viewer.get(f"{BASE}/namedset/{grouped['id']}").status_code == 200
    assert {s["name"] for s in viewer.get(f"{BASE}/namedsets/?idType=IDTypeB").get_json()} \
        == {"g"}
    assert {s["name"] for s in buddy.get(f"{BASE}/namedsets/?idType=IDTypeB").get_json()} \
        == {"b"}


def test_writes_need_a_login_and_csrf(apps: list[Flask]) -> None:
    anonymous = apps[0].test_client()
    response = anonymous.post(f"{BASE}/namedsets/", data={"name": "x"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    cross_site = apps[0].test_client()
    login(cross_site, "analyst", csrf=False)
    response = cross_site.post(f"{BASE}/namedsets/", data={"name": "x"},
                               headers={"Origin": "https://evil.example"})
    assert response.get_json()["error"]["code"] == "csrf_failed"


@pytest.mark.parametrize("form, field", [({"permissions": "999"}, "permissions"),
                                         ({"permissions": "abc"}, "permissions"),
                                         ({"type": "x"}, "type"),
                                         ({"ids": "[1,"}, "ids"),
                                         ({"subTypeFromSession": "maybe"}, "subTypeFromSession")])
def test_bad_values_are_400_naming_the_field(apps: list[Flask], form: dict, field: str) -> None:
    response = client_of(apps[0], "analyst").post(f"{BASE}/namedsets/", data=form)
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["code"] == "invalid_value", error
    assert field in error["message"]


def test_delete_answers_one_then_404(apps: list[Flask]) -> None:
    analyst = client_of(apps[0], "analyst")
    created = _create(analyst, name="gone")
    url = f"{BASE}/namedset/{created['id']}"
    response = analyst.delete(url)
    assert response.status_code == 200 and response.get_json() == 1
    missing = analyst.get(url)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert analyst.put(url, data={"name": "x"}).status_code == 404


def test_admins_pass_item_permissions_but_list_as_tdp_does(apps: list[Flask]) -> None:
    private = _create(client_of(apps[0], "analyst"), name="p", idType="IDTypeAdm",
                      permissions=700)
    admin = client_of(apps[1], "admin")
    assert admin.get(f"{BASE}/namedset/{private['id']}").status_code == 200
    assert admin.get(f"{BASE}/namedsets/?idType=IDTypeAdm").get_json() == []


def test_namedset_ids_resolves_for_the_current_user(apps: list[Flask]) -> None:
    created = _create(client_of(apps[0], "analyst"), name="n", idType="IDTypeN",
                      ids="e1,e2", permissions=744)
    with apps[1].test_request_context():
        assert tdp.namedset_ids(apps[1], created["id"]) == ("IDTypeN", ["e1", "e2"])
    private = _create(client_of(apps[0], "analyst"), name="n", ids="e3", permissions=700)
    with apps[1].test_request_context(), pytest.raises(Exception) as raised:
        tdp.namedset_ids(apps[1], private["id"])
    assert getattr(raised.value, "status", None) == 401


def test_attachments_round_trip(apps: list[Flask]) -> None:
    analyst = client_of(apps[0], "analyst")
    payload = {"rows": [1, 2, 3], "text": "ä"}
    # the client: Ajax.send(url, data, 'POST', 'text', 'json')
    posted = analyst.post(f"{BASE}/attachment/", data=json.dumps(payload),
                          content_type="application/json")
    assert posted.status_code == 200 and posted.mimetype == "text/plain"
    url = f"{BASE}/attachment/{posted.get_data(as_text=True)}"
    read = apps[1].test_client().get(url)  # TDP's default 744: everybody reads
    assert read.status_code == 200 and read.mimetype == "application/json"
    assert read.get_json() == payload
    replaced = analyst.put(url, data=json.dumps({"v": 2}), content_type="application/json")
    assert replaced.get_data(as_text=True) == posted.get_data(as_text=True)
    assert analyst.get(url).get_json() == {"v": 2}
    assert client_of(apps[0], "viewer").delete(url).status_code == 403
    assert analyst.delete(url).get_json() == 1
    assert analyst.get(url).status_code == 404


def test_anonymous_read_off_hides_even_public_sets(store_url: str, apps: list[Flask],
                                                   tmp_path: Path) -> None:
    public = _create(client_of(apps[0], "analyst"), name="public", permissions=744)
    config = {**users_config(USERS, anonymous_read=False), "store": {"dburl": store_url}}
    closed = create_app(config, plugins_dirs=[], data_dir=tmp_path, entry_points=False)
    try:
        anonymous = closed.test_client()
        assert anonymous.get(f"{BASE}/namedset/{public['id']}").status_code == 401
        assert anonymous.get(f"{BASE}/namedsets/").status_code == 401
        assert client_of(closed, "viewer").get(f"{BASE}/namedset/{public['id']}").status_code \
            == 200
    finally:
        tdp.tdp_of(closed).dispose()
