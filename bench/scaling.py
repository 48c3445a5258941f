"""How request cost scales: page size, table size, number of views, id-list length.

Run with the core ``.venv`` (it imports core_server); every part is bounded (a few rounds of a
few requests each) and the tables go between the ``scaling`` markers of bench/README.md::

    .venv/bin/python bench/scaling.py [--max-rows 10000000] [--parts pages,tables,views,mapping]

Requests are WSGI calls in process (no HTTP: what the server itself spends, which is what grows;
HTTP adds a constant ~0.3-0.5 ms per request here). Figures are CPU milliseconds per request,
best of ``--rounds`` rounds (CPU time moves least with the other jobs on the shared cores).

- pages: ``?_limit=10 .. 10000`` of the 100k-row table, core and the floor app;
- tables: the single row (``filter_my_id``, the primary key) and the filtered page
  (``filter_cat&filter_gt_value&_limit=100``) on 10k .. ``--max-rows`` rows, generated
  deterministically by gen_db.py (seed 4);
- views: a plugin with 10 .. 2,000 views over one table: the app's start (``create_app``, in a
  fresh process) and a single-row request of the first and the last view;
- mapping: ``POST /api/idtype/MyIDType/MyName`` with 1k .. 1M ids over the largest table.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import floor_app  # noqa: E402
import gen_db  # noqa: E402
import report  # noqa: E402

README = BENCH_DIR / "README.md"
MARKERS = ("<!-- scaling:begin -->", "<!-- scaling:end -->")
SINGLE = "/api/db/mydb/mytable?filter_my_id={id}"
FILTERED = "/api/db/mydb/mytable?filter_cat=MyCat%202&filter_gt_value=500&_limit=100"
VIEWS_PLUGIN = '''
def register(registry):
    registry.append("tdp-sql-database-definition", "scaledb", "{package}.views",
                    {{"configKey": "scaleviews"}})
'''
VIEWS_MODULE = '''
from tdp_core.dbview import DBConnector, DBViewBuilder, inject_where

views = {{}}
for i in range({count}):
    views[f"v{{i}}"] = DBViewBuilder().idtype("MyIDType").table("mytable") \\
        .query("SELECT my_id as id, mytable.* FROM mytable").derive_columns() \\
        .assign_ids().call(inject_where).build()


def create():
    return DBConnector(views)
'''
START_SCRIPT = '''
import json, sys, time
started = time.perf_counter()
from core_server.app import create_app
imported = time.perf_counter()
app = create_app({"scaleviews": {"dburl": sys.argv[1]}}, [sys.argv[2]], data_dir=sys.argv[3])
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "create_s": done - imported,
                  "views": len(app.extensions["core_server"].dbviews.connectors["scaledb"]
                               .connector.views)}))
'''


def call(app: Any, path: str, body: bytes | None = None) -> bytes:
    """One WSGI request, body read to the end (no test client)."""
    from werkzeug.test import EnvironBuilder

    route, _, query = path.partition("?")
    builder = EnvironBuilder(path=route, query_string=query, method="POST" if body else "GET",
                             data=body, content_type="application/json" if body else None)
    environ = builder.get_environ()
    status: list[str] = []
    out = app(environ, lambda s, h, e=None: status.append(s))
    try:
        data = b"".join(out)
    finally:
        getattr(out, "close", lambda: None)()
    if not status[0].startswith("200"):
        raise AssertionError(f"{path}: {status[0]} {data[:200]!r}")
    return data


def cpu_ms(fn: Callable[[], object], count: int, rounds: int) -> float:
    """Best of ``rounds`` of ``count`` calls: CPU milliseconds per call."""
    fn()  # warm (ids assigned, plans made)
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            fn()
        best = min(best, (time.process_time() - start) / count * 1000)
    return best


def core_app(dburl: str, data_dir: Path, **config: Any) -> Any:
    from core_server.app import create_app

    return create_app({"myserverplugin": {"dburl": dburl}, **config}, data_dir=data_dir)


def part_pages(db: Path, tmp: Path, rounds: int) -> list[str]:
    core = core_app(f"sqlite:///{db}", tmp / "pages")
    floor = floor_app.create(str(db))
    lines = ["| rows per page | core ms | floor ms | floor/core | core us per row |",
             "|--:|--:|--:|--:|--:|"]
    for limit in (10, 100, 1000, 10_000):
        path = f"/api/db/mydb/mytable?_limit={limit}"
        count = max(3, 3000 // limit)
        c = cpu_ms(lambda: call(core, path), count, rounds)
        f = cpu_ms(lambda: call(floor, path), count, rounds)
        lines.append(f"| {limit:,} | {c:.3f} | {f:.3f} | {f / c:.2f} | {c * 1000 / limit:.1f} |")
    return lines


def part_tables(sizes: list[int], tmp: Path, rounds: int) -> list[str]:
    lines = ["| rows in mytable | generated in | single row ms | filtered page ms |",
             "|--:|--:|--:|--:|"]
    for rows in sizes:
        path = BENCH_DIR / "data" / f"db-{rows}.sqlite"
        start = time.perf_counter()
        gen_db.generate(path, rows=rows, seed=4)
        generated = time.perf_counter() - start
        app = core_app(f"sqlite:///{path}", tmp / f"tables-{rows}")
        # 300 rows spread over the table (the first round assigns their ids, as a warm server
        # has; the best round is a warm one): the database pages differ from request to request
        ids = itertools.cycle(range(1, rows + 1, max(1, rows // 300))[:300])
        single = cpu_ms(lambda: call(app, SINGLE.format(id=next(ids))), 300, rounds)
        filtered = cpu_ms(lambda: call(app, FILTERED), 100, rounds)
        app.extensions["core_server"].dbviews.dispose()
        lines.append(f"| {rows:,} | {generated:.1f} s | {single:.3f} | {filtered:.3f} |")
    return lines


def part_views(db: Path, tmp: Path, rounds: int) -> list[str]:
    from core_server.app import create_app

    lines = ["| views | import s | create_app s | first view single row ms | "
             "last view single row ms |", "|--:|--:|--:|--:|--:|"]
    for count in (10, 100, 500, 2000):
        plugins = tmp / f"views-{count}"
        package = plugins / f"scaleviews{count}"  # a module name of its own per app
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(VIEWS_PLUGIN.format(package=package.name))
        (package / "views.py").write_text(VIEWS_MODULE.format(count=count))
        data = tmp / f"views-data-{count}"
        out = subprocess.run([sys.executable, "-c", START_SCRIPT, f"sqlite:///{db}",
                              str(plugins), str(data)], check=True, capture_output=True,
                             text=True, timeout=600)
        start = json.loads(out.stdout.strip().splitlines()[-1])
        assert start["views"] == count, start
        app = create_app({"scaleviews": {"dburl": f"sqlite:///{db}"}}, [plugins],
                         data_dir=data)
        first = cpu_ms(lambda: call(app, "/api/db/scaledb/v0?filter_my_id=12345"), 300, rounds)
        last = cpu_ms(lambda: call(app, f"/api/db/scaledb/v{count - 1}?filter_my_id=12345"),
                      300, rounds)
        app.extensions["core_server"].dbviews.dispose()
        lines.append(f"| {count:,} | {start['import_s']:.2f} | {start['create_s']:.2f} | "
                     f"{first:.3f} | {last:.3f} |")
    return lines


def part_mapping(db: Path, rows: int, tmp: Path, rounds: int) -> list[str]:
    app = core_app(f"sqlite:///{db}", tmp / "mapping")
    lines = ["| ids | ms per request | us per id |", "|--:|--:|--:|"]
    for count in (1000, 10_000, 100_000, 1_000_000):
        if count > rows:
            continue
        body = json.dumps({"q": [str(i) for i in range(1, count + 1)], "mode": "first"}).encode()
        start = time.perf_counter()
        answer = call(app, "/api/idtype/MyIDType/MyName", body)
        assert len(json.loads(answer)) == count
        best = (time.perf_counter() - start) * 1000
        for _ in range(max(1, rounds - 2) if count < 1_000_000 else 1):
            start = time.perf_counter()
            call(app, "/api/idtype/MyIDType/MyName", body)
            best = min(best, (time.perf_counter() - start) * 1000)
        lines.append(f"| {count:,} | {best:,.1f} | {best * 1000 / count:.2f} |")
    app.extensions["core_server"].dbviews.dispose()
    return lines


def write_readme(text: str) -> None:
    report.write_between(README, MARKERS, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", default="pages,tables,views,mapping")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    parts = args.parts.split(",")
    db = gen_db.generate(BENCH_DIR / "data/db.sqlite")
    sizes = [n for n in (10_000, 100_000, 1_000_000, 10_000_000) if n <= args.max_rows]
    out = io.StringIO()
    out.write(f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
              f"`.venv/bin/python bench/scaling.py --max-rows {args.max_rows}` "
              f"(CPU ms per request in process, best of {args.rounds} rounds).\n")
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp_dir:
        tmp = Path(tmp_dir)
        sections: list[tuple[str, Callable[[], list[str]]]] = [
            ("pages", lambda: part_pages(db, tmp, args.rounds)),
            ("tables", lambda: part_tables(sizes, tmp, args.rounds)),
            ("views", lambda: part_views(db, tmp, args.rounds)),
            ("mapping", lambda: part_mapping(BENCH_DIR / f"data/db-{sizes[-1]}.sqlite",
                                             sizes[-1], tmp, args.rounds)),
        ]
        titles = {"pages": "Page size (100k-row table)",
                  "tables": "Table size (single row by primary key; filtered page)",
                  "views": "Number of views in one plugin",
                  "mapping": f"Id-list length, MyIDType -> MyName over {sizes[-1]:,} rows"}
        for name, run in sections:
            if name not in parts:
                continue
            if name == "mapping":
                gen_db.generate(BENCH_DIR / f"data/db-{sizes[-1]}.sqlite", rows=sizes[-1])
            started = time.perf_counter()
            lines = run()
            out.write(f"\n**{titles[name]}** ({time.perf_counter() - started:.0f} s):\n\n")
            out.write("\n".join(lines) + "\n")
            print(f"{name} done", file=sys.stderr, flush=True)
    print(out.getvalue())
    if not args.no_readme:
        write_readme(out.getvalue())


if __name__ == "__main__":
    main()
