"""The query compiler: Mongo semantics in SQL, typed values, refusals, index use, properties."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from core_server.docstore import Store
from core_server.errors import ApiError
from core_server.testing import store_app

SCHEMA = '''
def create():
    return {"fields": {
        "n": {"type": "int"}, "age": {"type": "int", "nullable": True},
        "city": {"type": "string", "nullable": True}, "score": {"type": "float"},
        "active": {"type": "bool"}, "tags": {"type": "list", "items": "string"},
        "meta": {"type": "dict", "fields": {"color": {"type": "string", "nullable": True}}}},
        "indexes": [{"fields": ["age"]}, {"fields": ["city", "score:desc"]}]}
'''
INIT = '''
def register(registry):
    registry.append("doc-collection", "things", "dsq_plugin.schemas")
'''


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Iterator[Flask]:
    with store_app(tmp_path, db_url, init=INIT, files={"schemas.py": SCHEMA},
                   name="dsq_plugin") as application:
        yield application


@pytest.fixture
def store(app: Flask) -> Store:
    return app.extensions["core_server"].store  # type: ignore[no-any-return]


def _load(store: Store, docs: list[dict[str, Any]]) -> None:
    with store.transaction() as tx:
        tx.delete_where("things", {})
        for doc in docs:
            tx.insert("things", doc)


def _match(store: Store, flt: Any) -> list[int]:
    with store.transaction(write=False) as tx:
        return sorted(d["n"] for d in tx.select("things", flt, limit=1000))


DOCS = [
    {"n": 0, "age": 5, "city": "Paris", "tags": ["x", "y"], "active": True, "score": 1.5},
    {"n": 1, "age": None, "city": "Rome", "tags": [], "meta": {"color": "red"}},
    {"n": 2, "city": "paris", "tags": ["y"], "active": False, "score": -2.0},
    {"n": 3, "age": 12, "meta": {}},
    {"n": 4, "age": 7, "city": "Paris ", "tags": ["x"], "meta": {"color": None}},
]


SEMANTICS = [
    ({"age": None}, [1, 2]),
    ({"age": {"$ne": 5}}, [1, 2, 3, 4]),
    ({"age": {"$nin": [5, 7]}}, [1, 2, 3]),
    ({"age": {"$in": [5, None]}}, [0, 1, 2]),
    ({"age": {"$exists": True}}, [0, 1, 3, 4]),
    ({"age": {"$gt": 5}}, [3, 4]),
    ({"age": {"$not": {"$gt": 5}}}, [0, 1, 2]),
    ({"age": {"$or": [{"$lt": 6}, {"$gt": 10}]}}, [0, 3]),
    ({"city": "Paris"}, [0]),
    ({"city": {"$like": "Par%"}}, [0, 4]),
    ({"city": {"$regex": "^[Pp]aris$"}}, [0, 2]),
    ({"tags": "x"}, [0, 4]),
    ({"tags": {"$ne": "x"}}, [1, 2, 3]),
    ({"tags": None}, [3]),
    ({"tags": {"$size": 0}}, [1]),
    ({"tags": {"$in": ["y", "z"]}}, [0, 2]),
    ({"meta.color": "red"}, [1]),
    ({"meta.color": None}, [0, 2, 3, 4]),
    ({"meta": {"$exists": False}}, [0, 2]),
    ({"meta": None}, [0, 2]),
    ({"active": False}, [2]),
    ({"score": {"$lte": 1.5}}, [0, 2]),
    ({"$or": [{"age": 12}, {"city": "Rome"}], "n": {"$gte": 2}}, [3]),
    ({"$nor": [{"age": {"$exists": True}}]}, [2]),
    ({"$not": {"city": {"$exists": True}}}, [3]),
    ({"_id": {"$exists": True}, "n": {"$lt": 1}}, [0]),
]


def test_mongo_semantics(store: Store) -> None:
    _load(store, DOCS)
    wrong = [(flt, got, expected) for flt, expected in SEMANTICS
             if (got := _match(store, flt)) != expected]
    assert wrong == []


REFUSALS = [
    ({"nosuch": 1}, "unknown_field"),
    ({"age'); DROP TABLE ds_things; --": 1}, "unknown_field"),
    ({'meta"color': 1}, "unknown_field"),
    ({"meta.nosuch": 1}, "unknown_field"),
    ({"age": {"$where": "1"}}, "unknown_operator"),
    ({"$where": "1"}, "unknown_operator"),
    ({"age": "5"}, "invalid_value"),
    ({"age": True}, "invalid_value"),
    ({"age": {"$gt": None}}, "invalid_value"),
    ({"city": 5}, "invalid_value"),
    ({"age": {"$contains": 1}}, "unknown_operator"),
    ({"city": {"$size": 1}}, "unknown_operator"),
    ({"meta": {"color": "red"}}, "invalid_value"),
    ({"$or": []}, "invalid_value"),
    ({"$and": {"age": 1}}, "invalid_value"),
    ({"age": {"$in": list(range(1001))}}, "filter_too_complex"),
]


def test_refusals_happen_before_sql(store: Store) -> None:
    for flt, code in REFUSALS:
        with pytest.raises(ApiError) as info:
            _match(store, flt)
        assert (info.value.status, info.value.code) == (400, code), flt


def _plan(store: Store, flt: dict[str, Any]) -> str:
    layout = store.layout("things")
    stmt = sa.select(layout.table.c._id).where(store.compiler("things").filter(flt))
    sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        if store.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
        elif store.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + sql).all()
        else:
            rows = [tuple(r._mapping.values()) for r in conn.exec_driver_sql("EXPLAIN " + sql)]
    return "\n".join(" ".join(map(str, row)) for row in rows)


def test_indexed_filters_use_their_index(store: Store) -> None:
    _load(store, [{"n": i, "age": i % 50, "city": f"c{i % 7}", "score": float(i)}
                  for i in range(300)])
    assert "ix_things_age" in _plan(store, {"age": {"$gt": 40}})
    assert "ix_things_city_score" in _plan(store, {"city": "c3"})
    assert "ix_things_age" not in _plan(store, {"n": 3})
    if store.dialect.name != "mysql":  # MariaDB's planner may prefer a scan on 300 rows
        assert "ix_ds_things_l_tags_v" in _plan(store, {"tags": "x"})


def test_sort_and_cursor_paging(store: Store) -> None:
    _load(store, [{"n": i, "age": [3, None, 1, 3, 2][i % 5], "city": "c"} for i in range(23)])
    seen: list[int] = []
    cursor = None
    with store.transaction(write=False) as tx:
        while True:
            page = tx.page("things", {}, sort=["-age", "n"], limit=4, cursor=cursor)
            seen += [d["n"] for d in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        full = [d["n"] for d in tx.select("things", {}, sort=["-age", "n"], limit=100)]
        with pytest.raises(ApiError):
            tx.page("things", {"age": 1}, sort=["-age", "n"], limit=4, cursor=page["next_cursor"]
                    or _first_cursor(tx))
    assert seen == full and len(seen) == 23
    ages = [[3, None, 1, 3, 2][n % 5] for n in full]
    assert ages == sorted(ages, key=lambda a: -1 if a is None else a, reverse=True)


def test_a_page_statement_is_reused_with_each_requests_values(store: Store) -> None:
    # docstore.pages keeps one statement per shape; every request must run it with its own values
    _load(store, [{"n": i, "age": i % 4, "tags": [f"t{i % 5}"], **({} if i % 7 else {"city": "x"})}
                  for i in range(40)])
    plans = store.layout("things").plans
    with store.transaction(write=False) as tx:
        for age in range(4):
            wanted = [f"t{k}" for k in range(age + 2)]  # $in lists of different lengths
            page = tx.page("things", {"age": age, "tags": {"$in": wanted}}, sort=["-n"],
                           limit=2 + age, offset=age % 2)
            expected = [i for i in reversed(range(40)) if i % 4 == age and f"t{i % 5}" in wanted]
            assert [d["n"] for d in page["items"]] == expected[age % 2:age % 2 + 2 + age]
            assert page["total"] == len(expected)
        assert len(plans) == 1
        present = tx.page("things", {"city": {"$exists": True}}, limit=100)
        absent = tx.page("things", {"city": {"$exists": "false"}}, limit=100, from_text=True)
        assert present["total"] == 6 and absent["total"] == 34 and len(plans) == 3
        cursor = tx.page("things", {"age": 1}, sort=["n"], limit=3)["next_cursor"]
        rest = tx.page("things", {"age": 1}, sort=["n"], limit=3, cursor=cursor)
        assert [d["n"] for d in rest["items"]] == [13, 17, 21]
        cursor = tx.page("things", {"age": 2}, sort=["n"], limit=3)["next_cursor"]
        rest = tx.page("things", {"age": 2}, sort=["n"], limit=3, cursor=cursor)
        assert [d["n"] for d in rest["items"]] == [14, 18, 22] and len(plans) == 5


def _first_cursor(tx: Any) -> str:
    return tx.page("things", {}, sort=["-age", "n"], limit=1)["next_cursor"]  # type: ignore[no-any-return]


# -- property test: SQL == a straightforward Python evaluation with Mongo semantics ------------

MISSING = object()
WORDS = ["a", "A", "b", "a ", "ab", "é", "a%"]
_value_ints = st.integers(-3, 3)


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _like(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.S) is not None


def _leaf(value: Any, op: str, arg: Any) -> bool:
    if op == "$exists":
        return (value is not MISSING) == arg
    if isinstance(value, list):
        if op == "$size":
            return len(value) == arg
        if op in ("$ne", "$nin"):
            return not _leaf(value, "$eq" if op == "$ne" else "$in", arg)
        return any(_leaf(v, op, arg) for v in value)
    if op == "$size":
        return False
    if op == "$eq":
        return (value in (None, MISSING)) if arg is None else value == arg and value is not MISSING
    if op == "$ne":
        return not _leaf(value, "$eq", arg)
    if op == "$in":
        return any(_leaf(value, "$eq", a) for a in arg)
    if op == "$nin":
        return not _leaf(value, "$in", arg)
    if value in (None, MISSING):
        return False
    if op == "$like":
        return _like(arg, value)
    if op == "$regex":
        return re.search(arg, value) is not None
    return {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg,
            "$lte": value <= arg}[op]


def _eval(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, cond in flt.items():
        if key == "$or":
            ok = any(_eval(doc, c) for c in cond)
        elif key == "$and":
            ok = all(_eval(doc, c) for c in cond)
        elif key == "$not":
            ok = not _eval(doc, cond)
        else:
            value = _get(doc, key)
            ops = cond.items() if isinstance(cond, dict) else [("$eq", cond)]
            ok = all(_leaf(value, op, arg) for op, arg in ops)
        if not ok:
            return False
    return True


def _optional(strategy: Any) -> Any:
    return st.one_of(st.just(MISSING), st.none(), strategy)


_documents = st.lists(st.fixed_dictionaries({}, optional={
    "age": st.one_of(st.none(), _value_ints),
    "city": st.one_of(st.none(), st.sampled_from(WORDS)),
    "score": st.sampled_from([-1.5, 0.0, 0.5, 2.0]),
    "active": st.booleans(),
    "tags": st.lists(st.sampled_from(WORDS), max_size=3),
    "meta": st.fixed_dictionaries({}, optional={"color": st.one_of(st.none(),
                                                                   st.sampled_from(WORDS))}),
}), max_size=12)

_FIELDS = {"age": _value_ints, "city": st.sampled_from(WORDS), "score": st.sampled_from(
    [-1.5, 0.0, 0.5, 2.0]), "active": st.booleans(), "tags": st.sampled_from(WORDS),
    "meta.color": st.sampled_from(WORDS)}
_ORDERED = {"age", "city", "score", "meta.color", "tags"}
_TEXT = {"city", "meta.color", "tags"}


@st.composite
def _conditions(draw: Any) -> dict[str, Any]:
    path = draw(st.sampled_from(sorted(_FIELDS)))
    values = _FIELDS[path]
    ops = ["$eq", "$ne", "$in", "$nin", "$exists"]
    ops += ["$gt", "$gte", "$lt", "$lte"] if path in _ORDERED else []
    ops += ["$like", "$regex"] if path in _TEXT else []
    ops += ["$size"] if path == "tags" else []
    op = draw(st.sampled_from(ops))
    if op in ("$in", "$nin"):
        arg: Any = draw(st.lists(st.one_of(st.none(), values), min_size=1, max_size=3))
    elif op == "$exists":
        arg = draw(st.booleans())
    elif op == "$like":
        arg = draw(st.sampled_from(["a%", "%b", "_", "A_", "%a %", "%"]))
    elif op == "$regex":
        arg = draw(st.sampled_from(["^a", "b$", "a", "^A$", "é"]))
    elif op == "$size":
        arg = draw(st.integers(0, 3))
    elif op in ("$eq", "$ne"):
        arg = draw(st.one_of(st.none(), values))
    else:
        arg = draw(values)
    return {path: {op: arg}} if op != "$eq" or draw(st.booleans()) else {path: arg}


_filters = st.recursive(_conditions(), lambda inner: st.one_of(
    st.builds(lambda cs: {"$or": cs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda cs: {"$and": cs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda c: {"$not": c}, inner)), max_leaves=6)


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not MISSING}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(docs=_documents, filters=st.lists(_filters, min_size=1, max_size=4))
def test_sql_equals_python(store: Store, docs: list[dict[str, Any]],
                           filters: list[dict[str, Any]]) -> None:
    numbered = [{**_strip(d), "n": i} for i, d in enumerate(docs)]
    _load(store, numbered)
    for flt in filters:
        expected = sorted(d["n"] for d in numbered if _eval(d, flt))
        assert _match(store, flt) == expected, flt
