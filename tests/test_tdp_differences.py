"""Every deliberate difference from tdp_core 17 (docs/tdp-differences.rst), asserted.

Each test shows what tdp_core 17's own code answers (``reference``, or its functions directly)
and what we answer instead, on the fixture connector ``publiclike`` over each database.
"""

import re
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.datastructures import MultiDict

from core_server.dbview import DBViewBuilder
from core_server.dbview.params import parse
from core_server.errors import ApiError

SCORE = [("species", "human"), ("table", "expression")]
#: how many differences docs/tdp-differences.rst lists (one test each below)
DIFFERENCES = 16


def _get(app, view, values, route="", prefix="/api/tdp/db"):
    return app.test_client().get(f"{prefix}/publiclike/{view}{route}?{urlencode(values)}")


def _code(response):
    return response.get_json()["error"]["code"]


def test_documented_differences_are_all_here():
    page = (Path(__file__).parents[1] / "docs" / "tdp-differences.rst").read_text()
    listed = re.findall(r"^(\d+)\. ", page, flags=re.MULTILINE)
    assert [int(n) for n in listed] == list(range(1, DIFFERENCES + 1))
    tests = [n for n in globals() if n.startswith("test_difference_")]
    assert sorted(int(n.split("_")[2]) for n in tests) == list(range(1, DIFFERENCES + 1))


def test_difference_1_regex_replacements_must_be_inert(publiclike, reference):
    view = "gene_cellline_frequency_class_score"
    base = [("species", "human"), ("table", "copynumber"), ("attribute", "copynumberclass")]
    for bad in ("1) OR (1=1", "1 UNION SELECT 1", "1;", "1--"):
        values = [*base, ("value", bad)]
        status, _ = reference.call("get_filtered_data", view, MultiDict(values))
        assert status != 400  # TDP's re.match accepts any text after "1"
        response = _get(publiclike, view, values)
        assert response.status_code == 400 and _code(response) == "invalid_replacement"
    assert _get(publiclike, view, [*base, ("value", "-1,2")]).status_code == 200


def test_difference_2_free_replacements_are_names(tdp17):
    theirs = tdp17.dbview.DBViewBuilder().query("SELECT {col} FROM t").replace("col").build()
    connector = tdp17.dbview.DBConnector()
    _, replace = tdp17.db.prepare_arguments(theirs, connector, {}, MultiDict({"col": "1; DROP x"}))
    assert replace["col"] == "1; DROP x"
    ours = DBViewBuilder().query("SELECT {col} FROM t").replace("col").build()
    with pytest.raises(ApiError) as info:
        parse(ours, {"col": ["1; DROP x"]})
    assert info.value.code == "invalid_replacement"
    # missing, both are empty
    assert tdp17.db.prepare_arguments(theirs, connector, {}, MultiDict())[1]["col"] == ""
    assert parse(ours, {}).replacements["col"] == ""


def test_difference_3_agg_score_whitelists(publiclike, reference):
    for agg, subtype in (("pg_sleep", "tpm"), ("avg", "tpm) OR (1=1"), ("median", "tpm")):
        if agg == "median" and reference.backend == "postgresql":
            continue  # a named query of the agg_score there
        values = [*SCORE, ("agg", agg), ("data_subtype", subtype)]
        status, _ = reference.call("get_filtered_data", "gene_cellline_score", MultiDict(values))
        assert status != 400  # TDP formats agg and data_subtype into the SQL unchecked
        response = _get(publiclike, "gene_cellline_score", values)
        assert response.status_code == 400 and _code(response) == "invalid_replacement"


def test_difference_4_unknown_filter_keys(publiclike, reference):
    values = [("filter_nope", "1")]
    status, rows = reference.call("get_filtered_data", "gene", MultiDict(values))
    tdp = _get(publiclike, "gene", values)
    assert status == tdp.status_code == 200 and len(tdp.get_json()) == len(rows[0]) == 24
    assert tdp.headers["Warning"] == '299 core_server "ignored unknown filter keys: filter_nope"'
    strict = _get(publiclike, "gene", values, prefix="/api/db")
    assert strict.status_code == 400 and _code(strict) == "unknown_filter"


def test_difference_5_unknown_comparison_keys(publiclike, reference):
    values = [("filter_lt_nope", "1")]
    assert reference.call("get_filtered_data", "gene", MultiDict(values))[0] == 500  # KeyError
    tdp = _get(publiclike, "gene", values)
    assert tdp.status_code == 200 and "filter_lt_nope" in tdp.headers["Warning"]
    assert _code(_get(publiclike, "gene", values, prefix="/api/db")) == "unknown_filter"


def test_difference_6_open_views_take_identifiers_only(tdp17, publiclike):
    theirs = tdp17.dbview.DBViewBuilder().query("SELECT * FROM t {where}").replace("where") \
        .build()
    key = "filter_x) OR (1=1"
    where = tdp17.sql_filter.filter_logic(theirs, MultiDict({key: "1"}))[0]["where"]
    assert "x) OR (1=1 = " in where  # the key's text is SQL in TDP
    tdp = _get(publiclike, "gene_all_columns", [(key, "1")])
    assert tdp.status_code == 200 and key in tdp.headers["Warning"]
    strict = _get(publiclike, "gene_all_columns", [(key, "1")], prefix="/api/db")
    assert _code(strict) == "unknown_filter"


def test_difference_7_open_view_database_errors_name_the_filter(publiclike, reference):
    values = [("filter_nope", "1")]
    assert reference.call("get_filtered_data", "gene_all_columns", MultiDict(values))[0] in (
        408, 500)
    response = _get(publiclike, "gene_all_columns", values)
    assert response.status_code == 400 and _code(response) == "invalid_filter"
    assert "'nope'" in response.get_json()["error"]["message"]


def test_difference_8_filters_on_computed_columns(publiclike, reference):
    values = [*SCORE, ("agg", "avg"), ("data_subtype", "tpm")]
    filtered = [*values, ("filter_lte_score", "25")]
    assert reference.call("get_filtered_data", "gene_cellline_score",
                          MultiDict(filtered))[0] in (408, 500)
    status, answer = reference.call("get_filtered_data", "gene_cellline_score",
                                    MultiDict(values))
    expected = sorted(r["id"] for r in answer[0] if float(r["score"]) <= 25)
    ours = _get(publiclike, "gene_cellline_score", filtered)
    assert ours.status_code == 200 and 0 < len(expected) < 24
    assert sorted(r["id"] for r in ours.get_json()) == expected
    assert _get(publiclike, "gene_cellline_score", filtered, "/count").get_json() == \
        len(expected)


def test_difference_9_counts_of_every_view(publiclike, reference):
    status, count = reference.call("get_count", "gene", MultiDict())
    # count(d.*) is PostgreSQL syntax
    postgresql = reference.backend == "postgresql"
    assert (status, count) == (200, 24) if postgresql else status in (408, 500)
    assert _get(publiclike, "gene", [], "/count").get_json() == 24
    values = [("ensg", "ENSG00002"), ("attribute", "tpm"), ("color", "organ")]
    assert reference.call("get_count", "cellline_co_expression", MultiDict(values))[0] == 500
    rows = _get(publiclike, "cellline_co_expression", values).get_json()
    assert _get(publiclike, "cellline_co_expression", values, "/count").get_json() == len(rows)


def test_difference_10_database_errors(publiclike, reference):
    # no agg: "{agg_score} AS score" is empty, the SQL is broken on both
    status, _ = reference.call("get_filtered_data", "gene_cellline_score", MultiDict(SCORE))
    # TDP answers 408 for every OperationalError
    assert status == (408 if reference.backend == "sqlite" else 500)
    response = _get(publiclike, "gene_cellline_score", SCORE)
    assert response.status_code == 500 and _code(response) == "query_failed"


def test_difference_11_empty_named_sets_match_nothing(publiclike_url, tmp_path):
    from core_server import dbview
    from core_server.app import create_app

    plugins = Path(__file__).parent / "plugins"
    sys.modules.pop("tdpconn.sql", None)  # built for the database of its first import
    app = create_app({"tdpconn": {"dburl": publiclike_url}}, plugins_dirs=[plugins],
                     data_dir=tmp_path)
    sets = {"two": ["CL01", "CL02"], "none": []}
    dbview.register_namedset_resolver(app, sets.__getitem__)
    client = app.test_client()
    two = client.get("/api/tdp/db/publiclike/cellline?filter_namedset4celllinename=two")
    assert sorted(r["id"] for r in two.get_json()) == ["CL01", "CL02"]
    merged = client.get("/api/tdp/db/publiclike/cellline?filter_namedset4celllinename=two"
                        "&filter_celllinename=CL09&filter_rangeOfCellline4celllinename=CL10")
    assert sorted(r["id"] for r in merged.get_json()) == ["CL01", "CL02", "CL09", "CL10"]
    # TDP drops a filter without values (every row); an empty set selects none
    none = client.get("/api/tdp/db/publiclike/cellline?filter_namedset4celllinename=none")
    assert none.status_code == 200 and none.get_json() == []
    app.extensions["core_server"].dbviews.dispose()


def test_difference_12_common_lookup_views_assign_ids(publiclike, reference):
    values = [("column", "panel"), ("query", "%%"), ("limit", "9"), ("offset", "0")]
    _, answer = reference.call("get_filtered_data", "panel_items", MultiDict(values))
    ours = _get(publiclike, "panel_items", values).get_json()
    assert "_id" not in answer[0][0] and list(ours[0]) == ["_id", "id", "text"]


def test_difference_13_number_filters_are_numbers(publiclike, reference):
    values = [("filter_cosmicid", "abc")]
    status, answer = reference.call("get_filtered_data", "cellline", MultiDict(values))
    assert (status, answer and answer[0]) == (200, []) if reference.backend != "postgresql" \
        else status == 500
    response = _get(publiclike, "cellline", values)
    assert response.status_code == 400 and _code(response) == "invalid_value"


def test_difference_14_lookup_applies_filters(publiclike, reference):
    values = [("species", "human"), ("column", "biotype")]
    _, (items, _, _) = reference.call("lookup", "gene_unique", "", 0, 30,
                                      MultiDict([*values, ("filter_text", "lincRNA")]))
    assert len(items) == 2  # TDP's lookup never reads filter_ keys
    ours = _get(publiclike, "gene_unique", [*values, ("filter_text", "lincRNA")],
                "/lookup").get_json()
    assert ours["items"] == [{"id": "lincRNA", "text": "lincRNA"}]


def test_difference_15_boolean_arguments(tdp17):
    theirs = tdp17.dbview.DBViewBuilder().query("SELECT :b").arg("b", type=bool).build()
    kwargs, _ = tdp17.db.prepare_arguments(theirs, tdp17.dbview.DBConnector(), {},
                                           MultiDict({"b": "false"}))
    assert kwargs["b"] is True  # bool("false")
    ours = DBViewBuilder().query("SELECT :b").arg("b", type=bool).build()
    assert parse(ours, {"b": ["false"]}).arguments["b"] is False


def test_difference_16_declared_columns_close_a_view(tdp17):
    theirs = tdp17.dbview.DBViewBuilder().query("SELECT x FROM t").column("x").build()
    assert theirs.is_valid_filter("anything")  # no filters and no table: every key
    ours = DBViewBuilder().query("SELECT x FROM t").column("x").build()
    with pytest.raises(ApiError) as info:
        parse(ours, {"filter_anything": ["1"]})
    assert info.value.code == "unknown_filter"
    assert parse(ours, {"filter_x": ["1"]}).result == ["x = :x"]
