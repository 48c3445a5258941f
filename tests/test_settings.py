"""Typed settings: every value parsed strictly by its SETTINGS type, typos reported."""

import json
from pathlib import Path

import pytest

from core_server.app import create_app
from core_server.cli import main
from core_server.config import ConfigError
from core_server.settings import SETTINGS
from core_server.settings import Bool
from core_server.settings import ByteSize
from core_server.settings import Duration
from core_server.settings import Int
from core_server.settings import parse_duration_ms


WORKSPACE_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def build(tmp_path: Path, env: dict[str, str] | None = None, file: dict | None = None,
          top: dict | None = None, plugins_dirs: list[Path] | None = None):
    config_file = None
    if file is not None:
        config_file = tmp_path / "workspace.json"
        config_file.write_text(json.dumps(file))
    app = create_app(top, plugins_dirs=plugins_dirs or [], data_dir=tmp_path / "d", config_file=config_file,
                     environ=env or {}, entry_points=False)
    return app


@pytest.mark.parametrize("raw, expected", [
    ("False", False), ("no", False), ("off", False), ("0", False), ("false", False),
    ("True", True), ("yes", True), ("ON", True), ("1", True), ("true", True)])
def test_boolean_forms_from_the_environment(tmp_path: Path, raw: str, expected: bool) -> None:
    app = build(tmp_path, env={"CORE_SERVER__core_server__security__anonymous_write": raw},
                plugins_dirs=[WORKSPACE_PLUGINS])
    config = app.extensions["core_server"].config
    assert config.get_bool("core_server.security.anonymous_write") is expected
    # what the setting means: anonymous writes are refused exactly when it is off
    response = app.test_client().post("/api/store/analysts", json={"login": "a", "name": "A"})
    assert response.status_code == (201 if expected else 401), response.get_json()


@pytest.mark.parametrize("raw", ["maybe", "2", "", "nein"])
def test_an_unparseable_boolean_is_a_start_error_naming_key_value_and_forms(
        tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, env={"CORE_SERVER__core_server__security__anonymous_write": raw})
    message = str(caught.value)
    assert "core_server.security.anonymous_write" in message
    shown = raw if raw.isdigit() else repr(raw)  # env values are JSON-parsed: "2" is a number
    assert f": {shown} is not accepted; accepted: " in message and "yes/no" in message


def test_yaml_maybe_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("core_server:\n  security:\n    anonymous_write: maybe\n")
    with pytest.raises(ConfigError, match="anonymous_write.*'maybe'"):
        create_app(config_file=file, plugins_dirs=[], data_dir=tmp_path / "d", environ={},
                   entry_points=False)


@pytest.mark.parametrize("key, raw", [
    ("store.max_limit", "lots"), ("store.max_limit", "0"), ("store.max_limit", "²"),
    ("dbview.max_limit", "-5"), ("core_server.statement_timeout", "soon"),
    ("core_server.max_content_length", "big"), ("core_server.proxy_fix", '{"x_for": -1}'),
    ("core_server.proxy_fix", '{"x_forr": 1}'), ("core_server.security.users", '"admin"')])
def test_bad_values_of_other_types(tmp_path: Path, key: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=f"setting {key}: .*accepted: "):
        build(tmp_path, env={"CORE_SERVER__" + key.replace(".", "__"): raw})


def test_typed_reads(tmp_path: Path) -> None:
    config = build(tmp_path, env={
        "CORE_SERVER__core_server__statement_timeout": "'5min'",
        "CORE_SERVER__core_server__max_content_length": "1MB",
        "CORE_SERVER__core_server__security__token_max_age": "2d",
        "CORE_SERVER__dbview__max_limit": "250"}).extensions["core_server"].config
    assert config.get_int("core_server.statement_timeout") == 300_000
    assert config.get_int("core_server.max_content_length") == 1024 * 1024
    assert config.get_int("core_server.security.token_max_age") == 2 * 86400
    assert config.get_optional_int("dbview.max_limit") == 250
    assert config.get_optional_int("store.max_limit") == 1000  # the default, declared once
    with pytest.raises(KeyError, match="not a declared setting"):
        config.setting("dbview.no_such_setting")


def test_every_default_parses_with_its_own_type() -> None:
    for setting in SETTINGS:
        if setting.key != "core_server.absoluteDataDir":
            assert setting.value_type.parse(setting.default) == setting.default, setting.key


@pytest.mark.parametrize("raw, ms", [
    (500, 500), ("500", 500), ("30s", 30_000), ("'5min'", 300_000), ('"2 h"', 7_200_000),
    ("250ms", 250), ("1.5s", 1500), ("1d", 86_400_000), (" 10 seconds ", 10_000)])
def test_durations_as_tdp_writes_them(raw: object, ms: int) -> None:
    assert parse_duration_ms(raw) == ms


@pytest.mark.parametrize("raw", ["5 parsecs", "-1s", "s", True, [], "1e3s", "NaN"])
def test_bad_durations(raw: object) -> None:
    with pytest.raises(ValueError, match="accepted"):
        parse_duration_ms(raw)


def test_types_refuse_look_alikes() -> None:
    assert Int().parse("  42 ") == 42 and Int().parse(7.0) == 7
    for bad in (True, "4.5", 4.5, "²", "٣", float("inf"), None):
        with pytest.raises(ValueError):
            Int().parse(bad)
    with pytest.raises(ValueError):
        Bool().parse(2)
    assert ByteSize().parse("512 KiB") == 512 * 1024
    assert Duration(unit="s").parse("2min") == 120
    assert Int(optional=True).parse(None) is None


def test_unknown_keys_in_core_sections_are_warnings_with_a_suggestion(tmp_path: Path) -> None:
    config = build(tmp_path, file={
        "core_server": {"securty": {"anonymous_read": False}},
        "dbview": {"max_limt": 10},
        "dbveiw": {"x": 1},
        "myplugin": {"anything": "goes"}}).extensions["core_server"].config
    text = "\n".join(config.warnings)
    assert "unknown setting 'core_server.securty' (did you mean 'core_server.security'?" in text
    assert "unknown setting 'dbview.max_limt' (did you mean 'dbview.max_limit'?" in text
    assert "unknown config section 'dbveiw': did you mean 'dbview'" in text
    assert "myplugin" not in text
    # free-form settings (rules, users) keep their own keys
    assert len(config.warnings) == 3, config.warnings


def test_free_form_settings_are_not_typos(tmp_path: Path) -> None:
    config = build(tmp_path, top={"core_server": {"security": {
        "rules": {"db:mydb/*": {"read": "any"}},
        "users": [{"name": "a", "password": "pbkdf2:sha256:1$s$" + "0" * 64, "roles": []}]}}}
    ).extensions["core_server"].config
    assert config.warnings == []


def test_check_reports_typos_and_missing_plugin_folders(runner, tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("core_server:\n  securty:\n    anonymous_write: true\n")
    result = runner.invoke(main, ["check", "--config", str(file), "--data-dir", str(tmp_path),
                                  "--plugins-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1, result.output
    assert "core_server.securty" in result.output and "did you mean" in result.output
    assert f"plugin folder {tmp_path / 'nope'} (--plugins-dir) does not exist" in result.output


def test_check_reports_a_bad_value_as_a_start_error(runner, tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("core_server:\n  security:\n    anonymous_write: maybe\n")
    result = runner.invoke(main, ["check", "--config", str(file), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "anonymous_write" in result.output and "'maybe'" in result.output
