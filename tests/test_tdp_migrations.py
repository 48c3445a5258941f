"""tdp-sql-database-migration: a TDP plugin's alembic scripts, by core-server db and at start."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from click.testing import CliRunner

from core_server import tdp
from core_server.app import create_app
from core_server.cli import main
from core_server.scaffold import add_extension
from core_server.scaffold import new_plugin
from core_server.testing import login
from core_server.testing import temporary_plugin
from core_server.testing import users_config

INIT = """
from os import path


def phovea(registry):
    registry.append('tdp-sql-database-definition', 'migdb', 'migplugin.db',
                    {'configKey': 'migplugin'})
    registry.append('tdp-sql-database-migration', 'migplugin', '', {
        'scriptLocation': path.join(path.abspath(path.dirname(__file__)), 'migration'),
        'configKey': 'migplugin.migration', 'dbKey': 'migdb', 'autoUpgrade': False})
"""
DB = """
from tdp_core.dbview import DBConnector, DBViewBuilder


def create():
    return DBConnector({'notes': DBViewBuilder().query('SELECT * FROM notes ORDER BY id').build()})
"""
# the published shape of a TDP plugin's migration/env.py
ENV = """
import tdp_core.dbmigration.env  # NOQA

tdp_core.dbmigration.env.run_migrations_online()
"""
FIRST = '''
"""notes table"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("text", sa.String(100)))
    op.bulk_insert(sa.table("notes", sa.column("id"), sa.column("text")), [{"id": 1, "text": "a"}])


def downgrade():
    op.drop_table("notes")
'''
SECOND = '''
"""tags on notes"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("notes", sa.Column("tag", sa.String(20), server_default="new"))


def downgrade():
    with op.batch_alter_table("notes") as batch:
        batch.drop_column("tag")
'''
FILES = {"db.py": DB, "migration/env.py": ENV, "migration/versions/0001_notes.py": FIRST,
         "migration/versions/0002_tags.py": SECOND}


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[Path]:
    with temporary_plugin(tmp_path / "plugins", "migplugin", INIT, FILES) as root:
        yield root


def _db(runner: CliRunner, plugins: Path, url: str, data: Path, *args: str):
    env = {"CORE_SERVER__migplugin__dburl": url, "CORE_SERVER__core_server__entry_points": "false"}
    return runner.invoke(main, ["db", *args, "--plugins-dir", str(plugins), "--data-dir",
                                str(data)], env=env, catch_exceptions=False)


def _columns(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {t: [c["name"] for c in inspector.get_columns(t)]
                for t in inspector.get_table_names()}
    finally:
        engine.dispose()


def test_upgrade_and_downgrade_with_the_cli(db_url: str, plugins: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = _db(runner, plugins, db_url, tmp_path / "d", "list")
    assert "migplugin (plugin migplugin) db=migdb autoUpgrade=false" in listed.output
    assert "(none) (head 0002)" in _db(runner, plugins, db_url, tmp_path / "d", "current").output
    upgraded = _db(runner, plugins, db_url, tmp_path / "d", "upgrade", "migplugin")
    assert upgraded.exit_code == 0, upgraded.output
    assert "Running upgrade  -> 0001, notes table" in upgraded.output
    assert "Running upgrade 0001 -> 0002, tags on notes" in upgraded.output
    assert "migplugin: at 0002" in upgraded.output
    tables = _columns(db_url)
    assert tables["notes"] == ["id", "text", "tag"] and "migplugin_alembic_version" in tables
    # the connector serves the migrated table
    app = create_app({"migplugin": {"dburl": db_url}}, plugins_dirs=[plugins],
                     data_dir=tmp_path / "a", entry_points=False)
    assert app.test_client().get("/api/db/migdb/notes").get_json() == [
        {"id": 1, "text": "a", "tag": "new"}]
    app.extensions["core_server"].dbviews.dispose()
    down = _db(runner, plugins, db_url, tmp_path / "d", "downgrade", "migplugin")
    assert down.exit_code == 0 and "Running downgrade 0002 -> 0001" in down.output
    assert _columns(db_url)["notes"] == ["id", "text"]
    base = _db(runner, plugins, db_url, tmp_path / "d", "downgrade", "migplugin", "base")
    assert base.exit_code == 0 and "notes" not in _columns(db_url)
    history = _db(runner, plugins, db_url, tmp_path / "d", "history").output
    assert "0001 -> 0002 (head), tags on notes" in history and "<base> -> 0001" in history


def test_auto_upgrade_at_start_and_the_admin_listing(db_url: str, plugins: Path,
                                                     tmp_path: Path) -> None:
    config = {"migplugin": {"dburl": db_url, "migration": {"autoUpgrade": True}},
              **users_config()}
    app = create_app(config, plugins_dirs=[plugins], data_dir=tmp_path / "d", entry_points=False)
    assert tdp.migrations_of(app).current("migplugin") == ["0002"]
    client = app.test_client()
    assert client.get("/api/tdp/db-migration/").status_code == 401
    login(client, "analyst")
    assert client.get("/api/tdp/db-migration/").status_code == 403
    login(client, "admin")
    assert client.get("/api/tdp/db-migration/").get_json() == ["migplugin"]
    assert client.get("/api/tdp/db-migration/migplugin").get_json() == "migplugin"
    missing = client.get("/api/tdp/db-migration/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    app.extensions["core_server"].dbviews.dispose()


def test_a_failing_automatic_upgrade_fails_its_plugin_not_the_server(plugins: Path,
                                                                      tmp_path: Path) -> None:
    config = {"migplugin": {"dburl": f"sqlite:///{tmp_path / 'm.sqlite'}", "migration": {
        "autoUpgrade": True, "dbUrl": "postgresql+psycopg://postgres@127.0.0.1:9/none"}}}
    app = create_app(config, plugins_dirs=[plugins], data_dir=tmp_path / "d", entry_points=False)
    plugin = app.extensions["core_server"].registry.plugins["migplugin"]
    assert plugin.status == "failed" and "migration migplugin" in plugin.errors[0]
    assert app.test_client().get("/api/_health").status_code == 200


def test_bad_descriptions_fail_their_plugin(plugins: Path, tmp_path: Path) -> None:
    config = {"migplugin": {"migration": {"dbKey": "nope"}}}
    app = create_app(config, plugins_dirs=[plugins], data_dir=tmp_path / "d", entry_points=False)
    errors = app.extensions["core_server"].registry.plugins["migplugin"].errors
    assert any("dbKey 'nope' is not a SQL connector" in e for e in errors), errors
    assert tdp.migrations_of(app).items == {}
    unknown = CliRunner().invoke(main, ["db", "upgrade", "nope", "--plugins-dir", str(plugins),
                                        "--data-dir", str(tmp_path / "d")])
    assert unknown.exit_code == 2 and "no migration 'nope'" in unknown.output


def test_the_env_py_also_runs_under_plain_alembic(plugins: Path, tmp_path: Path) -> None:
    # without core-server's connection, the adapter connects to sqlalchemy.url as TDP's does
    url = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(plugins / "migplugin" / "migration"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.set_main_option("migration_id", "plain")
    alembic.command.upgrade(cfg, "head")
    assert "plain_alembic_version" in _columns(url) and "tag" in _columns(url)["notes"]


def test_a_scaffolded_migration_upgrades(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    project = new_plugin("tdpmigscaf", root).root
    add_extension("db-connector", "scafdb", project)
    added = add_extension("tdp-sql-database-migration", "scafmig", project, base="scafdb")
    assert {p.name for p in added.written} == {"env.py", "script.py.mako", "0001_initial.py"}
    try:
        runner = CliRunner()
        args = ["--plugins-dir", str(root), "--data-dir", str(tmp_path / "d")]
        env = {"CORE_SERVER__core_server__entry_points": "false"}
        upgraded = runner.invoke(main, ["db", "upgrade", "scafmig", *args], env=env)
        assert upgraded.exit_code == 0, upgraded.output
        assert "Running upgrade  -> 0001" in upgraded.output
        current = runner.invoke(main, ["db", "current", *args], env=env)
        assert "scafmig: 0001 (head 0001)" in current.output, current.output
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "tdpmigscaf"]:
            del sys.modules[name]
        sys.path[:] = [p for p in sys.path if not p.startswith(str(root))]
