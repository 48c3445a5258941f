"""A database path that goes silent never hangs the server (issue 14, item 2).

A TCP proxy (tests/conftest.py ``TcpProxy``) sits between the server and PostgreSQL/MariaDB and
stalls: connections are accepted, nothing is forwarded. With short timeouts from the config,
``/api/_health`` and routes without a database answer within 2 s while database requests hang;
the database requests fail as JSON within the configured bounds; after ``resume()`` everything
recovers without a restart. Once under werkzeug's threaded server, once under gunicorn gthread
(as deployed) with fewer pool connections than threads: the bulkhead.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from core_server.testing import BACKENDS
from core_server.testing import fresh_database
from core_server.testing import serve
from core_server.wsgi import THREAD_WORKER

#: the bounds of these tests (ms): PostgreSQL's connect timeout counts whole seconds, at least 2
LIMITS = {"connect_timeout": 2000, "pool_size": 2, "pool_timeout": 300, "read_timeout": 2500,
          "health_timeout": 500}
#: the longest a database request may take with the path stalled: connect or read timeout plus
#: a pool wait, and slack for a loaded CI machine
DB_BOUND_S = 2.5 + 0.3 + 2.5
PORTS = {"postgresql": 8350, "mysql": 8351}


def _get(url: str, timeout: float = 30) -> tuple[int, Any, float, dict[str, str]]:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), dict(error.headers)
    return status, json.loads(body), time.monotonic() - start, headers


@pytest.fixture(scope="module", params=[b for b in BACKENDS if b != "sqlite"])
def network_mydb(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(backend, url)``: the tutorial tables (1,000 rows) on PostgreSQL and MariaDB (a SQLite
    file has no network path to stall)."""
    from myserverplugin.demo_data import write

    with fresh_database(request.param, tmp_path_factory.mktemp("stall")) as url:
        write(url, rows=1000)
        yield request.param, url


def _config(url: str) -> dict[str, Any]:
    return {"myserverplugin": {"dburl": url, "statement_timeout": 1000},
            "core_server": {"db": LIMITS}}


def _assert_stalled_behaviour(base: str, requests: int = 6,
                              db_path: str = "/api/db/mydb/mytable?_limit=2") -> None:
    with concurrent.futures.ThreadPoolExecutor(requests + 2) as pool:
        hanging = [pool.submit(_get, base + db_path) for _ in range(requests)]
        time.sleep(0.3)  # the database requests are waiting now
        for path in ("/api/_health", "/api/hello_world", "/api/_version", "/health"):
            status, _, took, _ = _get(base + path, timeout=5)
            assert status == 200 and took < 2, (path, status, took)
        status, body, took, _ = _get(base + "/api/_health?deep=1", timeout=5)
        assert status == 503 and "db:mydb" in body["down"] and took < 2, (body, took)
        assert body["checks"]["store"] == "ok"  # only what is down is down
        for future in hanging:
            status, body, took, headers = future.result()
            assert status in (503, 504) and took < DB_BOUND_S, (status, body, took)
            assert body["error"]["code"] in ("db_unavailable", "db_busy", "timeout")
            assert headers.get("Content-Type", "").startswith("application/json")
            if status == 503:
                assert headers["Retry-After"] == "5"


def _assert_recovers(base: str) -> None:
    deadline = time.monotonic() + 10
    while True:  # the first request after resume may still meet a connection closed on timeout
        status, body, _, _ = _get(base + "/api/db/mydb/mytable?_limit=2")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and len(body) == 2, body
    assert _get(base + "/api/db/mydb/mytable/count")[:2] == (200, 1000)
    assert _get(base + "/api/_health?deep=1")[0] == 200


def test_stalled_path_threaded_server(network_mydb, app_factory, tcp_proxy):
    backend, mydb_url = network_mydb
    url = make_url(mydb_url)
    proxy = tcp_proxy(PORTS[backend], (url.host, url.port))
    app = app_factory("unused", **_config(url.set(port=proxy.port).render_as_string(False)))
    with serve(app) as base:
        assert _get(base + "/api/db/mydb/mytable?_limit=2")[0] == 200
        proxy.stall()
        _assert_stalled_behaviour(base)
        proxy.resume()
        _assert_recovers(base)
        proxy.stop()  # refused: a fast 503, then back
        status, body, took, _ = _get(base + "/api/db/mydb/mytable?_limit=2")
        assert status == 503 and body["error"]["code"] == "db_unavailable" and took < 2
        proxy.start()
        _assert_recovers(base)


def test_stalled_path_gunicorn(network_mydb, tcp_proxy, tmp_path: Path):
    backend, mydb_url = network_mydb
    url = make_url(mydb_url)
    proxy = tcp_proxy(PORTS[backend] + 10, (url.host, url.port))
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(_config(url.set(port=proxy.port).render_as_string(False))))
    port = 8362 if backend == "postgresql" else 8363
    env = {**os.environ, "CORE_SERVER_CONFIG": str(config),
           "CORE_SERVER__CORE_SERVER__DATADIR": str(tmp_path / "data")}
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--worker-class", THREAD_WORKER, "--threads", "4",
             "--workers", "1", "--bind", f"127.0.0.1:{port}", "--timeout", "60",
             "core_server.wsgi:create()"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(process, base, log)
        assert _get(base + "/api/db/mydb/mytable?_limit=2")[0] == 200
        proxy.stall()
        # three times the worker's threads: the pool's breaker fails the queued ones at once,
        # so /api/_health is not queued behind them
        _assert_stalled_behaviour(base, requests=12)
        proxy.resume()
        _assert_recovers(base)
    finally:
        process.terminate()
        process.wait(30)


def _wait_up(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            _get(base + "/api/_health", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
