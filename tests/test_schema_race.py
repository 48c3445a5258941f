"""Schema creation under concurrent first use in many processes (issue 14, item 7).

Several processes start at the same instant on a fresh server database and document store:
they create the security tables (sessions, tokens, login counters) at start, then race on their
first requests for the id-assignment table, the store's tables and the named sets' tables.
Every response is complete and none fails (PostgreSQL used to raise ``UniqueViolation ...
pg_type_typname_nsp_index`` in ``idmapping._ensure_table``).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from core_server.dblimits import sqlite_wal
from core_server.dbview import IdMapper
from core_server.docstore import Store
from core_server.docstore import load_schema
from core_server.testing import BACKENDS
from core_server.testing import fresh_database
from core_server.testing import run_at_once

PROCESSES = 6

#: one process: build the app at ``start`` (epoch seconds), the first requests 2 s later
SCRIPT = r"""
import json, sys, time
from core_server.app import create_app

config, start, data, n = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
time.sleep(max(0.0, start - time.time()))
app = create_app(config, data_dir=data)  # the security tables, all at once
client = app.test_client()
time.sleep(max(0.0, start + 2 - time.time()))  # the first requests, all at once
answers = []
for method, path, body in [("get", "/api/db/mydb/mytable?_limit=3", None),
                           ("get", "/api/store/analysts", None),
                           ("post", "/api/store/analysts", {"login": "p" + n}),
                           ("get", "/api/tdp/storage/namedsets/", None)]:
    response = getattr(client, method)(path, json=body)
    text = response.get_data(as_text=True)
    try:
        json.loads(text)
        complete = True
    except ValueError:
        complete = False
    answers.append([path, response.status_code, complete, text[:300]])
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def tutorial_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    from myserverplugin.demo_data import write

    url = f"sqlite:///{tmp_path_factory.mktemp('race') / 'mydb.sqlite'}"
    write(url, rows=20)
    return url


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_processes_create_every_schema_at_once(backend: str, tmp_path: Path,
                                                    tutorial_sqlite: str) -> None:
    with fresh_database(backend, tmp_path) as url:
        config = {"myserverplugin": {"dburl": tutorial_sqlite},
                  "core_server": {"server_db": url,
                                  "security": {"anonymous_write": True}},
                  "store": {"dburl": url}}
        start = time.time() + 2.5  # the imports of every process are done by then
        processes = [subprocess.Popen(
            [sys.executable, "-c", SCRIPT, json.dumps(config), str(start),
             str(tmp_path / f"data{n}"), str(n)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True) for n in range(PROCESSES)]
        outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
        for path, status, complete, text in json.loads(out.splitlines()[-1]):
            assert complete and status in (200, 201), (backend, path, status, text, err[-2000:])


ROUNDS = 3
WORKERS = 6
NOTES = {"fields": {"title": {"type": "string", "required": True},
                    "tags": {"type": "list", "items": {"type": "string"}}},
         "indexes": [{"fields": ["title"]}]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_id_table_and_store_tables_race_safely(backend: str, tmp_path: Path) -> None:
    # one engine each, as separate processes have: the race is in the database, and a tight
    # barrier hits its window far more often than process start times do
    for round_ in range(ROUNDS):
        (tmp_path / str(round_)).mkdir()
        with fresh_database(backend, tmp_path / str(round_)) as url:
            # SQLite waits for the file's write lock as the server db's engine does (busy_timeout)
            options = {"connect_args": {"timeout": 30}} if backend == "sqlite" else {}
            mappers = [IdMapper(sa.create_engine(url, **options)) for _ in range(WORKERS)]
            stores = [Store(url, {"notes": load_schema(NOTES, "notes")}) for _ in range(WORKERS)]
            errors = run_at_once([m._ensure_table for m in mappers] + [s.ensure for s in stores])
            assert errors == [], (backend, round_, errors)
            assert all(not s.unavailable for s in stores), [s.unavailable for s in stores]
            assert mappers[0](["a", "b"], "T") == [0, 1]
            for thing in mappers:
                thing.engine.dispose()
            for store in stores:
                store.dispose()


def test_connections_opening_a_fresh_sqlite_file_at_once_all_get_wal(tmp_path: Path) -> None:
    # Switching a new file to WAL needs its exclusive lock, and SQLite answers "database is
    # locked" at once (no busy handler) while another connection holds the file: the race CI met
    # when the store's and the id mapper's engines opened a fresh file together.
    for round_ in range(20):
        path = tmp_path / f"{round_}.sqlite"
        connections = [sqlite3.connect(path, check_same_thread=False) for _ in range(12)]
        errors = run_at_once([lambda c=c: sqlite_wal(c) for c in connections])
        modes = {c.execute("PRAGMA journal_mode").fetchone()[0] for c in connections}
        for connection in connections:
            connection.close()
        assert errors == [] and modes == {"wal"}, (round_, errors, modes)
