"""Concurrency against a real HTTP server (werkzeug, threaded, 127.0.0.1, a free port)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core_server.docstore import Store
from core_server.docstore import load_schema
from core_server.errors import ApiError
from core_server.testing import run_at_once
from core_server.testing import serve
from core_server.testing import store_app


class Client:
    """One keep-alive HTTP connection (one per thread)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        data = None if body is None else json.dumps(body)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        self.conn.request(method, path, body=data, headers=hdrs)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else None


@pytest.fixture
def base(tmp_path: Path, db_url: str) -> Iterator[str]:
    with store_app(tmp_path, db_url) as app, serve(app) as url:
        yield url


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)


def test_readers_always_see_whole_documents(base: str) -> None:
    status, _, doc = Client(base).call("POST", "/api/store/counters", {"name": "c"})
    assert status == 201
    url = f"/api/store/counters/{doc['_id']}"
    problems: list[Any] = []

    def write(offset: int) -> None:
        client = Client(base)
        for i in range(25):
            value = offset + i
            status, _, body = client.call("PATCH", url, {"value": value, "mirror": value})
            if status != 200:
                problems.append(("write", status, body))

    def read() -> None:
        client = Client(base)
        for _ in range(30):
            status, headers, body = client.call("GET", url)
            if status != 200 or body["value"] != body["mirror"] or \
                    headers["ETag"] != f'"{body["_version"]}"' or body["name"] != "c":
                problems.append(("read", status, body))

    _run([threading.Thread(target=write, args=(k * 1000,)) for k in range(2)]
         + [threading.Thread(target=read) for _ in range(8)])
    assert problems == []
    final = Client(base).call("GET", url)[2]
    assert final["_version"] == 51


def test_read_modify_write_increments_with_if_match(base: str) -> None:
    status, _, doc = Client(base).call("POST", "/api/store/counters", {"name": "inc"})
    url = f"/api/store/counters/{doc['_id']}"
    conflicts = []

    def increment() -> None:
        client = Client(base)
        for _ in range(50):
            while True:
                status, headers, body = client.call("GET", url)
                assert status == 200
                status, _, result = client.call(
                    "PUT", url, {"name": "inc", "value": body["value"] + 1, "mirror": 0},
                    headers={"If-Match": headers["ETag"]})
                if status == 200:
                    break
                assert status == 412, result
                conflicts.append(1)

    _run([threading.Thread(target=increment) for _ in range(4)])
    final = Client(base).call("GET", url)[2]
    assert final["value"] == 200 and final["_version"] == 201


def test_cursor_paging_under_concurrent_inserts(base: str) -> None:
    client = Client(base)
    ops = [{"op": "insert", "collection": "counters", "doc": {"name": f"o{i}", "value": i % 5}}
           for i in range(60)]
    assert client.call("POST", "/api/store/_batch", {"ops": ops})[0] == 200
    stop = threading.Event()

    def insert() -> None:
        writer = Client(base)
        i = 0
        while not stop.is_set() and i < 200:
            writer.call("POST", "/api/store/counters", {"name": f"new{i}", "value": i % 5})
            i += 1

    thread = threading.Thread(target=insert)
    thread.start()
    try:
        for sort in ("", "&_sort=-value"):
            seen: list[str] = []
            path = f"/api/store/counters?_limit=7{sort}"
            while path:
                status, headers, page = client.call("GET", path)
                assert status == 200, page
                seen += [d["name"] for d in page["items"]]
                cursor = page["next_cursor"]
                path = f"/api/store/counters?_limit=7{sort}&_cursor={cursor}" if cursor else ""
            # every document that existed before is seen exactly once; new ones at most once
            assert sorted(n for n in seen if n.startswith("o")) == sorted(f"o{i}" for i in
                                                                          range(60))
            assert len(seen) == len(set(seen))
    finally:
        stop.set()
        thread.join(60)


def test_several_stores_write_one_sqlite_file_at_once(tmp_path: Path) -> None:
    # workers that share one SQLite file, each with its own Store (engine, kept connections),
    # one with more threads than a store keeps connections: every write waits its turn for the
    # file's write lock (BEGIN IMMEDIATE, busy_timeout) and none is lost or half written
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    schema = {"fields": {"n": {"type": "int", "required": True},
                         "tags": {"type": "list", "items": {"type": "string"}}},
              "indexes": [{"fields": ["n"], "unique": True}]}
    stores = [Store(url, {"notes": load_schema(schema, "notes")}) for _ in range(3)]
    threads = {0: 10, 1: 3, 2: 3}
    per_thread = 25

    def write(store: Store, first: int) -> None:
        for n in range(first, first + per_thread):
            store.run(lambda tx, n=n: tx.insert("notes", {"n": n, "tags": ["all", f"t{n}"]}))

    work = [lambda s=stores[i], first=(i * 100 + k) * per_thread: write(s, first)
            for i, count in threads.items() for k in range(count)]
    try:
        assert run_at_once(work) == []
        total = sum(threads.values()) * per_thread
        for store in stores:
            with store.transaction(write=False) as tx:
                assert tx.count("notes") == total and tx.count("notes", {"tags": "all"}) == total
        with pytest.raises(ApiError) as info:  # the unique index holds across the workers
            stores[2].run(lambda tx: tx.insert("notes", {"n": 0}))
        assert info.value.code == "duplicate"
    finally:
        for store in stores:
            store.dispose()
