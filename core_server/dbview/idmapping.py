"""Persistent id assignment: each row ``id`` of an id type gets a stable integer ``_id``.

The mapping lives in the server's own database (``core_server.server_db``) in one table with
``(idtype, name)`` and ``(idtype, id)`` unique, ids dense from 0 per id type in first-seen order.
Workers and restarts agree because the database decides: a process that loses a race on the
unique constraints rolls back, re-reads and retries. Known names are served from an in-process
cache (mappings never change once written), so only unseen names reach the database.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from core_server.dblimits import busy
from core_server.dblimits import create_tables
from core_server.dblimits import is_busy
from core_server.dblimits import unavailable

log = logging.getLogger("core_server.dbview.idmapping")

TABLE_NAME = "core_server_idmap"
#: the longest name and the largest id the table holds (requests are checked against them)
NAME_LENGTH = 255
MAX_ID = 2**31 - 1
_CHUNK = 500
_RETRIES = 20
_INT = {int}
#: the schema lock of the id table (dblimits.schema_lock)
LOCK_NAME = "core_server.idmap.schema"
_WHERE = "the server database (id assignment)"


@contextmanager
def _db_errors() -> Iterator[None]:
    # the server database down or its pool full is a 503 of the request, never a 500
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
        log.warning("%s unavailable: %s", _WHERE, exc)
        raise (busy(_WHERE, exc) if is_busy(exc) else unavailable(_WHERE)) from exc


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE_NAME, metadata,
        sa.Column("idtype", sa.String(100), nullable=False),
        sa.Column("name", sa.String(NAME_LENGTH), nullable=False),
        sa.Column("id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("idtype", "name", name=f"pk_{TABLE_NAME}"),
        sa.UniqueConstraint("idtype", "id", name=f"uq_{TABLE_NAME}_id"),
    )


def _unreachable(exc: sa_exc.DBAPIError) -> bool:
    """The server database cannot be reached (as opposed to a lost race worth retrying)."""
    orig = exc.orig
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    # psycopg raises its plain OperationalError for connect failures and read timeouts (races
    # have a SQLSTATE or a subclass); pymysql's client errors are 2002-2055
    if type(orig).__name__ in ("OperationalError", "ConnectionTimeout") \
            and getattr(orig, "sqlstate", 0) is None:
        return True
    code = getattr(orig, "args", (None,))[0] if getattr(orig, "args", None) else None
    return code in (2002, 2003, 2006, 2013, 2055)


class IdMapper:
    """Map names to dense integer ids per id type, persistently.

    :param engine: the server database; the table is created on first use.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.table = _table(sa.MetaData())
        self._cache: dict[str, dict[str, int]] = {}
        self._top: dict[str, int] = {}  # highest id in the cache per id type
        self._ints: dict[str, dict[int, int]] = {}  # the same mapping keyed by int names
        self._lock = threading.Lock()
        self._created = False

    def __call__(self, names: Sequence[Any], idtype: str) -> list[int]:
        """The ids of ``names`` (any values; compared as strings), assigning unseen ones.

        :raises ServiceUnavailable: 503 when the server database cannot be reached.
        """
        cache = self._cache.get(idtype)
        if cache is None:
            with _db_errors():
                cache = self._load(idtype)
        ints = self._ints.get(idtype)
        if ints is not None and set(map(type, names)) == _INT:
            # integer ids (the common case) skip str(): exact ints only, as True == 1 == 1.0
            ids = list(map(ints.get, names))
            if None not in ids:
                return ids  # type: ignore[return-value]
        keys = list(map(str, names))
        ids = list(map(cache.get, keys))
        if None in ids:  # only unseen names reach the database
            missing = [k for k, i in zip(keys, ids) if i is None]
            with self._lock, _db_errors():
                self._resolve(idtype, list(dict.fromkeys(missing)), cache)
            ids = list(map(cache.__getitem__, keys))
        if ints is not None and set(map(type, names)) == _INT:
            ints.update(zip(names, ids))  # type: ignore[arg-type]
        return ids  # type: ignore[return-value]

    def _load(self, idtype: str) -> dict[str, int]:
        # a new worker reads an id type's whole mapping once instead of asking name by name
        with self._lock:
            if idtype not in self._cache:
                self._ensure_table()
                cache: dict[str, int] = {}
                self._top[idtype] = -1
                with self.engine.connect() as conn:
                    self._catch_up(conn, idtype, cache)
                self._cache[idtype] = cache
                self._ints[idtype] = {}
            return self._cache[idtype]

    def _catch_up(self, conn: sa.Connection, idtype: str, cache: dict[str, int]) -> None:
        # ids are dense and only grow: whatever other processes assigned since our last read
        # has an id above the highest one we know, so one range query brings the cache up to date
        t = self.table
        query = sa.select(t.c.name, t.c.id).where(t.c.idtype == idtype,
                                                  t.c.id > self._top[idtype])
        fresh = {name: id_ for name, id_ in conn.execute(query)}
        if fresh:
            cache.update(fresh)
            self._top[idtype] = max(self._top[idtype], *fresh.values())

    def lookup(self, names: Iterable[Any], idtype: str) -> dict[str, int]:
        """Existing ids of ``names`` (no assignment)."""
        keys = [str(n) for n in names]
        with _db_errors():
            self._ensure_table()
            with self.engine.connect() as conn:
                return self._select(conn, idtype, keys)

    def _ensure_table(self) -> None:
        # many workers and hosts create the table on their first request at once: under the
        # schema lock (PostgreSQL's CREATE TABLE races in pg_type even with IF NOT EXISTS)
        if not self._created:
            with self.engine.begin() as conn:
                create_tables(conn, [self.table], LOCK_NAME)
            self._created = True

    def _resolve(self, idtype: str, missing: list[str], cache: dict[str, int]) -> None:
        self._ensure_table()
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    self._catch_up(conn, idtype, cache)
                    unseen = [k for k in missing if k not in cache]
                    assigned = self._insert(conn, idtype, unseen) if unseen else {}
                cache.update(assigned)
                if assigned:
                    self._top[idtype] = max(assigned.values())
                return
            except sa_exc.DBAPIError as exc:
                if _unreachable(exc):  # no retry can help: 503 at once
                    raise
                # another process assigned some of these (unique violation, deadlock, lock wait,
                # an aborted psycopg pipeline): re-read and retry
                log.debug("id assignment retry %d for %s: %s", attempt, idtype, exc)
                time.sleep(random.uniform(0, 0.005) * attempt)  # let the winner commit
        raise unavailable(_WHERE, f"ids of {idtype} could not be assigned after {_RETRIES} "
                          "attempts; try again")

    def _select(self, conn: sa.Connection, idtype: str, keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        t = self.table
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            query = sa.select(t.c.name, t.c.id).where(t.c.idtype == idtype, t.c.name.in_(chunk))
            found.update({name: id_ for name, id_ in conn.execute(query)})
        return found

    def _insert(self, conn: sa.Connection, idtype: str, unseen: list[str]) -> dict[str, int]:
        # a concurrent insert of the same ids fails on the unique constraints and is retried
        t = self.table
        start = self._top[idtype]
        assigned = {name: start + 1 + i for i, name in enumerate(unseen)}
        # compiled once and handed to the driver's executemany: no per-row parameter processing
        compiled = t.insert().compile(dialect=conn.dialect)
        rows = [{"idtype": idtype, "name": n, "id": i} for n, i in assigned.items()]
        if compiled.positional:
            order = compiled.positiontup or ()
            conn.exec_driver_sql(compiled.string, [tuple(r[k] for k in order) for r in rows])
        else:
            conn.exec_driver_sql(compiled.string, rows)
        return assigned
