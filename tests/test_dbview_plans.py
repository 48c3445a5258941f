"""Request plans (core_server.dbview.plans): a shape seen before answers exactly as a new one.

Each test sends requests of one shape with different values: the first validates in full and
makes the plan, the later ones replay it. Answers, errors, bound values and the SQL must be
those of a fresh validation (a second app that never saw the shape is the reference).
"""

import pytest
from myserverplugin.demo_data import rows_of

ROWS = list(rows_of(1000))


@pytest.fixture
def fresh(mydb_url, app_factory):  # noqa: D401
    """``fresh(path)``: the answer of an app that validates ``path`` for the first time."""
    def get(path, **kwargs):
        return app_factory(mydb_url).test_client().get(path, **kwargs)
    return get


def _plans(client):
    return client.application.extensions["core_server"].dbviews.plans


def test_same_shape_other_values(mydb_client):
    for my_id in (5, 123, 999, 5):
        rows = mydb_client.get(f"/api/db/mydb/mytable?filter_my_id={my_id}").get_json()
        assert [r["my_id"] for r in rows] == [my_id]
    for cat, value in (("MyCat 1", 900), ("MyCat 3", 100), ("MyCat 1", 990)):
        rows = mydb_client.get(f"/api/db/mydb/mytable?filter_cat={cat}&filter_gt_value={value}"
                               "&_limit=50").get_json()
        expected = [r["my_id"] for r in ROWS if r["cat"] == cat and r["value"] > value][:50]
        assert sorted(r["my_id"] for r in rows) == sorted(expected)
    assert len(_plans(mydb_client)) == 2


def test_one_value_and_several_are_other_shapes(mydb_client):
    one = mydb_client.get("/api/db/mydb/mytable?filter_my_id=7").get_json()
    two = mydb_client.get("/api/db/mydb/mytable?filter_my_id=7&filter_my_id=8").get_json()
    three = mydb_client.get("/api/db/mydb/mytable?filter_my_id=1&filter_my_id=2"
                            "&filter_my_id[]=3").get_json()
    assert [r["my_id"] for r in one] == [7]
    assert sorted(r["my_id"] for r in two) == [7, 8]
    assert sorted(r["my_id"] for r in three) == [1, 2, 3]


def test_invalid_value_on_replay_is_the_same_400(mydb_client, fresh):
    assert mydb_client.get("/api/db/mydb/mytable?filter_gt_value=5").status_code == 200
    path = "/api/db/mydb/mytable?filter_gt_value=five"
    replayed = mydb_client.get(path)
    assert replayed.status_code == 400
    assert replayed.get_json()["error"]["code"] == fresh(path).get_json()["error"]["code"]
    assert replayed.get_json()["error"]["message"] == fresh(path).get_json()["error"]["message"]


def test_options_are_part_of_the_shape(mydb_client):
    first = mydb_client.get("/api/db/mydb/mytable?_sort=-my_id&_limit=3").get_json()
    other = mydb_client.get("/api/db/mydb/mytable?_sort=my_id&_limit=2&_offset=10").get_json()
    assert [r["my_id"] for r in first] == [1000, 999, 998]
    assert [r["my_id"] for r in other] == [11, 12]


def test_replayed_query_binds_the_new_values(mydb_url, app_factory):
    # _return_query shows the SQL and the bound values: the replay's must be a fresh app's
    def client():
        return app_factory(mydb_url, dbview={"return_query": "any"}).test_client()
    planned = client()
    for my_id in (3, 4, 5):
        path = f"/api/db/mydb/mytable?filter_my_id={my_id}&filter_cat=MyCat 1&_return_query"
        replayed = planned.get(path)
        assert replayed.status_code == 200
        assert replayed.get_json() == client().get(path).get_json()
        assert replayed.get_json()["args"]["my_id"] == my_id


def test_lenient_tdp_requests_keep_their_warning(mydb_client):
    for my_id in (9, 10):
        response = mydb_client.get(f"/api/tdp/db/mydb/mytable?filter_my_id={my_id}"
                                   "&filter_nope=1")
        assert response.status_code == 200
        assert [r["my_id"] for r in response.get_json()] == [my_id]
        assert "filter_nope" in response.headers["Warning"]
