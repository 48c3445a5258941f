"""Every request shape of TDP's web client (``RestBaseUtils``, ``Ajax``, ``IDTypeManager``).

The client encodes parameters with ``Ajax.encodeParams`` (``key[]=v`` for lists, ``+`` for
spaces, ``true`` for booleans), switches to a form POST when the URL would pass 4,096
characters (id mapping: when its JSON guess passes 2,000) and calls ``/filter``, ``/score``,
``/count``, ``/desc``, ``/lookup``, the listings and ``/api/idtype/<from>/<to>``. Answers are
checked against tdp_core 17 (``reference``) where it answers the same route.
"""

from urllib.parse import quote

from werkzeug.datastructures import MultiDict

MAX_URL_LENGTH = 4096
BASE = "/api/tdp/db/publiclike"
SCORE = {"species": "human", "table": "expression", "agg": "avg", "data_subtype": "tpm"}


def encode_params(data):
    """``Ajax.encodeParams``: arrays as ``key[]``, null skipped, ``%20`` as ``+``."""
    parts = []

    def add(key, value):
        if isinstance(value, list):
            for item in value:
                add(f"{key}[]", item)
        elif value is None:
            return
        else:
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            parts.append(f"{quote(key, safe='')}={quote(text, safe='')}")

    for key, value in data.items():
        add(key, value)
    return "&".join(parts).replace("%20", "+")


def get_tdp_data(client, view, method="", params=None):
    """``RestBaseUtils.getTDPDataImpl``: GET, or a form POST for long URLs."""
    url = f"{BASE}/{view}{'/' + method if method else ''}"
    encoded = encode_params(params or {})
    if encoded and len(url) + len(encoded) > MAX_URL_LENGTH:
        return client.post(url, data=encoded, content_type="application/x-www-form-urlencoded")
    return client.get(f"{url}?{encoded}" if encoded else url)


def _values(params):
    items = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            items.append((f"{key}[]" if isinstance(value, list) else key,
                          "true" if item is True else str(item)))
    return MultiDict(items)


def test_listings_and_desc(publiclike):
    client = publiclike.test_client()
    databases = client.get("/api/tdp/db/").get_json()
    assert {"name": "publiclike",
            "description": "a connector written like the large published ones"} in databases
    views = {v["name"]: v for v in client.get(f"{BASE}/").get_json()}
    assert len(views) > 30 and views["gene"]["idType"] == "Ensembl"
    desc = get_tdp_data(client, "gene_cellline_score", "desc").get_json()
    assert desc["arguments"][0] == "species" and {"table", "agg_score"} <= set(desc["arguments"])
    assert desc["queries"]["agg_score_numbers"].startswith(("json", "JSON"))


def test_filtered_rows_with_lists_spaces_and_booleans(publiclike, reference):
    client = publiclike.test_client()
    params = {"filter_tumortype": ["lung cancer", "melanoma"], "filter_gte_cosmicid": 900004,
              "_assignids": True}
    response = get_tdp_data(client, "cellline", "filter", params)
    assert "filter_tumortype%5B%5D=lung+cancer" in encode_params(params)
    _, (rows, _) = reference.call("get_filtered_data", "cellline", _values(params))
    body = response.get_json()
    assert sorted(r["id"] for r in body) == sorted(r["id"] for r in rows) and rows
    assert all(isinstance(r["_id"], int) for r in body)  # _assignids=true


def test_long_requests_become_form_posts(publiclike, reference):
    client = publiclike.test_client()
    ids = [f"ENSG{i:05d}" for i in range(1, 25)] * 20 + [f"ENSG{i:05d}X" for i in range(300)]
    params = {**SCORE, "filter_ensg": ids}
    assert len(encode_params(params)) > MAX_URL_LENGTH
    response = get_tdp_data(client, "gene_cellline_score", "score", params)
    status, mapped = reference.score("gene_cellline_score", _values(params), "Ensembl")
    assert response.status_code == status == 200 and len(mapped) == 24
    assert sorted(r["id"] for r in response.get_json()) == sorted(r["id"] for r in mapped)


def test_score_mapped_to_target(publiclike, reference):
    client = publiclike.test_client()
    params = {**SCORE, "target": "GeneSymbol", "filter_organ": "lung"}
    status, mapped = reference.score("gene_cellline_score", _values(params), "GeneSymbol")
    response = get_tdp_data(client, "gene_cellline_score", "score", params)
    assert status == response.status_code == 200
    ours = {r["id"]: round(float(r["score"]), 6) for r in response.get_json()}
    assert ours == {r["id"]: round(float(r["score"]), 6) for r in mapped}
    assert all(k.startswith("G") for k in ours)
    # the rows route hands ?target= over to the same answer
    rows = get_tdp_data(client, "gene_cellline_score", "", params).get_json()
    assert {r["id"] for r in rows} == set(ours)


def test_count_and_lookup(publiclike, reference):
    client = publiclike.test_client()
    params = {"species": "human", "table": "expression", "filter_organ": "skin"}
    count = get_tdp_data(client, "gene_cellline_score", "count", params)
    assert count.get_json() == reference.call("get_count", "gene_cellline_score",
                                              _values(params))[1]
    lookup = get_tdp_data(client, "gene_items", "lookup", {
        "column": "symbol", "query": "G2", "page": 0, "limit": 3, "species": "human"})
    items, more, _ = reference.call("lookup", "gene_items", "g2", 0, 3,
                                    _values({"column": "symbol", "species": "human"}))[1]
    assert lookup.get_json() == {"items": [dict(i) for i in items], "more": more}


def test_idtype_mapping_first_and_all(publiclike):
    client = publiclike.test_client()
    names = ["ENSG00001", "ENSG00002", "nope"]
    first = client.get("/api/idtype/Ensembl/GeneSymbol?" + encode_params(
        {"q": names, "mode": "first"}))
    assert first.get_json() == ["G1", "G2", None]
    everything = client.get("/api/idtype/Ensembl/GeneSymbol?q=ENSG00001,ENSG00003")
    assert everything.get_json() == [["G1"], ["G3"]]
    # IDType.chooseRequestMethod: POST (a form) when the guess passes 2,000 characters
    many = [f"ENSG{i % 24 + 1:05d}" for i in range(300)]
    posted = client.post("/api/idtype/Ensembl/GeneSymbol",
                         data=encode_params({"q": many}),
                         content_type="application/x-www-form-urlencoded")
    assert posted.get_json() == [[f"G{i % 24 + 1}"] for i in range(300)]
    search = client.get("/api/idtype/Ensembl/GeneSymbol/search?q=ENSG0000&limit=3")
    assert search.status_code == 200


def test_openapi_lists_what_tdp_clients_send(publiclike):
    from openapi_spec_validator import validate

    spec = publiclike.test_client().get("/api/openapi.json").get_json()
    validate(spec)
    get = spec["paths"]["/api/db/publiclike/gene_cellline_score"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"agg", "data_subtype", "filter_organ", "filter_namedset4organ"} <= names
    assert "Warning" in get["responses"]["200"]["headers"]
    assert "/api/db/publiclike/gene_items/lookup" in spec["paths"]  # limit_offset: arg query
    desc = spec["paths"]["/api/db/publiclike/gene/desc"]["get"]["responses"]["200"]
    assert "queries" in desc["content"]["application/json"]["schema"]["properties"]


def test_warning_header_is_safe_text(publiclike):
    client = publiclike.test_client()
    keys = [f'filter_x{i}"\n' for i in range(12)]
    response = client.get(f"{BASE}/gene?" + encode_params({k: "1" for k in keys}))
    assert response.status_code == 200 and len(response.get_json()) == 24
    warning = response.headers["Warning"]
    assert warning.startswith('299 core_server "ignored unknown filter keys: filter_x0??, ')
    assert warning.endswith(' and 2 more"') and "\n" not in warning
