"""``core-server compose``: merging partials, conflicts, and every compose file against the spec."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from core_server import compose
from core_server.cli import main
from core_server.scaffold import new_plugin

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose_schema() -> jsonschema.protocols.Validator:
    """The compose-spec JSON schema vendored by check-jsonschema."""
    text = resources.files("check_jsonschema").joinpath(
        "builtin_schemas", "vendor", "compose-spec.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    return jsonschema.validators.validator_for(schema)(schema)


def _errors(validator: jsonschema.protocols.Validator, document: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]


def compose_files() -> list[Path]:
    files = [REPO / "docker-compose.yml", *sorted(REPO.glob("deploy/*.yml")),
             *sorted(REPO.glob("plugins/*/deploy/*.yml"))]
    return [f for f in files if f.is_file()]


@pytest.mark.parametrize("path", compose_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_compose_file_matches_the_compose_spec(compose_schema, path: Path) -> None:
    assert _errors(compose_schema, yaml.safe_load(path.read_text())) == []


def test_a_scaffolded_partial_matches_the_compose_spec(compose_schema, tmp_path: Path) -> None:
    partial = new_plugin("cmpscaffold", tmp_path).root / "deploy" / "docker-compose.partial.yml"
    assert _errors(compose_schema, yaml.safe_load(partial.read_text())) == []
    # and its commented example is valid too once uncommented
    example = "\n".join(line[2:] for line in partial.read_text().splitlines()
                        if line.startswith("#   ") or line.startswith("# services:"))
    assert _errors(compose_schema, yaml.safe_load(example)) == []


def test_the_schema_check_catches_mistakes(compose_schema) -> None:
    assert _errors(compose_schema, {"services": {"api": {"image": 5}}})
    assert _errors(compose_schema, {"services": {"api": {"heathcheck": {}}}})


def test_repo_docker_compose_is_generated_from_the_partials(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["compose", "--check", "--plugins-dir", "plugins"])
    assert result.exit_code == 0, result.output
    merged = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert set(merged["services"]) >= {"api", "db"}
    assert set(merged["volumes"]) >= {"db_data", "api_data"}
    api = merged["services"]["api"]
    for key in ("CORE_SERVER__store__dburl", "CORE_SERVER__core_server__server_db",
                "CORE_SERVER__myserverplugin__dburl"):
        assert api["environment"][key].startswith("postgresql+psycopg://"), key
        assert "@db:5432/" in api["environment"][key]
    assert "/api/_health" in " ".join(api["healthcheck"]["test"])
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["build"]["dockerfile"] == "deploy/Dockerfile"
    # db (healthy) -> init (completed) -> api (healthy) -> nginx, the only published port
    services = merged["services"]
    assert set(services) >= {"api", "db", "init", "nginx"}
    assert services["init"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["nginx"]["command"][:2] == ["core-server", "nginx"]
    assert [name for name, s in services.items() if s.get("ports")] == ["nginx"]
    assert "demo-data" in " ".join(services["init"]["command"])
    assert services["init"]["environment"]["CORE_SERVER__myserverplugin__dburl"] \
        == api["environment"]["CORE_SERVER__myserverplugin__dburl"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "docker-compose.yml"
    stale.write_text("services: {}\n")
    result = CliRunner().invoke(main, ["compose", "--check", "--output", str(stale),
                                       "--plugins-dir", str(tmp_path / "none"),
                                       "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "out of date" in result.output and "+  api:" in result.output
    missing = CliRunner().invoke(main, ["compose", "--check", "--output", str(tmp_path / "no.yml"),
                                        "--plugins-dir", str(tmp_path / "none"),
                                        "--data-dir", str(tmp_path / "d")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def _plugin_with_partial(root: Path, name: str, partial: str) -> None:
    project = new_plugin(name, root).root
    (project / "deploy" / "docker-compose.partial.yml").write_text(partial)


def test_compose_merges_plugin_partials(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    _plugin_with_partial(root, "cmpa", """
services:
  api:
    environment: ["CORE_SERVER__cmpa__dburl=postgresql://db/a"]
    depends_on: {cache: {condition: service_started}}
  cache: {image: "redis:7"}
volumes: {cache_data: {}}
""")
    _plugin_with_partial(root, "cmpb", """
services:
  cache: {image: "redis:7"}
  worker: {image: "busybox:1.36", volumes: ["cache_data:/data"]}
networks: {back: {}}
""")
    output = tmp_path / "docker-compose.yml"
    result = CliRunner().invoke(main, ["compose", "--output", str(output), "--plugins-dir",
                                       str(root), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "from the partials of core_server, cmpa, cmpb" in result.output
    text = output.read_text()
    assert text.startswith("# Generated by `core-server compose`")
    assert "core_server, cmpa, cmpb" in text.splitlines()[1]
    merged = yaml.safe_load(text)
    assert list(merged) == ["services", "networks", "volumes"]
    api = merged["services"]["api"]
    assert api["environment"]["CORE_SERVER__cmpa__dburl"] == "postgresql://db/a"
    assert "CORE_SERVER__store__dburl" in api["environment"]  # the core's entries stay
    assert set(api["depends_on"]) == {"db", "init", "cache"}
    assert merged["services"]["cache"] == {"image": "redis:7"}  # identical in both: fine
    assert set(merged["volumes"]) == {"api_data", "db_data", "cache_data"}
    again = CliRunner().invoke(main, ["compose", "--check", "--output", str(output),
                                      "--plugins-dir", str(root), "--data-dir", str(tmp_path)])
    assert again.exit_code == 0, again.output


def test_conflicting_partials_name_both_sources(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    _plugin_with_partial(root, "cmpx", "services:\n  cache: {image: 'redis:7'}\n")
    _plugin_with_partial(root, "cmpy", "services:\n  cache: {image: 'redis:6'}\n")
    output = tmp_path / "docker-compose.yml"
    result = CliRunner().invoke(main, ["compose", "--output", str(output), "--plugins-dir",
                                       str(root), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "services.cache.image: cmpx sets 'redis:7' but cmpy sets 'redis:6'" in result.output
    assert not output.exists()


def test_a_plugin_cannot_overwrite_a_core_setting(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    _plugin_with_partial(root, "cmpz", "services:\n  api:\n    ports: ['9090:8080']\n"
                                       "    image: other:1\n")
    result = CliRunner().invoke(main, ["compose", "--output", str(tmp_path / "o.yml"),
                                       "--plugins-dir", str(root), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "services.api.image: core_server sets 'core_server:latest' but cmpz sets" \
        in result.output


def test_merge_rules() -> None:
    merged = compose.merge([
        ("a", {"services": {"s": {"environment": ["X=1", "FLAG"], "ports": ["1:1"]}}}),
        ("b", {"services": {"s": {"environment": {"Y": "2"}, "ports": ["1:1", "2:2"]}},
               "x-note": {"by": "b"}}),
    ])
    assert merged["services"]["s"] == {"environment": {"X": "1", "FLAG": None, "Y": "2"},
                                       "ports": ["1:1", "2:2"]}
    assert merged["x-note"] == {"by": "b"}
    with pytest.raises(compose.ComposeError, match=r"services.s.environment.X: a sets '1' but b"):
        compose.merge([("a", {"services": {"s": {"environment": ["X=1"]}}}),
                       ("b", {"services": {"s": {"environment": {"X": "2"}}}})])
    with pytest.raises(compose.ComposeError, match="services.s: a sets"):
        compose.merge([("a", {"services": {"s": {"image": "x"}}}), ("b", {"services": {"s": "y"}})])


def test_invalid_partials_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "p.yml"
    bad.write_text("services: [unclosed\n")
    with pytest.raises(compose.ComposeError, match="plug: cannot read"):
        compose.load(compose.Source("plug", bad))
    bad.write_text("version: '3'\nservice: {}\n")
    with pytest.raises(compose.ComposeError, match="unknown top-level keys service"):
        compose.load(compose.Source("plug", bad))
    bad.write_text("version: '3.8'\nservices: {}\n")
    assert compose.load(compose.Source("plug", bad)) == {"services": {}}
