"""The compose topology through nginx: ``deploy/local-stack --hosts 3`` (3 API hosts x 2 workers,
one PostgreSQL cluster, the init one-shot) started once for the module.

Needs root, ip(8) network namespaces, nginx and PostgreSQL's server binaries; CI
(``CORE_SERVER_REQUIRE_DBS=1`` or ``CI``) fails without them instead of skipping. The tests
run in file order: the last two restart and kill API hosts.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
import pytest

from core_server.testing import password_of
from core_server.testing import quick_hash
from core_server.testing import slow_clients

REPO = Path(__file__).resolve().parents[1]
LOCAL_STACK = REPO / "deploy" / "local-stack"
HOSTS = 3
COLLECTION = "/api/store/analysts"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "deploy/local-stack needs root (network namespaces)"
    for tool in ("ip", "nginx", "unshare", "runuser"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            return f"{tool} is not installed (.ci/run installs nginx-light)"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "ip netns does not work here"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        return "PostgreSQL's server binaries are not installed"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running local-stack: its URL, stdout lines and stack.json."""

    proc: subprocess.Popen[str]
    url: str
    workdir: Path
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def state(self) -> dict[str, Any]:
        return json.loads((self.workdir / "stack.json").read_text())  # type: ignore[no-any-return]

    def host_url(self, name: str) -> str:
        return f"http://{self.state()['services'][name]['address']}:8080"

    def hosts(self) -> list[str]:
        return [f"api{i}" for i in range(1, HOSTS + 1)]

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
        pytest.fail(f"local-stack did not print {prefix!r} within {timeout} s")


def _admin_env() -> dict[str, str]:
    users = [{"name": "admin", "password": quick_hash(password_of("admin")), "roles": ["admin"]},
             {"name": "analyst", "password": quick_hash(password_of("analyst")), "roles": []}]
    return {"CORE_SERVER__core_server__security__users": json.dumps(users),
            "CORE_SERVER__core_server__security__anonymous_write": "true",
            "CORE_SERVER_SECRET_KEY": secrets.token_hex(32)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = _missing()
    if missing:
        if os.environ.get("CI") or os.environ.get("CORE_SERVER_REQUIRE_DBS"):
            pytest.fail(missing)
        pytest.skip(missing)
    port, name = _free_port(), f"t{secrets.token_hex(3)}"
    workdir = tmp_path_factory.mktemp("stack")
    proc = subprocess.Popen(
        [sys.executable, str(LOCAL_STACK), "--port", str(port), "--hosts", str(HOSTS),
         "--workdir", str(workdir), "--name", name],
        env={**os.environ, **_admin_env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    running = Stack(proc, f"http://127.0.0.1:{port}", workdir)
    assert proc.stdout is not None
    threading.Thread(target=lambda: [running.lines.put(line.strip()) for line in proc.stdout],
                     daemon=True).start()
    try:
        running.expect("ready http://127.0.0.1:", 150)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run([sys.executable, str(LOCAL_STACK), "--clean", name], check=False)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{name}-" not in listed  # SIGTERM removed every namespace


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    """An admin API token (made through the proxy)."""
    with httpx.Client(base_url=stack.url) as client:
        login = client.post("/api/login", json={"username": "admin",
                                                "password": password_of("admin")})
        assert login.status_code == 200, login.text
        made = client.post("/api/tokens", json={"name": "stack"},
                           headers={"X-CSRF-Token": login.json()["csrf_token"]})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


def _parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = work(index)
        except BaseException as exc:  # reported below, with the thread's traceback lost
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


# --- the compose topology ---------------------------------------------------------------------


def test_the_tutorial_is_served_through_nginx_from_postgresql(stack: Stack) -> None:
    from myserverplugin.demo_data import rows_of

    with httpx.Client(base_url=stack.url, timeout=10) as client:
        rows = client.get("/api/db/mydb/mytable", params={"_sort": "my_id", "_limit": 5})
        assert rows.status_code == 200, rows.text
        expected = list(rows_of(5))
        assert [{k: r[k] for k in ("my_id", "name", "cat", "value")} for r in rows.json()] \
            == expected
        filtered = client.get("/api/db/mydb/mytable", params={"filter_cat": "MyCat 2",
                                                              "filter_gt_value": 500})
        assert filtered.status_code == 200 and filtered.json()
        assert all(r["cat"] == "MyCat 2" and r["value"] > 500 for r in filtered.json())
        assert client.get("/api/db/mydb/mytable/count").json() == 1000
        csv = client.get("/api/db/mydb/mytable.csv", headers={"Accept-Encoding": "gzip"})
        assert csv.headers["content-encoding"] == "gzip"  # gzip by nginx (JSON and CSV)
        assert csv.text.splitlines()[1].endswith(",My 1,MyCat 1,158")
        assert client.get("/api/tdp/db/mydb/mytable").status_code == 200
        deep = client.get("/api/_health", params={"deep": "1"})
        assert deep.status_code == 200, deep.text
    # every host reads PostgreSQL (the compose dburl), none has a demo SQLite file
    for name in stack.hosts():
        assert not (stack.workdir / name / "data" / "mydb.sqlite").exists()
    assert "mytable: 1000 rows" in (stack.workdir / "init.log").read_text()


def test_nginx_serves_the_browse_ui_static_files_itself(stack: Stack) -> None:
    static = REPO / "core_server" / "browse" / "static"
    name = sorted(p.name for p in static.iterdir() if p.is_file())[0]
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        asset = client.get(f"/browse/static/{name}")
        assert asset.status_code == 200 and asset.content == (static / name).read_bytes()
        # from disk by nginx: the app would have added its X-Request-Id
        assert "x-request-id" not in asset.headers and "public" in asset.headers["cache-control"]
        page = client.get("/browse/")
        assert page.status_code == 200 and "x-request-id" in page.headers


def test_the_proxy_sets_forwarded_headers_and_answers_json_errors(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        spec = client.get("/api/openapi.json", headers={"X-Forwarded-Prefix": "/evil",
                                                        "X-Forwarded-Host": "evil.example"})
        assert spec.status_code == 200
        server = spec.json()["servers"][0]["url"]
        assert "evil" not in server  # a client's X-Forwarded-* never reaches the API
        echoed = client.get("/api/_health", headers={"X-Request-Id": "abc-123"})
        assert echoed.headers["x-request-id"] == "abc-123"
        too_big = client.post(COLLECTION, content=b"x" * (17 * 1024 * 1024),
                              headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "payload_too_large"
        assert too_big.headers["content-type"].startswith("application/json")


# --- several API hosts --------------------------------------------------------------------------


def test_ids_agree_across_hosts_under_concurrent_first_assignment(stack: Stack) -> None:
    """24 clients at once, direct to each host and through nginx, each a first read of ``a``."""
    urls = [stack.host_url(name) for name in stack.hosts()] + [stack.url]
    barrier = threading.Barrier(24)

    def read(index: int) -> dict[int, int]:
        with httpx.Client(base_url=urls[index % len(urls)], timeout=30) as client:
            barrier.wait()
            page = client.get("/api/db/mydb/a", params={"_sort": "a_id"})
            assert page.status_code == 200, page.text
            return {row["id"]: row["_id"] for row in page.json()}

    answers = _parallel(24, read)
    assert all(len(answer) == 60 for answer in answers)
    assert all(answer == answers[0] for answer in answers)
    assert sorted(answers[0].values()) == list(range(60))


def test_a_session_and_a_token_work_on_every_host(stack: Stack) -> None:
    hosts = [stack.host_url(name) for name in stack.hosts()]
    with httpx.Client(base_url=stack.url, timeout=10) as proxy:
        login = proxy.post("/api/login", json={"username": "analyst",
                                               "password": password_of("analyst")})
        assert login.status_code == 200
        cookies, csrf = dict(proxy.cookies), login.json()["csrf_token"]
    for url in hosts:
        seen = httpx.get(f"{url}/api/loggedinas", cookies=cookies, timeout=10).json()
        assert seen["name"] == "analyst" and seen["auth"] == "session"
    made = httpx.post(f"{hosts[0]}/api/tokens", cookies=cookies, json={},
                      headers={"X-CSRF-Token": csrf}, timeout=10)
    assert made.status_code == 201, made.text
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    for url in hosts:
        assert httpx.get(f"{url}/api/loggedinas", headers=bearer).json()["auth"] == "token"
    revoked = httpx.delete(f"{hosts[2]}/api/tokens/{made.json()['id']}", headers=bearer)
    assert revoked.status_code == 204
    for url in [*hosts, stack.url]:
        assert httpx.get(f"{url}/api/loggedinas", headers=bearer).status_code == 401


def test_a_logout_on_one_host_ends_the_session_on_all(stack: Stack) -> None:
    hosts = [stack.host_url(name) for name in stack.hosts()]
    with httpx.Client(base_url=hosts[0], timeout=10) as first:
        login = first.post("/api/login", json={"username": "analyst",
                                               "password": password_of("analyst")})
        saved = dict(first.cookies)
        out = first.post("/api/logout", headers={"X-CSRF-Token": login.json()["csrf_token"]})
        assert out.status_code == 200
    for url in hosts[1:]:
        assert httpx.get(f"{url}/api/loggedinas", cookies=saved).json() == "not_yet_logged_in"


def _increment(client: httpx.Client, url: str) -> int:
    """One If-Match read-modify-write; returns the 412 conflicts it took."""
    conflicts = 0
    while True:
        current = client.get(url)
        assert current.status_code == 200, current.text
        body = current.json()
        put = client.put(url, json={"login": body["login"], "name": str(int(body["name"]) + 1)},
                         headers={"If-Match": current.headers["etag"]})
        if put.status_code == 200:
            return conflicts
        assert put.status_code == 412, put.text
        conflicts += 1


def test_if_match_increments_spread_over_hosts_end_at_200(stack: Stack, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    made = httpx.post(f"{stack.url}{COLLECTION}", json={"login": "counter", "name": "0"},
                      headers=auth)
    assert made.status_code == 201, made.text
    url = f"{COLLECTION}/{made.json()['_id']}"

    def client_run(index: int) -> int:
        with httpx.Client(base_url=stack.url, headers=auth, timeout=30) as client:
            return sum(_increment(client, url) for _ in range(50))

    conflicts = sum(_parallel(4, client_run))
    final = httpx.get(f"{stack.url}{url}", headers=auth).json()
    assert final["name"] == "200" and final["_version"] == 201
    assert conflicts > 0  # the four clients did race (through three hosts)


def test_metrics_of_all_workers_on_each_host_and_not_through_the_proxy(stack: Stack) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    host = stack.host_url("api1")
    with httpx.Client(base_url=host, timeout=10) as client:
        before = _requests_counted(client, text_string_to_metric_families)
        for _ in range(20):
            assert client.get("/api/db/mydb/mytable", params={"_limit": 1}).status_code == 200
        after = _requests_counted(client, text_string_to_metric_families)
    # gunicorn's 2 workers each count their own requests; any worker's scrape adds all up
    assert after - before == 20
    hidden = httpx.get(f"{stack.url}/api/_metrics")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"


def _requests_counted(client: httpx.Client, parse: Callable[[str], Any]) -> float:
    text = client.get("/api/_metrics").text
    return sum(sample.value for family in parse(text) for sample in family.samples
               if sample.name == "core_server_requests_total"
               and sample.labels["route"] == "/api/db/<connector>/<view>")


@pytest.mark.parametrize("slow", [16, 64])
def test_slow_clients_do_not_stop_service(stack: Stack, slow: int) -> None:
    port = int(stack.url.rsplit(":", 1)[1])
    stop = threading.Event()
    slow_clients(("127.0.0.1", port), slow, stop)
    try:
        time.sleep(1.5)  # every slow client is connected and holding a partial request

        def get(index: int) -> float:
            started = time.monotonic()
            answer = httpx.get(f"{stack.url}/api/db/mydb/mytable", params={"_limit": 10},
                               timeout=3)
            assert answer.status_code == 200
            return time.monotonic() - started

        durations = _parallel(8, get)
        assert max(durations) < 3.0, durations
    finally:
        stop.set()


# --- restarts and failures (last: they change the hosts) ------------------------------------


def _load(stack: Stack, token: str, stop: threading.Event, url: str) -> list[tuple[str, Any]]:
    """GET, If-Match PUT and POST through the proxy until ``stop``; every outcome recorded."""
    outcomes: list[tuple[str, Any]] = []
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as client:
        while not stop.is_set():
            try:
                outcomes.append(("get", client.get("/api/db/mydb/mytable",
                                                   params={"_limit": 5}).status_code))
                _increment(client, url)
                outcomes.append(("put", 200))
                made = client.post(COLLECTION, json={"login": f"l{secrets.token_hex(6)}"})
                outcomes.append(("post", made.status_code))
            except (httpx.HTTPError, AssertionError) as exc:
                outcomes.append(("error", repr(exc)))
    return outcomes


def test_a_rolling_restart_drops_no_request(stack: Stack, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    made = httpx.post(f"{stack.url}{COLLECTION}", json={"login": "rolling", "name": "0"},
                      headers=auth)
    url = f"{COLLECTION}/{made.json()['_id']}"
    stop = threading.Event()
    results: list[list[tuple[str, Any]]] = []
    workers = [threading.Thread(target=lambda: results.append(_load(stack, token, stop, url)))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        pids = [stack.state()["services"][name]["pid"] for name in stack.hosts()]
        stack.proc.send_signal(signal.SIGHUP)  # local-stack: restart api1, api2, api3 in turn
        stack.expect("rolled", 120)
        time.sleep(0.5)  # traffic goes on against the new masters
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    outcomes = [outcome for run in results for outcome in run]
    bad = [o for o in outcomes if o[0] == "error" or o[1] not in (200, 201)]
    renewed = [stack.state()["services"][name]["pid"] for name in stack.hosts()]
    assert all(new != old for new, old in zip(renewed, pids))  # every host has a new master
    assert len(outcomes) > 100 and bad == []
    puts = sum(1 for kind, _ in outcomes if kind == "put")
    assert httpx.get(f"{stack.url}{url}", headers=auth).json()["name"] == str(puts)


def test_a_killed_host_loses_no_acknowledged_write(stack: Stack, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    acknowledged: list[tuple[str, str]] = []
    failed: list[Any] = []
    after_kill: list[int] = []
    killed = threading.Event()
    stop = threading.Event()

    def write(index: int) -> None:
        with httpx.Client(base_url=stack.url, headers=auth, timeout=30) as client:
            n = 0
            while not stop.is_set():
                login = f"k{index}x{n}"
                n += 1
                try:
                    made = client.post(COLLECTION, json={"login": login})
                except httpx.HTTPError as exc:
                    failed.append(repr(exc))
                    continue
                if made.status_code == 201:
                    acknowledged.append((made.json()["_id"], login))
                else:
                    failed.append(made.status_code)
                if killed.is_set():
                    after_kill.append(made.status_code)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for writer in writers:
        writer.start()
    time.sleep(1.0)
    victim = stack.state()["services"]["api2"]["pgid"]
    os.killpg(victim, signal.SIGKILL)  # the master and its workers, mid-load
    killed.set()
    time.sleep(2.0)
    stop.set()
    for writer in writers:
        writer.join(60)
    stack.expect("exited api2", 10)
    # only requests in flight on the killed host may fail, and none after nginx noticed
    assert len(failed) <= 4, failed
    assert len(after_kill) > 20 and after_kill[-10:] == [201] * 10
    with httpx.Client(base_url=stack.url, headers=auth, timeout=30) as client:
        for doc_id, login in acknowledged:
            found = client.get(f"{COLLECTION}/{doc_id}")
            assert found.status_code == 200 and found.json()["login"] == login
