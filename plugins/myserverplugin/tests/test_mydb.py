"""The tutorial (seed 000) as a user follows it: /api/tdp/db/, mydb's views, rows, callback."""

from myserverplugin.demo_data import rows_of

TUTORIAL_VIEWS = {"mytable", "mytable_single_score", "mytable_items", "mytable_items_verify",
                  "mytable_unique_all", "mytable_unique", "callback",
                  "a", "mytable_score", "a_score"}


def test_connector_is_listed(client):
    listing = client.get("/api/tdp/db/").get_json()
    assert {"description": "sample connector to the mydb.sqlite database", "name": "mydb"} in listing


def test_views_of_mydb(client):
    views = {v["name"]: v for v in client.get("/api/tdp/db/mydb/").get_json()}
    assert set(views) == TUTORIAL_VIEWS
    assert views["mytable"]["idType"] == "MyIDType"


def test_mytable_rows(client):
    response = client.get("/api/tdp/db/mydb/mytable")
    assert response.status_code == 200
    rows = response.get_json()
    assert len(rows) == 1000
    first = rows[0]
    assert next(iter(first)) == "_id"
    expected = next(rows_of(1))
    assert first == {"_id": 0, "id": 1, "name": "My 1", "value": expected["value"],
                     "cat": expected["cat"], "my_id": 1}
    assert [r["_id"] for r in rows] == list(range(1000))
    assert {r["cat"] for r in rows} == {"MyCat 1", "MyCat 2", "MyCat 3", "MyCat 4"}
    assert all(0 <= r["value"] <= 1000 for r in rows)


def test_ids_are_stable_across_requests(client):
    client.get("/api/tdp/db/mydb/mytable?filter_my_id=500")
    rows = client.get("/api/tdp/db/mydb/mytable").get_json()
    by_id = {r["id"]: r["_id"] for r in rows}
    assert by_id[500] == 0  # first seen
    again = client.get("/api/tdp/db/mydb/mytable?filter_my_id=500").get_json()
    assert again[0]["_id"] == 0


def test_callback_view(client):
    rows = client.get("/api/tdp/db/mydb/callback").get_json()
    sums = {}
    for row in rows_of(1000):
        sums[row["cat"]] = sums.get(row["cat"], 0) + row["value"]
    assert rows == [{"value": sums[c]} for c in sorted(sums)]


def test_single_score(client):
    rows = client.get("/api/tdp/db/mydb/mytable_single_score?name=3&attribute=value").get_json()
    assert len(rows) == 1000
    assert all(0 <= r["score"] <= 100 for r in rows)
    bad = client.get("/api/tdp/db/mydb/mytable_single_score?name=3&attribute=name")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "invalid_replacement"


def test_common_queries(client):
    items = client.get("/api/tdp/db/mydb/mytable_items/lookup?column=name&query=My 99&limit=5")
    body = items.get_json()
    assert [i["text"] for i in body["items"]] == ["My 99", "My 990", "My 991", "My 992", "My 993"]
    assert body["more"] is True
    unique = client.get("/api/tdp/db/mydb/mytable_unique_all?column=cat").get_json()
    assert unique == [{"text": f"MyCat {i}"} for i in range(1, 5)]


def test_extension_shares_the_engine(app, client):
    dbv = app.extensions["core_server"].dbviews
    assert dbv.engine(dbv.connectors["mydb_extension"]) is dbv.engine(dbv.connectors["mydb"])
    rows = client.get("/api/tdp/db/mydb_extension/mytable_categories").get_json()
    assert sum(r["n"] for r in rows) == 1000
