"""core_server's gunicorn worker (core_server/gunicorn_worker.py) under real gunicorn processes.

The worker serves a kept-alive connection's next request in the thread that answered the last
one. These tests hold it to what gunicorn's own gthread worker guarantees: pipelined requests
answered in order, long and idle kept-alive connections served, and no connection waiting for
a thread while others are served in place.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_up(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"server did not start:\n{log.read_text()}")


def _gunicorn(tmp: Path, module: str, source: str, worker_class: str, workers: int,
              app: str) -> tuple[int, list[str]]:
    """A free port and the gunicorn command (2 threads) that imports ``module`` from ``tmp``."""
    (tmp / f"{module}.py").write_text(source)
    port = _free_port()
    return port, [sys.executable, "-m", "gunicorn", "--pythonpath", str(tmp), "--worker-class",
                  worker_class, "--threads", "2", "--workers", str(workers),
                  "--bind", f"127.0.0.1:{port}", app]


@contextmanager
def _run(argv: list[str], port: int, tmp: Path, env: dict[str, str] | None = None
         ) -> Iterator[Path]:
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    try:
        _wait_up(process, port, log)
        yield log
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """``core-server serve --workers 2 --threads 2`` on the demo data: (port, its log)."""
    tmp = tmp_path_factory.mktemp("worker")
    port = _free_port()
    argv = [str(BIN / "core-server"), "serve", "--workers", "2", "--threads", "2",
            "--port", str(port), "--data-dir", str(tmp / "data")]
    with _run(argv, port, tmp) as log:
        yield port, log


def _read_response(stream) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    """One HTTP/1.1 response with a Content-Length from a buffered socket file."""
    status = int(stream.readline().split()[1])
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, stream.read(length)


def test_serve_uses_the_in_place_worker(served: tuple[int, Path]) -> None:
    port, log = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/_health")
    assert conn.getresponse().status == 200
    assert "Using worker: core_server.gunicorn_worker.ThreadWorker" in log.read_text()


def test_pipelined_requests_are_answered_in_order(served: tuple[int, Path]) -> None:
    port, _ = served
    paths = ["/api/_version", "/api/nothing-here", "/api/_health"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths))
        stream = sock.makefile("rb")
        answers = [_read_response(stream) for _ in paths]
    assert [status for status, _ in answers] == [200, 404, 200]
    assert b'"version"' in answers[0][1]
    assert b'"code"' in answers[1][1]


def test_a_long_kept_alive_connection_is_served_throughout(served: tuple[int, Path]) -> None:
    # more requests in a row than the worker serves in place before it hands the connection
    # back to gunicorn's poller (MAX_IN_PLACE), and pauses longer than it lingers
    port, log = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    sock = conn.sock
    statuses = []
    for i in range(250):
        if i in (60, 180):
            time.sleep(0.2)
        conn.request("GET", "/api/db/mydb/mytable?_limit=2")
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
    assert statuses == [200] * 250
    assert conn.sock is sock  # one connection all along
    conn.close()
    assert "Traceback" not in log.read_text()


def test_a_connection_waiting_for_a_thread_is_not_starved(tmp_path: Path) -> None:
    # Lingering for ever and never handing back: only the worker's checks ("a kept-alive
    # connection waits for a thread", "a new client waits to be accepted") stop two busy
    # clients from holding both threads while a third and a fourth one wait.
    port, argv = _gunicorn(tmp_path, "greedy_worker", "from core_server import gunicorn_worker\n"
                           "gunicorn_worker.LINGER_S = 30.0\n"
                           "gunicorn_worker.MAX_IN_PLACE = 10 ** 9\n"
                           "ThreadWorker = gunicorn_worker.ThreadWorker\n",
                           "greedy_worker.ThreadWorker", 1, "core_server.wsgi:create()")
    env = {"CORE_SERVER__CORE_SERVER__DATADIR": str(tmp_path / "data")}
    stop = threading.Event()
    served = [0, 0]

    def busy(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            conn.request("GET", "/api/_health")
            conn.getresponse().read()
            served[slot] += 1
        conn.close()

    def answered(conn: http.client.HTTPConnection) -> bool:
        conn.request("GET", "/api/_version")
        response = conn.getresponse()
        return response.status == 200 and b'"version"' in response.read()

    with _run(argv, port, tmp_path, env):
        kept_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        assert answered(kept_alive)  # then idle on gunicorn's poller
        clients = [threading.Thread(target=busy, args=(slot,)) for slot in (0, 1)]
        for client in clients:
            client.start()
        try:
            while min(served) < 20:  # both threads are serving their client in place
                time.sleep(0.01)
            assert answered(kept_alive)
            new = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            assert answered(new)
            for conn in (kept_alive, new):
                conn.close()  # else a thread lingers on it for LINGER_S at the stop
            assert not stop.is_set() and all(c.is_alive() for c in clients)
        finally:
            stop.set()
            for client in clients:
                client.join(30)


def test_clients_connecting_at_once_are_spread_over_the_workers(tmp_path: Path) -> None:
    # gunicorn's workers share one listening socket; a worker takes new connections only
    # while it has a free thread, so four clients of a 2 x 2 server land two on each worker
    port, argv = _gunicorn(tmp_path, "pid_app", "import os, time\n"
                           "def app(environ, start_response):\n"
                           "    time.sleep(0.5)\n"
                           "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                           "    return [str(os.getpid()).encode()]\n",
                           "core_server.gunicorn_worker.ThreadWorker", 2, "pid_app:app")
    with _run(argv, port, tmp_path):
        time.sleep(1)  # both workers booted
        for _round in range(3):
            conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=20) for _ in range(4)]
            for conn in conns:
                conn.connect()
            for conn in conns:
                conn.request("GET", "/")
            pids = [conn.getresponse().read() for conn in conns]
            for conn in conns:
                conn.close()
            assert sorted(pids.count(pid) for pid in set(pids)) == [2, 2], pids
