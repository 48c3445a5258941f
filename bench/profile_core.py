"""Profile core_server's (or the floor's) /api/db hot path in-process (cProfile, test client).

Run with the core checkout's Python (it imports core_server)::

    .venv/bin/python bench/profile_core.py --requests 300

For each scenario: build the app with ``mydb`` pointed at the benchmark DB, warm up (ids
assigned, caches filled), then profile ``--requests`` requests and print where the time goes,
grouped by layer (sqlite3, SQLAlchemy, orjson, csv, Flask/Werkzeug, core_server modules), plus the
top functions by own time. ``--save DIR`` also writes the .prof files (for snakeviz etc.).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import gen_db
import servers

BENCH_DIR = Path(__file__).resolve().parent
LAYERS = (  # (substring of "file:function", layer); first match wins
    ("sqlite3.", "sqlite3 (execute/fetch, C)"),
    ("orjson", "orjson encode (C)"),
    ("_csv.", "csv writer (C)"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/werkzeug/", "Werkzeug"),
    ("/flask/", "Flask"),
    ("/core_server/dbview/", "core_server.dbview.{module}"),
    ("/core_server/", "core_server.{module}"),
    ("/tdp_core/", "tdp_core"),
    ("/myserverplugin/", "myserverplugin"),
    ("floor_app", "floor_app"),
)


def layer_of(func: tuple[str, int, str]) -> str:
    """The layer a pstats function key belongs to."""
    filename, _, name = func
    where = f"{filename}:{name}"
    for needle, layer in LAYERS:
        if needle in where:
            return layer.format(module=Path(filename).stem)
    if filename == "~":
        return "other builtins (dict/zip/str...)"
    return "stdlib/other Python"


def by_layer(stats: pstats.Stats) -> dict[str, float]:
    """Own (tottime) seconds per layer."""
    totals: dict[str, float] = defaultdict(float)
    for func, (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        totals[layer_of(func)] += tottime
    return dict(totals)


def build_client(target: str, db: Path, data_dir: Path) -> Any:
    """A test client of core_server (mydb on ``db``) or of the floor app."""
    if target == "floor":
        import floor_app

        return floor_app.create(str(db)).test_client()
    from core_server.app import create_app

    app = create_app({"myserverplugin": {"dburl": f"sqlite:///{db}"}}, data_dir=data_dir)
    return app.test_client()


def profile(client: Any, path: str, requests: int) -> tuple[pstats.Stats, float]:
    """Profile ``requests`` GETs of ``path`` (bodies fully read); also unprofiled CPU ms/request."""
    for _ in range(5):
        client.get(path).get_data()
    start = time.process_time()  # CPU time: background load on the shared cores barely moves it
    for _ in range(requests):
        client.get(path).get_data()
    plain_ms = (time.process_time() - start) / requests * 1000
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(requests):
        resp = client.get(path)
        resp.get_data()
        assert resp.status_code == 200, resp.get_data()[:300]
    prof.disable()
    return pstats.Stats(prof), plain_ms


def show(name: str, stats: pstats.Stats, plain_ms: float, requests: int, top: int) -> None:
    total = sum(by_layer(stats).values())
    print(f"\n## {name}: {plain_ms:.2f} CPU ms/request unprofiled, "
          f"{total / requests * 1000:.2f} ms/request profiled\n")
    print("| layer | own time | share |\n|---|--:|--:|")
    for layer, secs in sorted(by_layer(stats).items(), key=lambda kv: -kv[1]):
        if secs / total >= 0.01:
            print(f"| {layer} | {secs / requests * 1000:.3f} ms | {secs / total:.0%} |")
    print(f"\nTop {top} functions by own time (per request):\n")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in rows:
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else "~"
        print(f"- {tottime / requests * 1000:.3f} ms own, {cumtime / requests * 1000:.3f} ms cum, "
              f"{ncalls / requests:g} calls: {short}:{line}({func})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=("core", "floor"), default="core")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--csv-requests", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--scenarios", default="page,filtered,single,csv")
    parser.add_argument("--db", type=Path, default=BENCH_DIR / "data/db.sqlite")
    parser.add_argument("--save", type=Path, help="directory for the .prof files")
    args = parser.parse_args()
    db = gen_db.generate(args.db.resolve())
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as data_dir:
        client = build_client(args.target, db, Path(data_dir))
        for scenario in args.scenarios.split(","):
            n = args.csv_requests if scenario == "csv" else args.requests
            stats, plain_ms = profile(client, servers.CORE_PATHS[scenario], n)
            show(scenario, stats, plain_ms, n, args.top)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                stats.dump_stats(str(args.save / f"{args.target}-{scenario}.prof"))


if __name__ == "__main__":
    main()
