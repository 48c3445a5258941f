"""The document store: engine, tables, transactions and the Python API of the spec (§9).

``store.transaction()`` yields a :class:`~core_server.docstore.transaction.Transaction`; it
commits on exit and rolls back on an exception. Tables are created lazily on first use (startup
stays cheap): new collections, side tables and indexes are added, and a schema change that would
need a data migration makes that collection answer 503 ``schema_migration_required``.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any
from typing import TypeVar

import orjson
import sqlalchemy as sa
from flask import has_request_context
from sqlalchemy.engine import Engine

from core_server import security
from core_server import signals
from core_server.dblimits import DbLimits
from core_server.dblimits import busy
from core_server.dblimits import create_engine
from core_server.dblimits import is_busy
from core_server.dblimits import unavailable
from core_server.docstore.connections import KeptConnections
from core_server.docstore.dialects import Dialect
from core_server.docstore.dialects import begin_autocommit
from core_server.docstore.dialects import begin_write
from core_server.docstore.dialects import dialect_for
from core_server.docstore.dialects import dialect_named
from core_server.docstore.migrate import sync_tables
from core_server.docstore.model import HOOKS
from core_server.docstore.model import Collection
from core_server.docstore.query import Compiler
from core_server.docstore.tables import Layout
from core_server.docstore.transaction import Transaction
from core_server.state import StateKey
from core_server.errors import ApiError
from core_server.errors import GatewayTimeout
from core_server.errors import NotFound
from core_server.errors import ServiceUnavailable

log = logging.getLogger("core_server.docstore")
T = TypeVar("T")
_RETRY_CODES = {"40001", "40P01"}  # PostgreSQL serialization failure / deadlock
_MYSQL_RETRY = {1213, 1205}  # MariaDB deadlock / lock wait timeout
_TIMEOUT_CODES = {"57014"}  # PostgreSQL query_canceled (statement_timeout)
_MYSQL_TIMEOUT = {1969, 3024}  # MariaDB max_statement_time / MySQL max_execution_time
_WHERE = "the document store"
#: hooks that run in a create's transaction (a create with none may be one statement)
_CREATE_HOOKS = ("before_validate", "before_create", "after_create")


class _IdClock:
    """Time-ordered ids (UUIDv7 layout): 48-bit milliseconds, a 12-bit sequence, 62 random bits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._seq = 0

    def next(self) -> str:
        with self._lock:
            now = time.time_ns() // 1_000_000
            if now <= self._last:
                self._seq += 1
                if self._seq > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                    self._last += 1
                    self._seq = 0
                now = self._last
            else:
                self._seq = secrets.randbits(8)  # random start leaves room to count up
            self._last = now
            seq = self._seq
        rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (now << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class Store:
    """The document store of one app.

    :param url: SQLAlchemy URL of the storage database.
    :param collections: validated schemas by name.
    """

    def __init__(self, url: str, collections: dict[str, Collection], *, max_limit: int = 1000,
                 default_limit: int = 50, require_if_match: bool = False,
                 max_batch: int = 10000, limits: DbLimits | None = None) -> None:
        self.url = url
        #: wait bounds of the engine (default: a 30 s statement timeout)
        self.limits = limits or DbLimits(statement_timeout_ms=30000)
        self.collections = collections
        self.max_limit = max_limit
        self.default_limit = default_limit
        self.require_if_match = require_if_match
        self.max_batch = max_batch
        self.unavailable: dict[str, str] = {}
        self.hooks: dict[tuple[str, str], list[Callable[..., Any]]] = {}
        self._engine: Engine | None = None
        self._dialect: Dialect | None = None
        self._kept: KeptConnections | None = None
        self._layouts: dict[str, Layout] = {}
        self._lock = threading.RLock()
        self._ready = False
        self.ids = _IdClock()
        self.metadata = sa.MetaData()
        self.meta_table = sa.Table("ds__schemas", self.metadata,
                                   sa.Column("name", sa.String(64), primary_key=True),
                                   sa.Column("signature", sa.Text, nullable=False),
                                   sa.Column("updated_at", sa.String(32), nullable=False))
        for name, collection in collections.items():
            for event, fns in collection.hooks.items():
                self.hooks.setdefault((name, event), []).extend(fns)

    # -- wiring --------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine, created on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    engine = _create_engine(self.url, self.limits)
                    if dialect_for(engine).keeps_connections(engine):
                        self._kept = KeptConnections(engine)
                    self._engine = engine
                    signals.engine_created.send("store", engine=self._engine)
        return self._engine

    @property
    def kept(self) -> KeptConnections | None:
        """The kept connections of a SQLite store (None: transactions use the pool)."""
        if self._engine is None:
            self.engine  # noqa: B018 - creates the engine and with it the kept connections
        return self._kept

    @property
    def dialect(self) -> Dialect:
        """The :class:`Dialect` of the storage database."""
        if self._dialect is None:
            self._dialect = dialect_for(self.engine)
        return self._dialect

    def layout(self, name: str) -> Layout:
        """The tables of collection ``name`` (404 if unknown, 503 if it needs a migration)."""
        collection = self.collection(name)
        self.ensure()
        if name in self.unavailable:
            raise ServiceUnavailable("schema_migration_required", self.unavailable[name],
                                     hint="migrate the data, then restart the server")
        return self._layout(collection)

    def _layout(self, collection: Collection) -> Layout:
        layout = self._layouts.get(collection.name)
        if layout is None:
            layout = Layout(collection, self.dialect, self.metadata)
            self._layouts[collection.name] = layout
        return layout

    def collection(self, name: str) -> Collection:
        """The schema of ``name`` or 404."""
        try:
            return self.collections[name]
        except KeyError:
            raise NotFound(f"no collection {name!r}", hint="collections: " + ", ".join(
                sorted(self.collections)) if self.collections else "no collections registered"
            ) from None

    def compiler(self, name: str, readable: Callable[[str], bool] | None = None,
                 named: bool = False) -> Compiler:
        """A query :class:`Compiler` of ``name`` (``named``: values bound by name)."""
        return Compiler(self.layout(name), readable, named)

    def creates_in_one_statement(self, name: str) -> bool:
        """Whether a create of ``name`` is one INSERT and so may run in autocommit: no reads
        before it (references, unique values), no hooks that could run some, its side rows in
        the same statement
        (:meth:`~core_server.docstore.tables.Layout.creates_in_one_statement`)."""
        self._ensure_mapped()
        hooks = self.hooks
        return not any(hooks.get((name, event)) for event in _CREATE_HOOKS) \
            and self.layout(name).creates_in_one_statement(self.engine.dialect)

    def add_hook(self, collection: str, event: str, fn: Callable[..., Any]) -> None:
        """Register ``fn`` for ``event`` (one of :data:`~core_server.docstore.model.HOOKS`)."""
        if event not in HOOKS:
            raise ValueError(f"unknown hook {event!r}; hooks: {', '.join(HOOKS)}")
        self.collection(collection)
        self.hooks.setdefault((collection, event), []).append(fn)

    def ensure(self) -> None:
        """Create missing tables, side tables and indexes (once per process)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            sync_tables(self)
            self._ready = True

    def _ensure_mapped(self) -> None:
        """:meth:`ensure` with database errors mapped (503...), as a transaction's are."""
        if not self._ready:  # once per process; no error-mapping frame on every request
            with _db_errors():
                self.ensure()

    def ping(self) -> None:
        """Deep health check: the storage database answers."""
        with self._begun(write=False) as conn:  # a dropped pooled connection is not "down"
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled and kept connection."""
        if self._kept is not None:
            self._kept.dispose()
        if self._engine is not None:
            self._engine.dispose()

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def transaction(self, write: bool = True, user: security.User | None = None,
                    enforce: bool = False, autocommit: bool = False) -> Iterator[Transaction]:
        """A unit of work: commit on normal exit, roll back on an exception.

        :param write: SQLite takes the write lock up front (``BEGIN IMMEDIATE``).
        :param user: recorded in ``_created_by``/``_updated_by`` (default: the request's user,
            else ``"system"``).
        :param enforce: apply the user's field rights (the REST API does; plugin code is trusted).
        :param autocommit: no BEGIN and COMMIT, each statement is a transaction of its own
            (PostgreSQL, SQLite; MariaDB keeps its implicit transaction). For a read of one
            statement (a page with its total, a count) this saves two round trips; several
            statements may see different snapshots. A write in autocommit must be one
            statement (see :meth:`creates_in_one_statement`): atomic on its own; :meth:`run`
            reruns it on a dropped connection without writing it twice.
        """
        with self._unit(write, user, enforce, autocommit, retry_dropped=False) as tx:
            yield tx

    @contextmanager
    def _unit(self, write: bool, user: security.User | None, enforce: bool, autocommit: bool,
              retry_dropped: bool, replay_ids: Sequence[str] = ()) -> Iterator[Transaction]:
        self._ensure_mapped()
        with _db_errors(retry_dropped), self._begun(write, autocommit) as conn:
            yield Transaction(self, conn, user or _request_user(), enforce, replay_ids)

    @contextmanager
    def _begun(self, write: bool, autocommit: bool = False) -> Iterator[sa.Connection]:
        """A connection in a transaction; committed on normal exit, else rolled back.

        A pooled connection that the server dropped shows at BEGIN, before any work of the
        transaction: then one fresh connection is tried (what the pool's pre-ping gave, without
        its round trip on PostgreSQL, where the BEGIN is the first statement sent). In
        ``autocommit`` no BEGIN is sent (:func:`~core_server.docstore.dialects.begin_autocommit`)
        and :meth:`run` retries the read instead. SQLite takes kept connections
        (:mod:`~core_server.docstore.connections`) instead of the pool.
        """
        kept = self.kept
        for attempt in range(2):
            conn = kept.take() if kept is not None else self.engine.connect()
            try:
                if autocommit:
                    begin_autocommit(conn)
                elif write:
                    begin_write(conn)
                begun = conn.begin()
            except sa.exc.DBAPIError as exc:
                conn.close()
                if attempt or not exc.connection_invalidated:
                    raise
                log.warning("document store connection was dropped; reconnecting: %s", exc.orig)
                continue
            if kept is None:
                with conn, begun:
                    yield conn
                return
            try:
                with begun:
                    yield conn
            finally:
                kept.give_back(conn)
            return

    def run(self, fn: Callable[[Any], T], *, write: bool = True,
            user: security.User | None = None, enforce: bool = False, attempts: int = 4,
            autocommit: bool = False) -> T:
        """Run ``fn(tx)`` in a transaction, retrying deadlocks and serialization failures.

        With ``autocommit`` (see :meth:`transaction`) a connection that the server dropped
        fails the first statement rather than a BEGIN: ``fn`` is run once more on a fresh
        connection (the pool replaces every connection older than the failure). A write's
        statement may have run before the connection broke, so the new documents of the rerun
        take the ids of the dropped attempt, and a create that finds its id stored answers
        with that document (one statement: nothing else of the attempt can have been written).
        """
        retry_dropped = autocommit
        replay: list[str] = []
        for attempt in range(attempts):
            tx: Transaction | None = None
            try:
                with self._unit(write, user, enforce, autocommit, retry_dropped, replay) as tx:
                    return fn(tx)
            except _Dropped as exc:
                if attempt + 1 == attempts:
                    raise unavailable(_WHERE) from exc.__cause__
                if tx is not None:
                    replay = tx.issued_ids
                retry_dropped = False  # once: a second dead connection is a database down
                log.warning("document store connection was dropped; reconnecting: %s",
                            exc.__cause__)
            except sa.exc.DBAPIError as exc:
                if attempt + 1 == attempts or not _retryable(exc):
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")


class _Dropped(Exception):
    """A read in autocommit found its pooled connection dropped (:meth:`Store.run` retries)."""


def _create_engine(url: str, limits: DbLimits) -> Engine:
    probe = sa.engine.make_url(url)
    dialect = dialect_named(probe.get_backend_name())
    if dialect.name == "sqlite" and probe.database and probe.database != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(probe.database)), exist_ok=True)
    engine = create_engine(url, limits, json_serializer=lambda v: orjson.dumps(v).decode(),
                           json_deserializer=orjson.loads, **dialect.engine_options())
    dialect.configure(engine)
    return engine


def _retryable(exc: sa.exc.DBAPIError) -> bool:
    return _error_in(exc, _RETRY_CODES, _MYSQL_RETRY)


def _timed_out(exc: sa.exc.DBAPIError) -> bool:
    return _error_in(exc, _TIMEOUT_CODES, _MYSQL_TIMEOUT)


def _error_in(exc: sa.exc.DBAPIError, sqlstates: set[str],
              mysql_codes: set[int]) -> bool:
    """Whether the driver error is one of these SQLSTATEs (psycopg) or MySQL error numbers."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in sqlstates:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return len(args) > 0 and args[0] in mysql_codes


@contextmanager
def _db_errors(retry_dropped: bool = False) -> Iterator[None]:
    try:
        yield
    except ApiError:
        raise
    except sa.exc.TimeoutError as exc:  # the pool (the bulkhead) stayed full
        if not is_busy(exc):
            raise
        log.warning("document store database busy: %s", exc)
        raise busy(_WHERE, exc) from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        if retry_dropped and exc.connection_invalidated:
            raise _Dropped() from exc
        if _retryable(exc):
            raise
        if _timed_out(exc):
            raise GatewayTimeout("a query of the document store ran past the statement timeout",
                                 hint="narrow the filter, or raise store.statement_timeout") \
                from exc
        if exc.connection_invalidated or "connect" in str(exc).lower() or "unable to open" \
                in str(exc).lower() or "timed out" in str(exc).lower():
            log.warning("document store database unavailable: %s", exc)
            raise unavailable(_WHERE) from exc
        raise


def _request_user() -> security.User | None:
    return security.current_user() if has_request_context() else None


#: Where :func:`core_server.docstore.init_app` keeps the :class:`Store`.
STORE: StateKey[Store] = StateKey("store")
