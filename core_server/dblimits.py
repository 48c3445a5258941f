"""Bounds on every wait for a database, and schema creation that many processes may race on.

Every engine of the server (SQL connectors, the document store, the server database) is built
with :func:`engine_options` and :func:`install`, so the same limits hold everywhere:

* **connect**: ``connect_timeout`` of the driver (PostgreSQL counts whole seconds, at least 2).
* **pool checkout, the bulkhead**: ``pool_size`` connections per engine and process, no
  overflow, ``pool_timeout`` for a free one; then 503 ``db_busy`` with ``Retry-After``. A stuck
  database can hold at most ``pool_size`` threads of a worker, so the others keep serving
  ``/api/_health`` and routes on other databases; after a slow failure the pool fails at once
  for a moment (:class:`BulkheadPool`), so queued requests do not wait in turn
  (docs/architecture.rst, "Database waits and bulkheads").
* **socket reads**: pymysql's ``read_timeout``/``write_timeout``; for psycopg, which has none, a
  connection class whose every wait on the socket ends after ``read_timeout`` and closes the
  connection, plus TCP keepalive and ``tcp_user_timeout`` against a peer that vanished.
* **statements**: a per-connection statement timeout (``SET statement_timeout`` /
  ``max_statement_time``), which the socket read timeout always exceeds.

Schema creation (:func:`create_tables`, :func:`schema_lock`) is serialised per database and
lock name: a transaction advisory lock on PostgreSQL (concurrent ``CREATE TABLE`` collide in
``pg_type`` there, even with ``IF NOT EXISTS``), ``GET_LOCK`` on MariaDB/MySQL and
``IF NOT EXISTS`` on SQLite, whose file lock serialises DDL already.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.pool import QueuePool
from sqlalchemy.schema import CreateIndex
from sqlalchemy.schema import CreateTable

from core_server.config import Config
from core_server.errors import ServiceUnavailable

log = logging.getLogger("core_server.db")

#: seconds a client should wait before retrying a 503 of a database (``Retry-After``)
RETRY_AFTER_S = 5
#: the read timeout when none is configured: the statement timeout plus this margin (ms), so a
#: server that answers in time always gets to say "statement timeout" (504) first
_READ_MARGIN_MS = 5000
#: the read timeout of engines without a statement timeout (ms)
_READ_DEFAULT_MS = 300_000
#: the longest wait for another process's schema creation, in seconds
LOCK_TIMEOUT_S = 10
#: a failure that took this long (s) means a stuck database (BulkheadPool trips)
_SLOW_S = 1.0
#: how long a tripped pool fails at once before requests try the database again (s)
_COOLDOWN_S = 2.0
#: TCP keepalive of idle PostgreSQL connections: first probe, interval, probes (seconds)
_KEEPALIVE = (10, 5, 3)


@dataclass(frozen=True)
class DbLimits:
    """The wait bounds of one engine (milliseconds; ``pool_size`` connections)."""

    connect_timeout_ms: int = 5000
    pool_size: int = 3
    pool_timeout_ms: int = 1000
    read_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None

    @classmethod
    def from_config(cls, config: Config, statement_timeout_ms: int | None) -> DbLimits:
        """The ``core_server.db.*`` settings with this engine's statement timeout."""
        return cls(config.get_int("core_server.db.connect_timeout"),
                   config.get_int("core_server.db.pool_size"),
                   config.get_int("core_server.db.pool_timeout"),
                   config.get_optional_int("core_server.db.read_timeout"),
                   statement_timeout_ms or None)

    @property
    def read_timeout_s(self) -> float:
        """Seconds to wait for any answer of the server (always past the statement timeout)."""
        if self.read_timeout_ms is not None:
            return self.read_timeout_ms / 1000
        if self.statement_timeout_ms:
            return (self.statement_timeout_ms + _READ_MARGIN_MS) / 1000
        return _READ_DEFAULT_MS / 1000


def engine_options(url: str | URL, limits: DbLimits) -> dict[str, Any]:
    """Keyword arguments of :func:`sqlalchemy.create_engine` that bound pool and driver waits.

    SQLite keeps its own pool (a file has no network to wait on; its lock waits are bounded by
    ``busy_timeout``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {}
    options: dict[str, Any] = {"poolclass": BulkheadPool, "pool_size": limits.pool_size,
                               "max_overflow": 0, "pool_timeout": limits.pool_timeout_ms / 1000}
    driver = parsed.get_driver_name()
    connect_s = limits.connect_timeout_ms / 1000
    if driver == "psycopg":
        idle, interval, count = _KEEPALIVE
        options["connect_args"] = {
            "connect_timeout": max(1, round(connect_s)), "keepalives": 1,
            "keepalives_idle": idle, "keepalives_interval": interval, "keepalives_count": count,
            # unacknowledged data (a peer that vanished mid-request) fails after the read timeout
            "tcp_user_timeout": int(limits.read_timeout_s * 1000)}
    elif driver == "pymysql":
        options["connect_args"] = {"connect_timeout": connect_s,
                                   "read_timeout": limits.read_timeout_s,
                                   "write_timeout": limits.read_timeout_s}
    return options


class Stuck(sa.exc.TimeoutError):
    """The database stopped answering moments ago: fail at once rather than wait again."""


class BulkheadPool(QueuePool):
    """A :class:`QueuePool` that stops queueing behind a stuck database (a circuit breaker).

    A stuck database shows itself as slow failures: a connect that fails after seconds, a
    connection that dies (read timeout) after seconds in use, a checkout that waited
    ``pool_timeout`` in vain. After one, checkouts fail at once (:class:`Stuck`, 503) for
    :data:`_COOLDOWN_S` instead of each taking a thread that ``/api/_health`` and other routes
    need for another wait; then requests try again (the next slow failure trips it again). Fast
    failures (a refused connection) never trip it: they hold no thread.
    """

    _stuck_until = 0.0

    def trip(self, why: str) -> None:
        """Fail checkouts at once for the cool-down (a slow failure just happened)."""
        if time.monotonic() >= self._stuck_until:
            log.warning("database not answering (%s): failing at once for %g s", why,
                        _COOLDOWN_S)
        self._stuck_until = time.monotonic() + _COOLDOWN_S

    def _do_get(self) -> ConnectionPoolEntry:
        if time.monotonic() < self._stuck_until:
            raise Stuck("the database stopped answering moments ago; not waiting again",
                        code="3o7r")
        try:
            return super()._do_get()
        except sa.exc.TimeoutError:
            self.trip(f"no free connection within {self._timeout:g} s")
            raise


def _watch(engine: Engine) -> None:
    # a connection that dies after a long time in use: the read timeout of a silent server
    @event.listens_for(engine, "checkout")
    def _out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        record.info["out_at"] = time.monotonic()

    @event.listens_for(engine, "invalidate")
    def _dead(dbapi_conn: Any, record: Any, exc: BaseException | None) -> None:
        since = record.info.pop("out_at", None)
        if since is not None and time.monotonic() - since >= _SLOW_S \
                and isinstance(engine.pool, BulkheadPool):
            engine.pool.trip(f"a connection died after {time.monotonic() - since:.1f} s in use")


def create_engine(url: str | URL, limits: DbLimits, **kwargs: Any) -> Engine:
    """An engine with :func:`engine_options` (``kwargs`` win) and :func:`install` applied."""
    options = engine_options(url, limits)
    connect_args = {**options.pop("connect_args", {}), **kwargs.pop("connect_args", {})}
    if connect_args:
        options["connect_args"] = connect_args
    engine = sa.create_engine(url, **{**options, **kwargs})
    install(engine, limits)
    return engine


def install(engine: Engine, limits: DbLimits, *, statement_timeout: bool = True) -> None:
    """Read timeouts, the breaker's signals and (``statement_timeout``) the statement timeout."""
    if engine.dialect.name == "sqlite":
        return
    _connect_bounded(engine, limits.read_timeout_s)
    _watch(engine)
    if statement_timeout and limits.statement_timeout_ms:
        _statement_timeout(engine, limits.statement_timeout_ms)


class _BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait on the socket ends after :attr:`read_timeout`.

    psycopg has no socket timeout; its ``wait`` (which every query, fetch and commit goes
    through) takes one. When it expires the connection is closed: the server may still be
    running the statement, and a half-read protocol state cannot be reused.
    """

    read_timeout: float = _READ_DEFAULT_MS / 1000

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval, self.read_timeout if timeout is None else timeout)
        except psycopg.OperationalError as exc:
            if type(exc).__name__ != "_WaitTimeout":  # psycopg.errors._WaitTimeout
                raise
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from the database server within {self.read_timeout:g} s "
                "(read timeout); connection closed") from None


def _connect_bounded(engine: Engine, read_timeout: float) -> None:
    bounded: type[_BoundedConnection] = type("BoundedConnection", (_BoundedConnection,),
                                             {"read_timeout": read_timeout})
    psycopg_driver = engine.dialect.driver == "psycopg"

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        start = time.monotonic()
        try:
            if psycopg_driver:
                return bounded.connect(*cargs, **cparams)
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except Exception:
            took = time.monotonic() - start
            if took >= _SLOW_S and isinstance(engine.pool, BulkheadPool):
                engine.pool.trip(f"connecting failed after {took:.1f} s")
            raise


def _statement_timeout(engine: Engine, timeout_ms: int) -> None:
    name = engine.dialect.name

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        cursor = dbapi_conn.cursor()
        if name == "postgresql":
            cursor.execute(f"SET statement_timeout TO {int(timeout_ms)}")
            dbapi_conn.commit()  # a SET inside a rolled-back transaction would be undone
        elif name in ("mysql", "mariadb"):
            cursor.execute("SELECT VERSION()")
            if "mariadb" in str(cursor.fetchone()[0]).lower():
                cursor.execute(f"SET SESSION max_statement_time = {timeout_ms / 1000.0:.3f}")
            else:  # MySQL bounds SELECTs only
                cursor.execute(f"SET SESSION max_execution_time = {int(timeout_ms)}")
        cursor.close()


# -- errors ---------------------------------------------------------------------------------------


def is_busy(exc: BaseException) -> bool:
    """True if ``exc`` is a full pool: no connection became free within ``pool_timeout``."""
    return isinstance(exc, sa.exc.TimeoutError)


def busy(where: str, exc: BaseException | None = None) -> ServiceUnavailable:
    """503 for a checkout that failed: ``db_unavailable`` when the pool gave up at once on a
    stuck database (:class:`Stuck`), else ``db_busy`` (every connection in use)."""
    if isinstance(exc, Stuck):
        return unavailable(where, f"the database stopped answering; try again in "
                           f"{RETRY_AFTER_S} s; /api/_health?deep=1 shows each database")
    return ServiceUnavailable("db_busy", f"every connection to the database of {where} is in use",
                              hint=f"try again in {RETRY_AFTER_S} s; /api/_health?deep=1 shows "
                              "the state of each database",
                              headers={"Retry-After": str(RETRY_AFTER_S)})


def unavailable(where: str, hint: str | None = None) -> ServiceUnavailable:
    """503 ``db_unavailable`` naming ``where``, with ``Retry-After``."""
    return ServiceUnavailable("db_unavailable", f"the database of {where} is unavailable",
                              hint=hint or f"try again in {RETRY_AFTER_S} s; "
                              "/api/_health?deep=1 shows the state of each database",
                              headers={"Retry-After": str(RETRY_AFTER_S)})


# -- kept connections ---------------------------------------------------------------------------


def close_idle(idle: list[Any]) -> None:
    """Close every connection of the list ``idle`` and empty it.

    Other threads may take from the list meanwhile (``list.pop`` is atomic): each connection
    is closed by whoever popped it. A close that fails (a connection already broken) is ignored.
    """
    while idle:
        try:
            conn = idle.pop()
        except IndexError:
            break
        with suppress(Exception):
            conn.close()


# -- SQLite files shared by several processes --------------------------------------------------


#: how long a new SQLite connection waits for the file's lock (busy_timeout), in milliseconds
SQLITE_BUSY_TIMEOUT_MS = 30000


def sqlite_wal(dbapi_conn: sqlite3.Connection,
               busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
    """Put a new SQLite connection's file in WAL mode, waiting at most ``busy_timeout_ms``.

    WAL: readers never wait for the writer, and a commit costs no fsync of the main file.
    Switching a fresh file to WAL needs its exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, when another connection holds the file (processes
    that open a new database at the same instant). So: ask first (a file in WAL stays in WAL),
    then retry the switch until the same deadline the busy handler would keep.
    """
    dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.001
    while dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


# -- schema creation ------------------------------------------------------------------------------


@contextmanager
def schema_lock(conn: sa.Connection, name: str) -> Iterator[None]:
    """Hold the schema lock ``name`` of ``conn``'s database while the block runs.

    PostgreSQL: a transaction advisory lock (released at the end of ``conn``'s transaction);
    MariaDB/MySQL: ``GET_LOCK`` (released on exit); SQLite and others: no lock (use
    ``IF NOT EXISTS``). Waits at most :data:`LOCK_TIMEOUT_S`, then raises
    :class:`sqlalchemy.exc.OperationalError`.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # lock_timeout bounds the wait for the advisory lock; both end with the transaction
        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'"))
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                     {"key": zlib.crc32(name.encode())})
        yield
        return
    if dialect not in ("mysql", "mariadb"):
        yield
        return
    got = conn.execute(sa.text("SELECT GET_LOCK(:name, :timeout)"),
                       {"name": name, "timeout": LOCK_TIMEOUT_S}).scalar()
    if got != 1:
        raise sa.exc.OperationalError("GET_LOCK", {"name": name},
                                      Exception(f"schema lock not free after {LOCK_TIMEOUT_S} s"))
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})


@contextmanager
def engine_schema_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the schema lock ``name`` on a connection of its own while the block runs.

    For work that spans several connections and transactions (the document store's table sync):
    a session advisory lock on PostgreSQL, ``GET_LOCK`` on MariaDB/MySQL, none on SQLite. The
    block needs a second connection of the pool (``core_server.db.pool_size`` is at least 2).
    """
    if engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
        yield
        return
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            key = zlib.crc32(name.encode())
            with conn.begin():  # SET LOCAL ends with it; the session lock stays
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'"))
                conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
            return
        with schema_lock(conn, name):
            yield
        conn.commit()


def create_tables(conn: sa.Connection, tables: list[sa.Table], lock: str) -> None:
    """Create the missing ``tables`` (and their indexes) under the schema lock ``lock``."""
    with schema_lock(conn, lock):
        for table in tables:
            create_table(conn, table)


def create_table(conn: sa.Connection, table: sa.Table) -> None:
    """Create ``table`` and its indexes unless it exists (call under :func:`schema_lock`)."""
    if conn.dialect.name == "sqlite":
        conn.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
        return
    table.create(conn, checkfirst=True)
