"""Real TDP plugins, installed as distributions into a throwaway venv, on ``core-server serve``.

The venv sees core_server's own environment (a ``.pth`` adds its site-packages) and gets, with
``pip install --no-deps --no-build-isolation``: the two fixture plugins of tests/plugins_tdp
(phovea and visyn era) and plugins published on PyPI, downloaded at test time (their code is
never committed): ``tdp_dummy`` (phovea era: a SQL connector and a commented-free config.json),
``tdp_publicdb`` (visyn era: settings, views, a proxy and migrations) and
``phovea_security_store_generated`` (visyn era: a user store with settings). A real server
process serves them over HTTP; the visyn plugins' own pytest suites run against core_server too.

The generated store signs up every new user name at its first login, so it would answer for the
fixture stores' users as well: it is installed into a separate folder that only the server
process gets on its path.
"""

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core_server.registry import EXTENSION_TYPES
from core_server.testing import quick_hash

FIXTURES = Path(__file__).parent / "plugins_tdp"
#: Published plugins of each generation.
PUBLISHED = ("tdp-dummy==9.0.1", "tdp-publicdb==13.1.1")
#: ... and the store (with pydng, which its API module imports), for the server process only.
STORE = ("phovea-security-store-generated==13.1.0", "pydng==1.1.2")


GROUPS = {"core_server": "core_server.plugins", "phovea": "phovea.registry",
          "visyn": "visyn.plugin"}


def _run(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300,
                            **kwargs)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the fixture plugins and the published ones installed as distributions."""
    root = tmp_path_factory.mktemp("tdp_venv")
    downloads = root / "downloads"
    _run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", downloads,
         *PUBLISHED, *STORE)
    store = [w for w in downloads.iterdir() if w.name.startswith(("phovea_security", "pydng"))]
    sources = []
    for fixture in ("tdp_phovea_demo", "tdp_visyn_demo"):  # build outside the work tree
        sources.append(shutil.copytree(FIXTURES / fixture, root / "src" / fixture))
    env = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", env)
    python = env / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib.stdout.strip(), "_core_server_env.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         *sources, *sorted(set(downloads.iterdir()) - set(store)))
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
         env / "store", *store)
    return env


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


@pytest.fixture(scope="module")
def workspace(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace config and the demo databases (tdp_dummy's ab.sqlite lies in its package)."""
    root = tmp_path_factory.mktemp("tdp_workspace")
    _dummy_tables(_site_packages(venv) / "tdp_dummy" / "ab.sqlite")
    demo = root / "demo.sqlite"
    with sqlite3.connect(demo) as conn:
        conn.executescript("""
            CREATE TABLE phovea_item (id TEXT PRIMARY KEY, name TEXT, kind TEXT, size INTEGER);
            INSERT INTO phovea_item VALUES ('i1', 'one', 'a', 1), ('i2', 'two', 'b', 2);
            CREATE TABLE visyn_item (id TEXT PRIMARY KEY, label TEXT, score REAL);
            INSERT INTO visyn_item VALUES ('v1', 'first', 0.5);
        """)
    config = {
        "core_server": {"secret_key": "test-secret", "plugins_dirs": [],
                        "security": {"users": [{"name": "root", "password": quick_hash("root-pw"),
                                                "roles": ["admin"]}]}},
        "tdp_phovea_demo": {"dburl": f"sqlite:///{demo}"},
        "tdp_visyn_demo": {"dburl": f"sqlite:///{demo}"},
        "phovea_security_store_generated": {"file": str(root / "users" / "fakeUsers.db")},
    }
    (root / "config.json").write_text(json.dumps(config))
    return root


def _dummy_tables(file: Path) -> None:
    with sqlite3.connect(file) as conn:
        for prefix in ("a", "b"):
            conn.execute(f"CREATE TABLE {prefix} (id INTEGER PRIMARY KEY, {prefix}_name TEXT, "
                         f"{prefix}_cat1 TEXT, {prefix}_cat2 TEXT, {prefix}_int INTEGER, "
                         f"{prefix}_real REAL)")
            conn.executemany(f"INSERT INTO {prefix} VALUES (?, ?, ?, ?, ?, ?)",
                             [(i, f"{prefix}{i}", "x" if i % 2 else "y", "z", i, i / 2)
                              for i in range(1, 6)])
        conn.execute("CREATE TABLE ab (a_id INTEGER, b_id INTEGER, ab_real REAL, ab_int INTEGER, "
                     "ab_cat TEXT)")
        conn.executemany("INSERT INTO ab VALUES (?, ?, ?, ?, ?)",
                         [(a, b, a * b / 10, a * b, "c") for a in range(1, 6) for b in range(1, 4)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(venv: Path, workspace: Path) -> Iterator[httpx.Client]:
    """``core-server serve`` from the venv, as a client of its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [venv / "bin" / "python", "-c", "from core_server.cli import main; main()", "serve",
         "--port", str(port), "--config", workspace / "config.json",
         "--data-dir", workspace / "data"],
        cwd=workspace, stdout=subprocess.DEVNULL, stderr=(workspace / "serve.log").open("w"),
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(venv / "store")})
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        _wait_until_up(client, process, workspace / "serve.log")
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not come up:\n{log.read_text()}")


def _admin(server: httpx.Client) -> dict[str, str]:
    answer = server.post("/api/login", json={"username": "root", "password": "root-pw"}).json()
    return {"X-CSRF-Token": answer["csrf_token"]}


def test_every_generation_loads_from_its_distribution(server: httpx.Client) -> None:
    _admin(server)
    plugins = {p["name"]: p for p in server.get("/api/_plugins").json()}
    expected = {"tdp_phovea_demo": "phovea", "tdp_dummy": "phovea", "tdp_visyn_demo": "visyn",
                "tdp_publicdb": "visyn", "phovea_security_store_generated": "visyn",
                "myserverplugin": "core_server"}
    for name, generation in expected.items():
        plugin = plugins[name]
        assert (plugin["generation"], plugin["status"]) == (generation, "loaded"), plugin
        assert plugin["source"] == "entry-point:" + GROUPS[generation]
    assert plugins["tdp_dummy"]["version"] == "9.0.1"
    for unserved in ("tdp_proxy", "tdp-sql-database-migration"):
        if unserved not in EXTENSION_TYPES:
            assert any(repr(unserved) in w for w in plugins["tdp_publicdb"]["warnings"])
    server.post("/api/logout", headers=_admin(server))


def test_published_phovea_plugin_serves_its_views(server: httpx.Client) -> None:
    names = [v["name"] for v in server.get("/api/db/dummy/").json()]
    assert {"a", "b", "a_score", "dummy_detail", "int_test"} <= set(names)
    rows = server.get("/api/db/dummy/a", params={"filter_a_cat1": "x"}).json()
    assert sorted(r["a_name"] for r in rows) == ["a1", "a3", "a5"]
    assert server.get("/api/db/dummy/int_test", params={"id": 2}).json()[0]["a_name"] == "a2"
    assert server.get("/api/db/dummy/int_test", params={"id": "two"}).status_code == 400


def test_published_visyn_plugin_settings_and_views(server: httpx.Client) -> None:
    views = [v["name"] for v in server.get("/api/db/publicdb/").json()]
    assert {"gene", "gene_items", "cellline", "tissue"} <= set(views)
    _admin(server)
    config = server.get("/api/_config").json()
    # setting_class defaults joined the layers; our workspace file overrides one of another plugin
    assert config["tdp_publicdb"]["statement_timeout"] == "'5min'"
    assert config["tdp_publicdb"]["engine"] == {"pool_pre_ping": True}
    assert config["phovea_security_store_generated"]["file"].endswith("fakeUsers.db")
    server.post("/api/logout", headers=_admin(server))


def test_published_user_store_authenticates_login(server: httpx.Client, workspace: Path) -> None:
    # phovea_security_store_generated registers unknown users on their first login
    first = server.post("/api/login", json={"username": "newbie", "password": "pw1"})
    assert first.status_code == 200 and first.json()["roles"] == ["newbie"]
    assert (workspace / "users" / "fakeUsers.db").is_file()  # our config, not its default
    assert server.get("/api/loggedinas").json()["name"] == "newbie"  # the session reloads it
    server.post("/api/logout", headers={"X-CSRF-Token": first.json()["csrf_token"]})
    wrong = server.post("/api/login", json={"username": "newbie", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    # its load_from_key through TDP's apiKey header
    who = server.get("/api/loggedinas", headers={"apiKey": "newbie:pw1"}).json()
    assert who["name"] == "newbie"


def test_fixture_plugins_views(server: httpx.Client) -> None:
    assert server.get("/api/db/phovea_demo/item_by_kind", params={"kind": "b"}).json()[0][
        "name"] == "two"
    assert server.get("/api/db/visyn_demo/visyn_item").json()[0]["label"] == "first"
    assert server.get("/api/visyn_demo/greeting").json()["type"] == "VisynDemoSettings"
    info = server.get("/api/buildInfo.json").json()
    assert {"tdp_dummy", "tdp_publicdb"} <= {p["name"] for p in info["plugins"]}


def _suite(venv: Path, workspace: Path, tests: Path, *args: str) -> str:
    """Run a plugin's own pytest suite with the venv's python; its output."""
    result = subprocess.run(
        [venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--rootdir", tests, tests, *args],
        cwd=workspace, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "CORE_SERVER_CONFIG": str(workspace / "config.json"),
             "CORE_SERVER__core_server__dataDir": str(workspace / "suite-data")})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_visyn_fixture_plugins_own_suite_passes(venv: Path, workspace: Path,
                                                server: httpx.Client) -> None:
    out = _suite(venv, workspace, _site_packages(venv) / "tdp_visyn_demo" / "tests")
    assert "5 passed" in out


def test_published_visyn_plugins_own_suite_passes(venv: Path, workspace: Path) -> None:
    # test_genehopper_proxy asks a host on the internet through tdp_proxy: not reachable here
    out = _suite(venv, workspace, _site_packages(venv) / "tdp_publicdb" / "tests",
                 "-k", "not genehopper")
    assert "1 passed, 1 deselected" in out
