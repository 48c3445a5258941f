"""``tdp-sql-database-migration``: alembic migrations of plugin databases.

An extension ``{scriptLocation, dbKey, configKey?, autoUpgrade?, dbUrl?, versionTableSchema?}``
(the config section at ``configKey`` overrides each key, as in TDP) names an alembic script
folder and the SQL connector whose database it migrates. The revision of each migration is kept
in the table ``<id>_alembic_version``, TDP's name, so databases migrated by TDP continue here.

Each command opens one connection of its own (no pool; connect, lock and statement waits
bounded by settings), takes a database lock so that two hosts never migrate one database at
once, and hands the connection to alembic; the plugin's ``env.py`` gets it through
:func:`core_server.tdp.migration_env.run_migrations_online` (``tdp_core.dbmigration.env``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alembic.command
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from core_server.config import Config
from core_server.registry import Extension
from core_server.registry import Registry

log = logging.getLogger("core_server.tdp.migrations")
Progress = Callable[[str], None]
#: The attribute of the alembic config holding the :class:`Migration` being run.
MIGRATION_ATTRIBUTE = "core_server_migration"


class MigrationError(Exception):
    """A migration cannot run; the message names it and says why."""


@dataclass(frozen=True)
class Migration:
    """One configured migration."""

    id: str
    plugin: str
    script_location: str
    db_key: str | None
    db_url: str | None
    auto_upgrade: bool
    version_table_schema: str | None = None

    @property
    def version_table(self) -> str:
        """TDP's version table name: ``<id>_alembic_version``."""
        return f"{self.id}_alembic_version"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (no URL: it may hold a password)."""
        return {"id": self.id, "plugin": self.plugin, "dbKey": self.db_key,
                "scriptLocation": self.script_location, "autoUpgrade": self.auto_upgrade,
                "versionTable": self.version_table}


@dataclass(frozen=True)
class Limits:
    """How long a migration may wait, in seconds: to connect, for the lock, per statement."""

    connect: float = 10.0
    lock: float = 60.0
    statement: float = 600.0


def _pick(config: dict[str, Any], desc: dict[str, Any], key: str) -> Any:
    value = config.get(key)
    return value if value not in (None, "") else desc.get(key)


def _script_location(value: Any, plugin_path: str | None) -> str:
    if not isinstance(value, str) or not value:
        raise MigrationError("no scriptLocation")
    if ":" in value and not Path(value).is_absolute() and not Path(value).exists():
        return value  # alembic's "package:folder" form
    path = Path(value)
    if not path.is_absolute() and plugin_path:
        path = Path(plugin_path) / path
    if not (path / "env.py").is_file():
        raise MigrationError(f"scriptLocation {value!r} has no env.py")
    return str(path)


def migration_of(ext: Extension, config: Config, registry: Registry, connectors: Any,
                 auto_default: bool) -> Migration:
    """The :class:`Migration` of one extension, or :class:`MigrationError`."""
    section = config.view(str(ext.desc["configKey"])) if ext.desc.get("configKey") else {}
    db_key, db_url = _pick(section, ext.desc, "dbKey"), _pick(section, ext.desc, "dbUrl")
    if not db_key and not db_url:
        raise MigrationError("neither dbKey nor dbUrl is set")
    if db_key and not db_url and db_key not in connectors:
        raise MigrationError(f"dbKey {db_key!r} is not a SQL connector")
    auto = section.get("autoUpgrade")
    auto = auto if isinstance(auto, bool) else ext.desc.get("autoUpgrade")
    plugin = registry.plugins.get(ext.plugin)
    return Migration(
        id=str(_pick(section, ext.desc, "id") or ext.id), plugin=ext.plugin,
        script_location=_script_location(_pick(section, ext.desc, "scriptLocation"),
                                         plugin.path if plugin else None),
        db_key=str(db_key) if db_key else None, db_url=str(db_url) if db_url else None,
        auto_upgrade=auto if isinstance(auto, bool) else auto_default,
        version_table_schema=_pick(section, ext.desc, "versionTableSchema") or None)


# --- per-database waits and locks --------------------------------------------------------------


class _Locking:
    """SQLite: a file has one writer at a time anyway; only the busy wait is bounded."""

    def connect_args(self, limits: Limits) -> dict[str, Any]:
        return {"timeout": limits.lock}

    def prepare(self, conn: sa.Connection, limits: Limits) -> None:
        """Bound lock waits and statements of this connection."""

    def lock(self, conn: sa.Connection, name: str, seconds: float) -> bool:
        return True

    def unlock(self, conn: sa.Connection, name: str) -> None:
        """Release :meth:`lock`."""


class _PostgresLocking(_Locking):
    def connect_args(self, limits: Limits) -> dict[str, Any]:
        return {"connect_timeout": max(int(limits.connect), 1)}

    def prepare(self, conn: sa.Connection, limits: Limits) -> None:
        conn.execute(sa.text(f"SET statement_timeout = {int(limits.statement * 1000)}"))
        conn.execute(sa.text(f"SET lock_timeout = {int(limits.lock * 1000)}"))

    def lock(self, conn: sa.Connection, name: str, seconds: float) -> bool:
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        deadline = time.monotonic() + seconds
        while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def unlock(self, conn: sa.Connection, name: str) -> None:
        conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))


class _MySQLLocking(_Locking):
    def connect_args(self, limits: Limits) -> dict[str, Any]:
        return {"connect_timeout": max(int(limits.connect), 1)}

    def prepare(self, conn: sa.Connection, limits: Limits) -> None:
        conn.execute(sa.text(f"SET SESSION lock_wait_timeout = {max(int(limits.lock), 1)}"))
        if getattr(conn.dialect, "is_mariadb", False):  # MySQL's limit covers SELECTs only
            conn.execute(sa.text(f"SET SESSION max_statement_time = {limits.statement:.3f}"))

    def lock(self, conn: sa.Connection, name: str, seconds: float) -> bool:
        got = conn.execute(sa.text("SELECT GET_LOCK(:n, :s)"),
                           {"n": name[:64], "s": max(int(seconds), 0)}).scalar()
        return bool(got)

    def unlock(self, conn: sa.Connection, name: str) -> None:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name[:64]})


_LOCKING: dict[str, type[_Locking]] = {"postgresql": _PostgresLocking, "mysql": _MySQLLocking}


# --- running alembic ----------------------------------------------------------------------------


class Migrations:
    """The migrations of one app.

    :param url_of: ``url_of(db_key)`` -> the database URL of a SQL connector.
    """

    def __init__(self, items: dict[str, Migration], url_of: Callable[[str], str],
                 limits: Limits) -> None:
        self.items = items
        self._url_of = url_of
        self.limits = limits

    def get(self, migration_id: str) -> Migration:
        """The migration ``migration_id`` or :class:`MigrationError` naming the known ones."""
        try:
            return self.items[migration_id]
        except KeyError:
            known = ", ".join(sorted(self.items)) or "none"
            raise MigrationError(f"no migration {migration_id!r} (migrations: {known})") from None

    def url(self, migration: Migration) -> sa.URL:
        """The database URL a migration runs against."""
        if migration.db_url:
            return sa.make_url(migration.db_url)
        return sa.make_url(self._url_of(str(migration.db_key)))

    @contextmanager
    def connection(self, migration: Migration, lock: bool = True) -> Iterator[sa.Connection]:
        """A bounded connection (holding the migration lock), outside any transaction."""
        url = self.url(migration)
        locking = _LOCKING.get(url.get_backend_name(), _Locking)()
        engine = sa.create_engine(url, poolclass=NullPool,
                                  connect_args=locking.connect_args(self.limits))
        name = f"core_server_migration_{migration.id}"
        try:
            with engine.connect() as conn:
                locking.prepare(conn, self.limits)
                if lock and not locking.lock(conn, name, self.limits.lock):
                    raise MigrationError(f"migration {migration.id}: another process holds its "
                                         f"lock for more than {self.limits.lock:g} s")
                conn.commit()  # alembic begins (and commits) its own transaction
                try:
                    yield conn
                finally:
                    _finish(conn)
                    locking.unlock(conn, name)
                    conn.commit()
        finally:
            engine.dispose()

    def _config(self, migration: Migration, conn: sa.Connection | None) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", migration.script_location)
        cfg.set_main_option("migration_id", migration.id)
        if migration.version_table_schema:
            cfg.set_main_option("version_table_schema", migration.version_table_schema)
        cfg.attributes[MIGRATION_ATTRIBUTE] = migration
        if conn is not None:
            cfg.attributes["connection"] = conn
            # for env.py files that build their own engine, as TDP's template does
            url = conn.engine.url.render_as_string(hide_password=False)
            cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        return cfg

    def script(self, migration: Migration) -> ScriptDirectory:
        """The alembic script folder of a migration."""
        try:
            return ScriptDirectory.from_config(self._config(migration, None))
        except Exception as exc:  # alembic raises CommandError and plain errors alike
            raise MigrationError(f"migration {migration.id}: {exc}") from exc

    def heads(self, migration_id: str) -> list[str]:
        """The head revisions of the scripts."""
        return list(self.script(self.get(migration_id)).get_heads())

    def current(self, migration_id: str) -> list[str]:
        """The revisions the database is at (empty: not migrated yet)."""
        migration = self.get(migration_id)
        with self._errors(migration), self.connection(migration, lock=False) as conn:
            return _database_heads(conn, migration)

    def history(self, migration_id: str) -> list[dict[str, Any]]:
        """Every revision, newest first: ``{revision, down_revision, message, head}``."""
        script = self.script(self.get(migration_id))
        return [{"revision": rev.revision, "down_revision": rev.down_revision,
                 "message": rev.doc, "head": rev.is_head}
                for rev in script.walk_revisions()]

    def upgrade(self, migration_id: str, revision: str = "head",
                progress: Progress | None = None) -> list[str]:
        """Upgrade to ``revision``; return the revisions the database is at afterwards."""
        return self._run(migration_id, alembic.command.upgrade, revision, progress)

    def downgrade(self, migration_id: str, revision: str = "-1",
                  progress: Progress | None = None) -> list[str]:
        """Downgrade to ``revision`` (``-1``: one step, ``base``: all); return the new revisions."""
        return self._run(migration_id, alembic.command.downgrade, revision, progress)

    def _run(self, migration_id: str, command: Callable[..., None], revision: str,
             progress: Progress | None) -> list[str]:
        migration = self.get(migration_id)
        with self._errors(migration), _reporting(progress), self.connection(migration) as conn:
            command(self._config(migration, conn), revision)
            _finish(conn)
            return _database_heads(conn, migration)

    @contextmanager
    def _errors(self, migration: Migration) -> Iterator[None]:
        try:
            yield
        except MigrationError:
            raise
        except Exception as exc:  # alembic, the plugin's scripts and the driver all raise here
            raise MigrationError(f"migration {migration.id}: {type(exc).__name__}: {exc}") \
                from exc

    def auto_upgrade(self, progress: Progress | None = None) -> dict[str, str | None]:
        """Upgrade every migration with ``autoUpgrade`` to head: ``{id: error or None}``."""
        results: dict[str, str | None] = {}
        for migration in self.items.values():
            if not migration.auto_upgrade:
                continue
            try:
                self.upgrade(migration.id, "head", progress)
                results[migration.id] = None
            except MigrationError as exc:
                results[migration.id] = str(exc)
        return results


def _database_heads(conn: sa.Connection, migration: Migration) -> list[str]:
    context = MigrationContext.configure(conn, opts={
        "version_table": migration.version_table,
        "version_table_schema": migration.version_table_schema})
    return list(context.get_current_heads())


def _finish(conn: sa.Connection) -> None:
    # SQLite DDL is not transactional in alembic: its statements sit in SQLAlchemy's implicit
    # transaction until someone commits
    if conn.in_transaction():
        conn.commit()


@contextmanager
def _reporting(progress: Progress | None) -> Iterator[None]:
    """Pass alembic's "Running upgrade a -> b" lines to ``progress``."""
    if progress is None:
        yield
        return
    handler = _ProgressHandler(progress)
    logger = logging.getLogger("alembic.runtime.migration")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


class _ProgressHandler(logging.Handler):
    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Running "):
            self.progress(message)
