"""``core-server new-plugin`` and ``add-extension``: generated plugins load and their tests pass."""

from __future__ import annotations

import fractions
import json
import os
import subprocess
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from core_server import cli
from core_server.app import create_app
from core_server.registry import ALIASES
from core_server.registry import EXTENSION_TYPES
from core_server.scaffold import add_extension
from core_server.scaffold import new_plugin
from core_server.security import ANONYMOUS

BIN = Path(sys.executable).parent
LAYOUT = ["README.md", ".gitignore", "deploy/docker-compose.partial.yml", "docs/conf.py",
          "docs/index.rst", "{n}/__init__.py", "{n}/config.json", "{n}/hello.py",
          "tests/conftest.py", "tests/test_plugin.py", "docker-packages.txt", "package.json",
          "requirements.txt", "pyproject.toml"]
#: One extension per type (the TDP alias for the connectors, as the tutorial uses them).
EXTENSIONS = [("tdp-sql-database-definition", "scdb", []),
              ("tdp-sql-database-extension", "scdb_extra", ["--base", "scdb"]),
              ("namespace", "scns", []), ("endpoint", "scep", []),
              ("doc-collection", "scnotes", []),
              ("security-provider", "scusers", []), ("mapping-provider", "scmap", []),
              ("json-encoder", "scjson", []), ("command", "sccmd", []),
              ("tdp_proxy", "scsite", []), ("tdp-config-safe-keys", "sckey", []),
              ("tdp-sql-database-migration", "scmigration", ["--base", "scdb"])]


def run(*args: str, cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command of this venv in a subprocess, without the caller's plugin dirs."""
    environ = {k: v for k, v in os.environ.items() if k != "CORE_SERVER_PLUGINS_DIR"}
    environ["PATH"] = f"{BIN}{os.pathsep}{environ.get('PATH', '')}"
    environ.update(env or {})
    return subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)


@pytest.fixture
def plugins_root(tmp_path: Path) -> Iterator[Path]:
    """A plugins folder; every module imported from it is forgotten afterwards."""
    root = tmp_path / "plugins"
    root.mkdir()
    yield root
    for name in [m for m in sys.modules if m.split(".")[0].startswith("sc")]:
        module = sys.modules[name]
        if str(root) in str(getattr(module, "__file__", "") or ""):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(str(root))]


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli.main, list(args))


def test_new_plugin_writes_the_backend_library_layout(plugins_root: Path) -> None:
    result = invoke("new-plugin", "scplug", "--dir", str(plugins_root),
                    "--description", 'My "first" plugin', "--author", "Ada Lovelace")
    assert result.exit_code == 0, result.output
    project = plugins_root / "scplug"
    for relative in LAYOUT:
        assert (project / relative.format(n="scplug")).is_file(), relative
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["core_server.plugins"] == {"scplug": "scplug"}
    assert pyproject["project"]["description"] == 'My "first" plugin'
    assert pyproject["project"]["authors"] == [{"name": "Ada Lovelace"}]
    assert set(pyproject["tool"]["setuptools"]["package-data"]["scplug"]) >= {"*.json", "*.yaml"}
    package = json.loads((project / "package.json").read_text())
    assert (package["name"], package["author"]) == ("scplug", "Ada Lovelace")
    assert json.loads((project / "scplug/config.json").read_text()) == {"greeting": "Hello"}
    compile((project / "scplug/__init__.py").read_text(), "__init__.py", "exec")
    assert "pip install -e" in result.output


def test_new_plugin_prompts_when_interactive(plugins_root: Path, monkeypatch) -> None:
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = CliRunner().invoke(cli.main, ["new-plugin", "scasked", "--dir", str(plugins_root)],
                                input="Asked description\nGrace\n")
    assert result.exit_code == 0, result.output
    assert "Description" in result.output and "Author" in result.output
    package = json.loads((plugins_root / "scasked/package.json").read_text())
    assert (package["description"], package["author"]) == ("Asked description", "Grace")


def test_new_plugin_takes_defaults_when_not_interactive(plugins_root: Path) -> None:
    result = invoke("new-plugin", "scquiet", "--dir", str(plugins_root))
    assert result.exit_code == 0, result.output
    assert "Description" not in result.output
    package = json.loads((plugins_root / "scquiet/package.json").read_text())
    assert package["description"] == "A core_server plugin"


@pytest.mark.parametrize("name, reason", [
    ("My-Plugin", "not a valid plugin name"), ("1plugin", "not a valid plugin name"),
    ("with space", "not a valid plugin name"), ("class", "keyword"), ("match", "keyword"),
    ("json", "standard-library"), ("core_server", "reserved"), ("tdp_core", "reserved"),
    ("db", "reserved"),
])
def test_new_plugin_rejects_bad_names(plugins_root: Path, name: str, reason: str) -> None:
    result = invoke("new-plugin", name, "--dir", str(plugins_root))
    assert result.exit_code == 2
    assert reason in result.output and name in result.output
    assert list(plugins_root.iterdir()) == []


def test_new_plugin_suggests_a_valid_name(plugins_root: Path) -> None:
    result = invoke("new-plugin", "My-Plugin", "--dir", str(plugins_root))
    assert "try 'my_plugin'" in result.output


def test_new_plugin_refuses_an_existing_folder(plugins_root: Path) -> None:
    (plugins_root / "scexists").mkdir()
    (plugins_root / "scexists" / "keep.txt").write_text("mine")
    result = invoke("new-plugin", "scexists", "--dir", str(plugins_root))
    assert result.exit_code == 2 and "exists already" in result.output
    assert [p.name for p in (plugins_root / "scexists").iterdir()] == ["keep.txt"]


def test_scaffolded_plugin_is_listed_and_its_own_tests_pass(plugins_root: Path) -> None:
    project = new_plugin("scfirst", plugins_root, description="first").root
    listed = run(str(BIN / "core-server"), "plugins", "--json", "--plugins-dir", str(plugins_root),
                 "--data-dir", str(plugins_root.parent / "data"), cwd=plugins_root.parent)
    assert listed.returncode == 0, listed.stderr
    plugin = {p["name"]: p for p in json.loads(listed.stdout)}["scfirst"]
    assert plugin["status"] == "loaded" and plugin["version"] == "0.1.0"
    assert {(e["type"], e["id"]) for e in plugin["extensions"]} == {("namespace", "scfirst_hello")}
    # the plugin's own suite, as its author runs it: `pytest` in the project folder, uninstalled
    tests = run(str(BIN / "python"), "-m", "pytest", "-q", cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout


def test_pip_install_editable_into_a_throwaway_venv(tmp_path: Path) -> None:
    """The real install path: an editable install is found through its entry point."""
    project = new_plugin("scinstalled", tmp_path / "src", description="installed").root
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # see this venv's packages (pip, core_server and its dependencies) from the throwaway one
    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and str(BIN.parent) in p)
    (next(venv.glob("lib/python*/site-packages")) / "parent.pth").write_text(
        f"import site; site.addsitedir({str(site)!r})\n")
    python = str(venv / "bin" / "python")
    install = run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                  "-e", str(project), cwd=tmp_path)
    assert install.returncode == 0, install.stderr
    listed = run(python, "-c", "from core_server.cli import main; main()", "plugins", "--json",
                 "--plugins-dir", str(tmp_path / "none"), "--data-dir", str(tmp_path / "d"),
                 cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    plugin = {p["name"]: p for p in json.loads(listed.stdout)}["scinstalled"]
    assert plugin["source"] == "entry-point:core_server.plugins" and plugin["status"] == "loaded"
    tests = run(python, "-m", "pytest", "-q", cwd=project,
                env={"CORE_SERVER_PLUGINS_DIR": str(tmp_path / "none")})
    assert tests.returncode == 0, tests.stdout + tests.stderr
    uninstall = run(python, "-m", "pip", "uninstall", "-q", "-y", "scinstalled", cwd=tmp_path)
    assert uninstall.returncode == 0, uninstall.stderr


def _add_every_type(project: Path) -> None:
    for type, id, extra in EXTENSIONS:
        result = invoke("add-extension", type, id, "--plugin", str(project), *extra)
        assert result.exit_code == 0, result.output
        assert "registered" in result.output


def test_add_extension_for_every_type_loads(plugins_root: Path, tmp_path: Path) -> None:
    assert {ALIASES.get(t, t) for t, _, _ in EXTENSIONS} == set(EXTENSION_TYPES)
    project = new_plugin("scall", plugins_root).root
    _add_every_type(project)
    check = run(str(BIN / "core-server"), "check", "--plugins-dir", str(plugins_root),
                "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
                env={"CORE_SERVER__core_server__entry_points": "false"})
    if _has("core_server.dbview"):
        assert check.returncode == 0, check.stdout + check.stderr
    else:  # the two connector modules import core_server.dbview, which is not on this branch
        failures = [line for line in check.stdout.splitlines() if line.startswith("    ")]
        assert all("core_server.dbview" in line for line in failures), check.stdout
        assert len(failures) == 2, check.stdout
    app = create_app({}, plugins_dirs=[plugins_root], data_dir=tmp_path / "d", entry_points=False)
    plugin = app.extensions["core_server"].registry.plugins["scall"]
    registered = {(e.type, e.id) for e in plugin.extensions}
    assert registered == {(ALIASES.get(t, t), i) for t, i, _ in EXTENSIONS} | {
        ("namespace", "scall_hello")}


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture
def scaffolded_app(plugins_root: Path, tmp_path: Path):
    """An app over a plugin with one extension of every type."""
    project = new_plugin("scapp", plugins_root).root
    _add_every_type(project)
    return create_app({}, plugins_dirs=[plugins_root], data_dir=tmp_path / "d", entry_points=False)


def test_generated_extensions_work(scaffolded_app) -> None:
    registry = scaffolded_app.extensions["core_server"].registry
    client = scaffolded_app.test_client()
    assert client.get("/api/scns/?a=1").get_json() == {"namespace": "scns", "args": {"a": "1"}}
    assert client.get("/api/scns/items/7").get_json() == {"id": 7}
    assert client.get("/api/scapp/").get_json() == {"message": "Hello World!"}
    command = registry.get("command", "sccmd").create()
    assert isinstance(command, click.Command)
    assert CliRunner().invoke(command, ["--name", "Ada"]).output == "Hello Ada!\n"
    encode = registry.get("json-encoder", "scjson").create()
    assert encode(fractions.Fraction(1, 4)) == 0.25
    with pytest.raises(TypeError):
        encode(object())
    [(source, target, mapper)] = registry.get("mapping-provider", "scmap").create()
    assert (source, target) == ("ScmapIDType", "ScmapIDTypeUpper")
    assert mapper(["ab", 3]) == [["AB"], ["3"]]
    schema = registry.get("doc-collection", "scnotes").create()
    assert schema["name"] == "scnotes" and schema["fields"]["title"]["required"] is True


def test_generated_security_provider_checks_passwords(scaffolded_app) -> None:
    from werkzeug.security import generate_password_hash

    factory = scaffolded_app.extensions["core_server"].registry.get("security-provider", "scusers")
    store = factory.create({"users": {"ada": {"password_hash": generate_password_hash("pw"),
                                              "roles": ["editor"]}}})
    assert store.login("ada", "pw").roles == frozenset({"editor"})
    assert store.login("ada", "wrong") is None and store.login("bob", "pw") is None
    assert store.load("ada").name == "ada"
    with scaffolded_app.app_context():
        assert factory.create().load("ada") is None  # no users configured


def test_generated_security_provider_logs_in(plugins_root: Path, tmp_path: Path) -> None:
    from werkzeug.security import generate_password_hash

    project = new_plugin("sclogin", plugins_root).root
    assert invoke("add-extension", "security-provider", "scstore", "--plugin",
                  str(project)).exit_code == 0
    users = {"ada": {"password_hash": generate_password_hash("pw"), "roles": ["editor"]}}
    app = create_app({"sclogin": {"users": users}, "core_server": {"secret_key": "k" * 32}},
                     plugins_dirs=[plugins_root], data_dir=tmp_path / "d", entry_points=False)
    if not any(r.rule == "/api/login" for r in app.url_map.iter_rules()):
        pytest.skip("login (/api/login) is not on this branch yet")
    client = app.test_client()
    wrong = client.post("/api/login", json={"username": "ada", "password": "nope"})
    assert wrong.status_code == 401
    response = client.post("/api/login", json={"username": "ada", "password": "pw"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["name"] == "ada"


def test_generated_endpoint_handler(scaffolded_app) -> None:
    ext = scaffolded_app.extensions["core_server"].registry.get("endpoint", "scep")
    assert ext.desc == {"route": "scep/{name}", "methods": ["GET"]}
    handle = ext.create()
    with scaffolded_app.test_request_context("/x?q=1") as ctx:
        # what the endpoints subsystem passes: the request with the route's path parameters
        request = types.SimpleNamespace(args=ctx.request.args, path_params={"name": "Ada"})
        answer = handle(request, ANONYMOUS, scaffolded_app)
    assert answer == {"message": "Hello Ada!", "user": "anonymous", "args": {"q": "1"}}


def test_generated_endpoint_is_served(scaffolded_app) -> None:
    if not any(r.rule.startswith("/api/proxy") for r in scaffolded_app.url_map.iter_rules()):
        pytest.skip("custom endpoints (/api/proxy) are not on this branch yet")
    response = scaffolded_app.test_client().get("/api/proxy/scep/Ada")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["message"] == "Hello Ada!"


def test_generated_collection_is_served(scaffolded_app) -> None:
    pytest.importorskip("core_server.docstore")
    response = scaffolded_app.test_client().get("/api/store/scnotes")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["items"] == []


def _uncomment_example(module: Path) -> None:
    """Turn the commented DBViewBuilder example of a generated connector into code."""
    lines = module.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# views['mytable']"))
    out = lines[:start]
    for line in lines[start:]:
        if line.startswith("# # "):
            out.append("# " + line[4:])
        elif line.startswith("# ") or line == "#":
            out.append(line[2:])
        else:
            out.append(line)
    module.write_text("\n".join(out) + "\n")


@pytest.mark.db
def test_generated_db_connector_serves_its_views(plugins_root: Path, tmp_path: Path,
                                                 db_url: str) -> None:
    pytest.importorskip("core_server.dbview")
    project = new_plugin("scsql", plugins_root).root
    added = invoke("add-extension", "db-connector", "scsqldb", "--plugin", str(project))
    assert added.exit_code == 0, added.output
    _uncomment_example(project / "scsql" / "scsqldb.py")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE mytable (my_id INTEGER PRIMARY KEY, name VARCHAR(20), "
                             "cat VARCHAR(20), value INTEGER)"))
        conn.execute(sa.text("INSERT INTO mytable VALUES (:i, :n, :c, :v)"),
                     [{"i": 1, "n": "a", "c": "x", "v": 3}, {"i": 2, "n": "b", "c": "y", "v": 4}])
    engine.dispose()
    app = create_app({"scsql": {"dburl": db_url}}, plugins_dirs=[plugins_root],
                     data_dir=tmp_path / "d", entry_points=False)
    client = app.test_client()
    assert "scsqldb" in [c["name"] for c in client.get("/api/db/").get_json()]
    rows = client.get("/api/db/scsqldb/mytable?filter_cat=y").get_json()
    assert [(r["id"], r["name"], r["value"]) for r in rows] == [(2, "b", 4)]
    items = client.get("/api/db/scsqldb/mytable_items/lookup?query=a&column=name").get_json()
    assert [i["text"] for i in items["items"]] == ["a"]


def test_add_extension_is_idempotent(plugins_root: Path) -> None:
    project = new_plugin("scidem", plugins_root).root
    init = project / "scidem" / "__init__.py"
    first = invoke("add-extension", "namespace", "scidem_ns", "--plugin", str(project))
    assert first.exit_code == 0 and "registered" in first.output
    registered = init.read_text()
    module = project / "scidem" / "scidem_ns.py"
    module.write_text(module.read_text() + "# my change\n")
    again = invoke("add-extension", "namespace", "scidem_ns", "--plugin", str(project))
    assert again.exit_code == 0 and "already registered" in again.output
    assert "--force" in again.output
    assert init.read_text() == registered
    assert registered.count("'scidem_ns'") == 1
    assert module.read_text().endswith("# my change\n")
    forced = invoke("add-extension", "namespace", "scidem_ns", "--plugin", str(project), "--force")
    assert forced.exit_code == 0 and "# my change" not in module.read_text()
    assert init.read_text() == registered


def test_add_extension_recognises_a_tdp_alias_registration(plugins_root: Path) -> None:
    project = new_plugin("scalias", plugins_root).root
    init = project / "scalias" / "__init__.py"
    init.write_text(init.read_text() + "    registry.append('tdp-sql-database-definition', "
                    "'old', 'scalias.old', {'configKey': 'scalias'})\n")
    result = invoke("add-extension", "db-connector", "old", "--plugin", str(project))
    assert "already registered" in result.output
    assert init.read_text().count("'old'") == 1


def test_db_connector_adds_a_dburl_once(plugins_root: Path) -> None:
    project = new_plugin("scurl", plugins_root).root
    config = project / "scurl" / "config.json"
    result = invoke("add-extension", "db-connector", "scurldb", "--plugin", str(project))
    assert "CORE_SERVER__scurl__dburl" in result.output
    assert json.loads(config.read_text())["dburl"] == \
        "sqlite:///${core_server.absoluteDataDir}/scurldb.sqlite"
    config.write_text(json.dumps({"greeting": "Hi", "dburl": "postgresql://mine"}))
    invoke("add-extension", "db-connector", "scurldb", "--plugin", str(project))
    assert json.loads(config.read_text())["dburl"] == "postgresql://mine"
    nested = invoke("add-extension", "db-connector", "scother", "--plugin", str(project),
                    "--config-key", "scurl.other")
    assert nested.exit_code == 0
    assert json.loads(config.read_text())["other"] == {
        "dburl": "sqlite:///${core_server.absoluteDataDir}/scother.sqlite"}
    assert "{'configKey': 'scurl.other'}" in (project / "scurl/__init__.py").read_text()
    foreign = invoke("add-extension", "db-connector", "scfar", "--plugin", str(project),
                     "--config-key", "elsewhere")
    assert "set elsewhere.dburl in the workspace config" in foreign.output


def test_registration_goes_before_the_tdp_generator_marker(tmp_path: Path) -> None:
    package = tmp_path / "tdpplug"
    package.mkdir()
    (package / "__init__.py").write_text(
        "def phovea(r):\n    # generator-phovea:begin\n"
        "    r.append('namespace', 'a', 'tdpplug.a', {'namespace': '/api/a'})\n"
        "    # generator-phovea:end\n    pass\n")
    add_extension("command", "tdpcmd", package)
    lines = (package / "__init__.py").read_text().splitlines()
    assert lines[3] == "    r.append('command', 'tdpcmd', 'tdpplug.tdpcmd')"
    assert lines[4] == "    # generator-phovea:end"


@pytest.mark.parametrize("args, message", [
    (["nosuchtype", "x"], "unknown extension type 'nosuchtype'"),
    (["db-connector-extension", "x"], "pass --base"),
    (["namespace", "9x"], "invalid extension id"),
    (["namespace", "ok", "--module", "class"], "invalid module name"),
])
def test_add_extension_errors(plugins_root: Path, args: list[str], message: str) -> None:
    project = new_plugin("scerr", plugins_root).root
    before = sorted(p.name for p in (project / "scerr").iterdir())
    result = invoke("add-extension", *args, "--plugin", str(project))
    assert result.exit_code == 2 and message in result.output
    assert sorted(p.name for p in (project / "scerr").iterdir()) == before


def test_add_extension_outside_a_plugin(tmp_path: Path) -> None:
    result = invoke("add-extension", "namespace", "x", "--plugin", str(tmp_path))
    assert result.exit_code == 2 and "no plugin package" in result.output
