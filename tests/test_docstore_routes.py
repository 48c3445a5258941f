"""Every /api/store route and every example of spec §10, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from flask import Flask
from flask import g
from flask import request
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from core_server.security import User
from core_server.testing import DEMO_SCHEMAS
from core_server.testing import store_app

S = "/api/store"


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Iterator[Flask]:
    with store_app(tmp_path, db_url) as application:
        application.before_request(_test_user)
        yield application


def _test_user() -> None:
    # test-only: login does not exist on this branch; X-Test-User stands in for it
    name = request.headers.get("X-Test-User")
    if name:
        roles = request.headers.get("X-Test-Roles", "")
        g.user = User(name, frozenset(r for r in roles.split(",") if r))


ADMIN = {"X-Test-User": "root", "X-Test-Roles": "admin"}


def _user(client: FlaskClient, login: str = "a") -> str:
    r = client.post(f"{S}/users", json={"login": login})
    assert r.status_code == 201, r.json
    return r.json["_id"]  # type: ignore[no-any-return]


def _plugin(client: FlaskClient, owner: str, name: str, **fields: Any) -> dict[str, Any]:
    r = client.post(f"{S}/plugins", json={"name": name, "owner": owner, **fields})
    assert r.status_code == 201, r.json
    return r.json  # type: ignore[no-any-return]


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.json["error"]
    if code:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


def test_example_1_create_user(client: FlaskClient) -> None:
    r = client.post(f"{S}/users", json={"login": "a"})
    assert r.status_code == 201
    doc = r.json
    assert isinstance(doc["_id"], str) and not doc["_id"].replace("-", "").isdigit()
    assert doc["_version"] == 1 and r.headers["ETag"] == '"1"'
    assert r.headers["Location"].endswith(f"/api/store/users/{doc['_id']}")
    assert doc["_created_by"] == "anonymous" and doc["_created_at"].endswith("Z")
    again = client.get(r.headers["Location"])
    assert again.status_code == 200 and again.json == doc


def test_example_2_3_4_bad_creates(client: FlaskClient) -> None:
    uid = _user(client)
    error = _error(client.post(f"{S}/plugins", json={"name": 5, "owner": uid}), 422,
                   "validation_failed")
    assert error["details"][0] == {"path": "$.name", "code": "type", "expected": "string",
                                   "got": "int"}
    _error(client.post(f"{S}/plugins", data="{bad", content_type="application/json"), 400,
           "malformed_json")
    _error(client.post(f"{S}/plugins", data='{"name": "x"}'), 415)
    _error(client.post(f"{S}/plugins", data='{"name": "x"}', content_type="text/plain"), 415)
    _error(client.post(f"{S}/plugins", json=[{"name": "x"}]), 400, "invalid_body")
    _plugin(client, uid, "dup")
    error = _error(client.post(f"{S}/plugins", json={"name": "dup", "owner": uid}), 409,
                   "duplicate")
    assert error["details"][0]["index"] == "ix_name"
    assert client.get(f"{S}/plugins/_count").json == {"count": 1}


def test_every_problem_is_listed_and_nothing_written(client: FlaskClient) -> None:
    uid = _user(client)
    body = {"name": "x" * 300, "age": -1, "owner": uid, "nosuch": 1, "meta": {"color": "green"},
            "tags": ["a", 3], "born": "yesterday", "_id": "mine", "active": "yes"}
    error = _error(client.post(f"{S}/plugins", json=body), 422, "validation_failed")
    codes = {(d["path"], d["code"]) for d in error["details"]}
    assert codes == {("$._id", "read_only_field"), ("$.name", "max_length"), ("$.age", "min"),
                     ("$.nosuch", "unknown_field"), ("$.meta.color", "enum"),
                     ("$.tags[1]", "type"), ("$.born", "type"), ("$.active", "type")}
    _error(client.post(f"{S}/plugins", json={"name": "x", "owner": uid, "_version": 3}), 422,
           "read_only_field")
    nul = _error(client.post(f"{S}/plugins", json={"name": "a\x00", "owner": uid}), 422)
    assert nul["details"] == [{"path": "$.name", "code": "nul_character"}]
    _error(client.get(f"{S}/plugins", query_string={"name": "a\x00"}), 400, "invalid_value")
    _error(client.get(f"{S}/plugins", query_string={"name.$like": "a\x00"}), 400,
           "invalid_value")
    _error(client.get(f"{S}/users/a%00b"), 404)
    _error(client.put(f"{S}/users/{'x' * 100}", json={"login": "q"}), 404)
    long_city = _error(client.post(f"{S}/plugins", json={"name": "c", "owner": uid,
                                                         "city": "x" * 501}), 422)
    assert long_city["details"] == [{"path": "$.city", "code": "max_length", "limit": 500}]
    missing = _error(client.post(f"{S}/plugins", json={"name": "y", "owner": "nope"}), 422,
                     "ref_not_found")
    assert missing["details"][0]["id"] == "nope"
    assert client.get(f"{S}/plugins/_count").json == {"count": 0}


def test_example_5_6_7_listing(client: FlaskClient) -> None:
    uid = _user(client)
    for i, age in enumerate([3, 12, 7, 1, 9]):
        _plugin(client, uid, f"p{i}", age=age, city="Paris" if i % 2 else "Rome")
    r = client.get(f"{S}/plugins?age.$lt=10&_sort=-age&_limit=2")
    assert r.status_code == 200
    assert [d["age"] for d in r.json["items"]] == [9, 7]
    assert r.json["total"] == 4 and r.json["limit"] == 2 and r.json["offset"] == 0
    assert r.json["next_cursor"] and 'rel="next"' in r.headers["Link"]
    nxt = client.get(f"{S}/plugins?age.$lt=10&_sort=-age&_limit=2&_cursor={r.json['next_cursor']}")
    assert [d["age"] for d in nxt.json["items"]] == [3, 1] and nxt.json["next_cursor"] is None
    assert [d["age"] for d in client.get(f"{S}/plugins?age[$gte]=9&_sort=age").json["items"]] \
        == [9, 12]
    _error(client.get(f"{S}/plugins?age.$foo=1"), 400, "unknown_operator")
    _error(client.get(f"{S}/plugins?nosuch=1"), 400, "unknown_field")
    _error(client.get(f"{S}/plugins?age=abc"), 400, "invalid_value")
    _error(client.get(f"{S}/plugins?age=1&age=2"), 400, "invalid_value")
    for bad in ("abc", "-1", "100000", "1.5"):
        _error(client.get(f"{S}/plugins?_limit={bad}"), 400, "invalid_value")
    _error(client.get(f"{S}/plugins?_offset=-3"), 400, "invalid_value")
    _error(client.get(f"{S}/plugins?_cursor=garbage"), 400, "invalid_cursor")
    _error(client.get(f"{S}/plugins?_sort=nosuch"), 400, "unknown_field")
    _error(client.get(f"{S}/plugins?_bogus=1"), 400, "unknown_parameter")
    _error(client.get(f"{S}/plugins?fields=name,nosuch"), 400, "unknown_field")
    _error(client.get(f"{S}/nosuch"), 404, "not_found")


def test_listing_options(client: FlaskClient) -> None:
    uid = _user(client)
    for i in range(4):
        _plugin(client, uid, f"n{i}", age=i, tags=["x", f"t{i}"], meta={"color": "red"})
    page = client.get(f"{S}/plugins?_page=1&_skip=2&_sort=age&_count=false&fields=name,meta.color")
    assert page.json["items"] == [{"_id": page.json["items"][0]["_id"], "name": "n2",
                                   "meta": {"color": "red"}}]
    assert "total" not in page.json and page.json["offset"] == 2
    assert client.get(f"{S}/plugins?name=123").json["total"] == 0  # a string, not an error
    assert client.get(f"{S}/plugins?tags=t1").json["total"] == 1
    assert client.get(f"{S}/plugins?tags.$in=t1,t2&tags.$in=t3").json["total"] == 3
    assert client.get(f"{S}/plugins?meta.color=red&age.$ne=0").json["total"] == 3
    assert client.get(f"{S}/plugins?name.$like=n%25").json["total"] == 4
    assert client.get(f"{S}/plugins?name.$regex=^n[12]$").json["total"] == 2
    assert client.get(f"{S}/plugins?city.$exists=false").json["total"] == 4
    assert client.get(f"{S}/plugins/_count?tags.$size=2&age.$gt=1").json == {"count": 2}
    query = {"filter": {"$or": [{"age": {"$lt": 1}}, {"tags": {"$contains": "t3"}}]},
             "sort": ["age:desc"], "limit": 5, "fields": ["age"]}
    r = client.post(f"{S}/plugins/_query", json=query)
    assert [d["age"] for d in r.json["items"]] == [3, 0] and r.json["total"] == 2
    _error(client.post(f"{S}/plugins/_query", json={"filter": {"age": {"$gt": "x"}}}), 400,
           "invalid_value")
    _error(client.post(f"{S}/plugins/_query", json={"bogus": 1}), 400, "unknown_parameter")
    for paging in ({"limit": -1}, {"offset": -5}, {"limit": "x"}, {"limit": 1.5},
                   {"limit": True}, {"offset": 2**63}, {"cursor": 5}, {"sort": {"a": 1}}):
        _error(client.post(f"{S}/plugins/_query", json=paging), 400, "invalid_value")


def test_page_and_its_total_are_one_statement(client: FlaskClient, app: Flask) -> None:
    uid = _user(client)
    for i in range(4):
        _plugin(client, uid, f"s{i}", age=i)
    store = app.extensions["core_server"].store
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, sql, *args: statements.append(sql))
    page = client.get(f"{S}/plugins?age.$gte=1&_sort=age&_limit=2").json
    assert [d["age"] for d in page["items"]] == [1, 2] and page["total"] == 3
    assert len(statements) == 1, statements  # no BEGIN, no separate count(*)
    assert client.get(f"{S}/plugins/_count?age.$gte=1").json == {"count": 3}
    assert len(statements) == 2, statements
    # pages without a row to carry the total still have it
    assert client.get(f"{S}/plugins?age.$gte=1&_offset=9").json["total"] == 3
    assert client.get(f"{S}/plugins?age.$gte=1&_limit=0").json["total"] == 3
    assert client.get(f"{S}/plugins?age.$gt=9").json["total"] == 0
    first = client.get(f"{S}/plugins?age.$gte=1&_sort=age&_limit=1").json
    assert client.delete(f"{S}/plugins?age.$gte=2").json == {"deleted": 2}
    rest = client.get(f"{S}/plugins?age.$gte=1&_sort=age&_limit=1&_cursor={first['next_cursor']}")
    assert rest.json["items"] == [] and rest.json["total"] == 1


def test_get_etag_and_reverse(client: FlaskClient) -> None:
    uid = _user(client)
    p = _plugin(client, uid, "r")
    r = client.get(f"{S}/plugins/{p['_id']}?fields=name")
    assert r.json == {"_id": p["_id"], "name": "r"} and r.headers["ETag"] == '"1"'
    assert client.get(f"{S}/plugins/{p['_id']}", headers={"If-None-Match": '"1"'}).status_code \
        == 304
    rev = client.get(f"{S}/users/{uid}?_reverse=plugins").json
    assert rev["_reverse"] == {"plugins": [p["_id"]]}
    _error(client.get(f"{S}/plugins/nosuch"), 404, "not_found")
    _error(client.get(f"{S}/plugins/{p['_id']}?fields=x'"), 400, "unknown_field")


def test_example_8_9_put_patch(client: FlaskClient) -> None:
    uid = _user(client)
    p = _plugin(client, uid, "w", age=1)
    url = f"{S}/plugins/{p['_id']}"
    body = {"name": "w", "owner": uid, "age": 2}
    first = client.put(url, json=body, headers={"If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    _error(client.put(url, json=body, headers={"If-Match": '"1"'}), 412, "precondition_failed")
    _error(client.put(url, json={**body, "_version": 1}), 409, "version_conflict")
    _error(client.put(url, json={**body, "_created_by": "me"}), 422, "read_only_field")
    merge = client.patch(url, json={"age": 40}, content_type="application/merge-patch+json")
    assert merge.status_code == 200 and merge.json["age"] == 40 and merge.json["_version"] == 3
    ops = [{"op": "replace", "path": "/age", "value": 41}]
    patched = client.patch(url, json=ops, content_type="application/json-patch+json")
    assert patched.status_code == 200 and patched.json["age"] == 41
    _error(client.patch(url, json=[{"op": "replace", "path": "/_version", "value": 9}],
                        content_type="application/json-patch+json"), 422, "read_only_field")
    _error(client.patch(url, json=[{"op": "remove", "path": "/nosuch"}],
                        content_type="application/json-patch+json"), 422, "invalid_patch")
    _error(client.patch(url, json={"age": "old"}), 422, "validation_failed")
    _error(client.patch(url, data="x", content_type="text/plain"), 415)
    final = client.get(url).json
    assert final["age"] == 41 and final["_version"] == 4
    assert final["_created_at"] == p["_created_at"]


def test_example_10_11_deletes(client: FlaskClient) -> None:
    uid = _user(client)
    p = _plugin(client, uid, "d")
    error = _error(client.delete(f"{S}/users/{uid}"), 409, "ref_restrict")
    assert error["details"][0]["ids"] == [p["_id"]]
    assert client.get(f"{S}/users/{uid}").status_code == 200
    _plugin(client, uid, "e")
    _error(client.delete(f"{S}/plugins"), 400, "filter_required")
    assert client.delete(f"{S}/plugins?name=e").json == {"deleted": 1}
    assert client.delete(f"{S}/plugins?_all=true").json == {"deleted": 1}
    _error(client.delete(f"{S}/users/{uid}", headers={"If-Match": '"7"'}), 412)
    assert client.delete(f"{S}/users/{uid}").status_code == 204
    _error(client.delete(f"{S}/users/{uid}"), 404)


def test_example_12_meta(client: FlaskClient, app: Flask) -> None:
    namespace: dict[str, Any] = {}
    exec(DEMO_SCHEMAS, namespace)  # the registered dicts themselves
    meta = client.get(f"{S}/_meta").json
    assert client.get(f"{S}/").json == meta
    plugins = meta["collections"]["plugins"]
    assert plugins["schema"] == namespace["PLUGINS"]
    assert plugins["refs"] == {"owner": {"collection": "users", "on_delete": "restrict",
                                         "type": "ref"}}
    assert {"name": "ix_name", "fields": ["name"], "unique": True} in plugins["indexes"]
    assert {"name": "ix_age_city", "fields": ["age", "city:desc"], "unique": False} \
        in plugins["indexes"]
    assert "$regex" in meta["operators"] and meta["limits"]["max_limit"] == 1000
    assert client.get(f"{S}/plugins/_meta").json == plugins
    rights = client.post(f"{S}/users/_meta", json={}).json
    assert rights["rights"] == {"read": True, "create": True, "update": True, "delete": True}
    assert rights["fields"]["email"] == {"read": False, "write": False}


def test_check_route(client: FlaskClient) -> None:
    ok = client.post(f"{S}/plugins/_check", json={"item": {"name": "x", "age": 3},
                                                  "mode": "update"})
    assert ok.json == {"valid": True, "errors": []}
    bad = client.post(f"{S}/plugins/_check", json={"item": {"name": 1, "age": "x"},
                                                   "path": "$.age"}).json
    assert bad["valid"] is False and [e["path"] for e in bad["errors"]] == ["$.age"]
    missing = client.post(f"{S}/plugins/_check", json={"item": {}}).json
    assert {e["path"] for e in missing["errors"]} == {"$.name", "$.owner"}
    _error(client.post(f"{S}/plugins/_check", json={"item": [], "mode": "x"}), 400)


def test_field_rights(client: FlaskClient, app: Flask) -> None:
    r = client.post(f"{S}/users", json={"login": "x", "email": "x@y"})
    _error(r, 403, "forbidden")
    uid = _user(client, "b")
    _error(client.get(f"{S}/users?email=x"), 403)
    editor = {"X-Test-User": "ed", "X-Test-Roles": "editor"}
    _error(client.patch(f"{S}/users/{uid}", json={"email": "b@c"}, headers=editor), 403)
    assert client.patch(f"{S}/users/{uid}", json={"email": "b@c"}, headers=ADMIN).status_code \
        == 200
    doc = client.get(f"{S}/users/{uid}", headers=ADMIN).json
    assert doc["email"] == "b@c" and doc["_updated_by"] == "root"
    assert client.post(f"{S}/users/_meta", json={}, headers=ADMIN).json["fields"]["email"] == \
        {"read": True, "write": True}


def test_field_rights_hide_and_keep(client: FlaskClient, app: Flask) -> None:
    store = app.extensions["core_server"].store
    with store.transaction() as tx:
        uid = tx.insert("users", {"login": "h", "email": "h@x"})
    doc = client.get(f"{S}/users/{uid}").json
    assert "email" not in doc
    assert client.put(f"{S}/users/{uid}", json={"login": "h2"}).status_code == 200
    with store.transaction() as tx:
        assert tx.get("users", uid)["email"] == "h@x"  # a replace keeps what it cannot see


def test_actions_and_selections(client: FlaskClient) -> None:
    note = client.post(f"{S}/notes", json={"title": "a"}).json
    assert note["n"] == 0 and note["log"] == ["created"]  # default + before_create hook
    url = f"{S}/notes/_actions/increment/{note['_id']}"
    r = client.post(url, json={"by": 2})
    assert r.status_code == 200 and r.json["result"] == 2 and r.json["doc"]["n"] == 2
    _error(client.post(url, json={"by": 0}), 422, "validation_failed")
    _error(client.post(url, json={"by": 1, "x": 1}), 422, "validation_failed")
    _error(client.post(f"{S}/notes/_actions/nosuch/{note['_id']}", json={}), 404)
    client.post(f"{S}/notes", json={"title": "b", "n": 5})
    sel = client.get(f"{S}/notes/_selections/brief").json
    assert sel["columns"] == ["_id", "title", "n"]
    assert [row[1:] for row in sel["rows"]] == [["b", 5], ["a", 2]] and sel["total"] == 2
    filtered = client.post(f"{S}/notes/_selections/brief", json={"filter": {"title": "a"}}).json
    assert [row[1] for row in filtered["rows"]] == ["a"]
    assert client.get(f"{S}/notes/_selections/brief?n.$gt=3").json["total"] == 1
    _error(client.get(f"{S}/notes/_selections/nosuch"), 404)
    _error(client.delete(f"{S}/notes/{note['_id']}"), 401)  # schema rights: delete needs admin
    _error(client.delete(f"{S}/notes/{note['_id']}", headers={"X-Test-User": "u"}), 403)
    assert client.delete(f"{S}/notes/{note['_id']}", headers=ADMIN).status_code == 204


def test_batch_all_or_nothing(client: FlaskClient) -> None:
    uid = _user(client)
    ok = client.post(f"{S}/_batch", json={"ops": [
        {"op": "insert", "collection": "plugins", "doc": {"name": "b1", "owner": uid}},
        {"op": "insert", "collection": "plugins", "doc": {"name": "b2", "owner": uid}},
    ]})
    assert ok.status_code == 200 and [r["status"] for r in ok.json["results"]] == [201, 201]
    first = ok.json["results"][0]["_id"]
    bad = client.post(f"{S}/_batch", json={"ops": [
        {"op": "patch", "collection": "plugins", "id": first, "patch": {"age": 5}},
        {"op": "insert", "collection": "plugins", "doc": {"name": "b3", "owner": uid}},
        {"op": "insert", "collection": "plugins", "doc": {"name": "b1", "owner": uid}},
    ]})
    error = _error(bad, 409, "duplicate")
    assert error["details"][0] == {"op": 2}
    assert client.get(f"{S}/plugins/_count").json == {"count": 2}
    assert "age" not in client.get(f"{S}/plugins/{first}").json
    mixed = client.post(f"{S}/_batch", json={"ops": [
        {"op": "update", "collection": "plugins", "id": first,
         "doc": {"name": "b1", "owner": uid, "age": 1}, "if_version": 1},
        {"op": "patch", "collection": "plugins", "id": first, "patch_type": "json",
         "patch": [{"op": "replace", "path": "/age", "value": 2}]},
        {"op": "delete", "collection": "plugins", "id": ok.json["results"][1]["_id"]},
    ]})
    assert [r["status"] for r in mixed.json["results"]] == [200, 200, 204]
    _error(client.post(f"{S}/_batch", json={"ops": [{"op": "drop", "collection": "x"}]}), 400)
    _error(client.post(f"{S}/_batch", json=[]), 400)


def test_anonymous_writes_need_login(tmp_path: Path, db_url: str) -> None:
    closed = {"core_server": {"security": {"anonymous_write": False}}}
    with store_app(tmp_path, db_url, closed) as application:
        client = application.test_client()
        _error(client.post(f"{S}/users", json={"login": "a"}), 401, "unauthorized")
        assert client.get(f"{S}/users").status_code == 200


def test_require_if_match(tmp_path: Path, db_url: str) -> None:
    with store_app(tmp_path, db_url, {"store": {"require_if_match": True}}) as application:
        client = application.test_client()
        uid = _user(client)
        _error(client.put(f"{S}/users/{uid}", json={"login": "b"}), 428)
        _error(client.delete(f"{S}/users/{uid}"), 428)
        ok = client.patch(f"{S}/users/{uid}", json={"login": "c"}, headers={"If-Match": '"1"'})
        assert ok.status_code == 200


def test_hostile_filters(client: FlaskClient) -> None:
    uid = _user(client)
    _plugin(client, uid, "h")
    for key in ("name'--", 'na"me', "name) OR 1=1 --", "x;DROP TABLE ds_plugins", "$where"):
        r = client.post(f"{S}/plugins/_query", json={"filter": {key: 1}})
        assert r.status_code == 400 and r.json["error"]["code"] in ("unknown_field",
                                                                   "unknown_operator")
    deep: dict[str, Any] = {"name": "h"}
    for _ in range(6):
        deep = {"$and": [deep]}
    _error(client.post(f"{S}/plugins/_query", json={"filter": deep}), 400, "filter_too_complex")
    wide = {"$or": [{"age": i} for i in range(60)]}
    _error(client.post(f"{S}/plugins/_query", json={"filter": wide}), 400, "filter_too_complex")
    for pattern in ("(a+)+$", "(x*)*y", "(a|aa)+", r"(\w)\1", "a" * 300):
        _error(client.get(f"{S}/plugins", query_string={"name.$regex": pattern}), 400,
               "invalid_value")
    assert client.get(f"{S}/users/_count").json == {"count": 1}


def test_body_too_large(tmp_path: Path, db_url: str) -> None:
    with store_app(tmp_path, db_url, {"core_server": {"max_content_length": 1000}}) as application:
        r = application.test_client().post(f"{S}/users", json={"login": "x" * 2000})
        _error(r, 413)


def test_health(tmp_path: Path, db_url: str) -> None:
    # what the deep check reports for the store; its time bound is tests/test_db_health.py's
    # (a fresh app's first check includes the store engine's first connect, which took over
    # the 2 s default with valgrind loading both cores)
    config = {"core_server": {"db": {"health_timeout": 15000}}}
    with store_app(tmp_path, db_url, config) as application:
        health = application.test_client().get("/api/_health?deep=1")
    assert health.status_code == 200 and health.json["checks"]["store"] == "ok"


def test_openapi(tmp_path: Path) -> None:
    from openapi_spec_validator import validate

    with store_app(tmp_path, f"sqlite:///{tmp_path / 'o.sqlite'}") as application:
        spec = application.test_client().get("/api/openapi.json").json
    validate(spec)
    assert "/api/store/plugins/{id}" in spec["paths"]
    assert "/api/store/_batch" in spec["paths"]
    schema = spec["components"]["schemas"]["store.plugins.input"]
    assert schema["required"] == ["name", "owner"] and schema["additionalProperties"] is False
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    stored = spec["components"]["schemas"]["store.plugins"]
    assert stored["properties"]["_id"]["readOnly"] is True


def test_unreachable_database_is_503(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    with store_app(tmp_path, url) as application:
        client = application.test_client()
        # a create that could run in autocommit asks the schema first: 503 as well, not 500
        _error(client.post(f"{S}/counters", json={"name": "a"}), 503, "db_unavailable")
        _error(client.get(f"{S}/users"), 503, "db_unavailable")
        assert client.get("/api/_health?deep=1").status_code == 503
        assert client.get("/api/_health").status_code == 200


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats()
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["name", "age", "owner", "tags", "$or",
                                                       "$gt", "meta", "_id", "x'y", "filter",
                                                       "sort", "limit", "ops", "op"]),
                                       inner, max_size=4), max_leaves=8)
_keys = st.sampled_from(["name", "age.$gt", "tags[$in]", "_limit", "_sort", "_cursor", "age",
                         "meta.color", "x'; --", "_offset", "fields", "born.$lt", "$or"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=_json, query=st.dictionaries(_keys, st.text(max_size=6), max_size=3))
def test_garbage_never_500(client: FlaskClient, body: Any, query: dict[str, str]) -> None:
    uid = client.get(f"{S}/users?login=fuzz").json["items"]
    owner = uid[0]["_id"] if uid else _user(client, "fuzz")
    calls = [("post", f"{S}/plugins"), ("post", f"{S}/plugins/_query"), ("post", f"{S}/_batch"),
             ("put", f"{S}/users/{owner}"), ("patch", f"{S}/users/{owner}"),
             ("post", f"{S}/plugins/_check")]
    for method, url in calls:
        data = orjson.dumps(body) if _encodable(body) else b"["
        response = getattr(client, method)(url, data=data, content_type="application/json")
        assert response.status_code < 500, (method, url, body, response.json)
    for url in (f"{S}/plugins", f"{S}/plugins/_count", f"{S}/users/{owner}"):
        response = client.get(url, query_string=query)
        assert response.status_code < 500, (url, query, response.json)


def _encodable(value: Any) -> bool:
    try:
        orjson.dumps(value)
        return True
    except TypeError:
        return False
