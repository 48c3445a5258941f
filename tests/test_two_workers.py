"""Sessions and login throttling across real processes on one PostgreSQL server database.

Host ``a`` is ``core-server serve --workers 2`` (gunicorn, two worker processes), host ``b`` a
second ``core-server serve``; clients connect from several loopback addresses. A session
check interval of 500 ms and a login window of 3 s keep the waits short.
"""

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

from core_server.testing import DEMO_INIT
from core_server.testing import DEMO_SCHEMAS
from core_server.testing import fresh_database
from core_server.testing import users_config

BIN = Path(sys.executable).parent
INTERVAL = 0.5  # core_server.security.session_check_interval of these servers, in seconds


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(port: int, method: str, path: str, body=None, cookie: str | None = None,
          csrf: str | None = None, source: str = "127.0.0.1"):
    """One request from the loopback address ``source``: (status, headers, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if cookie:
        headers["Cookie"] = f"core_server_session={cookie}"
    if csrf:
        headers["X-CSRF-Token"] = csrf
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        response = conn.getresponse()
        return response.status, response.headers, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _login(port: int, name: str, password: str | None = None, source: str = "127.0.0.1"):
    status, headers, body = _call(port, "POST", "/api/login",
                                  {"username": name, "password": password or f"{name}-password"},
                                  source=source)
    cookie = None
    for value in headers.get_all("Set-Cookie") or []:
        if value.startswith("core_server_session="):
            cookie = value.split(";", 1)[0].split("=", 1)[1]
    return status, headers, body, cookie


class Host:
    """One ``core-server serve`` process with its own config file."""

    def __init__(self, root: Path, name: str, config: dict, workers: int = 1) -> None:
        self.root, self.name, self.workers = root, name, workers
        self.port = _free_port()
        self.config_file = root / f"{name}.json"
        self.config_file.write_text(json.dumps(config))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.root / f"{self.name}.log").open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORE_SERVER")}
        self.process = subprocess.Popen(
            [str(BIN / "core-server"), "serve", "--config", str(self.config_file),
             "--plugins-dir", str(self.root / "plugins"), "--data-dir", str(self.root / "data"),
             "--port", str(self.port), "--workers", str(self.workers)],
            cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if _call(self.port, "GET", "/api/_health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)  # polling a starting server
        pytest.fail(f"{self.name} did not answer within 60 s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown, no grace period
            self.process.wait(timeout=30)
            self.process = None

    def log(self) -> str:
        return (self.root / f"{self.name}.log").read_text()


def _config(url: str, users=None) -> dict:
    config = users_config(users, session_check_interval=int(INTERVAL * 1000),
                          login_failures_per_name=10, login_failures_per_address=15,
                          login_window="3s")
    config["core_server"].update(secret_key="two-workers-secret", server_db=url,
                                 entry_points=False)
    config["store"] = {"dburl": url}
    return config


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_workers")
    package = root / "plugins" / "ds_test_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(DEMO_INIT)
    (package / "schemas.py").write_text(DEMO_SCHEMAS)
    with fresh_database("postgresql", root) as url:
        a = Host(root, "a", _config(url), workers=2)
        b = Host(root, "b", _config(url))
        try:
            a.start()
            b.start()
            yield a, b, url
        finally:
            a.stop()
            b.stop()


def test_a_cookie_saved_before_logout_is_dead_on_every_worker_and_host(hosts) -> None:
    a, b, _ = hosts
    status, _, me, cookie = _login(a.port, "admin")
    assert status == 200 and cookie
    csrf = me["csrf_token"]
    for host in (a, b, a, a):  # every process now remembers the session as live
        assert _call(host.port, "GET", "/api/loggedinas", cookie=cookie)[2]["name"] == "admin"
    status, _, note = _call(b.port, "POST", "/api/store/notes", {"title": "before"}, cookie, csrf)
    assert status == 201, note
    assert _call(b.port, "POST", "/api/logout", {}, cookie, csrf)[0] == 200
    time.sleep(INTERVAL + 0.1)
    for host in (a, b, a, a, a, b):  # several requests to a reach both of its workers
        assert _call(host.port, "GET", "/api/loggedinas", cookie=cookie)[2] == "not_yet_logged_in"
        created = _call(host.port, "POST", "/api/store/notes", {"title": "after"}, cookie, csrf)
        assert created[0] == 401, created[2]
        minted = _call(host.port, "POST", "/api/tokens", {"name": "stolen"}, cookie, csrf)
        assert minted[0] == 401, minted[2]


def test_login_throttling_is_shared_by_workers_and_hosts(hosts) -> None:
    a, b, _ = hosts
    answers = [_login((a, b)[i % 2].port, "viewer", "wrong") for i in range(20)]
    assert [answer[0] for answer in answers] == [401] * 10 + [429] * 10
    status, headers, body, _ = answers[-1]
    assert body["error"]["code"] == "too_many_login_attempts"
    wait = int(headers["Retry-After"])
    assert 1 <= wait <= 3
    assert _login(a.port, "analyst")[0] == 200  # another user, same address
    # one address spraying names is stopped; the same user elsewhere is not
    sprayed = [_login(b.port, f"guess{i}", "x", source="127.0.0.2")[0] for i in range(16)]
    assert sprayed == [401] * 15 + [429]
    assert _login(a.port, "analyst", source="127.0.0.3")[0] == 200
    time.sleep(wait)
    assert _login(b.port, "viewer")[0] == 200


def test_removing_a_user_on_one_host_ends_their_sessions_on_all(hosts) -> None:
    a, b, url = hosts
    status, _, me, cookie = _login(a.port, "viewer", source="127.0.0.4")
    assert status == 200
    status, _, token = _call(a.port, "POST", "/api/tokens", {}, cookie, me["csrf_token"])
    assert status == 201
    assert _call(b.port, "GET", "/api/loggedinas", cookie=cookie)[2]["name"] == "viewer"
    b.stop()
    b.config_file.write_text(json.dumps(_config(url, {"admin": ["admin"],
                                                      "analyst": ["analyst"]})))
    b.start()  # a still runs the old config, which knows viewer
    time.sleep(INTERVAL + 0.1)
    for host in (a, a, a, b):
        assert _call(host.port, "GET", "/api/loggedinas", cookie=cookie)[2] == "not_yet_logged_in"
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
    conn.request("GET", "/api/loggedinas", headers={"Authorization": f"Bearer {token['token']}"})
    assert conn.getresponse().status == 401
    conn.close()
