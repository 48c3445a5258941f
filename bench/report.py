"""Summaries of the raw results: the markdown tables of bench/README.md and the target checks."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

SCENARIOS = {"page": "1000-row page", "filtered": "filtered page (100 rows)",
             "single": "single row", "csv": "full CSV (100k rows)",
             "ndjson": "full NDJSON (100k rows)"}
JSON_SCENARIOS = ("page", "filtered", "single")
CONCURRENCY = (1, 8)
FLOOR_RATIO = 0.7
SCALING = 1.6
CSV_RATIO = 1.2
CREATE_RATIO = 1.5
#: (label, floor target, core target)
DATABASES = (("SQLite", "floor", "core"), ("PostgreSQL", "floor_pg", "core_pg"),
             ("SQLite, core with --threads 1", "floor", "core_t1"),
             ("PostgreSQL, core with --threads 1", "floor_pg", "core_pg_t1"),
             ("SQLite, core with --keepalive 0", "floor", "core_ka0"),
             ("PostgreSQL, core with --keepalive 0", "floor_pg", "core_pg_ka0"))


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


def summarize_creates(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best/median seconds of the rounds of sequential creates."""
    secs = [r["seconds"] for r in runs]
    best = min(runs, key=lambda r: r["seconds"])
    return {"best": min(secs), "median": round(statistics.median(secs), 3),
            "count": best["count"], "p50_ms": best["p50_ms"], "p99_ms": best["p99_ms"],
            "runs": runs}


def _get(results: dict[str, Any], target: str, scenario: str, key: str,
         conc: int | None = None) -> float | None:
    try:
        node = results[target]["scenarios"][scenario]
        value = node[f"c{conc}"][key] if conc is not None else node[key]
    except (KeyError, TypeError):
        return None
    return None if value is None else float(value)


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(num: float | None, den: float | None) -> str:
    return "-" if num is None or not den else f"{num / den:.2f}"


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def request_table(results: dict[str, Any], pick: str, floor: str, core: str) -> list[str]:
    """req/s (``pick`` of the runs) and server CPU per request, core against its floor."""
    datasette = floor == "floor" and "datasette" in results
    head = ("| scenario | conc | floor req/s | core req/s | core/floor | >= 0.7 | "
            "floor CPU ms/req | core CPU ms/req | floor/core CPU |"
            + (" Datasette req/s |" if datasette else ""))
    lines = [head, "|---|---|--:|--:|--:|---|--:|--:|--:|" + ("--:|" if datasette else "")]
    for scenario in JSON_SCENARIOS:
        for conc in CONCURRENCY:
            f_rps, c_rps = (_get(results, t, scenario, pick, conc) for t in (floor, core))
            f_cpu, c_cpu = (_get(results, t, scenario, "cpu_ms_per_req", conc)
                            for t in (floor, core))
            ok = None if f_rps is None or c_rps is None else c_rps >= FLOOR_RATIO * f_rps
            row = (f"| {SCENARIOS[scenario]} | c={conc} | {_fmt(f_rps)} | {_fmt(c_rps)} | "
                   f"{_ratio(c_rps, f_rps)} | {_mark(ok)} | {_fmt(f_cpu, 2)} | {_fmt(c_cpu, 2)} | "
                   f"{_ratio(f_cpu, c_cpu)} |")
            if datasette:
                row += f" {_fmt(_get(results, 'datasette', scenario, pick, conc))} |"
            lines.append(row)
    return lines


def scaling_table(results: dict[str, Any], pick: str) -> list[str]:
    """c=8 / c=1 of every target (core's goal: >= 1.6)."""
    targets = list(dict.fromkeys(t for _, f, c in DATABASES for t in (f, c) if t in results))
    lines = ["| scenario | " + " | ".join(targets) + " |",
             "|---|" + "--:|" * len(targets)]
    for scenario in JSON_SCENARIOS:
        cells = []
        for target in targets:
            c1, c8 = (_get(results, target, scenario, pick, c) for c in CONCURRENCY)
            cell = _ratio(c8, c1)
            if target.startswith("core") and c1 and c8 and c8 < SCALING * c1:
                cell = f"**{cell}**"
            cells.append(cell)
        lines.append(f"| {SCENARIOS[scenario]} | " + " | ".join(cells) + " |")
    return lines


def export_table(results: dict[str, Any], pick: str) -> list[str]:
    """Full exports: seconds to the last byte (``pick``), core/floor, and peak RSS growth."""
    lines = ["| export | database | floor s | core s | core/floor | core RSS growth |",
             "|---|---|--:|--:|--:|--:|"]
    for scenario in ("csv", "ndjson"):
        for label, floor, core in DATABASES:
            f_s, c_s = (_get(results, t, scenario, pick) for t in (floor, core))
            if c_s is None:
                continue
            rss = _get(results, core, scenario, "rss_growth_mb")
            lines.append(f"| {SCENARIOS[scenario]} | {label} | {_fmt(f_s, 3)} | "
                         f"{_fmt(c_s, 3)} | {_ratio(c_s, f_s)} | {_fmt(rss, 1)} MB |")
    return lines


def create_table(results: dict[str, Any], pick: str) -> list[str]:
    """Sequential document creates: seconds, core/floor (goal <= 1.5), p50 per create."""
    lines = ["| database | creates | floor s | core s | core/floor | <= 1.5 | "
             "floor p50 ms | core p50 ms |", "|---|--:|--:|--:|--:|---|--:|--:|"]
    for label, floor, core in DATABASES:
        f_s, c_s = (_get(results, t, "create", pick) for t in (floor, core))
        if c_s is None:
            continue
        count = _get(results, core, "create", "count") or _get(results, floor, "create", "count")
        ok = None if f_s is None or c_s is None else c_s <= CREATE_RATIO * f_s
        lines.append(f"| {label} | {_fmt(count)} | {_fmt(f_s, 2)} | {_fmt(c_s, 2)} | "
                     f"{_ratio(c_s, f_s)} | {_mark(ok)} | "
                     f"{_fmt(_get(results, floor, 'create', 'p50_ms'), 2)} | "
                     f"{_fmt(_get(results, core, 'create', 'p50_ms'), 2)} |")
    return lines


def _loads(meta: dict[str, Any]) -> str:
    machine = meta.get("machine", {})
    start, end = machine.get("loadavg_start"), machine.get("loadavg_end")
    if not start or not end:
        return ""
    return f"1-minute load average {start[0]:.2f} at the start, {end[0]:.2f} at the end"


def markdown(results: dict[str, Any], meta: dict[str, Any], pick: str = "best",
             source: str = "") -> str:
    """Every table of one run (``pick``: ``best`` or ``median`` of the repeated runs)."""
    exports = "best" if pick == "best" else "median"
    lines = [f"Run `{source or meta.get('utc', '?')}`: {meta.get('utc', '?')} UTC, "
             f"{meta.get('repeat', '?')} interleaved rounds, wrk {meta.get('duration_s', '?')} s "
             f"per run, {pick} run shown; {_loads(meta)}. floor: gunicorn defaults "
             f"({' '.join(meta.get('floor_args', []))}); core: `core-server serve --workers "
             f"{meta.get('core_workers', '?')}{' ' + ' '.join(meta['core_args']) if meta.get('core_args') else ''}`.", ""]
    for label, floor, core in DATABASES:
        if core in results:
            lines += [f"**{label}** (100k-row `mytable`):", "",
                      *request_table(results, pick, floor, core), ""]
    lines += ["**c=8 / c=1** (core's goal >= 1.6; misses in bold):", "",
              *scaling_table(results, pick), "",
              f"**Full exports** (time to the last byte, {exports} of the downloads; "
              f"CSV goal: core <= {CSV_RATIO} x floor; NDJSON as fast as CSV):", "",
              *export_table(results, exports), "",
              f"**Document creates** (sequential POSTs, one client; {exports} round):", "",
              *create_table(results, exports)]
    cold = results.get("core", {}).get("scenarios", {}).get("csv", {}).get("cold")
    if cold:
        lines += ["", f"core's first CSV download after start (ids not yet assigned): "
                      f"{cold['seconds']:.3f} s."]
    return "\n".join(lines)


def write_between(path: Path, markers: tuple[str, str], text: str) -> None:
    """Put ``text`` between the two ``markers`` lines of ``path`` (appended if absent)."""
    readme = path.read_text()
    begin, end = markers
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in readme and end in readme:
        head, rest = readme.split(begin, 1)
        readme = head + block + rest.split(end, 1)[1]
    else:
        readme = readme.rstrip() + "\n\n" + block + "\n"
    path.write_text(readme)
