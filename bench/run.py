"""The side-by-side benchmark: core_server vs a minimal Flask floor (SQLite and PostgreSQL).

Stdlib only (run it with any Python 3.11; the servers run from the core checkout's .venv)::

    python3 bench/run.py                      # everything, ~10 minutes; rewrites bench/README.md

Starts floor (gunicorn defaults, 2 workers) and core (``core-server serve --workers 2``) over
the same 100k-row ``mytable`` in SQLite and in PostgreSQL (plus Datasette when installed),
checks their answers, then interleaves everything round by round so that background load hits
every target alike: wrk at c=1 and c=8 per JSON scenario, the full CSV and NDJSON exports, and
2,000 sequential document creates. Writes bench/results/<utc>.json and the tables between the
``compare`` markers of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gen_db
import load
import report
import servers

BENCH_DIR = Path(__file__).resolve().parent
TARGETS = ("floor", "floor_pg", "datasette", *servers.CORE_TARGETS)
DEFAULT_TARGETS = ("floor", "core", "floor_pg", "core_pg")
README = BENCH_DIR / "README.md"
MARKERS = ("<!-- compare:begin -->", "<!-- compare:end -->")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict[str, Any]:
    """What this ran on, including the load average (other jobs share the cores)."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gb": round(int(mem) / 1024 ** 2, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "loadavg_start": os.getloadavg()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="default",
                        help="comma list of floor, core, floor_pg, core_pg, datasette; 'all'; "
                             "default: the four without datasette (added when installed)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk warm-up")
    parser.add_argument("--repeat", type=int, default=2, help="wrk runs per scenario/concurrency")
    parser.add_argument("--csv-runs", type=int, default=3,
                        help="timed full CSV/NDJSON downloads per round")
    parser.add_argument("--creates", type=int, default=2000,
                        help="sequential document creates per round (0: none)")
    parser.add_argument("--scenarios", default="page,filtered,single,csv,ndjson")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--db", type=Path, default=BENCH_DIR / "data/db.sqlite")
    parser.add_argument("--core-dir", type=Path, default=BENCH_DIR.parent,
                        help="core_server checkout with a .venv (make install); default: repo root")
    parser.add_argument("--port-base", type=int, default=8400)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="only print the tables of an existing results file")
    parser.add_argument("--pick", choices=("best", "median"), default="best")
    parser.add_argument("--core-args", default="",
                        help="extra flags for core-server serve, e.g. '--threads 1'")
    parser.add_argument("--no-readme", action="store_true",
                        help="do not rewrite the tables in bench/README.md")
    parser.add_argument("--label", default="",
                        help="results go to <utc>-<label>.json and latest-<label>.json")
    args = parser.parse_args(argv)
    if args.target == "default":
        datasette = (BENCH_DIR / ".venv-datasette/bin/datasette").exists()
        args.targets = DEFAULT_TARGETS + (("datasette",) if datasette else ())
    else:
        args.targets = TARGETS if args.target == "all" else tuple(args.target.split(","))
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    args.scenarios = tuple(args.scenarios.split(","))
    servers.CORE_ARGS = tuple(args.core_args.split())
    args.core_dir = args.core_dir.resolve()
    args.db = args.db.resolve()
    args.latest = args.out / (f"latest-{args.label}.json" if args.label else "latest.json")
    return args


EXPORTS = ("csv", "ndjson")


def _supports(name: str, scenario: str) -> bool:
    return scenario in servers.PATHS[name]


def check_targets(running: dict[str, servers.Server], scenarios: tuple[str, ...], rows: int,
                  results: dict[str, Any]) -> None:
    """Validate every answer once; a target that answers wrongly is stopped and reported."""
    for name, server in list(running.items()):
        try:
            if "csv" in scenarios:  # first download after start: cold caches, ids unassigned
                results[name]["csv_cold"] = load.measure_download(server.url("csv"), server.pids())
            for scenario in scenarios:
                if _supports(name, scenario):
                    load.validate(scenario, load.fetch(server.url(scenario)), rows)
            log(f"{name}: answers checked")
        except (AssertionError, OSError, ValueError) as exc:
            log(f"{name}: WRONG ANSWER, skipped: {exc}")
            results[name]["error"] = str(exc)
            running.pop(name).stop()


def _wrk_round(running: dict[str, servers.Server], args: argparse.Namespace, rnd: int,
               raw: dict[tuple[str, str, Any], list[dict[str, Any]]]) -> None:
    for scenario in (s for s in args.scenarios if s in report.JSON_SCENARIOS):
        for conc in report.CONCURRENCY:
            for name, server in running.items():
                if rnd == 0:
                    load.run_wrk(server.url(scenario), conc, args.warmup)
                run = load.run_wrk(server.url(scenario), conc, args.duration, server.pids())
                raw.setdefault((name, scenario, conc), []).append(run)
                log(f"round {rnd + 1}/{args.repeat} {name:9} {scenario:8} c={conc}: "
                    f"{run['rps']:8.1f} req/s  p50 {run['p50_ms']} ms  "
                    f"p99 {run['p99_ms']} ms  cpu {run.get('cpu_ms_per_req')} ms/req "
                    f"{run.get('cpu_s_per_process')}  errors {run['errors']}  "
                    f"load {run['load1']}")


def _export_round(running: dict[str, servers.Server], args: argparse.Namespace, rnd: int,
                  raw: dict[tuple[str, str, Any], list[dict[str, Any]]]) -> None:
    for scenario in (s for s in args.scenarios if s in EXPORTS):
        for name, server in running.items():
            if not _supports(name, scenario):
                continue
            url = server.url(scenario)
            if rnd == 0:
                load.download(url)  # warm
            for _ in range(args.csv_runs):
                run = load.measure_download(url, server.pids())
                raw.setdefault((name, scenario, None), []).append(run)
            log(f"round {rnd + 1}/{args.repeat} {name:9} {scenario}: "
                f"{min(r['seconds'] for r in raw[(name, scenario, None)][-args.csv_runs:]):.3f} s")


def _create_round(running: dict[str, servers.Server], args: argparse.Namespace, rnd: int,
                  raw: dict[tuple[str, str, Any], list[dict[str, Any]]]) -> None:
    if not args.creates:
        return
    for name, server in running.items():
        if not _supports(name, "create"):
            continue
        if rnd == 0:
            load.creates(server.url("create"), 100)  # warm: tables, caches, connections
        run = load.creates(server.url("create"), args.creates)
        raw.setdefault((name, "create", None), []).append(run)
        log(f"round {rnd + 1}/{args.repeat} {name:9} {args.creates} creates: "
            f"{run['seconds']:.2f} s ({run['per_s']:.0f}/s, p50 {run['p50_ms']} ms)")


def measure(running: dict[str, servers.Server], args: argparse.Namespace,
            results: dict[str, Any]) -> None:
    """Round-robin rounds of wrk, exports and creates over all targets (one interleaved run)."""
    raw: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    for rnd in range(args.repeat):
        _wrk_round(running, args, rnd, raw)
        _export_round(running, args, rnd, raw)
        _create_round(running, args, rnd, raw)
    for (name, scenario, conc), runs in raw.items():
        scenarios = results[name]["scenarios"]
        if scenario in EXPORTS:
            cold = results[name].pop("csv_cold", None) if scenario == "csv" else None
            scenarios[scenario] = report.summarize_csv(runs, cold)
        elif scenario == "create":
            scenarios[scenario] = report.summarize_creates(runs)
        else:
            scenarios.setdefault(scenario, {})[f"c{conc}"] = report.summarize_wrk(runs)


def prepare_pg(args: argparse.Namespace) -> None:
    """Copy the SQLite table into the benchmark's PostgreSQL database (bench/pg_load.py)."""
    subprocess.run([str(args.core_dir / ".venv/bin/python"), str(BENCH_DIR / "pg_load.py"),
                    str(args.db), servers.PG_URL], check=True, timeout=600)
    # documents of earlier runs would only slow the creates: start each run empty
    subprocess.run([str(args.core_dir / ".venv/bin/python"), "-c",
                    "import psycopg, sys\n"
                    "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
                    "    c.execute('DROP TABLE IF EXISTS floor_docs')\n",
                    servers.PG_URL], check=True, timeout=120)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Start the targets, measure, and stop them all (also on errors and Ctrl-C)."""
    load.check_wrk()
    gen_db.generate(args.db, args.rows, args.seed)
    if any(t.endswith("_pg") for t in args.targets):
        prepare_pg(args)
    results: dict[str, Any] = {name: {"scenarios": {}} for name in args.targets}
    running: dict[str, servers.Server] = {}
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as log_dir:
        try:
            for name in args.targets:
                log(f"starting {name} ...")
                running[name] = servers.start(name, args.port_base, args.db, args.core_dir,
                                              Path(log_dir))
                log(f"{name} ready on port {running[name].port} (pids {running[name].pids()})")
            check_targets(running, args.scenarios, args.rows, results)
            measure(running, args, results)
        finally:
            for server in running.values():
                server.stop()
            log("all servers stopped")
    return results


def write_readme(text: str, path: Path = README) -> None:
    """Put ``text`` between the ``compare`` markers of ``path`` (appended if absent)."""
    report.write_between(path, MARKERS, text)


def save(args: argparse.Namespace, results: dict[str, Any]) -> Path:
    """Write the run's file and merge its targets into latest.json."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    meta = {"utc": stamp, "machine": {**args.machine, "loadavg_end": os.getloadavg()},
            "versions": servers.versions(args.core_dir), "duration_s": args.duration,
            "warmup_s": args.warmup, "repeat": args.repeat, "csv_runs": args.csv_runs,
            "rows": args.rows, "seed": args.seed, "core_dir": str(args.core_dir),
            "floor_args": list(servers.FLOOR_ARGS), "core_workers": servers.CORE_WORKERS,
            "core_args": list(servers.CORE_ARGS),
            "creates": args.creates, "label": args.label}
    for target in results.values():
        target["utc"] = stamp
    args.out.mkdir(parents=True, exist_ok=True)
    path: Path = args.out / (f"{stamp}-{args.label}.json" if args.label else f"{stamp}.json")
    path.write_text(json.dumps({"meta": meta, "targets": results}, indent=1))
    latest = args.latest
    merged = json.loads(latest.read_text()) if latest.exists() else {"meta": {}, "targets": {}}
    merged["targets"].update({k: v for k, v in results.items() if "error" not in v})
    merged["meta"][stamp] = meta
    latest.write_text(json.dumps(merged, indent=1))
    return path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report:
        data = json.loads(args.report.read_text())
        print(report.markdown(data["targets"], data.get("meta", {}), args.pick))
        return
    log(f"targets {', '.join(args.targets)}; {args.duration:g} s x {args.repeat} per run")
    args.machine = machine()
    results = benchmark(args)
    path = save(args, results)
    log(f"results: {path} (merged into {args.latest})")
    data = json.loads(path.read_text())
    text = report.markdown(data["targets"], data["meta"], args.pick, source=path.name)
    print("\n" + text)
    if not args.no_readme:
        write_readme(text)
        log(f"tables written to {README}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
