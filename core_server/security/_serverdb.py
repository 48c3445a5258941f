"""The security package's tables in ``core_server.server_db``: one engine, safe creation.

API tokens, sessions and login counters share one engine (one pool per process), bounded like
every engine by :mod:`core_server.dblimits` (connect, pool, read and statement timeouts). Their
tables are created at start, and again on first use if the database was down then. Several
workers or hosts may do that at the same moment, so creation runs under the schema lock
:data:`LOCK_NAME` (:func:`core_server.dblimits.create_tables`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from core_server.dblimits import DbLimits
from core_server.dblimits import busy
from core_server.dblimits import create_engine
from core_server.dblimits import create_tables
from core_server.dblimits import is_busy
from core_server.dblimits import unavailable

log = logging.getLogger("core_server.security")

#: Name of the schema lock (MariaDB ``GET_LOCK``; its CRC-32 is PostgreSQL's advisory key).
LOCK_NAME = "core_server.security.schema"
#: Errors that mean "the database is not reachable right now" (connect, pool checkout, reads).
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
_WHERE = "the server database (core_server.server_db)"


class ServerDb:
    """The engine and table metadata of the security tables in the server database.

    :param url: ``core_server.server_db``.
    :param limits: its wait bounds (default: :class:`DbLimits` with a 10 s statement timeout).
    """

    def __init__(self, url: str, limits: DbLimits | None = None) -> None:
        self.engine = create_engine(url, limits or DbLimits(statement_timeout_ms=10000),
                                    pool_pre_ping=True)
        self.metadata = sa.MetaData()
        self._ready = False

    def create_tables(self) -> None:
        """Create the missing tables of :attr:`metadata`, safe when many processes do it at once."""
        with self.engine.begin() as conn:
            create_tables(conn, list(self.metadata.sorted_tables), LOCK_NAME)
        self._ready = True
        # The app may be built before gunicorn forks: carry no open connection into the workers.
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction; 503 ``db_unavailable``/``db_busy`` when the server database fails."""
        try:
            if not self._ready:
                self.create_tables()
            with self.engine.begin() as conn:
                yield conn
        except UNAVAILABLE as exc:
            log.warning("server database unavailable: %s", exc)
            raise (busy(_WHERE, exc) if is_busy(exc) else
                   unavailable(_WHERE, "try again later; check core_server.server_db")) from None

    def ping(self) -> None:
        """Raise unless the server database answers (a deep health check)."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()
