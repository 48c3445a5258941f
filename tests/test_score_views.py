"""Score views mapped to another id type (/score and ?target=) on every backend."""

import csv
import io
from statistics import mean

import pytest
from myserverplugin.demo_data import a_rows_of
from myserverplugin.demo_data import rows_of
from myserverplugin.demo_data import scores_of

ROWS = list(rows_of(1000))
SCORES = list(scores_of(1000))
NAME = {r["my_id"]: r["name"] for r in ROWS}
CAT = {r["my_id"]: r["cat"] for r in ROWS}
A_NAME = {r["a_id"]: r["a_name"] for r in a_rows_of()}
AGG = {"min": min, "max": max, "avg": mean}


def _per(key, agg, keep=lambda s: True):
    groups = {}
    for s in SCORES:
        if keep(s):
            groups.setdefault(s[key], []).append(s["value"])
    return {k: AGG[agg](v) for k, v in groups.items()}


def _close(rows, expected):
    assert [r["id"] for r in rows] == list(expected)
    for row in rows:
        assert float(row["score"]) == pytest.approx(expected[row["id"]], abs=1e-4)


@pytest.mark.parametrize("agg", ["avg", "min", "max"])
def test_mytable_score_mapped_to_names(mydb_client, agg):
    url = f"/api/db/mydb/mytable_score?target=MyName&agg={agg}&data_subtype=value"
    rows = mydb_client.get(url).get_json()
    assert set(rows[0]) == {"id", "score"}
    _close(rows, {NAME[k]: v for k, v in sorted(_per("my_id", agg).items())})
    # the score route, its TDP alias and POST answer the same
    assert mydb_client.get(url.replace("mytable_score?", "mytable_score/score?")).get_json() == rows
    assert mydb_client.get(url.replace("/api/db/", "/api/tdp/db/")).get_json() == rows
    posted = mydb_client.post("/api/db/mydb/mytable_score/score",
                              json={"target": "MyName", "agg": agg, "data_subtype": "value"})
    assert posted.get_json() == rows


def test_filters_narrow_the_scored_ids(mydb_client):
    rows = mydb_client.get("/api/db/mydb/mytable_score/score?target=MyName&agg=max"
                           "&data_subtype=value&filter_a_id=2&filter_a_id=5").get_json()
    _close(rows, {NAME[k]: v for k, v in
                  sorted(_per("my_id", "max", lambda s: s["a_id"] in (2, 5)).items())})
    a_rows = mydb_client.get("/api/db/mydb/a_score/score?target=AName&agg=avg&data_subtype=value"
                             "&filter_cat=MyCat 3").get_json()
    _close(a_rows, {A_NAME[k]: v for k, v in
                    sorted(_per("a_id", "avg", lambda s: CAT[s["my_id"]] == "MyCat 3").items())})


def test_same_id_type_is_unmapped(mydb_client):
    rows = mydb_client.get("/api/db/mydb/a_score/score?target=IDTypeA&agg=min"
                           "&data_subtype=value").get_json()
    _close(rows, dict(sorted(_per("a_id", "min").items())))


def test_transitive_target_repeats_rows_per_mapped_id(mydb_client):
    # MyIDType -> MyCategory: every row keeps its score under its category
    rows = mydb_client.get("/api/db/mydb/mytable_score?target=MyCategory&agg=min"
                           "&data_subtype=value").get_json()
    expected = _per("my_id", "min")
    assert len(rows) == 1000
    assert [(r["id"], float(r["score"])) for r in rows] == \
        [(CAT[k], float(expected[k])) for k in sorted(expected)]


def test_sort_limit_link_and_csv(mydb_client):
    url = ("/api/db/mydb/mytable_score/score?target=MyName&agg=avg&data_subtype=value"
           "&_sort=-score,id&_limit=5")
    response = mydb_client.get(url)
    per = _per("my_id", "avg")
    best = sorted(per, key=lambda k: (-per[k], NAME[k]))[:5]
    assert [r["id"] for r in response.get_json()] == [NAME[k] for k in best]
    assert "_offset=5" in response.headers["Link"] and "target=MyName" in response.headers["Link"]
    text = mydb_client.get(url + "&_format=csv").get_data(as_text=True)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["id", "score"] and [r[0] for r in table[1:]] == [NAME[k] for k in best]


def test_assigned_ids_follow_the_target_type(mydb_client):
    rows = mydb_client.get("/api/db/mydb/a_score/score?target=AName&agg=avg&data_subtype=value"
                           "&_assignids=1").get_json()
    assert list(rows[0]) == ["_id", "id", "score"]
    names = mydb_client.get("/api/idtype/AName/unmap?ids=" + ",".join(
        str(r["_id"]) for r in rows)).get_json()
    assert names == [r["id"] for r in rows]


def test_bad_requests(mydb_client):
    base = "/api/db/mydb/mytable_score/score?agg=avg&data_subtype=value"
    none = mydb_client.get(base + "&target=AName").get_json()["error"]
    assert none["code"] == "unmappable"
    assert none["hint"] == "MyIDType maps to: MyCategory, MyName"
    unknown = mydb_client.get(base + "&target=Nope").get_json()["error"]
    assert unknown["code"] == "unmappable" and "Nope" in unknown["message"]
    for query, code in (("agg=median&data_subtype=value", "invalid_replacement"),
                        ("agg=avg&data_subtype=my_id", "invalid_replacement"),
                        ("data_subtype=value", "missing_argument"),
                        ("agg=avg&data_subtype=value&filter_nope=1", "unknown_filter"),
                        ("agg=avg&data_subtype=value&_sort=nope", "unknown_field")):
        response = mydb_client.get(f"/api/db/mydb/mytable_score/score?target=MyName&{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] == code, query
    missing = mydb_client.get("/api/db/mydb/nope/score?target=MyName")
    assert missing.status_code == 404


def test_server_row_cap_applies_to_mapped_rows(mydb_url, app_factory):
    client = app_factory(mydb_url, dbview={"max_limit": 100}).test_client()
    url = "/api/db/mydb/mytable_score/score?target=MyName&agg=avg&data_subtype=value"
    capped = client.get(url)
    assert capped.status_code == 400 and capped.get_json()["error"]["code"] == "too_many_rows"
    page = client.get(url + "&_limit=100&_offset=950")
    assert [r["id"] for r in page.get_json()] == [f"My {i}" for i in range(951, 1001)]
    assert "Link" not in page.headers
