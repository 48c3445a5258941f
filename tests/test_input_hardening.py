"""Issue 14, input: typed values in the store, repeated parameters, HTTP-layer errors as JSON.

The HTTP-layer limits are checked against real servers: the development server
(``core-server serve``) and gunicorn (``serve --workers 2``), over raw sockets.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core_server.testing import bearer
from core_server.testing import create_token
from core_server.testing import login
from core_server.testing import store_app
from core_server.testing import users_config

BIN = Path(sys.executable).parent
S = "/api/store"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def store(tmp_path, db_url):
    with store_app(tmp_path, db_url, users_config()) as app:
        client = app.test_client()
        login(client, "admin")
        yield client


@pytest.mark.parametrize("query", ["_limit=%C2%B2", "_limit=99999999999999999999999",
                                   "_offset=-1", "_offset=%D9%A1", "_limit=1&_limit=2",
                                   "_count=maybe", "age=%C2%B2", "age.$gt=1e999",
                                   "age=99999999999999999999"])
def test_store_values_are_read_as_everywhere(store, query) -> None:
    body = _error(store.get(f"{S}/plugins?{query}"), 400, "invalid_value")
    named = body["details"][0]["parameter"] if "details" in body else "age"
    assert named in query and named in body["message"], body


def test_store_in_needs_a_list_and_if_match_a_version(store) -> None:
    _error(store.post(f"{S}/plugins/_query", json={"filter": {"age": {"$in": 3}}}), 400,
           "invalid_value")
    assert store.post(f"{S}/plugins/_query", json={"filter": {"age": {"$in": [3]}}}
                      ).status_code == 200
    doc = store.post(f"{S}/notes", json={"title": "ada"}).get_json()
    for header in ("²", "99999999999999999999999", "-1", "1 2"):
        _error(store.put(f"{S}/notes/{doc['_id']}", json={"title": "ada"},
                         headers={"If-Match": f'"{header}"'}), 412, "precondition_failed")
    ok = store.put(f"{S}/notes/{doc['_id']}", json={"title": "ada", "n": 2},
                   headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'


def test_repeated_single_valued_parameters_are_refused(mydb_client) -> None:
    for url in ("/api/db/mydb/mytable?_limit=1&_limit=2",
                "/api/db/mydb/mytable?_format=csv&_format=json",
                "/api/idtype/MyIDType/unmap?id=1&id=2",
                "/api/db/mydb/mytable_items/lookup?column=name&query=a&page=1&page=2"):
        body = _error(mydb_client.get(url), 400, "invalid_value")
        assert "given 2 times" in body["message"], body


def test_csv_and_204_headers(mydb_client, tmp_path) -> None:
    csv = mydb_client.get("/api/db/mydb/mytable?_format=csv&_limit=2")
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    tsv = mydb_client.get("/api/db/mydb/mytable?_format=tsv&_limit=2")
    assert tsv.headers["Content-Type"] == "text/tab-separated-values; charset=utf-8"


def test_204_has_no_content_type(tmp_path) -> None:
    with store_app(tmp_path, f"sqlite:///{tmp_path}/s.sqlite", users_config()) as app:
        client = app.test_client()
        login(client, "admin")
        token = create_token(client)
        anonymous = app.test_client()
        response = anonymous.delete(f"/api/tokens/{token['id']}", headers=bearer(token))
        assert response.status_code == 204
        assert "Content-Type" not in response.headers


def test_limit_offset_replacements_are_not_negative(mydb_client) -> None:
    for query in ("limit=-1&offset=0", "limit=5&offset=-1", f"limit={2**62 + 1}&offset=0"):
        _error(mydb_client.get(f"/api/db/mydb/mytable_items?column=name&query=a&{query}"), 400,
               "invalid_replacement")
    ok = mydb_client.get("/api/db/mydb/mytable_items?column=name&query=%25&limit=2&offset=0")
    assert ok.status_code == 200 and len(ok.get_json()) == 2


def test_score_filters_and_both_bounds(mydb_client) -> None:
    base = "/api/db/mydb/mytable_score?agg=max&data_subtype=value"
    rows = mydb_client.get(f"{base}&filter_gt_score=90&filter_lte_score=95").get_json()
    assert rows and all(90 < r["score"] <= 95 for r in rows)
    _error(mydb_client.get(f"{base}&filter_score=%C2%B2"), 400, "invalid_value")


def test_named_sets_refuse_wrong_shapes(tmp_path) -> None:
    from core_server.app import create_app

    app = create_app(users_config(), data_dir=tmp_path / "data")
    client = app.test_client()
    login(client, "admin")
    url = "/api/tdp/storage/namedsets/"
    base = {"name": "s", "idType": "MyIDType", "ids": ["1", "2"]}
    for wrong in ({"ids": 5}, {"ids": [{"a": 1}]}, {"name": {"a": 1}}, {"ids": [[1]]},
                  {"type": "²"}, {"permissions": "8"}, {"name": "a\x00"}):
        _error(client.post(url, json={**base, **wrong}), 400, "invalid_value")
    assert client.post(url, json=base).status_code == 200


def test_tutorial_endpoints_refuse_wrong_shapes(mydb_client) -> None:
    _error(mydb_client.get("/api/proxy/planets?min_moons=%C2%B2"), 400, "invalid_value")
    _error(mydb_client.get("/api/proxy/planets?min_moons=-1"), 400, "invalid_value")
    assert len(mydb_client.get("/api/proxy/planets?min_moons=20").get_json()) == 3


# -- the HTTP layer, real servers -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module", params=[1, 2], ids=["werkzeug", "gunicorn"])
def server(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"http{request.param}")
    (root / "config.json").write_text(json.dumps({"core_server": {"entry_points": False}}))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORE_SERVER")}
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "core-server"), "serve", "--config", str(root / "config.json"),
         "--plugins-dir", str(root), "--data-dir", str(root / "data"), "--port", str(port),
         "--workers", str(request.param)], cwd=root, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (root / "server.log").read_text()
        try:
            if _get(port, "/api/_health")[0] == 200:
                break
        except OSError:
            assert time.monotonic() < deadline, (root / "server.log").read_text()
            time.sleep(0.1)  # polling a starting server
    yield port
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


def _get(port: int, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("size", [30_000, 100_000])
def test_long_request_lines_are_json_414(server, size) -> None:
    status, kind, body = _get(server, "/api/_version?x=" + "a" * size)
    assert (status, kind) == (414, "application/json"), body[:300]
    assert json.loads(body)["error"]["code"] == "uri_too_long"


@pytest.mark.parametrize("size", [30_000, 64 * 1024])
def test_large_headers_are_json_431(server, size) -> None:
    status, kind, body = _get(server, "/api/_version", {"X-Big": "a" * size})
    assert (status, kind) == (431, "application/json"), body[:300]
    assert json.loads(body)["error"]["code"] == "headers_too_large"


def test_a_50_mb_chunked_body_is_json_413(server) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=30) as conn:
        conn.sendall(b"POST /api/store/_batch HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * (1024 * 1024)
        try:
            for _ in range(50):
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before reading everything
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            part = conn.recv(65536)
            if not part:
                break
            answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "payload_too_large"
