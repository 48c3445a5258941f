"""Benchmark core_server's /api/db against a minimal Flask floor and Datasette 0.65.5.

Stdlib only (run it with any Python 3.11)::

    python3 bench/run.py --target all --duration 10 --repeat 2

Starts the selected targets on 127.0.0.1 (ports --port-base + 10/20/30), checks their answers,
runs wrk at c=1 and c=8 per JSON scenario (round-robin over targets, ``--repeat`` rounds), times
the full CSV export, stops every server, writes bench/results/<utc>.json (and merges it into
bench/results/latest.json) and prints the comparison table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
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
TARGETS = ("floor", "datasette", "core")


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
    parser.add_argument("--target", default="all",
                        help="floor, datasette, core, all, or a comma list (default: all)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk warm-up")
    parser.add_argument("--repeat", type=int, default=2, help="wrk runs per scenario/concurrency")
    parser.add_argument("--csv-runs", type=int, default=5, help="timed full CSV downloads")
    parser.add_argument("--scenarios", default="page,filtered,single,csv")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--db", type=Path, default=BENCH_DIR / "data/db.sqlite")
    parser.add_argument("--core-dir", type=Path, default=BENCH_DIR.parent,
                        help="core_server checkout with a .venv (make install); default: repo root")
    parser.add_argument("--port-base", type=int, default=18500)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="only print the tables of an existing results file")
    parser.add_argument("--pick", choices=("best", "median"), default="best")
    parser.add_argument("--gunicorn-args", default="",
                        help="extra gunicorn flags for floor and core alike, e.g. "
                             "'--worker-connections 4'")
    parser.add_argument("--label", default="",
                        help="results go to <utc>-<label>.json and latest-<label>.json")
    args = parser.parse_args(argv)
    args.targets = TARGETS if args.target == "all" else tuple(args.target.split(","))
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    args.scenarios = tuple(args.scenarios.split(","))
    args.core_dir = args.core_dir.resolve()
    args.db = args.db.resolve()
    if args.gunicorn_args:
        servers.GUNICORN_ARGS = servers.GUNICORN_ARGS + tuple(args.gunicorn_args.split())
    args.latest = args.out / (f"latest-{args.label}.json" if args.label else "latest.json")
    return args


def check_targets(running: dict[str, servers.Server], scenarios: tuple[str, ...], rows: int,
                  results: dict[str, Any]) -> None:
    """Validate every answer once; a target that answers wrongly is stopped and reported."""
    for name, server in list(running.items()):
        try:
            if "csv" in scenarios:  # first download after start: cold caches, ids unassigned
                results[name]["csv_cold"] = load.measure_download(server.url("csv"), server.pids())
            for scenario in scenarios:
                load.validate(scenario, load.fetch(server.url(scenario)), rows)
            log(f"{name}: answers checked")
        except (AssertionError, OSError, ValueError) as exc:
            log(f"{name}: WRONG ANSWER, skipped: {exc}")
            results[name]["error"] = str(exc)
            running.pop(name).stop()


def wrk_rounds(running: dict[str, servers.Server], args: argparse.Namespace,
               results: dict[str, Any]) -> None:
    """Round-robin wrk runs so that background load hits every target alike."""
    json_scenarios = [s for s in args.scenarios if s in report.JSON_SCENARIOS]
    raw: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for rnd in range(args.repeat):
        for scenario in json_scenarios:
            for conc in report.CONCURRENCY:
                for name, server in running.items():
                    if rnd == 0:
                        load.run_wrk(server.url(scenario), conc, args.warmup)
                    run = load.run_wrk(server.url(scenario), conc, args.duration, server.pids())
                    raw.setdefault((name, scenario, conc), []).append(run)
                    log(f"round {rnd + 1}/{args.repeat} {name:9} {scenario:8} c={conc}: "
                        f"{run['rps']:8.1f} req/s  p50 {run['p50_ms']} ms  "
                        f"p99 {run['p99_ms']} ms  cpu {run.get('cpu_ms_per_req')} ms/req "
                        f"{run.get('cpu_s_per_process')}  "
                        f"errors {run['errors']}")
    for (name, scenario, conc), runs in raw.items():
        results[name]["scenarios"].setdefault(scenario, {})[f"c{conc}"] = report.summarize_wrk(runs)


def csv_runs(running: dict[str, servers.Server], args: argparse.Namespace,
             results: dict[str, Any]) -> None:
    """One warm-up download, then ``--csv-runs`` timed ones per target."""
    for name, server in running.items():
        url = server.url("csv")
        load.download(url)
        runs = []
        for i in range(args.csv_runs):
            runs.append(load.measure_download(url, server.pids()))
            log(f"{name:9} csv {i + 1}/{args.csv_runs}: {runs[-1]['seconds']:.3f} s "
                f"(server CPU {runs[-1]['cpu_s']:.3f} s), "
                f"RSS +{runs[-1].get('rss_growth_peak_mb', runs[-1]['rss_growth_sampled_mb'])} MB")
        cold = results[name].pop("csv_cold", None)
        results[name]["scenarios"]["csv"] = report.summarize_csv(runs, cold)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Start the targets, measure, and stop them all (also on errors and Ctrl-C)."""
    load.check_wrk()
    gen_db.generate(args.db, args.rows, args.seed)
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
            wrk_rounds(running, args, results)
            if "csv" in args.scenarios:
                csv_runs(running, args, results)
        finally:
            for server in running.values():
                server.stop()
            log("all servers stopped")
    return results


def save(args: argparse.Namespace, results: dict[str, Any]) -> Path:
    """Write the run's file and merge its targets into latest.json."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    meta = {"utc": stamp, "machine": {**args.machine, "loadavg_end": os.getloadavg()},
            "versions": servers.versions(args.core_dir), "duration_s": args.duration,
            "warmup_s": args.warmup, "repeat": args.repeat, "csv_runs": args.csv_runs,
            "rows": args.rows, "seed": args.seed, "core_dir": str(args.core_dir),
            "gunicorn_args": list(servers.GUNICORN_ARGS), "label": args.label}
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
        print(report.markdown(data["targets"], args.pick))
        return
    log(f"targets {', '.join(args.targets)}; {args.duration:g} s x {args.repeat} per run")
    args.machine = machine()
    results = benchmark(args)
    path = save(args, results)
    log(f"results: {path} (merged into {args.latest})")
    merged = json.loads(args.latest.read_text())["targets"]
    stamps = ", ".join(f"{k} {v.get('utc')}" for k, v in merged.items())
    print(f"\nTargets measured at: {stamps}\n")
    print(report.markdown(merged, args.pick))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
