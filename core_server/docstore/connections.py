"""SQLite: the document store's connections kept open between transactions.

A store transaction on the pool checks a connection out and back in every time: a new
:class:`sqlalchemy.engine.Connection`, the pool's lock, its checkout/checkin events and the
reset-on-return ROLLBACK, about a tenth of a create's work in the app. A SQLite connection has
no server that could drop it and no bulkhead to respect (:mod:`core_server.dblimits` gives SQLite
no pool bounds), so the store keeps a few of its Connections, detached from the pool, and
hands them to the next transaction as they are. More threads than :data:`IDLE_MAX` at once
use new connections, closed after their transaction. The lock waits stay SQLite's
(``busy_timeout``); every transaction still opens with BEGIN (IMMEDIATE) and ends with COMMIT
or ROLLBACK, so the engine's ``commit``/``rollback`` events (metrics) see each one. The pool's
gauges count a kept connection while it is in the pool only (as dbview's kept SQLite
connections): its ``detach`` event counts as a checkin.
"""

from __future__ import annotations

import functools
import os
import weakref
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core_server.dblimits import close_idle

#: idle connections kept per store (a worker's threads; more at once use new connections)
IDLE_MAX = 8


class KeptConnections:
    """Detached Connections of one engine, reused transaction after transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._idle: list[sa.Connection] = []  # list.pop/append are atomic: no lock needed
        self._generation = 0
        #: connections of the parent process after a fork: never used, never closed here
        self._inherited: list[sa.Connection] = []
        os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    def take(self) -> sa.Connection:
        """An idle kept connection, else a new one (detached from the pool)."""
        try:
            return self._idle.pop()
        except IndexError:
            pass
        conn = self.engine.connect()
        try:
            conn.detach()  # ours now: closed by give_back when not kept, or by dispose()
        except BaseException:
            conn.close()
            raise
        conn.info["kept_generation"] = self._generation
        return conn

    def give_back(self, conn: sa.Connection) -> None:
        """Keep ``conn`` for the next transaction if it is clean, else close it.

        Clean: not invalidated, no transaction open (neither SQLAlchemy's nor the driver's: a
        COMMIT that failed may leave SQLite's open), from before no :meth:`dispose`.
        """
        try:
            keep = (not conn.invalidated and not conn.in_transaction()
                    and not _driver_in_transaction(conn)
                    and conn.info.get("kept_generation") == self._generation
                    and len(self._idle) < IDLE_MAX)
        except Exception:  # noqa: BLE001 - a connection we cannot even ask is not kept
            keep = False
        if keep:
            self._idle.append(conn)
        else:
            with suppress(Exception):
                conn.close()

    def _forked(self) -> None:
        # a SQLite connection must not cross a fork (its locks are the parent's): the child
        # opens its own; closing the parent's here could disturb the parent's file state
        self._generation += 1
        self._inherited.extend(self._idle)
        self._idle = []

    def dispose(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        self._generation += 1
        close_idle(self._idle)


def _after_fork(ref: weakref.ref[KeptConnections]) -> None:
    kept = ref()
    if kept is not None:
        kept._forked()


def _driver_in_transaction(conn: sa.Connection) -> bool:
    dbapi: Any = conn.connection.dbapi_connection
    return bool(getattr(dbapi, "in_transaction", True))
