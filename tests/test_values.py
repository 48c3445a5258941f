"""Typed request values (core_server.values) through HTTP, on every database.

Huge, negative, Unicode-digit, NUL and 100 KB values in the integer, number and boolean
parameters of /api/db and /api/idtype are 400 naming the parameter; the largest accepted values
reach each database without an error.
"""

import json
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest

from core_server import values

HUGE = str(2**70)
BIG = "9" * 100_000  # 100 KB
TEXT = "x" * 100_000
MAX = str(2**63 - 1)
MIN = str(-(2**63))
SCORE = "/api/db/mydb/mytable_score/score?target=MyName&agg=avg&data_subtype=value"
LOOKUP = "/api/db/mydb/mytable_unique/lookup?column=cat&query=cat"

#: (path, {parameter: bad value}, expected error code)
BAD = [
    *[("/api/db/mydb/mytable", {"_limit": v}, "invalid_value")
      for v in (HUGE, "-1", "²", "1\x00", BIG, MAX, "1_0", " 1", "0x1", "1.0")],
    *[("/api/db/mydb/mytable", {"_offset": v}, "invalid_value")
      for v in (HUGE, "-1", "²", BIG, str(2**63))],
    *[("/api/db/mydb/mytable", {"_sort": v}, "invalid_value")
      for v in ("--", "-", "+-value", "--value", "value,-")],
    ("/api/db/mydb/mytable", {"_return_query": "maybe"}, "invalid_value"),
    ("/api/db/mydb/mytable", {"_assignids": "2"}, "invalid_value"),
    ("/api/db/mydb/mytable", {"_format": "xml\x00"}, "invalid_value"),
    *[("/api/db/mydb/mytable", {"filter_value": v}, "invalid_value")
      for v in (HUGE, "²", "nan", "inf", "1e999", BIG, "1\x00")],
    ("/api/db/mydb/mytable", {"filter_gt_value": str(-(2**63) - 1)}, "invalid_value"),
    ("/api/db/mydb/mytable", {"filter_cat": "a\x00b"}, "invalid_value"),
    *[("/api/db/testdb/by_ids", {"ids": v}, "invalid_argument") for v in (HUGE, "²", BIG)],
    ("/api/db/testdb/by_ids", {"ids": "1,1\x00"}, "invalid_value"),
    ("/api/db/testdb/echo", {"n": HUGE}, "invalid_argument"),
    *[("/api/db/testdb/column_of?col=name&offset=0&query=x", {"limit": v}, "invalid_replacement")
      for v in (HUGE, "²", BIG)],
    *[(LOOKUP, {"page": v}, "invalid_value") for v in (HUGE, "-1", "²", BIG)],
    *[(LOOKUP, {"limit": v}, "invalid_value") for v in (HUGE, "0", "²", MAX)],
    *[(SCORE, {"_limit": v}, "invalid_value") for v in (HUGE, "-1", "²")],
    (SCORE, {"_sort": "--"}, "invalid_value"),
    *[("/api/idtype/AName/unmap", {"id": v}, "invalid_value")
      for v in (HUGE, "-1", "²", "1\x00", BIG)],
    ("/api/idtype/AName/unmap", {"ids": f"1,{HUGE}"}, "invalid_value"),
    ("/api/idtype/AName/unmap", {"id": str(2**31)}, "invalid_value"),
    ("/api/idtype/AName/map", {"id": TEXT}, "invalid_value"),
    *[("/api/idtype/AName/search?q=a", {"limit": v}, "invalid_value") for v in (HUGE, "0", "²")],
    ("/api/idtype/AName/search", {"q": "a\x00"}, "invalid_value"),
    ("/api/idtype/AName/map", {"ids": "a\x00b"}, "invalid_value"),
    *[("/api/idtype/IDTypeA/AName?q=1", {"mode": v}, "invalid_value") for v in ("some", "\x00")],
]

#: (path, query, expected JSON): the largest accepted values and unknown ids, on every database
GOOD = [
    # _limit, _offset and LIMIT/OFFSET replacements stop at 2**62: their sums stay in 64 bits
    ("/api/db/mydb/mytable", {"_limit": str(2**62), "_offset": str(2**62)}, []),
    ("/api/db/mydb/mytable", {"filter_my_id": MIN}, []),
    ("/api/db/mydb/mytable", {"filter_lt_my_id": MIN}, []),
    ("/api/db/mydb/mytable", {"filter_value": "1e300"}, []),
    ("/api/db/mydb/mytable", {"filter_cat": TEXT}, []),
    ("/api/db/mydb/mytable", {"_limit": "1", "_sort": "-value,", "_return_query": "false",
                              "_assignids": "TRUE", "filter_my_id": "+7"},
     [{"_id": None, "my_id": 7}]),
    ("/api/db/testdb/by_ids", {"ids": MAX}, []),
    ("/api/db/testdb/column_of?col=name&offset=0&query=x", {"limit": str(2**62)}, None),
    # a page beyond 2**62 rows is read as the last such page: empty
    *[(LOOKUP + "&limit=3", {"page": page}, {"items": [], "more": False})
      for page in (str((2**62 - 1 - 3) // 3), str(2**63 - 1))],
    ("/api/idtype/AName/unmap", {"id": str(2**31 - 1)}, None),
    ("/api/idtype/AName/search", {"q": TEXT}, []),
    *[("/api/idtype/IDTypeA/AName", {"q": v}, [[]]) for v in (HUGE, MAX, "²", BIG)],
    ("/api/idtype/MyName/MyIDType", {"q": TEXT}, [[]]),
    ("/api/idtype/AName/map", {"id": "x" * 255}, None),
]


def _get(client, path, query):
    url = urlsplit(path)
    return client.get(url.path, query_string={**dict(parse_qsl(url.query)), **query})


def _case_id(case):
    return f"{case[0].split('?')[0]}:{','.join(f'{k}={v[:12]!r}' for k, v in case[1].items())}"


@pytest.mark.db
@pytest.mark.parametrize("path, query, code", BAD, ids=map(_case_id, BAD))
def test_bad_values_are_400_naming_the_parameter(testdb_module, path, query, code):
    response = _get(testdb_module, path, query)
    assert response.status_code == 400, response.data[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code, error
    (param,) = query
    assert param in error["message"]
    assert len(error["message"]) < 300  # a 100 KB value is not echoed whole


@pytest.mark.db
@pytest.mark.parametrize("path, query, expected", GOOD, ids=map(_case_id, GOOD))
def test_largest_values_reach_every_database(testdb_module, path, query, expected):
    response = _get(testdb_module, path, query)
    assert response.status_code == 200, response.data[:300]
    if expected is not None:
        body = response.get_json()
        if isinstance(body, list) and body and "_id" in body[0]:
            body = [{"_id": None, "my_id": row["my_id"]} for row in body]
        assert body == expected


@pytest.mark.db
def test_json_bodies_use_the_same_rules(testdb_module):
    url = "/api/db/mydb/mytable"
    for body in ({"_limit": 2**70}, {"_limit": True}, {"_limit": 1.5}, {"filter_cat": [[1]]},
                 {"filter_cat": {"a": 1}}):
        response = testdb_module.post(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400, body
        assert response.get_json()["error"]["code"] == "invalid_value", body
    rows = testdb_module.post(url, json={"_limit": 2, "_assignids": True, "_sort": "-my_id"})
    assert [r["my_id"] for r in rows.get_json()] == [1000, 999] and "_id" in rows.get_json()[0]
    mapped = testdb_module.post("/api/idtype/IDTypeA/AName", data=json.dumps({"q": [1, 2**70, "2"]}),
                                content_type="application/json")
    assert mapped.get_json() == [["A1"], [], ["A2"]]


def test_details_name_the_parameter_and_the_form():
    with pytest.raises(values.InvalidValue) as info:
        values.integer("²", "page", minimum=0)
    assert info.value.details == [{"parameter": "page",
                                   "accepted": f"an integer >= 0 (at most {2**63 - 1})"}]
    assert values.integer("-0042", "x") == -42 and values.number("1e3", "x") == 1000.0
    assert values.number("12", "x") == 12 and type(values.number("12", "x")) is int
    assert [values.boolean(v, "b") for v in ("TRUE", "off", "1", "No", True)] == \
        [True, False, True, False, True]
    assert values.id_list({"ids[]": ["a,b"]}, "ids") == ["a,b"]
    assert values.id_list({"ids[]": ["a,b"]}, "ids", split_brackets=True) == ["a", "b"]
    assert values.id_list({"ids": ["a,,b"]}, "ids") == ["a", "b"]
