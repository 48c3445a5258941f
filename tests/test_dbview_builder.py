"""DBViewBuilder, DBView, DBConnector and derive_columns."""

import re

import pytest
import sqlalchemy as sa

from core_server.dbview import DBConnector
from core_server.dbview import DBViewBuilder
from core_server.dbview import default_agg_score
from core_server.dbview.columns import derive_columns


def test_builder_collects_everything():
    calls = []
    view = (DBViewBuilder("score", tags=["t"]).idtype("T").table("s.t")
            .query("SELECT a FROM t {joins} {where}").query("count", "SELECT count(*) FROM t")
            .query_stats("SELECT 1").query_categories("SELECT 2").append(" ORDER BY a")
            .column("a", type="number", min=0).columns(["b", "c"], type="string")
            .arg("x", type=int, description="an x", example=3, as_list=True)
            .replace("col", ["a", "b"]).filter("f", alias="t.f", group="g", join="JOIN u")
            .filters(["h", "i"], table="tt").assign_ids().security("analyst").no_cache()
            .description("desc", summary="sum").call(calls.append).call(None).build())
    assert calls and view.query == "SELECT a FROM t {joins} {where} ORDER BY a"
    assert set(view.queries) == {"count", "stats", "categories"}
    assert view.columns["a"] == {"label": "a", "type": "number", "min": 0, "column": "a"}
    assert view.argument_infos["x"].as_list and view.arguments == ["x"]
    assert view.valid_replacements == {"col": ["a", "b"]}
    assert view.replacements == ["col"]  # as TDP: {where}, {joins}, group names are the server's
    assert view.filters["f"].template() == "t.f {operator} {value}"
    assert view.filters["h"].template() == "tt.h {operator} {value}"
    assert (view.idtype, view.table, view.security, view.no_cache, view.assign_ids) == \
        ("T", "s.t", "analyst", True, True)
    dumped = view.dump("v")
    assert dumped["name"] == "v" and dumped["type"] == "score" and dumped["idType"] == "T"
    assert dumped["filters"] == ["f", "h", "i"] and dumped["queries"] == {
        "count": "SELECT count(*) FROM t", "stats": "SELECT 1", "categories": "SELECT 2"}
    assert dumped["columns"][0] == {"label": "a", "type": "number", "min": 0, "column": "a"}
    assert dumped["arguments"] == ["x", "col"] and dumped["summary"] == "sum"


def test_clone_is_independent_and_unknown_type_fails():
    base = DBViewBuilder().query("SELECT 1").column("x").build()
    copy = DBViewBuilder().clone(base).column("y").build()
    assert "y" in copy.columns and "y" not in base.columns
    with pytest.raises(ValueError):
        DBViewBuilder("nope")


def test_callback_views_and_private():
    view = DBViewBuilder("private").callback(lambda e, a, f: []).build()
    assert view.is_callback and view.is_private
    assert view.dump("cb")["query"] == "custom function"


def test_connector_reads_unset_settings_from_config():
    connector = DBConnector({"v": DBViewBuilder().query("SELECT 1")})
    connector.statement_timeout = 5
    connector.configure({"dburl": "sqlite://", "statement_timeout": 10,
                         "engine": {"pool_size": 3}})
    assert connector.dburl == "sqlite://" and connector.statement_timeout == 5
    assert connector.engine_options == {"pool_size": 3}
    assert connector.views["v"].query == "SELECT 1"  # builders are built
    assert connector.agg_score is default_agg_score
    assert default_agg_score.query == "{agg}({data_subtype})"
    assert default_agg_score.valid_replacements["agg"] == ["min", "max", "avg"]


def test_derive_columns(db_url):
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE things (id INTEGER, label VARCHAR(20), "
                             "score NUMERIC(6, 2), tags VARCHAR(50), kind VARCHAR(10))"))
        conn.execute(sa.text("INSERT INTO things VALUES (1, 'a', 1.5, 'x;y', 'k1'), "
                             "(2, 'b', 7.25, 'y;z', 'k2'), (3, 'c', NULL, '', 'k1')"))
    view = (DBViewBuilder().table("things").query("SELECT * FROM things")
            .column("tags", type="set").column("kind", type="categorical", label="Kind")
            .column("id", type="number", min=-5).column("label", label="Label").build())
    columns = derive_columns(view, engine)
    engine.dispose()
    # as TDP: a table is enough, declared columns first, a missing type is the table's
    assert list(columns) == ["tags", "kind", "id", "label", "score"]
    assert columns.table == {"id", "label", "score", "tags", "kind"}
    assert columns["label"] == {"label": "Label", "type": "string", "column": "label"}
    assert columns["id"] == {"label": "id", "type": "number", "column": "id", "min": -5, "max": 3}
    assert columns["label"]["type"] == "string"
    assert columns["score"]["type"] == "number" and columns["score"]["max"] == 7.25
    assert columns["tags"]["categories"] == ["x", "y", "z"]
    assert columns["kind"] == {"label": "Kind", "type": "categorical", "column": "kind",
                               "categories": ["k1", "k2"]}
    assert view.columns["kind"] == {"label": "Kind", "type": "categorical",
                                    "column": "kind"}  # not mutated


def test_tdp_builder_names():
    view = (DBViewBuilder().query("SELECT {a} FROM t").replace("a", valid=["x"])
            .query_count("SELECT 1").description("a description longer than twenty").build())
    assert view.valid_replacements == {"a": ["x"]} and view.queries == {"count": "SELECT 1"}
    assert view.summary == "a description longer..."  # as TDP
    assert view.dump("v")["queries"] == {"count": "SELECT 1"}


def test_replacement_validators_in_builder():
    view = DBViewBuilder().query("{a}{b}{c}").replace("a", int).replace("b", re.compile("x+")) \
        .replace("c").build()
    assert view.replacements == ["a", "b", "c"] and view.valid_replacements["a"] is int
