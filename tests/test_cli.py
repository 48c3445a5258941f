"""The core-server CLI through click's CliRunner."""

import json
from pathlib import Path

from core_server.cli import main
from core_server.testing import temporary_plugin


def test_help(runner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "plugins", "config", "check"):
        assert command in result.output


def test_plugins_lists_the_tutorial_plugin(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["plugins", "--json", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = [p["name"] for p in json.loads(result.output)]
    assert "myserverplugin" in names
    text = runner.invoke(main, ["plugins", "--data-dir", str(tmp_path)])
    assert "hello_world" in text.output


def test_config_redacts_secrets(runner, tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"core_server": {"secret_key": {"$env": "SK"}}}))
    monkeypatch.setenv("SK", "very-secret-key")
    result = runner.invoke(main, ["config", "--json", "--config", str(config),
                                  "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["core_server"]["secret_key"] == "***"
    table = runner.invoke(main, ["config", "--config", str(config), "--data-dir", str(tmp_path)])
    assert "very-secret-key" not in table.output and "core_server.secret_key = ***" in table.output


def test_invalid_config_exits_2(runner, tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text("{oops")
    result = runner.invoke(main, ["plugins", "--config", str(config), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_check_fails_with_reasons(runner, tmp_path: Path) -> None:
    init = "def register(r):\n    r.append('namespace', 'clighost', '.gone', {'namespace': '/api/g'})\n"
    with temporary_plugin(tmp_path / "p", "cliplugin", init) as root:
        result = runner.invoke(main, ["check", "--plugins-dir", str(root),
                                      "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAILED cliplugin" in result.output and "cliplugin.gone" in result.output


def test_check_passes_for_the_workspace(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "ok myserverplugin" in result.output


def test_strict_exits_2(runner, tmp_path: Path) -> None:
    with temporary_plugin(tmp_path / "p", "strictcli", "raise ValueError('x')\n") as root:
        result = runner.invoke(main, ["plugins", "--strict", "--plugins-dir", str(root),
                                      "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "strictcli" in result.output
