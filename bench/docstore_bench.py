"""Document store benchmark (figures in bench/README.md; not a test).

    .venv/bin/python bench/docstore_bench.py [--dburl URL] [--docs 100000] [--port 8440]
        [--parts creates,bulk,pages,cursor]

Starts gunicorn (2 workers x 4 threads of ``core_server.wsgi.THREAD_WORKER``, as ``serve
--workers 2`` runs it) on 127.0.0.1 with a temporary plugin of two collections (``bench_indexed`` with an index on ``[group, n]``, ``bench_plain`` without), then measures:
2,000 creates over HTTP with one keep-alive client, a bulk load through the Python API, a
filtered + sorted page at full size with and without the index (p50/p95 over HTTP and in
process), and cursor paging through every document.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from core_server.wsgi import THREAD_WORKER

SCHEMAS = '''
FIELDS = {"name": {"type": "string", "required": True}, "n": {"type": "int"},
          "group": {"type": "string"}, "value": {"type": "float"},
          "tags": {"type": "list", "items": "string"}}


def indexed():
    return {"fields": FIELDS, "indexes": [{"fields": ["group", "n:desc"]}]}


def plain():
    return {"fields": FIELDS}
'''
INIT = '''
def register(registry):
    registry.append("doc-collection", "bench_indexed", "docbench.schemas", {"factory": "indexed"})
    registry.append("doc-collection", "bench_plain", "docbench.schemas", {"factory": "plain"})
'''


def _doc(i: int) -> dict[str, Any]:
    return {"name": f"doc{i}", "n": i, "group": f"g{i % 100}", "value": (i * 7919 % 1000) / 10,
            "tags": [f"t{i % 10}", f"u{i % 3}"]}


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        raw = response.read()
        self.server_ms = float(response.getheader("Server-Timing", "dur=0").rsplit("dur=", 1)[1])
        return response.status, json.loads(raw) if raw else None


def _environment(root: Path, dburl: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CORE_SERVER_PLUGINS_DIR": str(root / "plugins"),
                "CORE_SERVER__core_server__dataDir": str(root / "data"),
                "CORE_SERVER__core_server__access_log": "false",
                "CORE_SERVER__core_server__security__anonymous_write": "true",
                "CORE_SERVER__store__dburl": dburl})
    return env


def _start(root: Path, dburl: str, port: int) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "-w", "2", "-k", THREAD_WORKER, "--threads", "4", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "core_server.wsgi:create()"], env=_environment(root, dburl))
    for _ in range(200):
        try:
            if Client(port).call("GET", "/api/_health")[0] == 200:
                return process
        except OSError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError("gunicorn did not start")


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def bench_creates(port: int, count: int = 2000) -> None:
    client = Client(port)
    start = time.perf_counter()
    server = []
    for i in range(count):
        status, _ = client.call("POST", "/api/store/bench_plain", _doc(10_000_000 + i))
        assert status == 201
        server.append(client.server_ms)
    elapsed = time.perf_counter() - start
    print(f"{count} creates over HTTP, one client: {elapsed:.2f} s "
          f"({count / elapsed:.0f}/s); in the app (Server-Timing total) p50 "
          f"{statistics.median(server):.2f} ms")
    assert client.call("DELETE", "/api/store/bench_plain?_all=true")[0] == 200


def bench_bulk(store: Any, total: int) -> None:
    for name in ("bench_indexed", "bench_plain"):
        start = time.perf_counter()
        for offset in range(0, total, 10_000):
            with store.transaction() as tx:
                tx.insert_many(name, [_doc(i) for i in range(offset, min(total, offset + 10_000))])
        elapsed = time.perf_counter() - start
        print(f"bulk load {total} documents into {name} (Python API, 10k per transaction): "
              f"{elapsed:.1f} s ({total / elapsed:.0f}/s)")


def bench_pages(store: Any, port: int, rounds: int = 200) -> None:
    client = Client(port)
    for name in ("bench_indexed", "bench_plain"):
        for count in ("", "&_count=false"):
            path = f"/api/store/{name}?group=g7&_sort=-n&_limit=20{count}"
            client.call("GET", path)
            samples = []
            for _ in range(rounds if name == "bench_indexed" else rounds // 10):
                start = time.perf_counter()
                status, body = client.call("GET", path)
                samples.append(time.perf_counter() - start)
                assert status == 200 and len(body["items"]) == 20
            print(f"GET {path}: {_percentiles(samples)} (HTTP, n={len(samples)})")
        samples = []
        for _ in range(rounds if name == "bench_indexed" else rounds // 10):
            start = time.perf_counter()
            with store.transaction(write=False) as tx:
                tx.select(name, {"group": "g7"}, sort=["-n"], limit=20)
            samples.append(time.perf_counter() - start)
        print(f"tx.select({name}, group=g7, sort=-n, limit=20): {_percentiles(samples)} "
              "(in process)")


def settle(store: Any) -> None:
    """What the database does by itself within a minute of a bulk load: statistics (and on
    PostgreSQL the visibility map) for the benchmark's tables, so pages are timed as in steady
    state rather than on tables the planner has never seen."""
    import sqlalchemy as sa

    engine = store.engine
    tables = [t for t in sa.inspect(engine).get_table_names() if t.startswith("ds_bench")]
    start = time.perf_counter()
    # the DBAPI connection: the store's engine sends its own BEGIN, and VACUUM runs outside one
    conn = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            conn.driver_connection.autocommit = True
        cursor = conn.cursor()
        for table in tables:
            if engine.dialect.name == "postgresql":
                cursor.execute(f"VACUUM ANALYZE {table}")
            elif engine.dialect.name == "mysql":
                cursor.execute(f"ANALYZE TABLE {table}")
                cursor.fetchall()
        if engine.dialect.name == "sqlite":
            cursor.execute("ANALYZE")
        cursor.close()
    finally:
        conn.close()
    print(f"settled {len(tables)} tables (ANALYZE; VACUUM on PostgreSQL): "
          f"{time.perf_counter() - start:.1f} s")


def bench_cursor(port: int, total: int) -> None:
    client = Client(port)
    for sort in ("", "&_sort=-n"):
        path = f"/api/store/bench_indexed?_limit=1000&_count=false{sort}"
        start = time.perf_counter()
        seen = pages = 0
        while path:
            status, body = client.call("GET", path)
            assert status == 200, body
            seen += len(body["items"])
            pages += 1
            cursor = body["next_cursor"]
            path = f"/api/store/bench_indexed?_limit=1000&_count=false{sort}&_cursor={cursor}" \
                if cursor else ""
        elapsed = time.perf_counter() - start
        assert seen == total, (seen, total)
        print(f"cursor paging through {seen} documents ({pages} pages of 1000, "
              f"sort {sort or '_id'}): {elapsed:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dburl", default=None, help="store database (default: temp SQLite)")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=8440)
    parser.add_argument("--parts", default="creates,bulk,pages,cursor",
                        help="which measurements (pages and cursor need bulk)")
    parser.add_argument("--no-settle", action="store_true",
                        help="time pages right after the bulk load, before ANALYZE/VACUUM")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        package = root / "plugins" / "docbench"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(INIT)
        (package / "schemas.py").write_text(SCHEMAS)
        dburl = args.dburl or f"sqlite:///{root / 'data' / 'store.sqlite'}"
        env = _environment(root, dburl)
        os.environ.update(env)
        from core_server.app import create_app

        app = create_app()
        store = app.extensions["core_server"].store
        store.ensure()  # create the tables before the workers race for it
        print(f"store: {store.engine.dialect.name} ({dburl.split('@')[-1]})")
        server = _start(root, dburl, args.port)
        try:
            if "creates" in parts:
                bench_creates(args.port)
            if "bulk" in parts:
                bench_bulk(store, args.docs)
                if not args.no_settle:
                    settle(store)
            if "pages" in parts:
                bench_pages(store, args.port)
            if "cursor" in parts:
                bench_cursor(args.port, args.docs)
        finally:
            server.terminate()
            server.wait(30)
            store.dispose()


if __name__ == "__main__":
    main()
