"""Everything that differs between databases: one small class per backend.

Each backend overrides named hooks (SQLAlchemy's dialect split): how to open the URL, how to
enforce the statement timeout, how to recognise a timeout or an unreachable server, how to page,
how a pooled connection is checked. Nothing outside this module and ``engines.py`` asks which
dialect it talks to.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL

from core_server.dblimits import sqlite_wal

#: sqlite3 VM instructions between two deadline checks (cheap enough, fine enough).
_SQLITE_PROGRESS_STEPS = 10_000
#: unread rows of an abandoned MariaDB/MySQL stream read before dropping the connection instead
_DISCARD_ROWS = 64


class Backend:
    """Defaults for any SQLAlchemy database; subclasses override what differs."""

    name = "generic"
    #: test each pooled connection before use (a server may have dropped it); see SQLite
    pre_ping = True
    #: instead of ``pre_ping``: test a pooled connection only when it sat idle a while or
    #: returned before one was found dropped (ConnectorEngine); a read on a dropped one that
    #: skipped the test is tried once more on a new connection (execute.run)
    ping_idle = False
    #: bounded reads keep a few idle DBAPI connections outside SQLAlchemy's pool (see SQLite)
    reuse_connections = False
    #: streamed reads take kept connections too (a local cursor: nothing server-side to keep)
    reuse_streams = False
    #: an unbounded read first asks for this many rows + 1 as a bounded read, and streams
    #: (server-side cursor) only a result that has more; 0: always stream
    probe_rows = 0
    #: most bound parameters one statement may carry (id lists are chunked to fit)
    max_binds = 999
    #: exceptions that mean "the database said no" (the DBAPI's Error is added per engine)
    errors: tuple[type[BaseException], ...] = (sa.exc.SQLAlchemyError,)
    #: what to do about a missing database file (``DBViews`` names ``core-server demo-data``)
    missing_hint = "create it, or correct dburl in the connector's config section"

    def cursor(self, conn: Any, stream: bool) -> Any:
        """A DBAPI cursor on the pooled connection ``conn`` (server-side when ``stream``)."""
        return conn.cursor()

    def returned(self, dbapi_conn: Any) -> None:
        """Undo what :meth:`cursor` changed on a pooled connection, as it goes back to the pool.

        Raising lets the pool close the connection instead (as for a failed rollback).
        """

    def keep(self, conn: Any) -> None:
        """Prepare a DBAPI connection that bounded reads will reuse (see ``reuse_connections``)."""

    def discard(self, cursor: Any, conn: Any) -> None:
        """Release a streaming ``cursor`` whose rows were not all read, and its connection.

        Closing a server-side cursor is cheap here (PostgreSQL ``CLOSE``, SQLite finalize).
        """
        with suppress(Exception):  # a cursor of a failed transaction may refuse to close
            cursor.close()
        conn.close()  # back to the pool, which rolls back

    def prepare_url(self, url: URL) -> URL:
        """The URL the engine is created with."""
        return url

    def install_timeout(self, engine: Engine, timeout_ms: int, query: str | None) -> None:
        """Make every statement on ``engine`` stop after ``timeout_ms`` milliseconds."""

    def is_timeout(self, exc: BaseException) -> bool:
        """True if ``exc`` (a wrapped DBAPI error) is a statement timeout."""
        return False

    def is_unavailable(self, exc: BaseException) -> bool:
        """True if ``exc`` means the database cannot be reached (rather than bad SQL)."""
        return bool(getattr(exc, "connection_invalidated", False))

    def missing(self) -> str | None:
        """Why the database cannot exist yet (a missing SQLite file), else None."""
        return None

    def limit_offset(self, limit: int | None, offset: int | None) -> str:
        """SQL paging suffix for validated integers."""
        parts = []
        if limit is not None:
            parts.append(f" LIMIT {int(limit)}")
        if offset:
            parts.append(f" OFFSET {int(offset)}")
        return "".join(parts)

    def sleep_sql(self, seconds: float) -> str:
        """A statement that runs about ``seconds`` (tests of the timeout use it)."""
        raise NotImplementedError(f"no sleep statement for {self.name}")

    def tune_writer(self, engine: Engine) -> None:
        """Settings for a database the server writes to itself (id mapping)."""

    def array_in(self, sql: str, name: str) -> str | None:
        """``sql`` with ``IN :name`` rewritten to take one array parameter (None: no arrays).

        Id mappings use it for long id lists: one array instead of thousands of parameters.
        """
        return None


def _orig(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


class SQLiteBackend(Backend):
    """SQLite: read-write open (a missing file is an error, not a new empty DB), progress deadline."""

    name = "sqlite"
    # a file has no server that could drop the connection: an open handle keeps working (even
    # on a moved file) and a missing file fails on connect, so a ping per checkout buys nothing
    pre_ping = False
    # the pool's checkout/return bookkeeping was ~15 % of a single-row request: reads of a
    # local file take an idle connection from a small stack instead (ConnectorEngine.checkout)
    reuse_connections = True
    reuse_streams = True
    # SQLITE_MAX_VARIABLE_NUMBER: 999 before SQLite 3.32, 32766 since
    max_binds = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999

    file: Path | None = None

    def prepare_url(self, url: URL) -> URL:
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return url
        self.file = Path(database)
        # mode=rw: never create an empty database where the data file is missing
        return url.set(database=f"file:{database}", query={**url.query, "mode": "rw",
                                                           "uri": "true"})

    def install_timeout(self, engine: Engine, timeout_ms: int, query: str | None) -> None:
        seconds = timeout_ms / 1000.0

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: sqlite3.Connection, record: Any) -> None:
            deadline = [float("inf")]
            record.info["deadline"] = deadline
            record.info["timeout"] = seconds
            dbapi_conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline[0] else 0,
                                            _SQLITE_PROGRESS_STEPS)

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                    executemany: bool) -> None:
            deadline = conn.info.get("deadline")
            if deadline is not None:
                deadline[0] = time.monotonic() + seconds

    def cursor(self, conn: Any, stream: bool) -> Any:
        # raw cursors bypass before_cursor_execute: start the deadline here
        deadline = conn.info.get("deadline")
        if deadline is not None:
            deadline[0] = time.monotonic() + conn.info.get("timeout", 0.0)
        return conn.cursor()

    def is_timeout(self, exc: BaseException) -> bool:
        return isinstance(_orig(exc), sqlite3.OperationalError) and "interrupt" in str(_orig(exc))

    def missing(self) -> str | None:
        # asked only after a failure: no stat() on the hot path
        if self.file is not None and not self.file.exists():
            return f"the database file {self.file} does not exist: {self.missing_hint}"
        return None

    def is_unavailable(self, exc: BaseException) -> bool:
        text = str(_orig(exc))
        return super().is_unavailable(exc) or "unable to open database" in text \
            or "disk I/O error" in text

    def limit_offset(self, limit: int | None, offset: int | None) -> str:
        if limit is None and offset:
            return f" LIMIT -1 OFFSET {int(offset)}"
        return super().limit_offset(limit, offset)

    def tune_writer(self, engine: Engine) -> None:
        # WAL: readers never wait for the writer and a commit costs no fsync of the main file;
        # several worker processes share the file, so wait for its lock instead of failing
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: sqlite3.Connection, record: Any) -> None:
            sqlite_wal(dbapi_conn)
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    def sleep_sql(self, seconds: float) -> str:
        # no sleep() in SQLite: an endless recursive CTE, stopped by the deadline
        return ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT max(x) AS x FROM c")


class PostgresBackend(Backend):
    """PostgreSQL: ``SET statement_timeout`` once per connection."""

    name = "postgresql"
    max_binds = 65535  # the wire protocol counts parameters in 16 bits
    # A single-row read was 6 round trips (ping, BEGIN, DECLARE, FETCH, CLOSE, ROLLBACK):
    # unbounded reads probe with a bounded read first and only results larger than the probe
    # use a server-side cursor. Reads stay on the pool (core_server.db.pool_size is the
    # bulkhead, no connection lives outside it); a bounded read runs in autocommit (no BEGIN
    # and ROLLBACK) and a connection is pinged only after it sat idle: 1 round trip.
    probe_rows = 1000
    pre_ping = False
    ping_idle = True

    def install_timeout(self, engine: Engine, timeout_ms: int, query: str | None) -> None:
        statement = (query or "SET statement_timeout TO {}").format(int(timeout_ms))

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute(statement)
            cursor.close()
            dbapi_conn.commit()  # a SET inside a rolled-back transaction would be undone

    def cursor(self, conn: Any, stream: bool) -> Any:
        raw = conn.driver_connection
        if stream:  # a named cursor is server-side in psycopg (inside a transaction)
            return raw.cursor(name=f"cs_{uuid.uuid4().hex[:16]}")
        # one statement that only reads needs no transaction: autocommit saves BEGIN and the
        # pool's ROLLBACK (psycopg changes it locally; not possible inside a transaction, e.g.
        # one that a plugin's pool_pre_ping left open: then the read runs in it)
        # (psycopg 3 and psycopg2 alike: transaction status 0 is idle)
        if raw.autocommit is False \
                and getattr(getattr(raw, "info", None), "transaction_status", None) == 0:
            raw.autocommit = True
        return conn.cursor()

    def returned(self, dbapi_conn: Any) -> None:
        # every other user of the pool (engine.connect(), callbacks) expects transactions
        if getattr(dbapi_conn, "autocommit", False):
            dbapi_conn.autocommit = False

    def is_timeout(self, exc: BaseException) -> bool:
        return getattr(_orig(exc), "sqlstate", None) == "57014"

    def is_unavailable(self, exc: BaseException) -> bool:
        orig = _orig(exc)
        state = getattr(orig, "sqlstate", None)
        if state is None and any(c.__name__ == "OperationalError" for c in type(orig).__mro__):
            return True  # raised by the client library (connect, read timeout): no server
        return super().is_unavailable(exc) or str(state or "").startswith(("08", "57P"))

    def sleep_sql(self, seconds: float) -> str:
        return f"SELECT pg_sleep({float(seconds)}) AS x"

    def array_in(self, sql: str, name: str) -> str | None:
        # x IN (a, b) == x = ANY(array); x NOT IN (a, b) == x <> ALL(array)
        sql = re.sub(rf"\bnot\s+in\s*:{name}\b", f"<> ALL(:{name})", sql, flags=re.IGNORECASE)
        return re.sub(rf"\bin\s*:{name}\b", f"= ANY(:{name})", sql, flags=re.IGNORECASE)


class MySQLBackend(Backend):
    """MariaDB (``max_statement_time``, seconds) and MySQL (``max_execution_time``, ms)."""

    name = "mysql"
    probe_rows = 1000  # an unbuffered (SSCursor) stream for a few rows costs more than a probe
    max_binds = 65535  # prepared statements (pymysql binds client-side, but stay portable)
    _TIMEOUT_CODES = frozenset({1969, 3024, 1317, 1028})
    _UNAVAILABLE_CODES = frozenset({2002, 2003, 2006, 2013, 2055})

    def install_timeout(self, engine: Engine, timeout_ms: int, query: str | None) -> None:
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT VERSION()")
            mariadb = "mariadb" in str(cursor.fetchone()[0]).lower()
            if query:
                cursor.execute(query.format(int(timeout_ms)))
            elif mariadb:
                cursor.execute(f"SET SESSION max_statement_time = {timeout_ms / 1000.0:.3f}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {int(timeout_ms)}")
            cursor.close()

    def cursor(self, conn: Any, stream: bool) -> Any:
        if stream:
            import pymysql.cursors

            raw = conn.driver_connection
            if isinstance(raw, pymysql.connections.Connection):
                return raw.cursor(pymysql.cursors.SSCursor)
        return conn.cursor()

    def discard(self, cursor: Any, conn: Any) -> None:
        # the server sends the whole result of an unbuffered (SSCursor) query and the protocol
        # cannot stop it: closing the cursor, or the pool's rollback, reads every remaining row
        # (pymysql warns "Previous unbuffered result was left incomplete" for the latter). Read a
        # few (a _limit page over-fetches one row); more left: close the connection instead.
        result = getattr(cursor, "_result", None)
        if result is not None and getattr(result, "unbuffered_active", False):
            with suppress(Exception):
                cursor.fetchmany(_DISCARD_ROWS)
            if result.unbuffered_active:
                result.unbuffered_active = False  # or its __del__ reads from the closed socket
                conn.invalidate()  # closes the DBAPI connection; the pool opens a new one
                return
        super().discard(cursor, conn)

    def _code(self, exc: BaseException) -> int | None:
        args = getattr(_orig(exc), "args", ())
        return args[0] if args and isinstance(args[0], int) else None

    def is_timeout(self, exc: BaseException) -> bool:
        return self._code(exc) in self._TIMEOUT_CODES

    def is_unavailable(self, exc: BaseException) -> bool:
        return super().is_unavailable(exc) or self._code(exc) in self._UNAVAILABLE_CODES

    def limit_offset(self, limit: int | None, offset: int | None) -> str:
        if limit is None and offset:
            return f" LIMIT 18446744073709551615 OFFSET {int(offset)}"
        return super().limit_offset(limit, offset)

    def sleep_sql(self, seconds: float) -> str:
        return f"SELECT SLEEP({float(seconds)}) AS x"


_BACKENDS: dict[str, type[Backend]] = {
    "sqlite": SQLiteBackend, "postgresql": PostgresBackend,
    "mysql": MySQLBackend, "mariadb": MySQLBackend,
}


def backend_for(url: str | URL) -> Backend:
    """The :class:`Backend` for a database URL."""
    return _BACKENDS.get(make_url(url).get_backend_name(), Backend)()
