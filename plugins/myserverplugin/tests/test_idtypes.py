"""The tutorial's second id type: table a, score views between the two, id mappings."""

from statistics import mean

import pytest
from myserverplugin.demo_data import A_ROWS
from myserverplugin.demo_data import a_rows_of
from myserverplugin.demo_data import scores_of


def test_table_a_and_its_id_type(client):
    rows = client.get("/api/db/mydb/a?_sort=a_id").get_json()
    assert [r["id"] for r in rows] == list(range(1, A_ROWS + 1))
    assert rows[0] == {"_id": 0, "id": 1, **next(a_rows_of())}
    desc = client.get("/api/db/mydb/a/desc").get_json()
    assert desc["idType"] == "IDTypeA"
    columns = {c["column"]: c for c in desc["columns"]}
    assert columns["a_cat"]["categories"] == ["ACat 1", "ACat 2", "ACat 3"]


def test_scores_mapped_both_ways(client):
    scores = list(scores_of(1000))
    per_row = {}
    per_a = {}
    for s in scores:
        per_row.setdefault(s["my_id"], []).append(s["value"])
        per_a.setdefault(s["a_id"], []).append(s["value"])
    mine = client.get("/api/db/mydb/mytable_score?target=MyName&agg=avg"
                      "&data_subtype=value").get_json()
    assert [r["id"] for r in mine] == [f"My {i}" for i in sorted(per_row)]
    assert [float(r["score"]) for r in mine] == pytest.approx(
        [mean(per_row[i]) for i in sorted(per_row)], abs=1e-4)
    theirs = client.get("/api/db/mydb/a_score/score?target=AName&agg=max"
                        "&data_subtype=value").get_json()
    assert theirs == [{"id": f"A{i}", "score": max(per_a[i])} for i in sorted(per_a)]


def test_name_mappings(client):
    assert client.get("/api/idtype/MyIDType/MyName?q=1,1000,1001").get_json() == \
        [["My 1"], ["My 1000"], []]
    assert client.get("/api/idtype/MyName/MyIDType?q[]=My 42&mode=first").get_json() == [42]
    assert client.get("/api/idtype/AName/IDTypeA/search?q=a1&limit=2").get_json() == \
        [{"match": "A1", "to": [1]}, {"match": "A10", "to": [10]}]
