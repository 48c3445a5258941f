"""The security package's tables in ``core_server.server_db``: one engine, safe creation.

API tokens, sessions and login counters share one engine (one pool per process). Their tables
are created at start, and again on first use if the database was down then. Several workers or
hosts may do that at the same moment, so creation is serialised per database: a transaction
advisory lock on PostgreSQL (concurrent ``CREATE TABLE`` collide in ``pg_type`` there, even with
``IF NOT EXISTS``), ``GET_LOCK`` on MariaDB/MySQL, and ``IF NOT EXISTS`` statements on SQLite,
whose file lock already serialises them. Every lock wait is bounded by :data:`LOCK_TIMEOUT_S`.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex
from sqlalchemy.schema import CreateTable

from core_server.errors import ServiceUnavailable

log = logging.getLogger("core_server.security")

#: Name of the schema lock (MariaDB ``GET_LOCK``; its CRC-32 is PostgreSQL's advisory key).
LOCK_NAME = "core_server.security.schema"
_PG_LOCK_KEY = zlib.crc32(LOCK_NAME.encode())
#: The longest wait for another process's table creation, in seconds.
LOCK_TIMEOUT_S = 10
#: Errors that mean "the database is not reachable right now" (connect, pool checkout).
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


class ServerDb:
    """The engine and table metadata of the security tables in the server database.

    :param url: ``core_server.server_db``.
    """

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        self.metadata = sa.MetaData()
        self._ready = False

    def create_tables(self) -> None:
        """Create the missing tables of :attr:`metadata`, safe when many processes do it at once."""
        with self.engine.begin() as conn:
            create_tables(conn, list(self.metadata.sorted_tables))
        self._ready = True
        # The app may be built before gunicorn forks: carry no open connection into the workers.
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction; 503 ``db_unavailable`` when the server database cannot be reached."""
        try:
            if not self._ready:
                self.create_tables()
            with self.engine.begin() as conn:
                yield conn
        except UNAVAILABLE as exc:
            log.warning("server database unavailable: %s", exc)
            raise ServiceUnavailable("db_unavailable", "the server database is unavailable",
                                     hint="check core_server.server_db") from None

    def ping(self) -> None:
        """Raise unless the server database answers (a deep health check)."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


def create_tables(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """Create the missing ``tables`` (and their indexes) under the per-database schema lock.

    :raises sa.exc.OperationalError: when another process holds the lock longer than
        :data:`LOCK_TIMEOUT_S`.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        for table in tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
        return
    if dialect == "postgresql":
        # lock_timeout bounds the wait for the advisory lock; both end with the transaction
        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'"))
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        _create_checked(conn, tables)
        return
    if dialect in ("mysql", "mariadb"):
        _create_under_named_lock(conn, tables)
        return
    _create_checked(conn, tables)


def _create_under_named_lock(conn: sa.Connection, tables: list[sa.Table]) -> None:
    got = conn.execute(sa.text("SELECT GET_LOCK(:name, :timeout)"),
                       {"name": LOCK_NAME, "timeout": LOCK_TIMEOUT_S}).scalar()
    if got != 1:
        raise sa.exc.OperationalError("GET_LOCK", {"name": LOCK_NAME},
                                      Exception(f"schema lock not free after {LOCK_TIMEOUT_S} s"))
    try:
        _create_checked(conn, tables)
    finally:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})


def _create_checked(conn: sa.Connection, tables: list[sa.Table]) -> None:
    for table in tables:
        table.create(conn, checkfirst=True)
