"""The /api/db routes (and their /api/tdp/db alias) over the tutorial data on every backend."""

from myserverplugin.demo_data import rows_of
from openapi_spec_validator import validate

ROWS = list(rows_of(1000))


def test_alias_is_identical(mydb_client):
    for path in ("/", "/mydb/", "/mydb/mytable?_limit=5", "/mydb/mytable/desc"):
        a = mydb_client.get("/api/db" + path)
        b = mydb_client.get("/api/tdp/db" + path)
        assert a.status_code == b.status_code == 200
        assert a.get_json() == b.get_json()


def test_equality_in_and_range_filters(mydb_client):
    rows = mydb_client.get("/api/db/mydb/mytable?filter_cat=MyCat 2").get_json()
    assert {r["my_id"] for r in rows} == {r["my_id"] for r in ROWS if r["cat"] == "MyCat 2"}
    both = mydb_client.get("/api/db/mydb/mytable?filter_cat=MyCat 2&filter_cat=MyCat 3").get_json()
    assert len(both) == sum(r["cat"] in ("MyCat 2", "MyCat 3") for r in ROWS)
    ranged = mydb_client.get("/api/db/mydb/mytable?filter_gt_value=500&filter_lte_value=600"
                             "&filter_cat[]=MyCat 1").get_json()
    assert {r["my_id"] for r in ranged} == {
        r["my_id"] for r in ROWS if 500 < r["value"] <= 600 and r["cat"] == "MyCat 1"}


def test_single_row(mydb_client):
    rows = mydb_client.get("/api/db/mydb/mytable?filter_my_id=123").get_json()
    assert [r["name"] for r in rows] == ["My 123"]


def test_post_form_and_json_bodies(mydb_client):
    ids = [str(i) for i in range(1, 301)]
    form = mydb_client.post("/api/db/mydb/mytable", data={"filter_my_id": ids})
    assert form.status_code == 200 and len(form.get_json()) == 300
    body = mydb_client.post("/api/db/mydb/mytable", json={"filter_cat": ["MyCat 1", "MyCat 4"],
                                                           "filter_gt_value": 990})
    assert {r["my_id"] for r in body.get_json()} == {
        r["my_id"] for r in ROWS if r["cat"] in ("MyCat 1", "MyCat 4") and r["value"] > 990}


def test_count(mydb_client):
    assert mydb_client.get("/api/db/mydb/mytable/count").get_json() == 1000
    count = mydb_client.get("/api/db/mydb/mytable/count?filter_cat=MyCat 4").get_json()
    assert count == sum(r["cat"] == "MyCat 4" for r in ROWS)
    # a view without table or count query: counted as a subquery
    assert mydb_client.get("/api/db/mydb/mytable_unique_all/count?column=cat").get_json() == 4


def test_desc_derives_columns(mydb_client):
    desc = mydb_client.get("/api/db/mydb/mytable/desc").get_json()
    columns = {c["column"]: c for c in desc["columns"]}
    assert columns["value"]["type"] == "number"
    assert columns["value"]["min"] == min(r["value"] for r in ROWS)
    assert columns["cat"]["type"] == "categorical"  # explicit beats derived
    assert columns["cat"]["categories"] == ["MyCat 1", "MyCat 2", "MyCat 3", "MyCat 4"]
    assert columns["name"]["type"] == "string"
    assert desc["idType"] == "MyIDType" and desc["type"] == "generic"


def test_lookup_pages(mydb_client):
    url = "/api/db/mydb/mytable_unique/lookup?column=cat&query=cat&limit=3"
    first = mydb_client.get(url).get_json()
    assert [i["text"] for i in first["items"]] == ["MyCat 1", "MyCat 2", "MyCat 3"]
    assert first["more"] is True
    second = mydb_client.get(url + "&page=1").get_json()
    assert second == {"items": [{"id": "MyCat 4", "text": "MyCat 4"}], "more": False}


def test_sort_limit_offset_and_link(mydb_client):
    response = mydb_client.get("/api/db/mydb/mytable?_sort=-value,my_id&_limit=10&_offset=5")
    expected = sorted(ROWS, key=lambda r: (-r["value"], r["my_id"]))[5:15]
    assert [r["my_id"] for r in response.get_json()] == [r["my_id"] for r in expected]
    link = response.headers["Link"]
    assert 'rel="next"' in link and "_offset=15" in link and "_limit=10" in link
    last = mydb_client.get("/api/db/mydb/mytable?_limit=10&_offset=990")
    assert len(last.get_json()) == 10 and "Link" not in last.headers
    empty = mydb_client.get("/api/db/mydb/mytable?_limit=10&_offset=1000")
    assert empty.get_json() == [] and "Link" not in empty.headers


def test_max_limit_is_a_400_not_a_short_list(mydb_url, app_factory):
    client = app_factory(mydb_url, dbview={"max_limit": 100}).test_client()
    too_big = client.get("/api/db/mydb/mytable?_limit=101")
    assert too_big.status_code == 400 and "100" in too_big.get_json()["error"]["hint"]
    unpaged = client.get("/api/db/mydb/mytable")
    assert unpaged.status_code == 400 and unpaged.get_json()["error"]["code"] == "too_many_rows"
    assert len(client.get("/api/db/mydb/mytable?_limit=100").get_json()) == 100
    assert len(client.get("/api/db/mydb/mytable?filter_cat=MyCat 1&filter_lt_value=50").get_json()) < 100


def test_in_list_argument_tdp_style(testdb):
    rows = testdb.get("/api/db/testdb/by_ids?ids=3&ids=1&ids=2").get_json()
    assert [r["name"] for r in rows] == ["My 1", "My 2", "My 3"]
    assert [r["_id"] for r in rows] == [0, 1, 2]
    comma = testdb.get("/api/db/testdb/by_ids?ids[]=5,6").get_json()
    assert [r["id"] for r in comma] == [5, 6]
    posted = testdb.post("/api/db/testdb/by_ids", json={"ids": list(range(1, 1001))}).get_json()
    assert len(posted) == 1000


def test_any_array_argument_on_postgresql(testdb, backend):
    response = testdb.get("/api/db/testdb/by_ids_any?ids=7&ids=8")
    if backend == "postgresql":
        assert [r["id"] for r in response.get_json()] == [7, 8]
    else:  # PostgreSQL syntax: elsewhere a clean JSON error, not a crash
        assert response.status_code == 500
        assert response.get_json()["error"]["code"] == "query_failed"


def test_arguments_filters_and_inject_where_together(testdb):
    rows = testdb.get("/api/db/testdb/by_cat?cat=MyCat 3&filter_gt_value=900"
                      "&filter_named=my 999").get_json()
    expected = [r for r in ROWS if r["cat"] == "MyCat 3" and r["value"] > 900
                and r["name"].lower() == "my 999"]
    assert [r["id"] for r in rows] == [r["my_id"] for r in expected]


def test_whitelisted_replacement_and_limit_offset(testdb):
    rows = testdb.get("/api/db/testdb/column_of?col=value&limit=3&offset=1&query=").get_json()
    assert rows == [{"id": r["my_id"], "v": r["value"]} for r in ROWS[1:4]]
    # as in TDP, limit_offset declares the argument query (the lookup route fills it in)
    missing = testdb.get("/api/db/testdb/column_of?col=value&limit=3&offset=1")
    assert missing.get_json()["error"]["code"] == "missing_argument"


def test_callback_gets_arguments_and_filters(testdb):
    rows = testdb.get("/api/db/testdb/echo?n=4&filter_cat=a&filter_cat=b").get_json()
    assert rows == [{"args": {"n": 4}, "filters": {"cat": ["a", "b"]}}]


def test_security_rules_and_private_views(testdb, testdb_app):
    listing = {v["name"] for v in testdb.get("/api/db/testdb/").get_json()}
    assert "secret" not in listing and "hidden" not in listing and "public" in listing
    assert testdb.get("/api/db/testdb/secret").status_code == 401
    assert testdb.get("/api/db/testdb/hidden").status_code == 404
    assert testdb.get("/api/db/testdb/public").get_json() == [{"x": 1}]


def test_return_query_only_for_admins(testdb, testdb_app):
    from flask import g
    from flask import request

    from core_server.security import User

    @testdb_app.before_request
    def admin():  # stands in for a login until the security subsystem exists
        if request.headers.get("X-Test-Admin"):
            g.user = User("root", frozenset({"admin"}))

    denied = testdb.get("/api/db/testdb/by_ids?ids=1&_return_query=1")
    assert denied.status_code == 403
    testdb.environ_base["HTTP_X_TEST_ADMIN"] = "1"
    info = testdb.get("/api/db/testdb/by_ids?ids=1&ids=2&_return_query=1").get_json()
    assert "IN :ids" in info["query"] and info["args"] == {"ids": [1, 2]}
    assert testdb.get("/api/db/testdb/secret").get_json() == [{"x": 1}]


def test_openapi_lists_views_with_parameters(mydb_client):
    spec = mydb_client.get("/api/openapi.json").get_json()
    validate(spec)
    get = spec["paths"]["/api/db/mydb/mytable"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"filter_cat", "_limit", "_sort", "_format"} <= names
    items = spec["paths"]["/api/db/mydb/mytable_items"]["get"]
    column = next(p for p in items["parameters"] if p["name"] == "column")
    assert column["schema"]["enum"] == ["name", "cat", "value"]
    assert "query" in {p["name"] for p in items["parameters"]}
    assert "/api/db/mydb/mytable_items/lookup" in spec["paths"]
    assert "/api/db/mydb/callback" in spec["paths"]
    # rows, or with _return_query=true (privileged) the SQL
    rows, query = get["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert "cat" in rows["items"]["properties"] and "query" in query["properties"]


def test_health_check_per_connector(mydb_client):
    body = mydb_client.get("/api/_health?deep=1").get_json()
    assert body["checks"]["db:mydb"] == "ok" and body["status"] == "ok"


def test_lookup_answers_a_post_form_as_tdp_core_17(mydb_client):
    # tdp_core 17 serves /lookup for GET and POST; its clients may send the form as a body
    got = mydb_client.post("/api/db/mydb/mytable_unique/lookup",
                           data={"column": "cat", "query": "cat", "limit": "3", "page": "1"})
    assert got.status_code == 200
    assert got.get_json() == {"items": [{"id": "MyCat 4", "text": "MyCat 4"}], "more": False}
