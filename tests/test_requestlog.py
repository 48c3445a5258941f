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
