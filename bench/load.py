"""Load generation: wrk for the JSON scenarios, a streaming urllib client for the CSV export.

Also checks each target's answers once before timing them (row counts and filter semantics), so
that a fast wrong answer never shows up as a fast result.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

WRK_INSTALL = "apt-get update && apt-get install -y wrk"
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def check_wrk() -> str:
    """Path of wrk, or a clear error telling how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(f"wrk not found; install it with: {WRK_INSTALL}")
    return path


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unparseable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, latency percentiles (ms), request and error counts from ``wrk --latency`` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise ValueError(f"no Requests/sec in wrk output:\n{output}")
    result: dict[str, Any] = {"rps": float(rps.group(1))}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        result[f"p{pct}_ms"] = round(_ms(match.group(1)), 3) if match else None
    total = re.search(r"(\d+) requests in", output)
    result["requests"] = int(total.group(1)) if total else None
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     output)
    result["errors"] = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0)
    return result


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds consumed so far by the live ``pids``."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, connections: int, duration: float,
            pids: list[int] | None = None) -> dict[str, Any]:
    """One wrk run: 1 thread for c=1, 2 threads (one per core) otherwise.

    With ``pids`` (the server's processes) it also reports the server CPU time per request,
    a figure that background load on the shared cores disturbs much less than req/s.
    """
    threads = 1 if connections == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency",
            "--timeout", "10s", url]
    pids = pids or []
    before = [cpu_seconds([pid]) for pid in pids]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=True)
    result = parse_wrk(res.stdout)
    if pids and result["requests"]:
        used = [cpu_seconds([pid]) - b for pid, b in zip(pids, before, strict=True)]
        result["cpu_ms_per_req"] = round(sum(used) * 1000 / result["requests"], 3)
        # how the load split over the processes: gthread workers keep the keep-alive
        # connections they accepted, so one worker may end up serving all of them
        result["cpu_s_per_process"] = [round(u, 2) for u in used]
    result["load1"] = round(os.getloadavg()[0], 2)  # background load: the cores are shared
    return result


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as resp:
        if resp.status != 200:
            raise AssertionError(f"{url}: HTTP {resp.status}")
        return bytes(resp.read())


def validate(scenario: str, body: bytes, rows: int) -> None:
    """Raise AssertionError unless ``body`` is a correct answer for ``scenario``."""
    if scenario == "csv":
        lines = body.rstrip(b"\r\n").count(b"\n") + 1
        assert lines == rows + 1, f"csv: {lines} lines, expected {rows + 1}"
        return
    if scenario == "ndjson":
        lines = body.rstrip(b"\n").split(b"\n")
        assert len(lines) == rows, f"ndjson: {len(lines)} lines, expected {rows}"
        assert json.loads(lines[12344])["my_id"] == 12345, "ndjson: rows out of order"
        return
    data = json.loads(body)
    assert isinstance(data, list), f"{scenario}: not a JSON list"
    if scenario == "page":
        assert len(data) == 1000, f"page: {len(data)} rows"
    elif scenario == "filtered":
        assert len(data) == 100, f"filtered: {len(data)} rows"
        assert all(r["cat"] == "MyCat 2" and r["value"] > 500 for r in data), "filter ignored"
    else:
        assert len(data) == 1 and data[0]["my_id"] == 12345, f"single: {data!r}"


def rss_kb(pids: list[int]) -> dict[int, int]:
    """``VmRSS`` in kB of each live pid."""
    out = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        if match:
            out[pid] = int(match.group(1))
    return out


def hwm_kb(pid: int) -> int | None:
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def reset_hwm(pids: list[int]) -> bool:
    """Reset each process's peak RSS (``VmHWM``) to its current RSS; False if not permitted."""
    try:
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler(threading.Thread):
    """Samples the summed RSS of ``pids`` every few ms until stopped; keeps the peak."""

    def __init__(self, pids: list[int], interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.peak_kb = sum(rss_kb(pids).values())
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak_kb = max(self.peak_kb, sum(rss_kb(self.pids).values()))

    def stop(self) -> int:
        self._stop_event.set()
        self.join(timeout=5)
        return self.peak_kb


def download(url: str, chunk: int = 1 << 20) -> tuple[float, int]:
    """Stream ``url`` to the end; (seconds from request to last byte, bytes)."""
    start = time.perf_counter()
    size = 0
    with urllib.request.urlopen(url, timeout=120) as resp:
        while block := resp.read(chunk):
            size += len(block)
    return time.perf_counter() - start, size


def measure_download(url: str, pids: list[int]) -> dict[str, Any]:
    """One timed download with the server processes' RSS growth (kB) during it."""
    before = rss_kb(pids)
    hwm_ok = reset_hwm(list(before))
    sampler = RssSampler(list(before))
    cpu_before = cpu_seconds(list(before))
    sampler.start()
    try:
        seconds, size = download(url)
    finally:
        peak = sampler.stop()
    result: dict[str, Any] = {"seconds": round(seconds, 4), "bytes": size,
                              "cpu_s": round(cpu_seconds(list(before)) - cpu_before, 3),
                              "load1": round(os.getloadavg()[0], 2),
                              "rss_growth_sampled_mb":
                                  round((peak - sum(before.values())) / 1024, 1)}
    if hwm_ok:
        growth = sum(max((hwm_kb(pid) or rss) - rss, 0) for pid, rss in before.items())
        result["rss_growth_peak_mb"] = round(growth / 1024, 1)
    return result


def creates(url: str, count: int) -> dict[str, Any]:
    """``count`` sequential POSTs of a new document each (one client, keep-alive when the
    server keeps the connection): total seconds, creates/s, p50 and p99 ms."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    samples = []
    start = time.perf_counter()
    try:
        for i in range(count):
            doc = {"name": f"doc{i}", "n": i, "group": f"g{i % 100}",
                   "value": (i * 7919 % 1000) / 10, "tags": [f"t{i % 10}", f"u{i % 3}"]}
            began = time.perf_counter()
            conn.request("POST", parts.path, body=json.dumps(doc),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = response.read()
            samples.append(time.perf_counter() - began)
            if response.status != 201:
                raise AssertionError(f"create: HTTP {response.status} {answer[:200]!r}")
    finally:
        conn.close()
    seconds = time.perf_counter() - start
    samples.sort()
    return {"seconds": round(seconds, 3), "per_s": round(count / seconds, 1), "count": count,
            "p50_ms": round(samples[len(samples) // 2] * 1000, 3),
            "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 3),
            "load1": round(os.getloadavg()[0], 2)}
