"""Browse pages over a 100k-row view: server time from ``Server-Timing`` (issue 15).

Starts ``core-server serve`` (the core .venv) over a generated 100,000-row ``mytable``, asks each
page ``--repeat`` times after one warm-up and prints the median and the slowest ``total`` (and
``db``) of the server's ``Server-Timing`` header, with the machine's load average. Goals: a rows
page under 100 ms, the column summary within the statement timeout (default 30 s).

    .venv/bin/python bench/browse_bench.py [--rows 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PAGES = (
    ("rows page", "/browse/db/mydb/mytable"),
    ("filtered, sorted page", "/browse/db/mydb/mytable?filter_cat=MyCat+2&filter_gte_value=500"
                              "&_sort=-value"),
    ("page at offset 50,000", "/browse/db/mydb/mytable?_offset=50000"),
    ("summary (JSON)", "/api/db/mydb/mytable/summary"),
    ("summary page", "/browse/db/mydb/mytable/summary"),
    ("rows JSON, 50 rows", "/api/db/mydb/mytable?_limit=50"),
)


def _timings(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from myserverplugin.demo_data import write

    root = Path(tempfile.mkdtemp(prefix="browse-bench-"))
    write(f"sqlite:///{root}/mydb.sqlite", rows=args.rows)
    port = _free_port()
    env = {**os.environ, "CORE_SERVER__myserverplugin__dburl": f"sqlite:///{root}/mydb.sqlite",
           "CORE_SERVER__core_server__access_log": "false"}
    exe = Path(sys.executable).with_name("core-server")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port), "--data-dir",
                               str(root / "data")], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/_health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        results = {}
        for label, path in PAGES:
            totals, dbs = [], []
            for i in range(args.repeat + 1):
                with urllib.request.urlopen(base + path, timeout=60) as answer:
                    answer.read()
                    timing = _timings(answer.headers.get("Server-Timing", ""))
                if i:  # the first request warms caches (templates, derived columns)
                    totals.append(timing["total"])
                    dbs.append(timing.get("db", 0.0))
            results[label] = {"median_ms": statistics.median(totals), "max_ms": max(totals),
                              "db_median_ms": statistics.median(dbs)}
            print(f"{label:<24} total median {statistics.median(totals):7.1f} ms  "
                  f"max {max(totals):7.1f} ms  db median {statistics.median(dbs):6.1f} ms")
        load = os.getloadavg()
        print(f"rows: {args.rows}, repeat: {args.repeat}, load average: "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
        print(json.dumps({"rows": args.rows, "load": load, "results": results}))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
