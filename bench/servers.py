"""Start, probe and stop the benchmark targets (floor, Datasette, core_server) on 127.0.0.1.

Every server runs in its own session (process group) so that :meth:`Server.stop` ends the gunicorn
master with all its workers; :class:`ServerSet` stops everything it started in ``finally``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
#: the floor runs with gunicorn's defaults (sync workers), two of them
FLOOR_ARGS = ("--workers", "2")
#: core runs as a user starts it in production: ``core-server serve --workers 2`` (whatever
#: worker class and threads core_server.wsgi.run_gunicorn chooses)
CORE_WORKERS = "2"
#: extra ``serve`` flags (run.py --core-args), e.g. ``--threads 1``
CORE_ARGS: tuple[str, ...] = ()
#: PostgreSQL database of the benchmark (bench/pg_load.py fills it; never the tests' one)
PG_URL = "postgresql://postgres@127.0.0.1:5432/bench16"

CORE_PATHS = {
    "page": "/api/db/mydb/mytable?_limit=1000",
    "filtered": "/api/db/mydb/mytable?filter_cat=MyCat%202&filter_gt_value=500&_limit=100",
    "single": "/api/db/mydb/mytable?filter_my_id=12345",
    "csv": "/api/db/mydb/mytable?_format=csv",
    "ndjson": "/api/db/mydb/mytable?_format=ndjson",
    "create": "/api/store/bench_plain",
}
#: variants of core for choosing the worker setup: serve with these extra flags
VARIANTS = {"_t1": ("--threads", "1"), "_t2": ("--threads", "2"), "_t8": ("--threads", "8"),
            "_ka0": ("--keepalive", "0")}
#: core and its variants, on SQLite and PostgreSQL
CORE_TARGETS = ("core", "core_pg", *(f"core{pg}{suffix}" for suffix in VARIANTS
                                      for pg in ("", "_pg")))
PATHS = {
    "floor": CORE_PATHS, "floor_pg": CORE_PATHS, **{name: CORE_PATHS for name in CORE_TARGETS},
    "datasette": {
        "page": "/db/mytable.json?_shape=array&_size=1000",
        "filtered": "/db/mytable.json?cat=MyCat+2&value__gt=500&_size=100&_shape=array",
        "single": "/db/mytable/12345.json?_shape=array",
        "csv": "/db/mytable.csv?_stream=on&_size=max",
    },
}
PORT_OFFSETS = {"floor": 10, "floor_pg": 11, "datasette": 20,
                **{name: 30 + i for i, name in enumerate(CORE_TARGETS)}}
#: the document collections of core's store in the benchmark (as bench/docstore_bench.py)
STORE_PLUGIN = {
    "__init__.py": '''
def register(registry):
    registry.append("doc-collection", "bench_plain", "docbench.schemas", {"factory": "plain"})
''',
    "schemas.py": '''
FIELDS = {"name": {"type": "string", "required": True}, "n": {"type": "int"},
          "group": {"type": "string"}, "value": {"type": "float"},
          "tags": {"type": "list", "items": "string"}}


def plain():
    return {"fields": FIELDS}
''',
}


class BenchError(RuntimeError):
    """A target could not be started or answered wrongly."""


@dataclass
class Server:
    """One running target: its process (group leader) and where it listens."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    cleanup: list[Path] = field(default_factory=list)

    def url(self, scenario: str) -> str:
        return f"http://{HOST}:{self.port}{PATHS[self.name][scenario]}"

    def pids(self) -> list[int]:
        """The leader and all its descendants (gunicorn master and workers)."""
        return [self.proc.pid] + _descendants(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it if still alive after 10 s."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(c) for c in task.read_text().split()]
            except OSError:
                continue
            found.extend(children)
            todo.extend(children)
    return found


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def wait_ready(server: Server, timeout: float = 90.0) -> None:
    """Poll the single-row URL until the server answers at all (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.name} exited ({server.proc.returncode}); see {server.log}")
        try:
            with urllib.request.urlopen(server.url("single"), timeout=30):
                return
        except urllib.error.HTTPError:
            return  # it answers; whether correctly is for the answer check to say
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise BenchError(f"{server.name} not ready after {timeout:.0f} s; see {server.log}")


def _spawn(name: str, port: int, argv: list[str], env: dict[str, str], cwd: Path,
           log_dir: Path) -> Server:
    if not port_free(port):
        raise BenchError(f"port {port} for {name} is in use")
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(name, port, proc, log)


def start_floor(port: int, db: Path, core_dir: Path, log_dir: Path, pg: bool) -> Server:
    """The floor app under gunicorn's defaults (from the core checkout's .venv)."""
    name = "floor_pg" if pg else "floor"
    tmp = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    argv = [str(core_dir / ".venv/bin/gunicorn"), *FLOOR_ARGS, "--bind", f"{HOST}:{port}",
            "--chdir", str(BENCH_DIR), "floor_app:create()"]
    env = {**os.environ, **({"FLOOR_PG": PG_URL} if pg else
                            {"FLOOR_DB": str(db), "FLOOR_STORE": str(tmp / "store.sqlite")})}
    server = _spawn(name, port, argv, env, BENCH_DIR, log_dir)
    server.cleanup.append(tmp)
    return server


def start_datasette(port: int, db: Path, log_dir: Path) -> Server:
    """``datasette serve -i db.sqlite`` from bench/.venv-datasette (database name: ``db``)."""
    exe = BENCH_DIR / ".venv-datasette/bin/datasette"
    if not exe.exists():
        raise BenchError(f"{exe} missing: python3.11 -m venv {exe.parent.parent} && "
                         f"{exe.parent}/pip install datasette==0.65.5")
    argv = [str(exe), "serve", "-i", db.name, "--host", HOST, "--port", str(port)]
    return _spawn("datasette", port, argv, dict(os.environ), db.parent, log_dir)


def start_core(port: int, db: Path, core_dir: Path, log_dir: Path, pg: bool,
               name: str = "") -> Server:
    """``core-server serve --workers 2`` over ``db`` (or PostgreSQL), a fresh data dir and a
    store with the benchmark's collection (anonymous writes allowed)."""
    name = name or ("core_pg" if pg else "core")
    variant = next((flags for suffix, flags in VARIANTS.items() if name.endswith(suffix)), ())
    tmp = Path(tempfile.mkdtemp(prefix="bench-core-"))
    plugin = tmp / "plugins" / "docbench"
    plugin.mkdir(parents=True)
    for filename, text in STORE_PLUGIN.items():
        (plugin / filename).write_text(text)
    sa_pg = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    argv = [str(core_dir / ".venv/bin/core-server"), "serve", "--workers", CORE_WORKERS,
            "--host", HOST, "--port", str(port), *CORE_ARGS, *variant]
    env = {**os.environ,
           "CORE_SERVER_PLUGINS_DIR": os.pathsep.join([str(core_dir / "plugins"),
                                                       str(tmp / "plugins")]),
           "CORE_SERVER__myserverplugin__dburl": sa_pg if pg else f"sqlite:///{db}",
           "CORE_SERVER__store__dburl": sa_pg if pg else f"sqlite:///{tmp / 'store.sqlite'}",
           "CORE_SERVER__core_server__security__anonymous_write": "true",
           "CORE_SERVER__core_server__dataDir": str(tmp / "data")}
    server = _spawn(name, port, argv, env, core_dir, log_dir)
    server.cleanup.append(tmp)
    return server


def start(name: str, port_base: int, db: Path, core_dir: Path, log_dir: Path) -> Server:
    """Start target ``name`` on ``port_base + PORT_OFFSETS[name]`` and wait until it answers."""
    port = port_base + PORT_OFFSETS[name]
    if name.startswith("floor"):
        server = start_floor(port, db, core_dir, log_dir, pg=name == "floor_pg")
    elif name == "datasette":
        server = start_datasette(port, db, log_dir)
    else:
        server = start_core(port, db, core_dir, log_dir, pg=name.startswith("core_pg"),
                            name=name)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def versions(core_dir: Path) -> dict[str, Any]:
    """Versions of the software under test (best effort)."""
    out: dict[str, Any] = {}
    for key, argv in {
        "gunicorn": [str(core_dir / ".venv/bin/gunicorn"), "--version"],
        "datasette": [str(BENCH_DIR / ".venv-datasette/bin/datasette"), "--version"],
        "wrk": ["wrk", "-v"],
    }.items():
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            out[key] = (res.stdout or res.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            out[key] = None
    return out
