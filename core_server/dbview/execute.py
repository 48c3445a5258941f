"""Run prepared statements and hand back row batches (the hot path); translate database errors.

Statements arrive ready (:mod:`core_server.dbview.params` builds their text). Each is compiled
once per connector and then handed to the driver as is; rows are read from the DBAPI cursor
(server-side when the result may be large), as plain tuples in batches, so SQLAlchemy's row
objects never enter the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import g
from sqlalchemy import exc as sa_exc

from core_server.dblimits import busy
from core_server.dblimits import is_busy
from core_server.dblimits import unavailable
from core_server.dbview.backends import Backend
from core_server.dbview.engines import ConnectorEngine
from core_server.errors import ApiError
from core_server.errors import GatewayTimeout

log = logging.getLogger("core_server.dbview")

_CACHE_LIMIT = 512


class db_errors:  # noqa: N801 - used like the function it was: ``with db_errors(...):``
    """Translate database errors into 503/504/500 JSON errors naming ``where``."""

    __slots__ = ("backend", "where")

    def __init__(self, backend: Backend, where: str) -> None:
        self.backend = backend
        self.where = where

    def __enter__(self) -> None:
        # a class, not @contextmanager: entered twice per query on the hot path
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:
        # never swallows: other exceptions propagate unchanged, DB errors become ApiErrors
        if exc is None or isinstance(exc, ApiError) or not isinstance(exc, self.backend.errors):
            return
        raise _translate(self.backend, self.where, exc) from exc


def _translate(backend: Backend, where: str, exc: BaseException) -> ApiError:
    if is_busy(exc):  # the pool (the bulkhead) stayed full for pool_timeout
        log.warning("database of %s busy: %s", where, exc)
        return busy(where, exc)
    if backend.is_timeout(exc):
        return GatewayTimeout(f"the query of {where} ran past the statement timeout",
                              hint="narrow the request with filters or _limit")
    if backend.is_unavailable(exc) or isinstance(exc, sa_exc.InterfaceError) \
            or type(exc).__name__ == "InterfaceError":
        log.warning("database of %s unavailable: %s", where, exc)
        return unavailable(where, backend.missing())
    log.error("query of %s failed (request %s)", where, g.get("request_id"), exc_info=exc)
    return ApiError(500, "query_failed", f"the query of {where} failed ({type(exc).__name__})",
                    hint="the server log has the details; quote the request_id")


@dataclass
class Rows:
    """An open result: column names, the first batch and an iterator over the rest.

    Call :meth:`close` when ``rest`` may not be read to its end (a streamed response does it
    on close): it releases the connection even if ``rest`` was never started.
    """

    names: list[str]
    head: list[Any]
    rest: Iterator[list[Any]]
    exhausted: bool

    def close(self) -> None:
        """Release the connection of an unfinished ``rest`` (idempotent)."""
        close = getattr(self.rest, "close", None)
        if close is not None:
            close()


@dataclass
class _Compiled:
    compiled: Any
    expands: bool
    names: tuple[str, ...]


def _driver_call(ce: ConnectorEngine, stmt: sa.TextClause,
                 binds: dict[str, Any]) -> tuple[str, Any]:
    # SQLAlchemy compiles once per statement (named binds, IN expansion, escaping); requests
    # without list parameters reuse the compiled string as is
    entry = ce.compiled.get(stmt)
    if entry is None:
        if len(ce.compiled) > _CACHE_LIMIT:
            ce.compiled.clear()
        compiled = stmt.compile(dialect=ce.engine.dialect)
        expands = any(b.expanding for b in compiled.binds.values())
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        entry = ce.compiled[stmt] = _Compiled(compiled, expands, names)
    compiled = entry.compiled
    if not entry.expands:
        if compiled.positional:
            return compiled.string, tuple(binds[n] for n in entry.names)
        return compiled.string, {n: binds[n] for n in entry.names}
    state = compiled.construct_expanded_state(binds)
    params = state.positional_parameters if compiled.positional else state.parameters
    return state.statement, params


_MAX_FETCH = 2**31 - 1


def run(ce: ConnectorEngine, stmt: sa.TextClause, binds: dict[str, Any], where: str,
        head_size: int, batch_size: int, stream: bool) -> Rows:
    """Execute and fetch the first ``head_size`` rows; the connection stays open for ``rest``.

    Without ``stream`` the SQL must return at most ``head_size`` rows (a LIMIT), so the head
    is the whole result. Rows are the driver's tuples.
    """
    backend = ce.backend
    statement, params = _driver_call(ce, stmt, binds)
    # Backends that keep idle connections (SQLite: a local file, no server-side cursor) take
    # one for streamed reads too: most unbounded requests are small (a single-row filter) and
    # the pool's checkout/return was ~15 % of them. The stream hands it back when it ends.
    reuse = backend.reuse_streams if stream else backend.reuse_connections
    owner = ce if reuse else None
    for attempt in (1, 2):
        with db_errors(backend, where):
            # no Connection wrapper
            conn = ce.checkout() if reuse else ce.engine.raw_connection()
        # used before without a ping (kept, or pooled with ping_idle): the server may have
        # dropped it meanwhile
        kept = (reuse or backend.ping_idle) and "returned" in conn.info
        cursor = None
        try:
            with db_errors(backend, where):
                cursor = backend.cursor(conn, stream)
                cursor.execute(statement, params)
                description = cursor.description  # psycopg builds it anew on each access
                names = [d[0] for d in description] if description else []
                # drivers take a C int; a head that large would not fit in memory anyway
                head = list(cursor.fetchmany(min(head_size, _MAX_FETCH))) if names else []
            break
        except BaseException as exc:
            # a kept connection that the server closed meanwhile (a restart within the ping
            # interval): the read is tried once more on a new one, as the pool's pre-ping would
            lost = attempt == 1 and kept and _lost(backend, exc)
            if lost and owner is None:
                with suppress(Exception):
                    conn.invalidate()  # the pool connects anew instead of resetting a dead one
            if owner is None and cursor is not None:
                backend.discard(cursor, conn)  # a server-side result may be left unread
            else:
                _close(cursor, conn, owner, reuse=False)  # a failed connection is not kept
            if not lost:
                raise
            ce.forget_idle()  # the other kept ones are most likely gone too
    exhausted = not stream or len(head) < head_size
    if exhausted:
        _close(cursor, conn, owner)
        return Rows(names, head, iter(()), True)
    return Rows(names, head, RowStream(conn, cursor, backend, where, batch_size, owner), False)


def _lost(backend: Backend, exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, ApiError) else exc
    return cause is not None and isinstance(cause, backend.errors) \
        and (backend.is_unavailable(cause) or type(cause).__name__ == "InterfaceError")


def _close(cursor: Any, conn: Any, ce: ConnectorEngine | None = None,
           reuse: bool = True) -> None:
    if cursor is not None:
        with suppress(Exception):  # a cursor of a failed transaction may refuse to close
            cursor.close()
    if ce is None:
        conn.close()  # back to the pool, which rolls back
    else:
        ce.checkin(conn, reuse)  # rolled back and kept idle, or closed


class RowStream:
    """The batches of a server-side cursor after the head; owns the connection until closed.

    Read to its end it closes the cursor and returns the connection to the pool. :meth:`close`
    before that (a client that went away, a HEAD request, ``_limit`` cutting the stream, a
    response never iterated) lets the backend discard the unread rows (:meth:`Backend.discard`)
    instead of leaving the connection, with a pending result, to the garbage collector.
    """

    __slots__ = ("_backend", "_conn", "_cursor", "_open", "_owner", "_size", "_where")

    def __init__(self, conn: Any, cursor: Any, backend: Backend, where: str, size: int,
                 owner: ConnectorEngine | None = None) -> None:
        self._conn = conn
        self._cursor = cursor
        self._backend = backend
        self._where = where
        self._size = size
        self._owner = owner  # the engine whose idle connections ``conn`` returns to, if any
        self._open = True

    def __iter__(self) -> RowStream:
        return self

    def __next__(self) -> list[Any]:
        if not self._open:
            raise StopIteration
        try:
            with db_errors(self._backend, self._where):
                batch = self._cursor.fetchmany(self._size)
        except BaseException:
            self.close()
            raise
        if not batch:
            self._open = False
            _close(self._cursor, self._conn, self._owner)
            raise StopIteration
        return list(batch)

    def close(self) -> None:
        """Release the cursor and connection, discarding unread rows (idempotent)."""
        if self._open:
            self._open = False
            if self._owner is not None:  # a local cursor: closing it finalizes the statement
                _close(self._cursor, self._conn, self._owner)
            else:
                self._backend.discard(self._cursor, self._conn)

    def __del__(self) -> None:
        with suppress(Exception):  # last resort; the response closes it normally
            self.close()


def scalar(ce: ConnectorEngine, stmt: sa.TextClause, binds: dict[str, Any], where: str) -> Any:
    """Run a one-value query (a count, a health check's ``SELECT 1``).

    Through :func:`run`, so a pooled connection that the server dropped since its last use is
    replaced and the query tried once more, as for reads.
    """
    rows = run(ce, stmt, binds, where, head_size=1, batch_size=1, stream=False)
    return rows.head[0][0] if rows.head else None
