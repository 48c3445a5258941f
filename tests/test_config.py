"""Layered configuration: precedence, interpolation, secrets."""

import json
from pathlib import Path

import pytest

from core_server.app import create_app
from core_server.config import ConfigError
from core_server.testing import temporary_plugin

PLUGIN = "def register(r):\n    pass\n"
# The user store only accepts password hashes (a cheap one: tests need no slow hashing).
ADMIN_HASH = "pbkdf2:sha256:1000$salt$" + "0" * 64


def make(tmp_path: Path, plugin_config: dict | None = None, file: dict | None = None,
         env: dict | None = None, top: dict | None = None):
    init_files = {"config.json": json.dumps(plugin_config)} if plugin_config is not None else {}
    config_file = None
    if file is not None:
        config_file = tmp_path / "workspace.json"
        config_file.write_text(json.dumps(file))
    with temporary_plugin(tmp_path / "p", "cfgplugin", PLUGIN, init_files) as root:
        app = create_app(top, plugins_dirs=[root], data_dir=tmp_path / "data",
                         config_file=config_file, environ=env or {}, entry_points=False)
    return app.extensions["core_server"].config


def test_layers_later_wins(tmp_path: Path) -> None:
    cfg = make(tmp_path,
               plugin_config={"a": "plugin", "b": "plugin", "c": "plugin", "d": "plugin"},
               file={"cfgplugin": {"b": "file", "c": "file", "d": "file"}},
               env={"CORE_SERVER__cfgplugin__c": "env", "CORE_SERVER__cfgplugin__d": "env"},
               top={"cfgplugin": {"d": "top"}})
    assert cfg.view("cfgplugin") == {"a": "plugin", "b": "file", "c": "env", "d": "top"}


def test_core_defaults_and_env_json_parsing(tmp_path: Path) -> None:
    cfg = make(tmp_path, env={"CORE_SERVER__STORE__MAX_LIMIT": "20",
                              "CORE_SERVER__dbview__strict_filters": "false"})
    assert cfg.get_path("store.max_limit") == 20  # case-insensitive match, JSON-parsed
    assert cfg.get_path("dbview.strict_filters") is False
    assert cfg.get_path("store.default_limit") == 50


def test_data_dir_interpolation_both_names(tmp_path: Path) -> None:
    cfg = make(tmp_path, plugin_config={
        "dburl": "sqlite:///${phovea_server.absoluteDataDir}/mydb.sqlite",
        "other": "sqlite:///${core_server.absoluteDataDir}/x.sqlite"})
    data = (tmp_path / "data").resolve()
    assert cfg.view("cfgplugin")["dburl"] == f"sqlite:///{data}/mydb.sqlite"
    assert cfg.view("cfgplugin")["other"] == f"sqlite:///{data}/x.sqlite"
    assert cfg.get_path("store.dburl") == f"sqlite:///{data}/store.sqlite"


def test_unknown_reference_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$\{nope.key\}"):
        make(tmp_path, file={"x": "${nope.key}"})


def test_reference_cycle_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cycle"):
        make(tmp_path, file={"a": "${b}", "b": "${a}"})


def test_env_secret_resolved_and_redacted(tmp_path: Path) -> None:
    cfg = make(tmp_path, file={"cfgplugin": {"password": {"$env": "MY_PW"}},
                               "core_server": {"security": {"users": [
                                   {"name": "admin", "password": {"$env": "ADMIN_PW"}}]}}},
               env={"MY_PW": "s3cret", "ADMIN_PW": ADMIN_HASH})
    assert cfg.view("cfgplugin")["password"] == "s3cret"
    redacted = cfg.redacted()
    assert redacted["cfgplugin"]["password"] == "***"
    assert redacted["core_server"]["security"]["users"][0]["password"] == "***"
    assert "s3cret" not in json.dumps(redacted) and ADMIN_HASH not in json.dumps(redacted)


def test_file_secret(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("from-file\n")
    cfg = make(tmp_path, file={"k": {"$file": str(tmp_path / "pw.txt")}})
    assert cfg["k"] == "from-file"
    assert cfg.redacted()["k"] == "***"


def test_missing_env_secret_names_key_and_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'cfgplugin.password'.*NOT_SET_VAR"):
        make(tmp_path, file={"cfgplugin": {"password": {"$env": "NOT_SET_VAR"}}})


def test_secret_never_in_api_config(tmp_path: Path) -> None:
    config_file = tmp_path / "c.yaml"
    config_file.write_text("db:\n  password:\n    $env: DB_PW\n")
    app = create_app(config_file=config_file, data_dir=tmp_path / "d", plugins_dirs=[],
                     environ={"DB_PW": "hunter2"}, entry_points=False)
    body = app.test_client().get("/api/_config").get_data(as_text=True)
    assert "hunter2" not in body and '"***"' in body


@pytest.mark.parametrize("name, text", [("bad.json", "{not json"), ("bad.yaml", "a: [1, 2\n")])
def test_invalid_config_file(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=name):
        create_app(config_file=tmp_path / name, data_dir=tmp_path / "d", plugins_dirs=[],
                   environ={}, entry_points=False)


def test_plugins_dir_from_environment(tmp_path: Path) -> None:
    with temporary_plugin(tmp_path / "envdir", "envdirplugin", PLUGIN):
        app = create_app(data_dir=tmp_path / "d", entry_points=False,
                         environ={"CORE_SERVER_PLUGINS_DIR": str(tmp_path / "envdir")})
        assert "envdirplugin" in app.extensions["core_server"].registry.plugins
