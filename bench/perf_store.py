"""In-process profile of document-store creates (POST /api/store/<c>) for bench/PERF.md.

    .venv/bin/python bench/perf_store.py [--creates 2000] [--dburl URL] [--profile]
    cd /tmp && /path/to/.venv/bin/python /path/to/bench/perf_store.py --http PORT

Builds the app with docstore_bench's two collections (store on a fresh SQLite file unless
``--dburl``), posts ``--creates`` documents through the WSGI test client and prints the CPU and
wall microseconds per create; ``--profile`` prints the top functions by cumulative time.
``--instructions`` runs this script twice under callgrind (``--creates`` N and 2N, default
200) and prints the instructions per create: repeatable on a loaded machine, unlike CPU time.
``--http PORT`` instead runs docstore_bench's 2,000 creates against gunicorn (started from the
current directory, so run it outside a checkout to import the intended core_server).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docstore_bench  # noqa: E402
import instr_count  # noqa: E402

from core_server.app import create_app  # noqa: E402
from core_server.testing import temporary_plugin  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--sort", default="cumulative", help="pstats order of --profile")
    parser.add_argument("--dburl")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--instructions", action="store_true",
                        help="instructions per create under callgrind (N and 2N creates)")
    parser.add_argument("--http", type=int, metavar="PORT",
                        help="instead: docstore_bench's 2,000 creates against gunicorn on PORT")
    args = parser.parse_args()
    if args.instructions:
        n = args.creates if args.creates != 2000 else 200
        base = [sys.executable, __file__] + (["--dburl", args.dburl] if args.dburl else [])
        one = instr_count._count([*base, "--creates", str(n)])
        two = instr_count._count([*base, "--creates", str(2 * n)])
        print(f"creates ({args.dburl or 'sqlite'}): {(two - one) / n:,.0f} instructions/create")
        return
    if args.http:
        return http_creates(args.http, args.dburl)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dburl = args.dburl or f"sqlite:///{root / 'store.sqlite'}"
        with temporary_plugin(root / "plugins", "docbench", docstore_bench.INIT,
                              {"schemas.py": docstore_bench.SCHEMAS}) as plugins:
            settings = {"store": {"dburl": dburl}, "core_server": {
                "access_log": False, "security": {"anonymous_write": True}}}
            app = create_app(settings, plugins_dirs=[plugins], data_dir=root / "data",
                             entry_points=False)
            client = app.test_client()
            for i in range(50):  # warm up: tables, engine, caches
                r = client.post("/api/store/bench_plain", json=docstore_bench._doc(i))
                assert r.status_code == 201, r.get_data()[:500]
            prof = cProfile.Profile() if args.profile else None
            wall, cpu = time.perf_counter(), time.process_time()
            if prof:
                prof.enable()
            for i in range(args.creates):
                client.post("/api/store/bench_plain", json=docstore_bench._doc(1000 + i))
            if prof:
                prof.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{args.creates} creates in process: {wall / args.creates * 1e6:.0f} us wall, "
                  f"{cpu / args.creates * 1e6:.0f} us CPU per create")
            if prof:
                pstats.Stats(prof).sort_stats(args.sort).print_stats(45)


def http_creates(port: int, dburl: str | None) -> None:
    """docstore_bench's create measurement alone (gunicorn, 2 gthread workers, one client)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with temporary_plugin(root / "plugins", "docbench", docstore_bench.INIT,
                              {"schemas.py": docstore_bench.SCHEMAS}):
            process = docstore_bench._start(root, dburl or f"sqlite:///{root / 's.sqlite'}", port)
            try:
                docstore_bench.bench_creates(port)
            finally:
                process.terminate()
                process.wait(10)


if __name__ == "__main__":
    main()
