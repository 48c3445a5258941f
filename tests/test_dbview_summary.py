"""``/api/db/<c>/<v>/summary``: column summaries computed in SQL, on every backend."""

from collections import Counter

from myserverplugin.demo_data import rows_of

ROWS = list(rows_of(1000))


def test_number_histogram_and_category_counts(mydb_client):
    body = mydb_client.get("/api/db/mydb/mytable/summary").get_json()
    assert body["rows"] == len(ROWS) and body["complete"] and body["skipped"] == []
    value = body["columns"]["value"]
    values = [r["value"] for r in ROWS]
    assert (value["min"], value["max"], value["count"]) == (min(values), max(values), len(values))
    buckets = value["histogram"]
    assert len(buckets) == 10 and sum(b["count"] for b in buckets) == len(values)
    for b in buckets[:-1]:  # half-open buckets, the last one closed
        assert b["count"] == sum(b["from"] <= v < b["to"] for v in values)
    cat = body["columns"]["cat"]
    expected = Counter(r["cat"] for r in ROWS)
    assert {t["value"]: t["count"] for t in cat["top"]} == dict(expected)
    assert cat["distinct"] == len(expected) and cat["other"] == 0
    assert [t["count"] for t in cat["top"]] == sorted(expected.values(), reverse=True)


def test_filters_and_arguments_apply(mydb_client):
    body = mydb_client.get("/api/db/mydb/mytable/summary?filter_cat=MyCat 3"
                           "&filter_gte_value=500").get_json()
    chosen = [r for r in ROWS if r["cat"] == "MyCat 3" and r["value"] >= 500]
    assert body["rows"] == len(chosen)
    assert body["columns"]["value"]["min"] == min(r["value"] for r in chosen)
    assert [t["value"] for t in body["columns"]["cat"]["top"]] == ["MyCat 3"]
    scored = mydb_client.get("/api/db/mydb/mytable_single_score/summary?name=2&attribute=value")
    assert scored.status_code == 200
    assert scored.get_json()["columns"]["score"]["count"] == scored.get_json()["rows"] > 0


def test_bad_requests_are_json_errors(mydb_client):
    unknown = mydb_client.get("/api/db/mydb/mytable/summary?filter_nope=1")
    assert unknown.status_code == 400 and unknown.get_json()["error"]["code"] == "unknown_filter"
    missing = mydb_client.get("/api/db/mydb/mytable_single_score/summary")
    assert missing.get_json()["error"]["code"] == "missing_argument"
    callback = mydb_client.get("/api/db/mydb/callback/summary")
    assert callback.get_json()["error"]["code"] == "summary_unsupported"
    assert mydb_client.get("/api/db/mydb/nope/summary").status_code == 404
