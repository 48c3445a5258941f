"""In-process micro-benchmark: core_server vs the floor, both called as WSGI apps (bench/PERF.md).

    .venv/bin/python bench/perf_micro.py --db /abs/db.sqlite --floor-dir /abs/bench [--rounds 9]

Both apps are called as WSGI apps directly (a prebuilt environ, the body read to the end: no
test-client overhead); rounds alternate core and floor so that background load hits them
alike; the figure per scenario is the best round's CPU microseconds per request
(``time.process_time``), and ratio = floor / core (>= 0.7 is the issue 4 target). Also times
``--creates`` document-store creates (POST /api/store/<c>) when ``--store`` is given.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PATHS = {
    "page": ("/api/db/mydb/mytable?_limit=1000", 40),
    "filtered": ("/api/db/mydb/mytable?filter_cat=MyCat%202&filter_gt_value=500&_limit=100", 300),
    "single": ("/api/db/mydb/mytable?filter_my_id=12345", 600),
    "csv": ("/api/db/mydb/mytable?_format=csv", 2),
}


def _call(app: Any, environ: dict[str, Any]) -> bytes:
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO()
    body = app(env, lambda status, headers, exc_info=None: None)
    try:
        return b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()


def _per_request(app: Any, environ: dict[str, Any], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        _call(app, environ)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--floor-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--scenarios", default="page,filtered,single,csv")
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="also print the TOP functions by cumulative time of core (cProfile)")
    parser.add_argument("--dburl", help="mydb's URL instead of sqlite:///--db (core only)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.floor_dir))
    import floor_app

    from werkzeug.test import EnvironBuilder

    from core_server.app import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        core = create_app({"myserverplugin": {"dburl": args.dburl or f"sqlite:///{args.db}"}},
                          data_dir=data_dir)
        floor = floor_app.create(str(args.db))
        for name in args.scenarios.split(","):
            path, n = PATHS[name]
            route, _, query = path.partition("?")
            environ = EnvironBuilder(path=route, query_string=query).get_environ()
            assert core.test_client().get(path).status_code == 200
            best = {"core": float("inf"), "floor": float("inf")}
            for _ in range(args.rounds):
                for target, app in (("core", core), ("floor", floor)):
                    best[target] = min(best[target], _per_request(app, environ, n))
            print(f"{name:9s} core {best['core']:9.0f} us  floor {best['floor']:9.0f} us  "
                  f"ratio {best['floor'] / best['core']:.2f}x", flush=True)
            if args.profile:
                _profile(core, environ, n * 3, args.profile)


def _profile(app: Any, environ: dict[str, Any], n: int, top: int) -> None:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        _call(app, environ)
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


if __name__ == "__main__":
    main()
