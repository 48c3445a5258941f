"""Sample a target under real gunicorn load with py-spy and say where the workers spend CPU.

Needs py-spy in bench/.venv-tools (``python3.11 -m venv bench/.venv-tools &&
bench/.venv-tools/bin/pip install py-spy``) and ptrace rights (root, or CAP_SYS_PTRACE)::

    python3 bench/pyspy_core.py --target core --core-dir /path/to/checkout --duration 10

For each scenario the target is loaded with wrk (CSV: repeated full downloads) while py-spy
samples the gunicorn master and workers, only the thread holding the GIL (``--gil``: Python CPU
time; C code that released the GIL, e.g. sqlite3 stepping, is not seen). Output: the share of
samples per layer of the innermost Python frame (C calls such as ``fetchmany`` or
``orjson.dumps`` count for the Python line that called them), the top lines, and the inclusive
share of the server's functions. Raw stacks go to ``--out`` (collapsed format, flamegraph-ready).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import gen_db
import load
import servers

BENCH_DIR = Path(__file__).resolve().parent
PYSPY = BENCH_DIR / ".venv-tools/bin/py-spy"
LAYERS = (("sqlalchemy/", "SQLAlchemy"), ("werkzeug/", "Werkzeug"), ("flask/", "Flask"),
          ("gunicorn/", "gunicorn"), ("core_server/dbview/", "core_server.dbview.{module}"),
          ("core_server/", "core_server.{module}"), ("floor_app", "floor_app"),
          ("orjson", "orjson"), ("sqlite3/", "sqlite3 module"))
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def parse_frame(frame: str) -> tuple[str, str, int]:
    """``(function, file, line)`` of one py-spy frame ``func (file:line)``."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "", 0
    return match.group("func"), match.group("file"), int(match.group("line"))


def layer(file: str) -> str:
    for needle, name in LAYERS:
        if needle in file:
            return name.format(module=Path(file).stem)
    return "stdlib/other" if file else "process/thread"


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    """Collapsed stacks ``frame;frame;... count`` as (frames, samples)."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarize(stacks: list[tuple[list[str], int]], top: int) -> str:
    """Markdown: samples by layer of the innermost frame, top lines, inclusive dbview functions."""
    total = sum(n for _, n in stacks) or 1
    layers: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        func, file, line = parse_frame(frames[-1])
        layers[layer(file)] += n
        lines[f"{Path(file).name}:{line} ({func})"] += n
        seen = set()
        for frame in frames:
            f_func, f_file, _ = parse_frame(frame)
            if ("core_server/" in f_file or "floor_app" in f_file) and f_func not in seen:
                seen.add(f_func)
                inclusive[f"{Path(f_file).stem}.{f_func}"] += n
    out = [f"{total} samples", "", "| layer (innermost frame) | share |", "|---|--:|"]
    out += [f"| {k} | {v / total:.0%} |" for k, v in layers.most_common() if v / total >= 0.01]
    out += ["", f"Top {top} lines (own):", ""]
    out += [f"- {v / total:.1%} {k}" for k, v in lines.most_common(top)]
    out += ["", "Inclusive share of server functions:", ""]
    out += [f"- {v / total:.1%} {k}" for k, v in inclusive.most_common(top)]
    return "\n".join(out)


def _download_loop(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        load.download(url)


def _create_loop(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        load.creates(url, 200)


_LOOPS = {"csv": _download_loop, "create": _create_loop}


def sample(server: servers.Server, scenario: str, seconds: float, conc: int, out: Path) -> Path:
    """Load ``scenario`` for ``seconds`` while py-spy records the server's processes."""
    raw = out / f"{server.name}-{scenario}-c{conc}.txt"
    argv = [str(PYSPY), "record", "--pid", str(server.proc.pid), "--subprocesses", "--format",
            "raw", "--rate", "200", "--nonblocking", "--gil", "--duration", f"{seconds:g}",
            "-o", str(raw)]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # let py-spy attach before the load starts
        if scenario in ("csv", "create"):  # repeated downloads; sequential creates
            worker = threading.Thread(target=_LOOPS[scenario], args=(server.url(scenario),
                                                                    seconds - 1))
            worker.start()
            worker.join()
        else:
            load.run_wrk(server.url(scenario), conc, seconds - 1)
        spy.wait(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=("core", "floor", "core_pg", "floor_pg"),
                        default="core")
    parser.add_argument("--core-dir", type=Path, default=BENCH_DIR.parent)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--conc", type=int, default=8)
    parser.add_argument("--scenarios", default="page,filtered,single,csv")
    parser.add_argument("--port-base", type=int, default=18550)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "profiles")
    args = parser.parse_args()
    load.check_wrk()
    if not PYSPY.exists():
        raise SystemExit(f"{PYSPY} missing: python3.11 -m venv {PYSPY.parent.parent} && "
                         f"{PYSPY.parent}/pip install py-spy")
    db = gen_db.generate(BENCH_DIR / "data/db.sqlite")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as log_dir:
        server = servers.start(args.target, args.port_base, db, args.core_dir.resolve(),
                               Path(log_dir))
        try:
            load.download(server.url("csv"))  # assign all ids before sampling
            for scenario in args.scenarios.split(","):
                raw = sample(server, scenario, args.duration, args.conc, args.out)
                print(f"\n## {args.target} {scenario} (c={args.conc}; raw stacks: {raw})\n")
                print(summarize(read_stacks(raw), args.top), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
