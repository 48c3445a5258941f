"""The production topology under load: 1 vs 2 vs 3 API hosts through nginx, and slow clients.

    python bench/stack.py                       # the whole run (~4 min), table into README.md
    python bench/stack.py --duration 3 --hosts 1,3 --no-write   # a short look

Each host count starts ``deploy/local-stack --hosts N`` (PostgreSQL with ``--rows`` tutorial rows,
gunicorn with deploy/gunicorn.conf.py on each host, nginx on 127.0.0.1) and runs ``wrk`` (Debian
package ``wrk``) through nginx on the filtered page and the single row at ``--connections``. On the
largest stack it then holds 16 and 64 slow clients (each sends a request one byte a second and
never finishes it) and measures normal GETs (wrk, 4 connections, p99) through nginx and, for
comparison, straight at one gunicorn host (no proxy). Everything shares this machine's cores:
nothing is pinned, the load average before and after is in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core_server.testing import slow_clients

REPO = Path(__file__).resolve().parents[1]
README = REPO / "bench" / "README.md"
BEGIN, END = "<!-- stack:begin -->", "<!-- stack:end -->"
SCENARIOS = {
    "filtered page (100 rows)":
        "/api/db/mydb/mytable?filter_cat=MyCat%202&filter_gt_value=500&_limit=100",
    "single row": "/api/db/mydb/mytable?filter_my_id=12345",
}
NORMAL = "/api/db/mydb/mytable?filter_my_id=17"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def stack(hosts: int, rows: int) -> Iterator[tuple[str, dict]]:
    """A running local-stack: (proxy URL, stack.json)."""
    port, name = free_port(), f"b{secrets.token_hex(3)}"
    workdir = Path(tempfile.mkdtemp(prefix="core_server-bench-"))
    env = {**os.environ, "CORE_SERVER__dbview__demo_rows": str(rows)}
    proc = subprocess.Popen([sys.executable, str(REPO / "deploy" / "local-stack"), "--port",
                             str(port), "--hosts", str(hosts), "--workdir", str(workdir),
                             "--name", name, "--timeout", "300"],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ready "):
                break
        else:
            raise SystemExit(f"local-stack did not start; see {workdir}")
        yield f"http://127.0.0.1:{port}", json.loads((workdir / "stack.json").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(workdir, ignore_errors=True)


def wrk(url: str, connections: int, duration: int) -> dict[str, float]:
    """req/s, p50 and p99 in ms, and errors (timeouts, non-2xx) of one wrk run."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
                          "--timeout", "3s", url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        found = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\b", out, re.M)
        if found is None:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return float(found.group(1)) * scale

    errors = sum(int(n) for n in re.findall(r"(?:timeout|Non-2xx or 3xx responses:)\s*(\d+)",
                                            out))
    done = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50": percentile("50"), "p99": percentile("99"), "errors": errors,
            "done": int(done.group(1)) if done else 0}


def run(args: argparse.Namespace) -> list[str]:
    load = os.getloadavg()
    lines = [f"Run {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, "
             f"{args.rows} rows in PostgreSQL, wrk -t2 -c{args.connections} -d{args.duration}s, "
             f"load average before {load[0]:.2f}.", "",
             "| API hosts (x2 workers x4 threads) | scenario | req/s | p50 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|"]
    hosts = [int(h) for h in args.hosts.split(",")]
    for count in hosts:
        with stack(count, args.rows) as (url, state):
            for name, path in SCENARIOS.items():
                wrk(url + path, args.connections, 1)  # warm: id assignment, pools, caches
                r = wrk(url + path, args.connections, args.duration)
                lines.append(f"| {count} | {name} | {r['rps']:,.0f} | {r['p50']:.1f} | "
                             f"{r['p99']:.1f} | {r['errors']} |")
            if count == hosts[-1]:
                slow = slow_table(url, state, args)
    load = os.getloadavg()
    return [*lines, "", *slow, "", f"Load average after: {load[0]:.2f}."]


def slow_table(url: str, state: dict, args: argparse.Namespace) -> list[str]:
    direct = f"http://{state['services']['api1']['address']}:8080"
    port = int(url.rsplit(":", 1)[1])
    lines = ["| slow clients | path | normal GETs req/s | p99 ms | errors (3 s timeout) |",
             "|---|---|---|---|---|"]
    for count in [int(s) for s in args.slow.split(",")]:
        for label, base, address in (("through nginx", url, ("127.0.0.1", port)),
                                     ("gunicorn direct", direct,
                                      (state["services"]["api1"]["address"], 8080))):
            stop = threading.Event()
            slow_clients(address, count, stop)
            time.sleep(1.5)
            try:
                r = wrk(base + NORMAL, 4, args.duration)
            finally:
                stop.set()
                time.sleep(1.2)
            p99 = f"{r['p99']:.1f}" if r["done"] else "none answered"
            lines.append(f"| {count} | {label} | {r['rps']:,.0f} | {p99} | {r['errors']} |")
    return lines


def write(lines: list[str]) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    section = "\n".join([BEGIN, "## Production topology (bench/stack.py)", "", *lines, END])
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="1,2,3")
    parser.add_argument("--slow", default="16,64")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    lines = run(args)
    print("\n".join(lines))
    if not args.no_write:
        write(lines)


if __name__ == "__main__":
    main()
