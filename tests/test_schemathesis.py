"""Schemathesis against our own /api/openapi.json: a real gunicorn server over the demo data.

Every check of schemathesis runs (server errors, status codes and response schemas as
documented, schema-valid requests accepted and invalid ones refused, exact methods and Allow
headers...), once anonymously and once with an admin's API token; both must find nothing.
The runs are bounded (few examples per operation, a fixed seed) to stay within CI's budget.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core_server.testing import password_of
from core_server.testing import users_config

BIN = Path(sys.executable).parent
SEED = 20261201
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = os.environ.get("CORE_SERVER_SCHEMATHESIS_EXAMPLES", "2")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(url: str, body: dict | None = None, headers: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={
        "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``core-server serve --workers 2`` (gunicorn) with the demo plugin and its data."""
    root = tmp_path_factory.mktemp("schemathesis")
    config = users_config(login_failures_per_name=1000, login_failures_per_address=1000)
    config["core_server"].update(secret_key="schemathesis-secret", entry_points=True)
    (root / "config.json").write_text(json.dumps(config))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORE_SERVER")}
    log = (root / "server.log").open("w")
    plugins = Path(__file__).resolve().parents[1] / "plugins"
    process = subprocess.Popen(
        [str(BIN / "core-server"), "serve", "--config", str(root / "config.json"),
         "--plugins-dir", str(plugins), "--data-dir", str(root / "data"),
         "--port", str(port), "--workers", "2"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            assert process.poll() is None, (root / "server.log").read_text()
            try:
                _call(f"{base}/api/_health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the server did not start:\n" + (root / "server.log").read_text())
                time.sleep(0.2)  # polling a starting server
        yield base, root
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def _schemathesis(base: str, root: Path, name: str, *headers: str) -> None:
    report = root / f"{name}.txt"
    command = [str(BIN / "st"), "--config-file", str(CONFIG), "run",
               f"{base}/api/openapi.json", "--checks", "all",
               "--max-examples", EXAMPLES, "--seed", str(SEED), "--no-color",
               "--request-timeout", "30", "--workers", "2"]
    for header in headers:
        command += ["--header", header]
    with report.open("w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=600,
                                cwd=root)
    text = report.read_text()
    assert result.returncode == 0, text[-20000:]


def test_schemathesis_anonymous(server) -> None:
    base, root = server
    _schemathesis(base, root, "anonymous")


def test_schemathesis_with_a_token(server) -> None:
    base, root = server
    login = urllib.request.Request(f"{base}/api/login", data=json.dumps(
        {"username": "admin", "password": password_of("admin")}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(login, timeout=10) as response:
        cookie = next(c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie")
                      if c.startswith("core_server_session="))
        csrf = json.loads(response.read())["csrf_token"]
    token = _call(f"{base}/api/tokens", {"name": "schemathesis"},
                  {"Cookie": cookie, "X-CSRF-Token": csrf})["token"]
    _schemathesis(base, root, "token", f"Authorization: Bearer {token}")
