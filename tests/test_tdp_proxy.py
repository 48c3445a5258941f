"""tdp_proxy sites (/api/tdp/proxy/<id>) against an upstream HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from core_server import tdp
from core_server.app import create_app
from core_server.testing import temporary_plugin

MAX_BYTES = 256 * 1024


class Upstream(BaseHTTPRequestHandler):
    """The site behind the proxy: each path shows one behaviour."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        getattr(self, "_" + path.strip("/").split("/")[0], self._missing)()

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _echo(self) -> None:
        seen = {"query": parse_qs(urlsplit(self.path).query), "path": urlsplit(self.path).path,
                "headers": {k.lower(): v for k, v in self.headers.items()}}
        self._send(200, json.dumps(seen).encode())

    def _text(self) -> None:
        self._send(200, b"<b>gene</b>", "text/html; charset=utf-8")

    def _slow(self) -> None:
        time.sleep(1.5)
        self._send(200, b"{}")

    def _huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(50 * MAX_BYTES))
        self.end_headers()
        self.wfile.write(b"x" * 1024)

    def _chunked(self, total: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"y" * 16384
        for _ in range(total // len(chunk)):
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _big(self) -> None:
        self._chunked(MAX_BYTES // 2)  # over the prefetch, under the cap: streamed whole

    def _endless(self) -> None:
        self._chunked(4 * MAX_BYTES)

    def _away(self) -> None:
        port = self.server.server_address[1]
        self._send(302, b"", headers={"Location": f"http://localhost:{port}/echo"})

    def _home(self) -> None:
        self._send(302, b"", headers={"Location": "/echo?moved=1"})

    def _fail(self) -> None:
        self._send(500, b"<html>oops</html>", "text/html")

    def _missing(self) -> None:
        self._send(404, b"no")


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _init(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    sites = {
        "echo": {"url": base + "/echo?gene={gene}&fixed=1", "headers": {"X-Api-Key": "k"}},
        "path": {"url": base + "/echo/{gene}"},
        "text": {"url": base + "/text"}, "slow": {"url": base + "/slow"},
        "huge": {"url": base + "/huge"}, "big": {"url": base + "/big"},
        "endless": {"url": base + "/endless"}, "away": {"url": base + "/away"},
        "home": {"url": base + "/home"}, "fail": {"url": base + "/fail"},
        "open": {"url": "http://{host}/x"}, "attr": {"url": base + "/{gene.__class__}"},
    }
    lines = "\n".join(f"    registry.append('tdp_proxy', {k!r}, '', {v!r})"
                      for k, v in sites.items())
    return f"def phovea(registry):\n{lines}\n"


@pytest.fixture(scope="module")
def app(upstream: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root = tmp_path_factory.mktemp("plugins")
    with temporary_plugin(root, "proxysites", _init(upstream)):
        config = {"tdp": {"proxy": {"timeout": "500ms", "max_bytes": MAX_BYTES}}}
        application = create_app(config, plugins_dirs=[root], entry_points=False,
                                 data_dir=tmp_path_factory.mktemp("data"))
    application.config["TESTING"] = True
    yield application
    tdp.tdp_of(application).dispose()


def test_arguments_are_url_encoded_into_the_configured_url(app: Flask) -> None:
    response = app.test_client().get("/api/tdp/proxy/echo?gene=a%26fixed%3D2&other=3",
                                     headers={"Cookie": "session=s", "Authorization": "Basic dTpw"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    seen = response.get_json()
    # TDP would send gene=a&fixed=2 raw, letting the value add a parameter
    assert seen["query"] == {"gene": ["a&fixed=2"], "fixed": ["1"]}
    assert seen["headers"]["x-api-key"] == "k"
    assert "cookie" not in seen["headers"] and "authorization" not in seen["headers"]
    in_path = app.test_client().get("/api/tdp/proxy/path?gene=../../admin").get_json()
    assert in_path["path"] == "/echo/..%2F..%2Fadmin"


def test_the_upstream_content_type_and_streamed_bodies_pass_through(app: Flask) -> None:
    client = app.test_client()
    text = client.get("/api/tdp/proxy/text")
    assert text.get_data() == b"<b>gene</b>" and text.content_type == "text/html; charset=utf-8"
    big = client.get("/api/tdp/proxy/big")
    assert big.status_code == 200 and len(big.get_data()) == MAX_BYTES // 2


def test_a_redirect_on_the_same_site_is_followed(app: Flask) -> None:
    assert app.test_client().get("/api/tdp/proxy/home").get_json()["query"] == {"moved": ["1"]}


@pytest.mark.parametrize("site, status, code", [
    ("slow", 504, "upstream_timeout"), ("huge", 502, "upstream_too_large"),
    ("away", 502, "upstream_redirect"), ("fail", 502, "upstream_error")])
def test_upstream_failures_are_json_errors(app: Flask, site: str, status: int, code: str) -> None:
    started = time.monotonic()
    response = app.test_client().get(f"/api/tdp/proxy/{site}")
    assert response.status_code == status and response.is_json
    assert response.get_json()["error"]["code"] == code
    assert time.monotonic() - started < 1.2  # the slow upstream answers after 1.5 s


def test_unknown_sites_and_missing_arguments(app: Flask) -> None:
    client = app.test_client()
    unknown = client.get("/api/tdp/proxy/nope")
    assert unknown.status_code == 404 and "echo" in unknown.get_json()["error"]["hint"]
    missing = client.get("/api/tdp/proxy/echo")
    assert missing.status_code == 400
    assert missing.get_json()["error"]["code"] == "missing_argument"


def test_sites_that_could_go_anywhere_fail_their_plugin(app: Flask) -> None:
    plugin = app.extensions["core_server"].registry.plugins["proxysites"]
    assert any("'open'" in e and "fixed http(s)://host/" in e for e in plugin.errors), plugin.errors
    assert any("'attr'" in e and "plain name" in e for e in plugin.errors), plugin.errors
    for site in ("open", "attr"):
        assert app.test_client().get(f"/api/tdp/proxy/{site}?host=x").status_code == 404


def test_an_answer_past_the_cap_is_cut_off_not_shortened(app: Flask) -> None:
    # a chunked answer has no length to check up front: the server drops the connection, so a
    # real client sees an incomplete answer, never a short one that looks whole
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{server.server_port}/api/tdp/proxy/endless", timeout=5)
    finally:
        server.shutdown()


def test_openapi_lists_the_sites(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    parameter = spec["paths"]["/api/tdp/proxy/{site_id}"]["get"]["parameters"][0]
    assert "echo" in parameter["schema"]["enum"] and "open" not in parameter["schema"]["enum"]
