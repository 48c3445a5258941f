"""Differential tests: the fixture connector ``publiclike`` answered by us and by tdp_core 17.

tdp_core 17's own ``db.py``/``sql_filter.py``/``dbview.py`` (read from the published wheel)
build the same views with their builder and run them on the same database; we answer through
HTTP as a TDP client asks (``key[]=`` lists, ``+`` for spaces). Every case must give the same
status and the same rows, counts, lookup pages or descriptions. Where we answer differently on
purpose, the case is in ``test_tdp_differences.py`` and in docs/tdp-differences.rst instead.
"""

import decimal
import json
from urllib.parse import urlencode

import pytest
from werkzeug.datastructures import MultiDict

SP = [("species", "human")]
SCORE = [*SP, ("table", "expression")]

#: (view, request values) for the rows route (``/filter`` is the same route)
ROWS = [
    ("gene", []),
    ("gene", [("filter_biotype", "protein_coding")]),
    ("gene", [("filter_biotype[]", "protein_coding"), ("filter_biotype[]", "lincRNA")]),
    ("gene", [("filter_panel", "set1")]),
    ("gene", [("filter_panel", "set1"), ("filter_chromosome", "2")]),
    ("gene", [("filter_panel_ensg[]", "set0"), ("filter_panel_ensg[]", "set2")]),
    ("gene", [("filter_gt_strand", "0")]),
    ("gene", [("filter_lte_seqregionstart", "5000"), ("filter_gt_seqregionstart", "2000")]),
    ("gene", [("filter_gte_seqregionstart", "5000"), ("filter_gt_seqregionstart", "2000")]),
    ("gene", [("filter_lt_seqregionstart", "1"), ("filter_lt_seqregionstart", "9")]),
    ("gene", [("filter_gt_symbol", "G1")]),
    ("gene", [("filter_ensg", "ENSG00003"), ("filter_rangeOfEnsembl4ensg", "ENSG00004")]),
    ("gene", [("filter_nope", "1"), ("filter_biotype", "lincRNA")]),
    ("cellline", [("filter_panel_celllinename", "panel1")]),
    ("cellline", [("filter_organ", "lung"), ("filter_gte_mutational_fraction", "0.5")]),
    ("cellline", [("filter_cosmicid", "900003")]),
    ("cellline", [("filter_rangeOfCellline4celllinename[]", "CL01"),
                  ("filter_rangeOfCellline4celllinename[]", "CL02")]),
    ("cellline", [("filter_tumortype", "lung cancer")]),
    ("gene_items", [*SP, ("query", "%g1%"), ("column", "symbol"), ("limit", "5"),
                    ("offset", "0")]),
    ("gene_items_verify", [*SP, ("column", "symbol"), ("filter_ensg", "ensg00001")]),
    ("gene_unique", [*SP, ("query", "%protein%"), ("column", "biotype"), ("limit", "9"),
                     ("offset", "0")]),
    ("gene_unique_all", [*SP, ("column", "chromosome")]),
    ("gene_all_columns", [("filter_chromosome", "1")]),
    ("gene_all_columns", [("filter_chromosome", "1"), ("filter_biotype", "lincRNA")]),
    ("cellline_check_ids", [("filter_celllinename", "CL01"), ("filter_celllinename", "CL02"),
                            ("filter_celllinename", "nope")]),
    ("gene_gene_items_verify", [*SP, ("filter_symbol", "g3"), ("filter_symbol", "ensg00004")]),
    ("cellline_co_expression", [("ensg", "ENSG00002"), ("attribute", "tpm"), ("color", "organ"),
                                ("filter_organ", "lung")]),
    ("cellline_co_expression", [("ensg", "ENSG00002"), ("attribute", "counts"),
                                ("color", "gender"), ("filter_panel", "panel1"),
                                ("filter_celllinename", "CL03"),
                                ("filter_celllinename", "CL05")]),
    ("cellline_co_expression", [("ensg", "ENSG00002"), ("attribute", "counts"),
                                ("color", "nope")]),
    ("cellline_onco_print_sample_list", [*SP, ("filter_tumortype", "melanoma")]),
    ("gene_cellline_single_score", [*SCORE, ("name", "CL02"), ("attribute", "tpm")]),
    ("gene_cellline_single_score", [*SCORE, ("name", "CL02"), ("attribute", "counts"),
                                    ("filter_biotype", "lincRNA"), ("filter_panel", "set2")]),
    ("gene_cellline_score", [*SCORE, ("agg", "avg"), ("data_subtype", "tpm")]),
    ("gene_cellline_score", [*SCORE, ("agg", "max"), ("data_subtype", "tpm"),
                             ("filter_organ", "lung")]),
    ("gene_cellline_score", [*SCORE, ("agg", "min"), ("data_subtype", "counts"),
                             ("filter_panel_celllinename", "panel2"),
                             ("filter_panel", "set0")]),
    ("gene_cellline_score", [*SCORE, ("agg", "sum"), ("data_subtype", "counts"),
                             ("filter_ensg", "ENSG00001"), ("filter_ensg", "ENSG00002")]),
    ("gene_cellline_score", [*SCORE, ("agg", "boxplot"), ("data_subtype", "tpm")]),
    ("gene_cellline_score", [*SCORE, ("agg", "numbers"), ("data_subtype", "tpm"),
                             ("filter_celllinename", "CL04")]),
    ("gene_cellline_score_inline", [*SCORE, ("agg", "max"), ("data_subtype", "tpm"),
                                    ("filter_organ", "skin")]),
    ("gene_cellline_score_inline", [*SCORE, ("agg", "avg"), ("data_subtype", "tpm"),
                                    ("filter_gender", "F"), ("filter_panel", "set1")]),
    ("gene_cellline_frequency_score", [*SCORE, ("attribute", "tpm"), ("operator", ">"),
                                       ("value", "20"), ("filter_organ", "breast")]),
    ("gene_cellline_frequency_class_score", [*SP, ("table", "copynumber"),
                                             ("attribute", "copynumberclass"), ("value", "1,2")]),
    ("gene_namedset_containment_score", [("panel", "set1")]),
    ("cellline_gene_score", [*SCORE, ("agg", "avg"), ("data_subtype", "tpm"),
                             ("filter_biotype", "lincRNA")]),
    ("panel_items", [("column", "panel"), ("query", "%pan%"), ("limit", "2"), ("offset", "1")]),
    ("panel_items_verify", [("filter_paneldescription", "panel number 1")]),
    ("panel_unique_all", [("column", "paneldescription")]),
    ("gene_panel", []),
    ("cellline_panel", []),
    ("nope", []),
]

#: (view, request values) for ``/count``: views with a count query (the table count differs)
COUNTS = [
    ("gene_cellline_score", [*SCORE]),
    ("gene_cellline_score", [*SCORE, ("filter_organ", "lung"), ("filter_panel", "set1")]),
    ("gene_cellline_score_inline", [*SCORE, ("filter_gender", "M")]),
    ("gene_cellline_frequency_score", [*SCORE, ("attribute", "tpm"), ("operator", "<"),
                                       ("value", "3"), ("filter_biotype", "lincRNA")]),
]

#: (view, query, page, limit, more values) for ``/lookup``
LOOKUPS = [
    ("gene_items", "G1", 0, 3, [*SP, ("column", "symbol")]),
    ("gene_items", "g", 2, 4, [*SP, ("column", "ensg")]),
    ("gene_unique", "", 0, 30, [*SP, ("column", "biotype")]),
    ("panel_items", "PANEL", 0, 2, [("column", "panel")]),
    ("panel_unique", "number", 1, 1, [("column", "paneldescription")]),
]

#: views whose ``/desc`` must match TDP's (after TDP derived the connector's columns)
DESCS = ["gene", "cellline", "gene_items", "gene_all_columns", "cellline_co_expression",
         "gene_cellline_score", "gene_cellline_score_inline", "panel_items", "panel_unique_all"]
#: rows cases whose SQL text and bound values (``_return_query``) must be TDP's
QUERIES = [i for i, (view, values) in enumerate(ROWS)
           if any(k.startswith("filter_") for k, _ in values) and view != "gene_all_columns"
           and not any(k.startswith(("filter_gt", "filter_lt", "filter_nope")) for k, _ in values)]
CASES = len(ROWS) + len(COUNTS) + len(LOOKUPS) + len(DESCS) + len(QUERIES)


def _plain(value):
    # the same value as TDP's JSON would carry it (Decimal, JSON text on SQLite/MariaDB)
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, str) and value[:1] in "[{":
        return _plain(json.loads(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _rows(rows):
    # our _id (assign_ids of add_common_queries) is a documented addition
    return sorted(json.dumps(_plain({k: v for k, v in dict(r).items() if k != "_id"}),
                             sort_keys=True) for r in rows)


def _url(view, values, route=""):
    # the TDP client's encoding: key[]=v for lists, + for spaces
    return f"/api/tdp/db/publiclike/{view}{route}?{urlencode(values)}"


@pytest.mark.parametrize("view, values", ROWS, ids=[f"{v}-{i}" for i, (v, _) in enumerate(ROWS)])
def test_rows_as_tdp(publiclike, reference, view, values):
    status, answer = reference.call("get_filtered_data", view, MultiDict(values))
    response = publiclike.test_client().get(_url(view, values))
    assert response.status_code == status, response.get_json()
    if status == 200:
        assert _rows(response.get_json()) == _rows(answer[0])
    else:
        assert response.get_json()["error"]["status"] == status


def test_median_of_the_agg_score_on_postgresql(publiclike, reference):
    values = [*SCORE, ("agg", "median"), ("data_subtype", "tpm"), ("filter_organ", "lung")]
    response = publiclike.test_client().get(_url("gene_cellline_score", values))
    if reference.backend != "postgresql":  # no median query there: not a known aggregation
        assert response.get_json()["error"]["code"] == "invalid_replacement"
        return
    status, answer = reference.call("get_filtered_data", "gene_cellline_score",
                                    MultiDict(values))
    assert status == response.status_code == 200
    assert _rows(response.get_json()) == _rows(answer[0]) and len(answer[0]) == 24


def test_post_form_and_filter_route_as_tdp(publiclike, reference):
    # a URL past 4,096 characters: the client posts the same values as a form
    values = [*SCORE, ("agg", "avg"), ("data_subtype", "tpm")] + [
        ("filter_ensg[]", f"ENSG{i:05d}") for i in range(1, 400)]
    status, answer = reference.call("get_filtered_data", "gene_cellline_score",
                                    MultiDict(values))
    posted = publiclike.test_client().post("/api/tdp/db/publiclike/gene_cellline_score/filter",
                                           data=MultiDict(values))
    assert status == posted.status_code == 200
    assert _rows(posted.get_json()) == _rows(answer[0]) and len(answer[0]) == 24


def _text(value):
    # TDP binds the request's text (tuples for IN), we bind numbers for number columns (lists)
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    try:
        return str(float(value))
    except ValueError:
        return str(value)


@pytest.fixture(scope="module")
def admin(publiclike):
    from core_server.testing import login

    client = publiclike.test_client()
    login(client, "admin")
    return client


@pytest.mark.parametrize("index", QUERIES, ids=[ROWS[i][0] + f"-{i}" for i in QUERIES])
def test_sql_and_binds_as_tdp(admin, reference, index):
    view, values = ROWS[index]
    status, theirs = reference.call("get_filtered_query", view, MultiDict(values))
    response = admin.get(_url(view, [*values, ("_return_query", "true")]))
    assert status == response.status_code == 200, response.get_json()
    ours = response.get_json()
    assert " ".join(ours["query"].split()) == " ".join(theirs["query"].split())
    assert {k: _text(v) for k, v in ours["args"].items()} == \
        {k: _text(v) for k, v in theirs["args"].items()}


@pytest.mark.parametrize("view, values", COUNTS)
def test_counts_as_tdp(publiclike, reference, view, values):
    status, answer = reference.call("get_count", view, MultiDict(values))
    response = publiclike.test_client().get(_url(view, values, "/count"))
    assert status == response.status_code == 200
    assert response.get_json() == answer


@pytest.mark.parametrize("view, query, page, limit, values", LOOKUPS)
def test_lookups_as_tdp(publiclike, reference, view, query, page, limit, values):
    status, answer = reference.call("lookup", view, query.lower(), page, limit, MultiDict(values))
    ours = [*values, ("query", query), ("page", str(page)), ("limit", str(limit))]
    response = publiclike.test_client().get(_url(view, ours, "/lookup"))
    assert status == response.status_code == 200
    body = response.get_json()
    items, more, _ = answer
    assert body["more"] is more
    assert [_plain({k: v for k, v in i.items() if k != "_id"}) for i in body["items"]] == \
        [_plain(dict(i)) for i in items]


def _desc(document):
    # arguments once each (TDP's builder lists a repeated .arg()/.replace() twice)
    columns = sorted((json.dumps(_plain(c), sort_keys=True) for c in document["columns"]))
    keys = ("name", "description", "type", "idType", "query", "filters", "queries", "no_cache")
    return ({k: document.get(k) for k in keys}, list(dict.fromkeys(document["arguments"])),
            columns)


@pytest.mark.parametrize("view", DESCS)
def test_desc_as_tdp(publiclike, reference, view):
    theirs = reference.desc(view)
    ours = publiclike.test_client().get(f"/api/tdp/db/publiclike/{view}/desc").get_json()
    assert _desc(ours) == _desc(theirs)
    listed = {v["name"]: v for v in publiclike.test_client().get(
        "/api/tdp/db/publiclike/").get_json()}
    assert _desc(listed[view])[:2] == _desc(theirs)[:2]
