"""The /api/idtype routes over the tutorial data on every backend (module-scoped database)."""

import pytest
from myserverplugin.demo_data import a_rows_of
from myserverplugin.demo_data import rows_of

from core_server.testing import login
from core_server.testing import users_config

ROWS = list(rows_of(1000))
NAME = {r["my_id"]: r["name"] for r in ROWS}
TUTORIAL_TYPES = {"MyIDType", "MyName", "MyCategory", "IDTypeA", "AName"}


def test_list_of_id_types(mydb_client):
    listing = mydb_client.get("/api/idtype/").get_json()
    assert {t["id"] for t in listing} == TUTORIAL_TYPES
    assert {"id": "MyName", "name": "MyName", "names": "MyNames"} in listing
    # ids assigned for a new id type make it known
    mydb_client.get("/api/db/mydb/mytable_single_score?name=1&attribute=value&_limit=1")
    assert [t["id"] for t in mydb_client.post("/api/idtype/").get_json()] == \
        sorted(TUTORIAL_TYPES)


def test_maps_to_is_transitive_nearest_first(mydb_client):
    assert mydb_client.get("/api/idtype/MyName/").get_json() == ["MyIDType", "MyCategory"]
    assert mydb_client.get("/api/idtype/MyIDType/").get_json() == ["MyCategory", "MyName"]
    assert mydb_client.get("/api/idtype/IDTypeA/").get_json() == ["AName"]


def test_unknown_id_type_is_404_with_the_known_ones(mydb_client):
    for url in ("/api/idtype/Nope/", "/api/idtype/Nope/MyName?q=1", "/api/idtype/MyName/Nope?q=1",
                "/api/idtype/Nope/map?ids[]=x", "/api/idtype/Nope/unmap?ids=0",
                "/api/idtype/Nope/search?q=a", "/api/idtype/MyName/Nope/search?q=a"):
        response = mydb_client.get(url)
        assert response.status_code == 404, url
        error = response.get_json()["error"]
        assert error["code"] == "not_found" and "Nope" in error["message"]
        assert "MyIDType" in error["hint"] and "AName" in error["hint"]


def test_map_ids_in_input_order_with_empty_lists_for_unknown_ids(mydb_client):
    response = mydb_client.get("/api/idtype/MyIDType/MyName?q=3,1,x,99999,2")
    assert response.get_json() == [["My 3"], ["My 1"], [], [], ["My 2"]]
    listed = mydb_client.get("/api/idtype/MyName/MyIDType?q[]=My 7&q[]=My, 8&q[]=My 1")
    assert listed.get_json() == [[7], [], [1]]
    first = mydb_client.get("/api/idtype/MyIDType/MyName?q=5,0&mode=first").get_json()
    assert first == ["My 5", None]


def test_one_to_many_and_transitive(mydb_client):
    cat = {r["my_id"]: r["cat"] for r in ROWS}
    many = mydb_client.get("/api/idtype/MyCategory/MyName?q=MyCat 2,MyCat 9").get_json()
    assert many == [[NAME[i] for i in sorted(cat) if cat[i] == "MyCat 2"], []]
    # MyName -> MyIDType -> MyCategory
    names = [NAME[i] for i in (10, 20, 30)]
    via = mydb_client.post("/api/idtype/MyName/MyCategory", json={"q": names}).get_json()
    assert via == [[cat[10]], [cat[20]], [cat[30]]]


def test_mode_and_missing_q_are_400(mydb_client):
    bad = mydb_client.get("/api/idtype/MyIDType/MyName?q=1&mode=some")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_value"
    missing = mydb_client.get("/api/idtype/MyIDType/MyName")
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "missing_argument"
    none = mydb_client.get("/api/idtype/IDTypeA/MyName?q=1")
    assert none.status_code == 400
    assert none.get_json()["error"] == {**none.get_json()["error"], "code": "unmappable",
                                        "hint": "IDTypeA maps to: AName"}


def test_post_form_and_json_bodies(mydb_client):
    form = mydb_client.post("/api/idtype/AName/IDTypeA", data={"q[]": ["A3", "A60", "A61"]})
    assert form.get_json() == [[3], [60], []]
    body = mydb_client.post("/api/idtype/IDTypeA/AName", json={"q": [1, 2], "mode": "first"})
    assert body.get_json() == ["A1", "A2"]
    text = mydb_client.post("/api/idtype/IDTypeA/AName", json={"q": "4,5"})
    assert text.get_json() == [["A4"], ["A5"]]


def test_search_through_a_mapping(mydb_client):
    found = mydb_client.get("/api/idtype/MyName/MyIDType/search?q=my 99&limit=3").get_json()
    assert found == [{"match": "My 99", "to": [99]}, {"match": "My 990", "to": [990]},
                     {"match": "My 991", "to": [991]}]
    # the search of AName -> IDTypeA, then IDTypeA -> AName back
    names = [r["a_name"] for r in a_rows_of() if r["a_name"].startswith("A5")]
    loop = mydb_client.get("/api/idtype/AName/IDTypeA/search?q=a5&limit=50").get_json()
    assert loop == [{"match": n, "to": [int(n[1:])]} for n in sorted(names)]
    assert mydb_client.get("/api/idtype/AName/IDTypeA/search?q=a%25").get_json() == []


def test_search_falls_back_to_assigned_names(mydb_client):
    # MyIDType -> MyName has no search query: the assigned MyIDType names are searched
    mydb_client.get("/api/idtype/MyIDType/map?ids[]=12&ids[]=120&ids[]=7")
    found = mydb_client.get("/api/idtype/MyIDType/MyName/search?q=12").get_json()
    assert found == [{"match": "12", "to": ["My 12"]}, {"match": "120", "to": ["My 120"]}]


def test_assigned_ids_map_unmap_search(mydb_client):
    ids = mydb_client.get("/api/idtype/AName/map?ids[]=A9&ids[]=A7&ids[]=A9").get_json()
    assert ids[0] == ids[2] and len(set(ids)) == 2
    again = mydb_client.post("/api/idtype/AName/map", data={"ids[]": ["A7", "A8"]}).get_json()
    assert again[0] == ids[1] and again[1] not in ids
    assert mydb_client.get("/api/idtype/AName/map?id=A8").get_json() == again[1]
    unmapped = mydb_client.get(f"/api/idtype/AName/unmap?ids={ids[0]},{again[1]},9999")
    assert unmapped.get_json() == ["A9", "A8", None]
    assert mydb_client.get(f"/api/idtype/AName/unmap?id={ids[1]}").get_json() == "A7"
    search = mydb_client.get("/api/idtype/AName/search?q=a&limit=2").get_json()
    assert search == [{"id": ids[1], "name": "A7"}, {"id": again[1], "name": "A8"}]
    bad = mydb_client.get("/api/idtype/AName/unmap?ids=1,x")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_value"


def test_openapi_lists_the_routes(mydb_client):
    paths = mydb_client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/idtype/", "/api/idtype/{idtype}/", "/api/idtype/{idtype}/map",
                 "/api/idtype/{idtype}/unmap", "/api/idtype/{idtype}/search",
                 "/api/idtype/{source}/{target}", "/api/idtype/{source}/{target}/search",
                 "/api/db/mydb/mytable_score/score", "/api/db/mydb/a_score/score"):
        assert set(paths[path]) == {"get", "post"}, path


@pytest.fixture
def guarded_client(mydb_url, app_factory):
    rules = {"idtype:MyName": {"read": "analyst"}}
    app = app_factory(mydb_url, **users_config(rules=rules))
    return app.test_client()


def test_reads_follow_the_idtype_rules(guarded_client):
    assert "MyName" not in {t["id"] for t in guarded_client.get("/api/idtype/").get_json()}
    denied = guarded_client.get("/api/idtype/MyIDType/MyName?q=1")
    assert denied.status_code == 401
    score = guarded_client.get("/api/db/mydb/mytable_score?target=MyName&agg=avg"
                               "&data_subtype=value")
    assert score.status_code == 401
    login(guarded_client, "analyst")
    assert guarded_client.get("/api/idtype/MyIDType/MyName?q=1").get_json() == [["My 1"]]
    login(guarded_client, "viewer")
    assert guarded_client.get("/api/idtype/MyIDType/MyName?q=1").status_code == 403


def test_unreachable_server_database_is_503(mydb_url, app_factory, tmp_path):
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'server.sqlite'}"
    client = app_factory(mydb_url, core_server={"server_db": url}).test_client()
    for request in (lambda: client.get("/api/idtype/"),
                    lambda: client.get("/api/idtype/MyIDType/map?ids[]=1"),
                    lambda: client.get("/api/idtype/MyIDType/unmap?ids=0"),
                    lambda: client.get("/api/idtype/Nope/")):
        response = request()
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "db_unavailable"
    # mapping itself does not need the server database
    assert client.get("/api/idtype/MyIDType/MyName?q=1").get_json() == [["My 1"]]
