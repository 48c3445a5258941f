"""Plugin discovery and the registry."""

from pathlib import Path

import pytest

from core_server.app import create_app
from core_server.registry import DB_CONNECTOR
from core_server.registry import NAMESPACE
from core_server.registry import RegistryError
from core_server.registry import discover
from core_server.testing import temporary_plugin

GOOD = """
def register(registry):
    registry.append('namespace', 'good_ns', '.views', {'namespace': '/api/good'})
    registry.append('tdp-sql-database-definition', 'gooddb', 'goodplugin.db', {'configKey': 'goodplugin'})
"""

VIEWS = """
from flask import Blueprint

def create():
    bp = Blueprint('good', __name__)

    @bp.get('/ping')
    def ping():
        return {'pong': True}

    return bp
"""


def test_folder_plugin_registers_with_relative_module_and_alias(tmp_path: Path) -> None:
    with temporary_plugin(tmp_path, "goodplugin", GOOD, {"views.py": VIEWS}) as root:
        registry = discover([root], entry_points=False)
        plugin = registry.plugins["goodplugin"]
        assert plugin.status == "loaded" and plugin.source == "plugins-dir"
        ns = registry.get(NAMESPACE, "good_ns")
        assert ns is not None and ns.module == "goodplugin.views"
        # the TDP name is an alias of ours, in both directions of lookup
        assert registry.get(DB_CONNECTOR, "gooddb") is registry.get("tdp-sql-database-definition", "gooddb")
        assert [e.id for e in registry.list("db-connector")] == ["gooddb"]


def test_lazy_load_and_factory(tmp_path: Path) -> None:
    with temporary_plugin(tmp_path, "lazyplugin", GOOD.replace("good_ns", "lazy_ns").replace(
            "gooddb", "lazydb").replace("goodplugin", "lazyplugin"), {"views.py": VIEWS}) as root:
        import sys

        registry = discover([root], entry_points=False)
        assert "lazyplugin.views" not in sys.modules  # nothing imported before use
        bp = registry.get(NAMESPACE, "lazy_ns").load().factory()
        assert bp.name == "good"


def test_legacy_phovea_register_function(tmp_path: Path) -> None:
    init = """
def phovea(registry):
    registry.append('namespace', 'legacy_ns', 'legacyplugin.views', {'namespace': '/api/legacy'})
"""
    with temporary_plugin(tmp_path, "legacyplugin", init, {"views.py": VIEWS}) as root:
        registry = discover([root], entry_points=False)
        assert registry.plugins["legacyplugin"].status == "loaded"
        assert registry.get(NAMESPACE, "legacy_ns") is not None


def test_project_folder_layout_is_discovered(tmp_path: Path) -> None:
    # plugins/<name>/<name>/__init__.py, as new-plugin and the TDP generator lay it out
    with temporary_plugin(tmp_path / "projplugin", "projplugin", GOOD.replace("good_ns", "proj_ns").replace(
            "gooddb", "projdb").replace("goodplugin", "projplugin"), {"views.py": VIEWS}):
        registry = discover([tmp_path], entry_points=False)
        assert registry.plugins["projplugin"].status == "loaded"


@pytest.mark.parametrize("init, message", [
    ("raise ImportError('boom')\n", "ImportError: boom"),
    ("def register(registry):\n    raise ValueError('bad register')\n", "ValueError: bad register"),
    ("x = 1\n", "neither register(registry), phovea(registry) nor a VisynPlugin class"),
])
def test_failures_are_recorded_not_raised(tmp_path: Path, init: str, message: str) -> None:
    with temporary_plugin(tmp_path, "brokenplugin", init) as root:
        registry = discover([root], entry_points=False)
        plugin = registry.plugins["brokenplugin"]
        assert plugin.status == "failed"
        assert message in plugin.errors[0]


def test_duplicate_id_fails_the_second_plugin_only(tmp_path: Path) -> None:
    first = "def register(r):\n    r.append('namespace', 'dup', '.v', {'namespace': '/api/a'})\n"
    second = ("def register(r):\n    r.append('namespace', 'other', '.v', {'namespace': '/api/o'})\n"
              "    r.append('namespace', 'dup', '.v', {'namespace': '/api/b'})\n")
    with temporary_plugin(tmp_path, "aplugin", first), temporary_plugin(tmp_path, "bplugin", second):
        registry = discover([tmp_path], entry_points=False)
        assert registry.plugins["aplugin"].status == "loaded"
        b = registry.plugins["bplugin"]
        assert b.status == "failed" and "aplugin registered already" in b.errors[0]
        # nothing of the failed plugin half-loads
        assert registry.get(NAMESPACE, "other") is None
        assert registry.get(NAMESPACE, "dup").plugin == "aplugin"


def test_missing_module_fails_at_create_and_server_still_starts(tmp_path: Path) -> None:
    init = "def register(r):\n    r.append('namespace', 'ghost', '.missing', {'namespace': '/api/ghost'})\n"
    with temporary_plugin(tmp_path, "ghostplugin", init) as root:
        app = create_app(plugins_dirs=[root], data_dir=tmp_path / "d", entry_points=False)
        plugins = {p["name"]: p for p in app.test_client().get("/api/_plugins").get_json()}
        assert plugins["ghostplugin"]["status"] == "failed"
        assert "ghostplugin.missing" in plugins["ghostplugin"]["errors"][0]
        assert app.test_client().get("/api/_health").status_code == 200


def test_strict_mode_refuses_to_start(tmp_path: Path) -> None:
    with temporary_plugin(tmp_path, "strictplugin", "raise RuntimeError('nope')\n") as root:
        with pytest.raises(RegistryError, match="strictplugin"):
            create_app(plugins_dirs=[root], data_dir=tmp_path / "d", strict=True, entry_points=False)


def test_registry_is_frozen_after_startup(tmp_path: Path) -> None:
    app = create_app(plugins_dirs=[], data_dir=tmp_path / "d", entry_points=False)
    registry = app.extensions["core_server"].registry
    from core_server.registry import Plugin

    with pytest.raises(RegistryError, match="after startup"):
        registry.add(Plugin("late", "", "test"), NAMESPACE, "late", ".x")


def test_entry_point_plugin_is_found_once_even_if_also_in_plugins_dir(registry) -> None:
    # myserverplugin is installed (entry point) *and* lies in ./plugins: one plugin, loaded once
    plugin = registry.plugins["myserverplugin"]
    assert plugin.source.startswith("entry-point")
    assert plugin.status == "loaded"
    assert sum(1 for e in registry.list(NAMESPACE) if e.id == "hello_world") == 1


def test_namespace_as_whole_flask_app_is_mounted(tmp_path: Path) -> None:
    init = "def register(r):\n    r.append('namespace', 'tdpstyle', '.ns', {'namespace': '/api/tdpstyle'})\n"
    ns = """
from flask import Flask

def create():
    app = Flask(__name__)

    @app.route('/hi')
    def hi():
        return {'hi': 1}

    return app
"""
    with temporary_plugin(tmp_path, "tdpstyleplugin", init, {"ns.py": ns}) as root:
        app = create_app(plugins_dirs=[root], data_dir=tmp_path / "d", entry_points=False)
        client = app.test_client()
        assert client.get("/api/tdpstyle/hi").get_json() == {"hi": 1}
        missing = client.get("/api/tdpstyle/nope")
        assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
