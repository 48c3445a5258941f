"""Output formats of view rows: JSON, NDJSON, CSV (RFC 4180), TSV; value conversions; streaming."""

import csv
import datetime as dt
import decimal
import io
import math

import orjson
import pytest
from myserverplugin.demo_data import rows_of

from core_server.dbview import output

ROWS = list(rows_of(1000))


@pytest.mark.parametrize("url", ["/api/db/mydb/mytable?_format=csv&_limit=5",
                                 "/api/db/mydb/mytable.csv?_limit=5"])
def test_csv_has_header_and_crlf(mydb_client, url):
    response = mydb_client.get(url)
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    lines = text.split("\r\n")
    assert lines[0] == "_id,id,my_id,name,cat,value"
    assert lines[1] == f"0,1,1,My 1,{ROWS[0]['cat']},{ROWS[0]['value']}"
    assert text.endswith("\r\n") and len(lines) == 7


def test_tsv_and_ndjson(mydb_client):
    tsv = mydb_client.get("/api/db/mydb/mytable.tsv?_limit=2").get_data(as_text=True)
    assert tsv.splitlines()[0] == "_id\tid\tmy_id\tname\tcat\tvalue"
    assert tsv.splitlines()[2].split("\t")[3] == "My 2"
    nd = mydb_client.get("/api/db/mydb/mytable?_format=ndjson&_limit=3")
    assert nd.mimetype == "application/x-ndjson"
    lines = [orjson.loads(line) for line in nd.get_data().splitlines()]
    assert [r["my_id"] for r in lines] == [1, 2, 3] and next(iter(lines[0])) == "_id"


def test_json_suffix_equals_default(mydb_client):
    a = mydb_client.get("/api/db/mydb/mytable.json?_limit=4").get_json()
    assert a == mydb_client.get("/api/db/mydb/mytable?_limit=4").get_json()


def test_csv_quotes_and_types(testdb):
    text = testdb.get("/api/db/testdb/typed.csv").get_data(as_text=True)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["d", "comma", "quote", "empty"]
    assert float(parsed[1][0]) == 1.5
    assert parsed[1][1:] == ["a,b", 'say "hi"', ""]
    assert '"a,b","say ""hi"""' in text


def test_decimal_is_a_float_in_json(testdb):
    assert testdb.get("/api/db/testdb/typed").get_json() == [
        {"d": 1.5, "comma": "a,b", "quote": 'say "hi"', "empty": None}]


def test_dataframe_callback_nan_and_datetime(testdb):
    rows = testdb.get("/api/db/testdb/frame").get_json()
    assert rows == [{"id": 1, "x": None, "when": 86_400_000},
                    {"id": 2, "x": 2.5, "when": 1_577_836_800_000}]
    text = testdb.get("/api/db/testdb/frame.csv").get_data(as_text=True)
    assert text.splitlines()[1] == "1,,86400000"


def test_callback_sort_limit_and_link(testdb):
    response = testdb.get("/api/db/testdb/frame?_sort=-id&_limit=1")
    assert response.get_json()[0]["id"] == 2
    assert 'rel="next"' in response.headers["Link"]


def test_large_results_stream_in_batches(mydb_url, app_factory):
    client = app_factory(mydb_url, dbview={"batch_size": 100}).test_client()
    response = client.get("/api/db/mydb/mytable", buffered=False)
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) >= 10  # one chunk per 100-row batch, not one big body
    rows = orjson.loads(b"".join(chunks))
    assert [r["my_id"] for r in rows] == list(range(1, 1001))
    streamed_csv = client.get("/api/db/mydb/mytable.csv?_limit=250&_offset=10")
    lines = streamed_csv.get_data(as_text=True).split("\r\n")
    assert len(lines) == 252 and lines[1].split(",")[2] == "11"  # header + 250 rows + ''
    assert 'rel="next"' in streamed_csv.headers["Link"]


def test_small_pages_have_a_content_length(mydb_client):
    response = mydb_client.get("/api/db/mydb/mytable?_limit=10")
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    assert "db;dur=" in response.headers["Server-Timing"]


def test_value_conversions_unit():
    when = dt.datetime(2020, 1, 1, 12, 0, tzinfo=dt.UTC)
    row = [(decimal.Decimal("2.50"), math.nan, when, dt.date(1970, 1, 2), None, math.inf)]
    names = ["d", "nan", "when", "day", "none", "inf"]
    decoded = orjson.loads(b"".join(output.encode_json(names, [row])))
    assert decoded == [{"d": 2.5, "nan": None, "when": 1_577_880_000_000, "day": 86_400_000,
                        "none": None, "inf": None}]
    text = b"".join(output.encode_csv(names, [row])).decode()
    assert text.split("\r\n")[1] == "2.50,,1577880000000,86400000,,"
    assert b"".join(output.encode_json(names, [])) == b"[]"


def test_ndjson_lines_are_the_rows_even_with_separator_text():
    # one orjson call per batch, split at the "},{" between rows; a value with that text in
    # it must not split its row
    import orjson

    from core_server.dbview.output import encode_ndjson

    names = ["id", "text"]
    batch = [(1, "plain"), (2, 'a},{"b":1'), (3, "},{"), (4, "")]
    body = b"".join(encode_ndjson(names, [batch, [(5, "x")]]))
    lines = body.split(b"\n")
    assert lines[-1] == b""
    assert [orjson.loads(line) for line in lines[:-1]] == [
        {"id": i, "text": t} for i, t in batch + [(5, "x")]]
    plain = b"".join(encode_ndjson(names, [[(1, "a"), (2, "b")]]))
    assert plain == b'{"id":1,"text":"a"}\n{"id":2,"text":"b"}\n'
