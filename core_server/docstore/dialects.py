"""Everything that differs between SQLite, PostgreSQL and MariaDB, in one place.

Each dialect turns a schema-declared JSON path into SQL text. The text is built only from
names that :mod:`core_server.docstore.schema` validated; values are always bound parameters.
The same text is used for index DDL and for queries (SQLite's planner matches indexes only on
identical expression text). MariaDB has no functional indexes, so an indexed path becomes a
virtual generated column and queries name that column instead.
"""

from __future__ import annotations

import hashlib
import re
import re._parser as re_parser  # stdlib: the parse tree shows nested repeats
import select
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from core_server.dblimits import sqlite_wal
from core_server.docstore.model import INDEXED_STRING_MAX
from core_server.errors import BadRequest

DOC = "doc"
#: SQLAlchemy types used for bound values of each schema type.
BIND_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "string": sa.String(), "ref": sa.String(), "datetime": sa.String(),
    "int": sa.BigInteger(), "float": sa.Float(), "bool": sa.Boolean(),
}
MAX_REGEX = 200
#: key in a pooled connection's ``info``: its next BEGIN is a write's (see :func:`begin_write`)
_WRITE = "docstore_write"
#: ... its next transaction sends no BEGIN, each statement commits itself (:func:`begin_autocommit`)
_AUTOCOMMIT = "docstore_autocommit"


def identifier(*parts: str) -> str:
    """A database identifier from validated parts, shortened with a hash beyond 60 characters."""
    name = "_".join(parts)
    if len(name) <= 60:
        return name
    return name[:50] + "_" + hashlib.sha1(name.encode()).hexdigest()[:9]


def check_regex(pattern: str) -> str:
    """Reject patterns that could backtrack catastrophically (or are just too long)."""
    if len(pattern) > MAX_REGEX:
        raise BadRequest("invalid_value", f"regular expressions are limited to {MAX_REGEX} chars")
    try:
        tree = re_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise BadRequest("invalid_value", f"bad regular expression: {exc}") from None
    if _risky(tree, inside_repeat=False):
        raise BadRequest("invalid_value", f"regular expression {pattern!r} is not allowed",
                         hint="repeated groups that contain repeats or alternatives, "
                              "backreferences and lookarounds are refused")
    return pattern


def _risky(tree: Any, inside_repeat: bool) -> bool:
    """Constructs that make a backtracking engine explode (or differ between databases)."""
    for op, arg in tree:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT"):
            return True
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            unbounded = high == re_parser.MAXREPEAT or high > 1
            if inside_repeat and unbounded:
                return True
            if _risky(sub, inside_repeat or unbounded):
                return True
        elif name == "BRANCH":
            if inside_repeat:
                return True
            if any(_risky(branch, inside_repeat) for branch in arg[1]):
                return True
        elif name == "SUBPATTERN":
            if _risky(arg[-1], inside_repeat):
                return True
    return False


def guarded_regexp(pattern: str | None, value: Any) -> int | None:
    """SQLite's REGEXP function: a checked pattern, searched in at most 10,000 characters."""
    if pattern is None or value is None:
        return None
    check_regex(pattern)
    return 1 if re.search(pattern, str(value)[:10_000]) else 0


class Dialect:
    """The common interface; subclasses override the per-database pieces."""

    name = "generic"
    generated_columns = False
    #: whether triggers write new rows' side rows (:meth:`side_trigger_sql`)
    side_triggers = False

    def json_type(self) -> sa.types.TypeEngine[Any]:
        """The column type of the document."""
        return sa.JSON()

    def scalar_sql(self, path: str, kind: str) -> str:
        """SQL text of the typed scalar at ``path`` (NULL when missing or JSON null)."""
        raise NotImplementedError

    def present_sql(self, path: str) -> str:
        """SQL text that is true when the key exists (even with a null value)."""
        raise NotImplementedError

    def size_sql(self, path: str) -> str:
        """SQL text of an array's length (NULL when not an array)."""
        raise NotImplementedError

    def nonnull_sql(self, path: str) -> str:
        """SQL text that is true when the key exists with a value other than JSON null."""
        raise NotImplementedError

    def regex(self, expr: ColumnElement[Any], pattern: Any) -> ColumnElement[bool]:
        """``expr`` matches ``pattern`` (a bound parameter of a checked pattern)."""
        return expr.op("REGEXP")(pattern)

    def like(self, expr: ColumnElement[Any], pattern: Any) -> ColumnElement[bool]:
        """Case-sensitive LIKE (``pattern`` bound) with ``\\`` as the escape character."""
        return expr.like(pattern, escape="\\")

    def order(self, expr: ColumnElement[Any], descending: bool) -> ColumnElement[Any]:
        """Sort ``expr``; nulls always sort as the smallest value."""
        return expr.desc() if descending else expr.asc()

    def index_element(self, sql: str, descending: bool) -> Any:
        """One element of an index over ``sql``."""
        return sa.text(f"{sql} DESC" if descending else sql)

    def table_options(self) -> dict[str, Any]:
        """Extra ``sa.Table`` keyword arguments."""
        return {}

    def text_type(self) -> sa.types.TypeEngine[Any]:
        """The column type of indexed text values (side tables, generated columns)."""
        return sa.String(INDEXED_STRING_MAX)

    def generated_column(self, path: str, kind: str) -> sa.Column[Any] | None:
        """MariaDB only: the virtual column an indexed path is stored in."""
        return None

    def side_trigger_sql(self, name: str, table: str, side: str, path: str) -> str:
        """Where :attr:`side_triggers`: DDL of a trigger that writes a new row's side rows for
        the list at ``path``. Names and path are validated identifiers."""
        raise NotImplementedError

    def configure(self, engine: Engine) -> None:
        """Install connection hooks (SQLite: WAL, REGEXP, BEGIN IMMEDIATE)."""

    def triggers_of(self, conn: sa.Connection, table: str) -> dict[str, str]:
        """Where :attr:`side_triggers`: the triggers on ``table``, their DDL by name."""
        raise NotImplementedError

    def begin_sql(self, write: bool) -> str | None:
        """The statement that opens a transaction (None: the driver's own way)."""
        return None

    def keeps_connections(self, engine: Engine) -> bool:
        """Whether store transactions keep their connections (:mod:`.connections`)."""
        return False

    def is_unique_violation(self, exc: sa.exc.IntegrityError) -> bool:
        """Whether the error is a unique-constraint violation."""
        return True

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`sqlalchemy.create_engine`."""
        return {"pool_pre_ping": True}


class SQLiteDialect(Dialect):
    """SQLite: ``json_extract`` returns typed SQL values; booleans are 1/0."""

    name = "sqlite"
    side_triggers = True

    def scalar_sql(self, path: str, kind: str) -> str:
        return f"json_extract({DOC}, '$.{path}')"

    def present_sql(self, path: str) -> str:
        return f"json_type({DOC}, '$.{path}') IS NOT NULL"

    def size_sql(self, path: str) -> str:
        return (f"CASE WHEN json_type({DOC}, '$.{path}') = 'array' "
                f"THEN json_array_length({DOC}, '$.{path}') END")

    def nonnull_sql(self, path: str) -> str:
        return f"coalesce(json_type({DOC}, '$.{path}'), 'null') <> 'null'"

    def engine_options(self) -> dict[str, Any]:
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}

    def side_trigger_sql(self, name: str, table: str, side: str, path: str) -> str:
        # SQLite runs one statement per call: with the trigger, a create with list fields is
        # one INSERT that commits itself (as PostgreSQL's CombinedInsertSQL), no BEGIN/COMMIT
        node = f"'$.{path}'"
        return (f"CREATE TRIGGER {name} AFTER INSERT ON {table} "
                f"WHEN json_type(NEW.{DOC}, {node}) = 'array' BEGIN "
                f"INSERT INTO {side} (doc_id, value) "
                f"SELECT NEW._id, j.value FROM json_each(NEW.{DOC}, {node}) AS j; END")

    def triggers_of(self, conn: sa.Connection, table: str) -> dict[str, str]:
        # sqlite_master keeps each CREATE TRIGGER's text as it was sent
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))
        return {name: sql for name, sql in rows}

    def configure(self, engine: Engine) -> None:
        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi: Any, record: Any) -> None:
            # The driver must not open transactions itself: we send BEGIN / BEGIN IMMEDIATE.
            dbapi.isolation_level = None
            dbapi.create_function("REGEXP", 2, guarded_regexp, deterministic=True)
            sqlite_wal(dbapi)
            for pragma in ("synchronous=NORMAL", "case_sensitive_like=ON"):
                dbapi.execute(f"PRAGMA {pragma}")

        explicit_begin(engine, self)

    def begin_sql(self, write: bool) -> str | None:
        # a write takes the write lock first (waiting busy_timeout for it): a deferred
        # transaction that read and then writes fails at once when another connection wrote
        return "BEGIN IMMEDIATE" if write else "BEGIN"

    def keeps_connections(self, engine: Engine) -> bool:
        # a file (an in-memory database is one per connection: its pool keeps one per thread)
        return engine.url.database not in (None, "", ":memory:") \
            and "memory" not in str(engine.url.query.get("mode", ""))

    def regex(self, expr: ColumnElement[Any], pattern: Any) -> ColumnElement[bool]:
        # SQLite's REGEXP calls the guarded function as REGEXP(pattern, value)
        return sa.func.REGEXP(pattern, expr) == 1

    def is_unique_violation(self, exc: sa.exc.IntegrityError) -> bool:
        return "UNIQUE" in str(exc.orig)


class PostgresDialect(Dialect):
    """PostgreSQL: JSONB, ``->>`` text extraction with casts, B-tree expression indexes."""

    name = "postgresql"
    _CASTS = {"int": "bigint", "float": "double precision", "bool": "boolean"}

    def json_type(self) -> sa.types.TypeEngine[Any]:
        return postgresql.JSONB()

    def _text(self, path: str) -> str:
        parts = path.split(".")
        if len(parts) == 1:
            return f"({DOC} ->> '{path}')"
        return f"({DOC} #>> '{{{','.join(parts)}}}')"

    def _json(self, path: str) -> str:
        return f"({DOC} #> '{{{','.join(path.split('.'))}}}')"

    def scalar_sql(self, path: str, kind: str) -> str:
        cast = self._CASTS.get(kind)
        # COLLATE "C": code-point order and equality, as in Python and the other databases
        return f"({self._text(path)}::{cast})" if cast else f'({self._text(path)} COLLATE "C")'

    def text_type(self) -> sa.types.TypeEngine[Any]:
        return sa.String(INDEXED_STRING_MAX, collation="C")

    def present_sql(self, path: str) -> str:
        return f"{self._json(path)} IS NOT NULL"

    def size_sql(self, path: str) -> str:
        node = self._json(path)
        return f"CASE WHEN jsonb_typeof({node}) = 'array' THEN jsonb_array_length({node}) END"

    def nonnull_sql(self, path: str) -> str:
        return f"coalesce(jsonb_typeof({self._json(path)}), 'null') <> 'null'"

    def regex(self, expr: ColumnElement[Any], pattern: Any) -> ColumnElement[bool]:
        return expr.op("~")(pattern)

    def order(self, expr: ColumnElement[Any], descending: bool) -> ColumnElement[Any]:
        return expr.desc().nulls_last() if descending else expr.asc().nulls_first()

    def index_element(self, sql: str, descending: bool) -> Any:
        return sa.text(f"({sql}) DESC NULLS LAST" if descending else f"({sql}) ASC NULLS FIRST")

    def is_unique_violation(self, exc: sa.exc.IntegrityError) -> bool:
        return getattr(exc.orig, "sqlstate", None) == "23505"

    def engine_options(self) -> dict[str, Any]:
        # psycopg in autocommit mode and an explicit BEGIN (configure): psycopg's implicit BEGIN
        # was a round trip of its own and pre-ping another one; now the BEGIN is the first round
        # trip and doubles as the liveness check (Store.transaction reconnects once when the
        # BEGIN finds the connection dead, before any work of the transaction). COMMIT and
        # ROLLBACK are still sent: psycopg sends them whenever a transaction is open. A read in
        # autocommit (begin_autocommit, Store.transaction) sends no BEGIN, so neither of them.
        return {"isolation_level": "AUTOCOMMIT"}

    def configure(self, engine: Engine) -> None:
        explicit_begin(engine, self)
        replace_closed_connections(engine)

    def begin_sql(self, write: bool) -> str | None:
        return "BEGIN"


class MariaDBDialect(Dialect):
    """MariaDB: ``JSON_VALUE`` (NULL for JSON null), binary collation, virtual columns."""

    name = "mysql"
    generated_columns = True
    _CASTS = {"int": "SIGNED", "float": "DOUBLE", "bool": "SIGNED"}
    _COLUMN_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "TINYINT"}
    COLLATION = "utf8mb4_nopad_bin"

    def scalar_sql(self, path: str, kind: str) -> str:
        value = f"JSON_VALUE({DOC}, '$.{path}')"
        cast = self._CASTS.get(kind)
        if cast:
            return f"CAST({value} AS {cast})"
        # no-pad binary collation: 'a' and 'a ' differ, upper and lower case differ
        return f"(CONVERT({value} USING utf8mb4) COLLATE {self.COLLATION})"

    def text_type(self) -> sa.types.TypeEngine[Any]:
        return sa.String(INDEXED_STRING_MAX, collation=self.COLLATION)

    def table_options(self) -> dict[str, Any]:
        return {"mysql_charset": "utf8mb4", "mysql_collate": self.COLLATION}

    def present_sql(self, path: str) -> str:
        return f"JSON_CONTAINS_PATH({DOC}, 'one', '$.{path}') = 1"

    def size_sql(self, path: str) -> str:
        return (f"CASE WHEN JSON_TYPE(JSON_EXTRACT({DOC}, '$.{path}')) = 'ARRAY' "
                f"THEN JSON_LENGTH({DOC}, '$.{path}') END")

    def nonnull_sql(self, path: str) -> str:
        return f"coalesce(JSON_TYPE(JSON_EXTRACT({DOC}, '$.{path}')), 'NULL') <> 'NULL'"

    def generated_column(self, path: str, kind: str) -> sa.Column[Any] | None:
        name = identifier("g", path.replace(".", "__"))
        if kind in self._COLUMN_TYPES:
            column_type: Any = {"int": sa.BigInteger(), "float": sa.Float(53),
                                "bool": sa.SmallInteger()}[kind]
        else:
            column_type = self.text_type()
        return sa.Column(name, column_type, sa.Computed(self.scalar_sql(path, kind),
                                                        persisted=False))

    def engine_options(self) -> dict[str, Any]:
        return {"pool_pre_ping": True, "pool_recycle": 3600,
                "isolation_level": "READ COMMITTED"}

    def is_unique_violation(self, exc: sa.exc.IntegrityError) -> bool:
        return bool(getattr(exc.orig, "args", [None])[0] == 1062)


def begin_write(conn: sa.Connection) -> None:
    """Make the next BEGIN of ``conn`` a write's (SQLite: ``BEGIN IMMEDIATE``)."""
    conn.connection.info[_WRITE] = True


def begin_autocommit(conn: sa.Connection) -> None:
    """Send no BEGIN for the next transaction of ``conn``: a read whose statements each run
    in a transaction of their own (PostgreSQL and SQLite; MariaDB reads as before)."""
    conn.connection.info[_AUTOCOMMIT] = True


def explicit_begin(engine: Engine, dialect: Dialect) -> None:
    """Open the transactions of ``engine`` with :meth:`Dialect.begin_sql`.

    The statement is sent by the SQLAlchemy dialect's ``do_begin`` on the driver's cursor, not
    by a ``begin`` event through ``exec_driver_sql``: no execution context, statement events or
    result for it (~5 % of a create's instructions in the app on SQLite). So BEGIN is
    not a ``before_cursor_execute`` statement (nor a tracing span); a failure is still wrapped
    as the statements' are (:class:`sqlalchemy.exc.DBAPIError`, ``handle_error``, a dropped
    connection invalidated).
    """
    def do_begin(dbapi_connection: Any) -> None:
        # popped: every BEGIN not announced by begin_write is a read's
        info = dbapi_connection.info
        write = bool(info.pop(_WRITE, False))
        if info.pop(_AUTOCOMMIT, False):
            return
        statement = dialect.begin_sql(write)
        if statement is not None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(statement)
            finally:
                cursor.close()

    engine.dialect.do_begin = do_begin  # type: ignore[method-assign]


def replace_closed_connections(engine: Engine) -> None:
    """Give no pooled connection out that its server has closed, at no round trip.

    A pooled connection of a server that restarted or ended its backend (idle timeout,
    ``pg_terminate_backend``) has the server's last words waiting on its socket: a FATAL
    error and the end of the stream. An idle connection in good health has nothing to read,
    so a readable socket at checkout makes the pool open a new connection in its place
    (``DisconnectionError``). This is what pre-ping found with a round trip. A request on a
    connection whose server vanished without closing it still fails at its first statement:
    ``Store.run`` reruns it once.
    """
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if _closed_by_server(dbapi_connection):
            raise sa.exc.DisconnectionError("the server closed this pooled connection")

    sa.event.listen(engine, "checkout", checkout)


def _closed_by_server(dbapi_connection: Any) -> bool:
    try:
        socket = dbapi_connection.fileno()
    except Exception:  # noqa: BLE001 - psycopg raises once the connection is closed
        return True
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    # anything to read counts, also a rare unsolicited notice: a new connection costs a
    # connect, a closed one the request
    return bool(poller.poll(0))


def dialect_named(name: str) -> Dialect:
    """The :class:`Dialect` for a SQLAlchemy backend name (``sqlite``, ``postgresql``, ...)."""
    classes: dict[str, type[Dialect]] = {"sqlite": SQLiteDialect, "postgresql": PostgresDialect,
                                         "mysql": MariaDBDialect, "mariadb": MariaDBDialect}
    try:
        return classes[name]()
    except KeyError:
        raise ValueError(f"the document store does not support {name}") from None


def dialect_for(engine: Engine) -> Dialect:
    """The :class:`Dialect` of ``engine``."""
    return dialect_named(engine.dialect.name)
