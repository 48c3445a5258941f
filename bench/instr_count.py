"""Instructions per request, in process, under valgrind (repeatable on a loaded machine).

    .venv/bin/python bench/instr_count.py --target core --scenario single [--n 200]

Runs this script twice under ``valgrind --tool=callgrind`` (N and 2N requests after the same
warm-up) and prints (instructions(2N) - instructions(N)) / N: what one request costs, with the
start-up and warm-up cancelled out. Unlike CPU time this does not move with background load
(other jobs on the shared cores), so one run per variant is enough to compare code changes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import perf_micro  # noqa: E402


def _serve(target: str, scenario: str, n: int, db: Path, dburl: str | None,
           like_serve: bool) -> None:
    from werkzeug.test import EnvironBuilder

    if like_serve:  # what `core-server serve --workers N` sets up: INFO logs, shared metrics
        from core_server.cli import configure_logging

        configure_logging(open(os.devnull, "w"))  # noqa: SIM115
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="instr-metrics-")

    path, _ = perf_micro.PATHS[scenario]
    route, _, query = path.partition("?")
    environ = EnvironBuilder(path=route, query_string=query).get_environ()
    if target == "floor":
        import floor_app

        app = floor_app.create(str(db))
    else:
        from core_server.app import create_app

        app = create_app({"myserverplugin": {"dburl": dburl or f"sqlite:///{db}"}},
                         data_dir=tempfile.mkdtemp(prefix="instr-"))
    for _ in range(50):  # warm: ids assigned, caches filled
        perf_micro._call(app, environ)
    for _ in range(n):
        perf_micro._call(app, environ)


def _count(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        "--cache-sim=no", "--branch-sim=no", *argv],
                       check=True, capture_output=True, env={**os.environ,
                                                             "PYTHONHASHSEED": "0"})
        match = re.search(r"^summary:\s+(\d+)", out.read_text(errors="replace"), re.M)
        assert match, "no summary line in the callgrind output"
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=("core", "floor"), default="core")
    parser.add_argument("--scenario", default="single", choices=sorted(perf_micro.PATHS))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--db", type=Path, default=BENCH_DIR / "data/db.sqlite")
    parser.add_argument("--dburl")
    parser.add_argument("--like-serve", action="store_true",
                        help="core with the access log on and multiprocess metrics, as "
                             "`core-server serve --workers N` runs it")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        _serve(args.target, args.scenario, args.serve, args.db.resolve(), args.dburl,
               args.like_serve)
        return
    base = [sys.executable, __file__, "--target", args.target, "--scenario", args.scenario,
            "--db", str(args.db.resolve())] + (["--dburl", args.dburl] if args.dburl else []) \
        + (["--like-serve"] if args.like_serve else [])
    one = _count([*base, "--serve", str(args.n)])
    two = _count([*base, "--serve", str(2 * args.n)])
    like = " (as serve runs it)" if args.like_serve else ""
    print(f"{args.target} {args.scenario}{like}: {(two - one) / args.n:,.0f} "
          "instructions/request")


if __name__ == "__main__":
    main()
