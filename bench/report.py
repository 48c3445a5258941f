"""Summaries of the raw results: the markdown comparison table and the target checks."""

from __future__ import annotations

import statistics
from typing import Any

SCENARIOS = {"page": "(i) 1000-row page", "filtered": "(ii) filtered page (100 rows)",
             "single": "(iii) single row", "csv": "(iv) full CSV export (100k rows)"}
JSON_SCENARIOS = ("page", "filtered", "single")
CONCURRENCY = (1, 8)
FLOOR_RATIO = 0.7
SCALING = 1.6
CSV_SECONDS = 0.25
CSV_RSS_MB = 50.0


def summarize_wrk(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best and median req/s over repeated runs, with the latencies of the best run."""
    rates = [r["rps"] for r in runs]
    best = max(runs, key=lambda r: r["rps"])
    cpu = [r["cpu_ms_per_req"] for r in runs if r.get("cpu_ms_per_req") is not None]
    return {"best": best["rps"], "median": round(statistics.median(rates), 2),
            "cpu_ms_per_req": round(statistics.median(cpu), 3) if cpu else None,
            "p50_ms": best["p50_ms"], "p99_ms": best["p99_ms"],
            "errors": sum(r["errors"] for r in runs), "runs": runs}


def summarize_csv(runs: list[dict[str, Any]], cold: dict[str, Any] | None) -> dict[str, Any]:
    """Best/median seconds and the largest RSS growth seen over the timed downloads."""
    secs = [r["seconds"] for r in runs]
    growth = [r.get("rss_growth_peak_mb", r["rss_growth_sampled_mb"]) for r in runs]
    cpu = [r["cpu_s"] for r in runs if r.get("cpu_s") is not None]
    return {"best": min(secs), "median": round(statistics.median(secs), 4),
            "cpu_s": round(statistics.median(cpu), 3) if cpu else None,
            "rss_growth_mb": max(growth), "bytes": runs[0]["bytes"], "cold": cold, "runs": runs}


def _rate(results: dict[str, Any], target: str, scenario: str, conc: int,
          pick: str) -> float | None:
    try:
        return float(results[target]["scenarios"][scenario][f"c{conc}"][pick])
    except (KeyError, TypeError):
        return None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "-" if num is None or not den else f"{num / den:.2f}x"


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**NO**")


def json_rows(results: dict[str, Any], pick: str) -> list[str]:
    rows = []
    for scenario in JSON_SCENARIOS:
        for conc in CONCURRENCY:
            floor, ds, core = (_rate(results, t, scenario, conc, pick)
                               for t in ("floor", "datasette", "core"))
            ok = None if core is None or floor is None else core >= FLOOR_RATIO * floor
            rows.append(f"| {SCENARIOS[scenario]} | c={conc} | {_fmt(floor)} | {_fmt(ds)} | "
                        f"{_fmt(core)} | {_ratio(core, floor)} | {_ratio(core, ds)} | "
                        f"{_mark(ok)} |")
    return rows


def cpu_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for scenario in JSON_SCENARIOS:
        for conc in CONCURRENCY:
            floor, ds, core = (_rate(results, t, scenario, conc, "cpu_ms_per_req")
                               for t in ("floor", "datasette", "core"))
            rows.append(f"| {SCENARIOS[scenario]} | c={conc} | {_fmt(floor, 2)} | {_fmt(ds, 2)} | "
                        f"{_fmt(core, 2)} | {_ratio(floor, core)} |")
    return rows


def scaling_rows(results: dict[str, Any], pick: str) -> list[str]:
    rows = []
    for scenario in JSON_SCENARIOS:
        cells = []
        ok = None
        for target in ("floor", "datasette", "core"):
            c1 = _rate(results, target, scenario, 1, pick)
            c8 = _rate(results, target, scenario, 8, pick)
            cells.append(_ratio(c8, c1))
            if target == "core" and c1 and c8:
                ok = c8 >= SCALING * c1
        rows.append(f"| {SCENARIOS[scenario]} | {' | '.join(cells)} | {_mark(ok)} |")
    return rows


def csv_row(results: dict[str, Any], pick: str) -> str:
    cells = []
    for target in ("floor", "datasette", "core"):
        csv = results.get(target, {}).get("scenarios", {}).get("csv")
        cpu = "" if not csv or csv.get("cpu_s") is None else f" (CPU {csv['cpu_s']:.2f} s)"
        cells.append("-" if not csv else
                     f"{csv[pick]:.3f} s{cpu} / {csv['rss_growth_mb']:.1f} MB")
    core = results.get("core", {}).get("scenarios", {}).get("csv")
    ok = None if not core else core[pick] <= CSV_SECONDS and core["rss_growth_mb"] < CSV_RSS_MB
    return f"| {SCENARIOS['csv']} | {' | '.join(cells)} | {_mark(ok)} |"


def markdown(results: dict[str, Any], pick: str = "best") -> str:
    """The comparison tables (req/s; ``pick`` is ``best`` or ``median`` of the repeated runs)."""
    lines = [f"Requests/s ({pick} of the repeated runs):", "",
             "| scenario | conc | floor | datasette | core | core/floor | core/datasette "
             f"| core >= {FLOOR_RATIO}x floor |",
             "|---|---|--:|--:|--:|--:|--:|---|", *json_rows(results, pick), "",
             "Server CPU time per request (ms, median of the runs; user+system of all server "
             "processes / requests; much less disturbed by background load than req/s):", "",
             "| scenario | conc | floor | datasette | core | floor/core (efficiency) |",
             "|---|---|--:|--:|--:|--:|", *cpu_rows(results), "",
             "Scaling c=8 / c=1:", "",
             f"| scenario | floor | datasette | core | core >= {SCALING}x |",
             "|---|--:|--:|--:|---|",
             *scaling_rows(results, pick), "",
             "Full CSV export (warm; time to last byte (server CPU time, median) / peak RSS growth "
             "of the server processes):",
             "", f"| scenario | floor | datasette | core "
                 f"| core <= {CSV_SECONDS} s and < {CSV_RSS_MB:g} MB |",
             "|---|--:|--:|--:|---|", csv_row(results, "best" if pick == "best" else "median")]
    cold = results.get("core", {}).get("scenarios", {}).get("csv", {}).get("cold")
    if cold:
        lines += ["", f"core cold CSV (first download after start, ids not yet assigned): "
                      f"{cold['seconds']:.3f} s, RSS growth {_growth(cold):.1f} MB"]
    return "\n".join(lines)


def _growth(run: dict[str, Any]) -> float:
    return float(run.get("rss_growth_peak_mb", run["rss_growth_sampled_mb"]))
