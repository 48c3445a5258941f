"""One pooled engine per base connector (:mod:`~core_server.dbview.backends` has what differs
between databases): pool bounds, kept SQLite connections, pinging idle pooled ones.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url

from core_server import signals
from core_server.dblimits import DbLimits
from core_server.dblimits import close_idle
from core_server.dblimits import create_engine
from core_server.dblimits import engine_options
from core_server.dblimits import install
from core_server.dbview.backends import Backend as Backend  # re-exported: where it was
from core_server.dbview.backends import backend_for as backend_for

#: idle connections a reusing backend keeps per engine (more threads than this use new ones).
_IDLE_MAX = 8
#: seconds a kept connection may sit idle and still be used without a ping first
_PING_AFTER = 1.0
def sqlite_file(url: str | None) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    if not url:
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def writer_engine(url: str, limits: DbLimits) -> Engine:
    """An engine for the server's own database (``core_server.server_db``)."""
    backend = backend_for(url)
    # its writes run in transactions on the pool: pinged on every checkout as before (the idle
    # pings of ConnectorEngine are for the connectors' reads)
    engine = create_engine(url, limits, pool_pre_ping=backend.pre_ping or backend.ping_idle)
    backend.tune_writer(engine)
    return engine


def _alive(conn: Any) -> bool:
    try:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT 1")
            cursor.fetchall()
        finally:
            cursor.close()
        conn.rollback()  # no-op in autocommit; ends the ping's transaction otherwise
    except Exception:  # noqa: BLE001 - any failure means: do not use this connection
        return False
    return True


class ConnectorEngine:
    """An engine with its backend hooks; created lazily by :class:`EngineRegistry`."""

    def __init__(self, url: str, timeout_ms: int | None, timeout_query: str | None,
                 options: dict[str, Any], limits: DbLimits | None = None) -> None:
        self.backend = backend_for(url)
        self.url = url
        self.timeout_ms = timeout_ms
        limits = limits or DbLimits(statement_timeout_ms=timeout_ms or None)
        bounds = engine_options(url, limits)
        if "poolclass" in options:  # the plugin's own pool (e.g. NullPool) takes no pool sizes
            for key in ("poolclass", "pool_size", "max_overflow", "pool_timeout"):
                bounds.pop(key, None)
        # the plugin's engine options win, connect_args merged key by key
        connect_args = {**bounds.pop("connect_args", {}), **options.get("connect_args", {})}
        kwargs = {"pool_pre_ping": self.backend.pre_ping, **bounds, **options}
        if connect_args:
            kwargs["connect_args"] = connect_args
        self.engine = sa.create_engine(self.backend.prepare_url(make_url(url)), **kwargs)
        install(self.engine, limits, statement_timeout=False)  # the backend's, below
        self.backend.errors = (sa.exc.SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)
        self.compiled: dict[Any, Any] = {}
        self._idle: list[Any] = []  # detached DBAPI connections (list.pop/append are atomic)
        self._lent: set[int] = set()  # ids of the detached connections in use (set ops too)
        self._generation = 0
        #: when a pooled connection was last found dropped: older idle ones are pinged first
        self._lost_at = 0.0
        self._pool_events(ping=self.backend.ping_idle and not kwargs.get("pool_pre_ping"))
        if timeout_ms:
            self.backend.install_timeout(self.engine, int(timeout_ms), timeout_query)

    def _pool_events(self, ping: bool) -> None:
        # SQLAlchemy's pre-ping costs a round trip on every checkout (on PostgreSQL outside
        # autocommit also a BEGIN, so the read's ROLLBACK). A connection back in the pool
        # moments ago is most likely still there; one idle for _PING_AFTER, or returned before
        # a connection was found dropped (a server restart drops all), is pinged first. A read
        # on one that died unnoticed is retried once (execute.run), which pre-ping gave before.
        backend = self.backend

        def checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
            returned = record.info.get("returned")
            if returned is not None and (returned <= self._lost_at
                                         or time.monotonic() - returned >= _PING_AFTER) \
                    and not _alive(dbapi_conn):
                # the pool replaces it (a new connection, connect_timeout bounds it)
                raise sa.exc.DisconnectionError("the server dropped an idle connection")

        def checkin(dbapi_conn: Any, record: Any) -> None:
            if dbapi_conn is not None:
                record.info["returned"] = time.monotonic()

        def reset(dbapi_conn: Any, record: Any, state: Any) -> None:
            if dbapi_conn is not None and not state.terminate_only:
                backend.returned(dbapi_conn)

        # whatever a read changed on the connection is undone before anyone else gets it
        if type(backend).returned is not Backend.returned:
            sa.event.listen(self.engine.pool, "reset", reset)
        if ping:
            sa.event.listen(self.engine, "checkout", checkout)
            sa.event.listen(self.engine, "checkin", checkin)

    def quote(self, name: str) -> str:
        """``name`` quoted as an identifier of this database (for known column names)."""
        return str(self.engine.dialect.identifier_preparer.quote(name))

    def checkout(self) -> Any:
        """A connection for one bounded read: an idle reusable one, else one from the pool.

        Hand it back with :meth:`checkin` (or close it). Only backends with
        ``reuse_connections`` keep connections; the others always use the pool.
        """
        if self.backend.reuse_connections:
            conn = self._kept()
            self._lent.add(id(conn))
            return conn
        return self.engine.raw_connection()

    def _kept(self) -> Any:
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                break
            # a server may have dropped a connection that sat idle (what pre-ping guards
            # against in the pool): ask it once before use; busy connections skip the ping
            if not self.backend.pre_ping \
                    or time.monotonic() - conn.info.get("returned", 0.0) < _PING_AFTER \
                    or _alive(conn):
                return conn
            with suppress(Exception):
                conn.close()
        conn = self.engine.raw_connection()  # pinged by the pool where the backend wants it
        self.backend.keep(conn)
        conn.detach()  # ours now: closed by checkin when not kept, or by dispose()
        conn.info["generation"] = self._generation
        return conn

    def checkin(self, conn: Any, reuse: bool = True) -> None:
        """Return ``conn`` after a read: rolled back and kept idle, or closed/back to the pool.

        :param reuse: False closes a kept connection (e.g. after a failed statement).
        """
        if not self.backend.reuse_connections:
            conn.close()
            return
        self._lent.discard(id(conn))
        try:
            # what the pool's reset-on-return does; a read left no transaction open on SQLite
            # and in autocommit (PostgreSQL), so this is mostly a cheap no-op
            if getattr(conn.dbapi_connection, "in_transaction", True):
                conn.rollback()
        except Exception:  # noqa: BLE001 - a broken connection is dropped, not reused
            conn.close()
            return
        if reuse and conn.info.get("generation") == self._generation \
                and len(self._idle) < _IDLE_MAX:
            conn.info["returned"] = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    def forget_idle(self) -> None:
        """Close the kept idle connections (after one turned out to be dropped by the server);
        pooled ones returned before now are pinged before their next use."""
        self._lost_at = time.monotonic()
        close_idle(self._idle)

    def lent(self) -> int:
        """Connections handed out and not yet returned: the pool's and the kept ones."""
        pool: Any = self.engine.pool  # QueuePool and friends count theirs
        return int(pool.checkedout()) + len(self._lent)

    def dispose(self) -> None:
        """Close all pooled and idle connections."""
        self._generation += 1
        while self._idle:
            try:
                self._idle.pop().close()
            except IndexError:
                break
        self.engine.dispose()


class EngineRegistry:
    """One :class:`ConnectorEngine` per base connector id, created on first use (thread-safe)."""

    def __init__(self) -> None:
        self._engines: dict[str, ConnectorEngine] = {}
        self._lock = threading.Lock()

    def existing(self, key: str) -> ConnectorEngine | None:
        """The engine of base connector ``key`` if it was created already."""
        return self._engines.get(key)

    def get(self, key: str, url: str, timeout_ms: int | None, timeout_query: str | None,
            options: dict[str, Any], limits: DbLimits | None = None) -> ConnectorEngine:
        """The engine of base connector ``key``, creating it the first time."""
        engine = self._engines.get(key)
        if engine is not None:
            return engine
        with self._lock:
            if key not in self._engines:
                self._engines[key] = ConnectorEngine(url, timeout_ms, timeout_query, options,
                                                     limits)
                signals.engine_created.send(key, engine=self._engines[key].engine)
            return self._engines[key]

    def dispose(self) -> None:
        """Dispose every engine (tests, shutdown)."""
        for engine in self._engines.values():
            engine.dispose()
