"""``core-server nginx`` (the proxy's configuration) and X-Forwarded-* from trusted proxies only."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from flask import Blueprint
from flask import Flask

from core_server import proxyconf
from core_server.app import create_app
from core_server.cli import main
from core_server.config import ConfigError


def _nginx() -> str:
    binary = proxyconf.nginx_binary()
    if binary is None:
        if os.environ.get("CI") or os.environ.get("CORE_SERVER_REQUIRE_DBS"):
            pytest.fail("nginx is not installed (.ci/run installs nginx-light)")
        pytest.skip("nginx is not installed")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_rendered_configuration_passes_nginx_t(tmp_path: Path) -> None:
    _nginx()
    result = CliRunner().invoke(main, ["nginx", "--check", "--plugins-dir", "plugins",
                                       "--data-dir", str(tmp_path),
                                       "--upstream", "127.0.0.1:8081 127.0.0.1:8082"])
    assert result.exit_code == 0, result.output
    printed = CliRunner().invoke(main, ["nginx", "--print", "--plugins-dir", "plugins",
                                        "--data-dir", str(tmp_path), "--listen", "9999",
                                        "--upstream", "h1:1", "--upstream", "h2:2"])
    text = printed.output
    assert "server h1:1 " in text and "server h2:2 " in text and "listen 9999;" in text
    for directive in ("proxy_request_buffering on;", "proxy_buffering on;",
                      "client_body_timeout 10s;", "client_header_timeout 10s;",
                      "proxy_set_header X-Forwarded-For $remote_addr;", "gzip on;"):
        assert directive in text, directive
    assert "client_max_body_size 16777216;" in text  # core_server.max_content_length


def test_a_bad_upstream_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["nginx", "--print", "--plugins-dir", "plugins",
                                       "--data-dir", str(tmp_path),
                                       "--upstream", "x;}include /etc/passwd"])
    assert result.exit_code == 2 and "not an upstream address" in result.output


def test_static_folders_of_the_app_become_locations(tmp_path: Path) -> None:
    app = Flask("static_test", static_folder=None)
    folder = tmp_path / "assets"
    folder.mkdir()
    app.register_blueprint(Blueprint("browse", __name__, static_folder=str(folder),
                                     static_url_path="/static", url_prefix="/browse"))
    app.register_blueprint(Blueprint("nofiles", __name__, static_folder=str(tmp_path / "none"),
                                     url_prefix="/nofiles"))
    assert proxyconf.static_mounts(app) == (
        proxyconf.StaticMount("/browse/static/", str(folder.resolve())),)


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # nginx workers run as nobody: their folders must be readable (pytest's tmp_path is 0700)
    folder = Path(tempfile.mkdtemp(prefix="core_server-nginx-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _nginx_process(binary: str, conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([binary, "-c", str(conf), "-p", str(conf.parent), "-e", "stderr",
                             "-g", "daemon off;"], stderr=subprocess.PIPE)


def _get_when_up(url: str) -> httpx.Response:
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_nginx_serves_static_files_and_json_errors(run_dir: Path) -> None:
    binary = _nginx()
    static = run_dir / "static"
    static.mkdir()
    static.chmod(0o755)
    (static / "app.js").write_text("console.log(1);\n")
    (static / "app.js").chmod(0o644)
    port, dead = _free_port(), _free_port()
    settings = proxyconf.NginxSettings(
        upstreams=(f"127.0.0.1:{dead}",), listen=f"127.0.0.1:{port}", run_dir=str(run_dir),
        static=(proxyconf.StaticMount("/browse/static/", str(static)),), client_max_body_size=1000)
    process = _nginx_process(binary, proxyconf.write(settings))
    try:
        js = _get_when_up(f"http://127.0.0.1:{port}/browse/static/app.js")
        assert js.status_code == 200 and js.text == "console.log(1);\n"
        assert "javascript" in js.headers["content-type"]
        down = httpx.get(f"http://127.0.0.1:{port}/api/db/", headers={"X-Request-Id": "r1"})
        assert down.status_code == 502
        assert down.json()["error"] == {"status": 502, "code": "bad_gateway",
                                        "message": "no API host answered; try again",
                                        "hint": None, "request_id": "r1"}
        big = httpx.post(f"http://127.0.0.1:{port}/api/store/x", content=b"x" * 2000)
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    finally:
        process.terminate()
        process.wait(10)


def test_static_files_below_a_private_folder_are_served_from_a_copy(tmp_path: Path,
                                                                      run_dir: Path) -> None:
    # a checkout below a 0700 folder (a home, mktemp -d): nginx started as root reads the
    # files as its worker user, which cannot enter it
    tmp_path.chmod(0o700)
    static = tmp_path / "static"
    (static / "img").mkdir(parents=True)
    (static / "app.js").write_text("console.log(2);\n")
    (static / "img" / "a.svg").write_text("<svg/>")
    settings = proxyconf.NginxSettings(
        run_dir=str(run_dir), static=(proxyconf.StaticMount("/browse/static/", str(static)),))
    as_user, notes = proxyconf.readable_static(settings, as_root=False)
    assert as_user == settings and notes == []
    copied, notes = proxyconf.readable_static(settings, as_root=True)
    copy = Path(copied.static[0].directory)
    assert copy.parent.parent == run_dir and copied.static[0].url == "/browse/static/"
    assert (copy / "img" / "a.svg").read_text() == "<svg/>"
    assert len(notes) == 1 and str(static) in notes[0] and str(copy) in notes[0]
    # a folder others can read is served where it is
    readable = run_dir / "public"
    readable.mkdir(mode=0o755)
    (readable / "x.css").write_text("a{}")
    (readable / "x.css").chmod(0o644)
    kept = proxyconf.NginxSettings(
        run_dir=str(run_dir), static=(proxyconf.StaticMount("/s/", str(readable)),))
    assert proxyconf.readable_static(kept, as_root=True) == (kept, [])
    # and nginx, started as this process (root in CI: workers as nobody), serves the file
    binary = _nginx()
    port = _free_port()
    served, _ = proxyconf.readable_static(replace(settings, listen=f"127.0.0.1:{port}",
                                                  upstreams=(f"127.0.0.1:{_free_port()}",)))
    process = _nginx_process(binary, proxyconf.write(served))
    try:
        js = _get_when_up(f"http://127.0.0.1:{port}/browse/static/app.js")
        assert js.status_code == 200 and js.text == "console.log(2);\n"
        svg = httpx.get(f"http://127.0.0.1:{port}/browse/static/img/a.svg")
        assert svg.status_code == 200 and svg.text == "<svg/>"
    finally:
        process.terminate()
        process.wait(10)


def _server_url(remote: str, trusted: list[str] | None = None) -> str:
    config: dict = {"core_server": {"proxy_fix": {"x_prefix": 1, "x_host": 1}}}
    if trusted is not None:
        config["core_server"]["trusted_proxies"] = trusted
    app = create_app(config, plugins_dirs=[], entry_points=False)
    answer = app.test_client().get("/api/openapi.json", environ_base={"REMOTE_ADDR": remote},
                                   headers={"X-Forwarded-Prefix": "/pub",
                                            "X-Forwarded-Host": "public.example"})
    return str(answer.get_json()["servers"][0]["url"])


def test_forwarded_headers_are_believed_only_from_trusted_proxies(tmp_path: Path,
                                                                  monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "/pub" in _server_url("127.0.0.1")  # the default: a proxy on this host
    assert "/pub" not in _server_url("10.1.2.3")  # anyone else's headers are dropped
    assert "/pub" in _server_url("10.1.2.3", ["10.0.0.0/8"])
    assert "/pub" not in _server_url("192.168.1.1", ["10.0.0.0/8", "::1"])
    with pytest.raises(ConfigError, match="trusted_proxies"):
        _server_url("127.0.0.1", ["not-an-address"])
