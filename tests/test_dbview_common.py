"""inject_where, inject_where_clause, limit_offset and add_common_queries."""

import pytest

from core_server.dbview import DBViewBuilder
from core_server.dbview import add_common_queries
from core_server.dbview import inject_where
from core_server.dbview import inject_where_clause
from core_server.dbview import limit_offset


def _injected(sql):
    return DBViewBuilder().query(sql).call(inject_where).build()


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM t", "SELECT * FROM t {joins} {where} "),
    ("SELECT * FROM t ORDER BY a", "SELECT * FROM t {joins} {where}  ORDER BY a"),
    ("SELECT * FROM t WHERE a = 1", "SELECT * FROM t {joins}  WHERE a = 1 {and_where}"),
    ("SELECT a FROM t WHERE a = 1 GROUP BY a ORDER BY a",
     "SELECT a FROM t {joins}  WHERE a = 1 {and_where} GROUP BY a ORDER BY a"),
    ("SELECT * FROM t WHERE a = 1 LIMIT 5", "SELECT * FROM t {joins}  WHERE a = 1 {and_where} LIMIT 5"),
])
def test_inject_where(sql, expected):
    view = _injected(sql)
    assert view.query == expected
    filled = view.query.format(joins="", where=" WHERE b = 2", and_where=" AND b = 2")
    assert "b = 2" in filled


def test_inject_where_declares_and_ignores_callbacks():
    assert set(_injected("SELECT 1 FROM t").replacements) == {"joins", "where"}
    assert set(_injected("SELECT 1 FROM t WHERE x").replacements) == {"joins", "and_where"}
    cb = DBViewBuilder().callback(print).call(inject_where).build()
    assert cb.query is print and cb.replacements == []


def test_inject_where_clause_and_limit_offset():
    a = DBViewBuilder().query("SELECT * FROM t WHERE a = 1").call(
        lambda b: inject_where_clause(b, "b = 2")).build()
    assert a.query == "SELECT * FROM t WHERE (b = 2) AND a = 1"
    b = DBViewBuilder().query("SELECT * FROM t ORDER BY a").call(
        lambda b: inject_where_clause(b, "b = 2")).build()
    assert b.query == "SELECT * FROM t WHERE b = 2  ORDER BY a"
    c = DBViewBuilder().query("SELECT * FROM t").call(limit_offset).build()
    assert c.query.endswith(" LIMIT {limit} OFFSET {offset}")
    assert c.valid_replacements == {"limit": int, "offset": int}


def test_add_common_queries_adds_exactly_four():
    views = {}
    add_common_queries(views, "mytable", "MyIDType", "my_id as id", ["name", "cat"],
                       call_function=lambda b: b.security("analyst"))
    assert set(views) == {"mytable_items", "mytable_items_verify", "mytable_unique",
                          "mytable_unique_all"}
    assert views["mytable_items"].query_type == "lookup" and views["mytable_items"].assign_ids
    assert views["mytable_items"].valid_replacements["column"] == ["name", "cat"]
    assert views["mytable_items_verify"].query_type == "helper"
    assert "name" in views["mytable_items_verify"].filters
    assert all(v.security == "analyst" for v in views.values())
    prefixed = {}
    add_common_queries(prefixed, "t", "T", "id", prefix="p", name_column="label")
    assert set(prefixed) == {"p_items", "p_items_verify", "p_unique", "p_unique_all"}
    assert prefixed["p_unique_all"].valid_replacements["column"] == ["label"]


def test_common_queries_run_on_each_backend(mydb_client):
    c = mydb_client
    verify = c.get("/api/db/mydb/mytable_items_verify?filter_name=my 7&filter_name=nope").get_json()
    assert [(r["id"], r["text"]) for r in verify] == [(7, "My 7")]
    unique = c.get("/api/db/mydb/mytable_unique?column=cat&query=%25cat 2%25&limit=10&offset=0")
    assert unique.get_json() == [{"id": "MyCat 2", "text": "MyCat 2"}]
    items = c.get("/api/db/mydb/mytable_items?column=name&query=%25my 5%25&limit=2&offset=1")
    assert [r["text"] for r in items.get_json()] == ["My 50", "My 500"]
    assert list(items.get_json()[0]) == ["_id", "id", "text"]
