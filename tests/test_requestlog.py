"""The structured access log and the per-request headers (core_server.requestlog)."""

import json
import logging


def test_access_line_per_request(mydb_client, caplog):
    with caplog.at_level(logging.INFO, logger="core_server.access"):
        response = mydb_client.get("/api/db/mydb/mytable?filter_my_id=7",
                                   headers={"X-Request-Id": "abc-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "abc-1"
    assert "total;dur=" in response.headers["Server-Timing"]
    lines = [r for r in caplog.records if r.name == "core_server.access"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    entry = json.loads(lines[0].getMessage())
    assert entry["method"] == "GET" and entry["path"] == "/api/db/mydb/mytable"
    assert entry["status"] == 200 and entry["rows"] == 1 and entry["request_id"] == "abc-1"
    assert entry["user"] == "anonymous" and entry["duration_ms"] >= 0


def test_no_access_line_when_switched_off(mydb_url, app_factory, caplog):
    client = app_factory(mydb_url, core_server={"access_log": False}).test_client()
    with caplog.at_level(logging.INFO, logger="core_server.access"):
        assert client.get("/api/db/mydb/mytable?filter_my_id=7").status_code == 200
    assert not [r for r in caplog.records if r.name == "core_server.access"]


def test_access_line_written_directly_to_a_plain_handler(mydb_client):
    # as `serve` logs (logging.basicConfig): the line is formatted without a LogRecord; it must
    # read exactly as logging would write it, and filters or other handlers still get records
    import io
    import re

    from core_server.requestlog import access_log

    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    seen = []
    saved = access_log.level, access_log.propagate
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
    access_log.addHandler(plain)
    try:
        assert mydb_client.get("/api/db/mydb/mytable?filter_my_id=7",
                               headers={"X-Request-Id": "abc-2"}).status_code == 200
        plain.addFilter(lambda record: seen.append(record) or True)  # now records are needed
        assert mydb_client.get("/api/db/mydb/mytable?filter_my_id=8").status_code == 200
    finally:
        access_log.removeHandler(plain)
        access_log.setLevel(saved[0])
        access_log.propagate = saved[1]
    first, second = stream.getvalue().splitlines()
    for line in (first, second):
        match = re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} core_server\.access (\{.*\})",
                             line)
        assert match, line
    entry = json.loads(first.split(" ", 3)[3])
    assert entry["request_id"] == "abc-2" and entry["rows"] == 1 and entry["status"] == 200
    assert len(seen) == 1 and json.loads(seen[0].getMessage())["path"] == "/api/db/mydb/mytable"
