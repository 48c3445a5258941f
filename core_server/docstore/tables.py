"""The SQL layout of a collection: main table, side tables, indexes and typed path expressions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from core_server.docstore.dialects import BIND_TYPES
from core_server.docstore.dialects import Dialect
from core_server.docstore.dialects import identifier
from core_server.docstore.model import AUTO_FIELDS
from core_server.docstore.model import Collection
from core_server.docstore.model import Field

ID_LENGTH = 36
#: the columns a new document row fills (generated columns fill themselves)
ROW_COLUMNS = ["_id", "_version", "_created_at", "_updated_at", "_created_by", "_updated_by", "doc"]
SIDE_COLUMNS = ["doc_id", "value"]
_SIDE_TYPES: dict[str, Any] = {"int": sa.BigInteger, "float": sa.Float, "bool": sa.Boolean}


def table_name(collection: str) -> str:
    """The main table of ``collection``."""
    return identifier("ds", collection)


def is_side_trigger(name: str) -> bool:
    """Whether ``name`` is one of the store's side-row triggers (``Layout.side_triggers``:
    ``tr_`` and the side table's name, which starts with ``ds_``), never a user's own."""
    return name.startswith("tr_ds_")


class Layout:
    """Tables and SQL expressions of one collection on one dialect.

    :param metadata: shared by all collections of a store.
    """

    def __init__(self, collection: Collection, dialect: Dialect, metadata: sa.MetaData) -> None:
        self.collection = collection
        self.dialect = dialect
        self.generated: dict[str, sa.Column[Any]] = {}
        if dialect.generated_columns:
            for path in sorted(collection.index_paths() - set(AUTO_FIELDS)):
                field = collection.field(path)
                column = dialect.generated_column(path, field.type if field else "string")
                if column is not None:
                    self.generated[path] = column
        self.table = sa.Table(
            table_name(collection.name), metadata,
            sa.Column("_id", sa.String(ID_LENGTH), primary_key=True),
            sa.Column("_version", sa.Integer, nullable=False),
            sa.Column("_created_at", sa.String(32), nullable=False),
            sa.Column("_updated_at", sa.String(32), nullable=False),
            sa.Column("_created_by", sa.String(200)),
            sa.Column("_updated_by", sa.String(200)),
            sa.Column("doc", dialect.json_type(), nullable=False),
            *self.generated.values(),
            **dialect.table_options(),
        )
        self.sides = {f.path: self._side_table(f, metadata) for f in collection.side_fields()}
        #: the database's triggers that write new rows' side rows (SQLite), by name: their DDL
        self.side_triggers = self._side_triggers()
        #: whether those triggers write the side rows of every new row (not the store)
        self.sides_by_trigger = bool(self.side_triggers)
        self.indexes = [self._index(i.name, i.fields, i.unique) for i in collection.indexes]
        self._reads_before_insert = bool(collection.ref_fields()) \
            or any(i.unique for i in collection.indexes)
        self._inserts: tuple[sa.Dialect, InsertSQL, dict[str, InsertSQL]] | None = None
        self._combined: tuple[sa.Dialect, CombinedInsertSQL | None] | None = None
        # SQL expressions hold no values and never change: built once, shared by all queries
        self._scalars: dict[str, ColumnElement[Any]] = {}
        #: the selected columns and ORDER BY of a page by its sort keys (docstore.pages)
        self.frames: dict[tuple[tuple[str, bool], ...], tuple[list[Any], list[Any]]] = {}
        #: the statement of a page by its shape (docstore.pages)
        self.plans: dict[Any, Any] = {}

    def creates_in_one_statement(self, dialect: sa.Dialect) -> bool:
        """Whether a create is one INSERT statement: no reference or unique checks read
        before it and its side rows, if any, are in the same statement (PostgreSQL) or written
        by triggers (SQLite)."""
        return not self._reads_before_insert and (
            not self.sides or self.sides_by_trigger or self.combined_insert(dialect) is not None)

    def combined_insert(self, dialect: sa.Dialect) -> CombinedInsertSQL | None:
        """PostgreSQL, with side tables: one statement for a document and its side rows."""
        built = self._combined
        if built is None or built[0] is not dialect:
            combined = None
            if dialect.name == "postgresql" and self.sides:
                main, _ = self.inserts(dialect)
                combined = CombinedInsertSQL(main, self.sides, dialect)
            built = self._combined = (dialect, combined)
        return built[1]

    def inserts(self, dialect: sa.Dialect) -> tuple[InsertSQL, dict[str, InsertSQL]]:
        """The compiled INSERTs of the main table and of each side table (by path).

        Built on first use for the engine's dialect (two threads may both build them: the
        same text, harmless).
        """
        built = self._inserts
        if built is None or built[0] is not dialect:
            built = self._inserts = (dialect, InsertSQL(self.table, ROW_COLUMNS, dialect), {
                path: InsertSQL(side, SIDE_COLUMNS, dialect) for path, side in self.sides.items()})
        return built[1], built[2]

    def _side_table(self, field: Field, metadata: sa.MetaData) -> sa.Table:
        kind = field.element_type
        value_type = _SIDE_TYPES[kind]() if kind in _SIDE_TYPES else self.dialect.text_type()
        name = identifier("ds", self.collection.name, "l", field.path.replace(".", "__"))
        return sa.Table(
            name, metadata,
            sa.Column("doc_id", sa.String(ID_LENGTH), nullable=False),
            sa.Column("value", value_type),
            sa.Index(identifier("ix", name, "d"), "doc_id"),
            sa.Index(identifier("ix", name, "v"), "value", "doc_id"),
            **self.dialect.table_options(),
        )

    def _side_triggers(self) -> dict[str, str]:
        triggers: dict[str, str] = {}
        if self.dialect.side_triggers:
            for path, side in self.sides.items():
                name = identifier("tr", side.name)
                triggers[name] = self.dialect.side_trigger_sql(name, self.table.name,
                                                               side.name, path)
        return triggers

    def _index(self, name: str, fields: tuple[tuple[str, bool], ...], unique: bool) -> sa.Index:
        elements = []
        for path, descending in fields:
            if path in AUTO_FIELDS or path in self.generated:
                column = self.table.c[path] if path in AUTO_FIELDS else self.generated[path]
                elements.append(column.desc() if descending else column)
            else:
                elements.append(self.dialect.index_element(self.sql(path), descending))
        full = identifier("ix", self.collection.name, name.removeprefix("ix_"))
        return sa.Index(full, *elements, unique=unique, _table=self.table)

    def sql(self, path: str) -> str:
        """The SQL text of the typed scalar at ``path``."""
        field = self.collection.field(path)
        return self.dialect.scalar_sql(path, field.type if field else "string")

    def scalar(self, path: str) -> ColumnElement[Any]:
        """The typed expression for ``path`` (an auto column, a virtual column or JSON)."""
        expr = self._scalars.get(path)
        if expr is None:  # two threads may both build it: the same expression, harmless
            expr = self._scalars[path] = self._scalar(path)
        return expr

    def _scalar(self, path: str) -> ColumnElement[Any]:
        if path in AUTO_FIELDS:
            return self.table.c[path]
        if path in self.generated:
            return self.generated[path]
        field = self.collection.field(path)
        kind = field.type if field else "string"
        return sa.literal_column(self.sql(path), BIND_TYPES.get(kind, sa.String()))

    def all_tables(self) -> list[sa.Table]:
        """The main table and its side tables."""
        return [self.table, *self.sides.values()]


class InsertSQL:
    """An INSERT into ``table`` of ``columns``, compiled once for one SQLAlchemy dialect.

    A Core ``table.insert()`` is built, cache-keyed and its parameters processed on every
    execution (~15 us a statement on SQLite, the larger part of a create's own SQL work). The
    text compiled here is the one Core would send, values stay bound and go through the same
    per-type bind processors (JSON serialiser, booleans), so each database binds JSON its own
    way as before; ``exec_driver_sql`` keeps the engine's events (tracing, errors).
    """

    def __init__(self, table: sa.Table, columns: list[str], dialect: sa.Dialect) -> None:
        compiled = table.insert().compile(dialect=dialect, column_keys=columns)
        self.sql = compiled.string
        self.keys = tuple(columns)
        self.positional = bool(dialect.positional)
        order = tuple(compiled.positiontup or ()) if self.positional else tuple(compiled.params)
        if order != self.keys:  # a bind name or order we did not expect: never send it
            raise ValueError(f"INSERT into {table.name} binds {order}, expected {self.keys}")
        self.processors = tuple(table.c[k].type.dialect_impl(dialect).bind_processor(dialect)
                                for k in self.keys)

    def params(self, row: dict[str, Any]) -> Any:
        """The driver parameters of one row (a tuple or a dict, as the paramstyle wants)."""
        values = [row[k] if p is None else p(row[k]) for k, p in zip(self.keys, self.processors)]
        return tuple(values) if self.positional else dict(zip(self.keys, values))

    def execute(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> Any:
        """INSERT ``rows`` (executemany for more than one)."""
        params = [self.params(r) for r in rows]
        return conn.exec_driver_sql(self.sql, params[0] if len(params) == 1 else params)


#: array casts of side-table values in :class:`CombinedInsertSQL` (text for the string kinds)
_ARRAY_CASTS = {sa.BigInteger: "BIGINT[]", sa.Float: "DOUBLE PRECISION[]", sa.Boolean: "BOOLEAN[]"}


class CombinedInsertSQL:
    """PostgreSQL: a document row and its side-table rows in one statement (one round trip).

    ``WITH d AS (INSERT INTO <table> ...), s0 AS (INSERT INTO <side> SELECT id, unnest(array))
    INSERT INTO <last side> ...``: every data-modifying part runs, in one snapshot; the text is
    built from the compiled main INSERT and table names of the layout, values stay bound (each
    list as one array parameter).
    """

    def __init__(self, main: InsertSQL, sides: dict[str, sa.Table], dialect: sa.Dialect) -> None:
        quote = dialect.identifier_preparer.format_table
        self.main = main
        self.paths = tuple(sides)
        parts = [f"d AS ({main.sql})"]
        inserts = []
        for i, (path, side) in enumerate(sides.items()):
            cast = _ARRAY_CASTS.get(type(side.c.value.type), "TEXT[]")
            inserts.append(f"INSERT INTO {quote(side)} (doc_id, value) SELECT %(_id)s::VARCHAR, v "
                           f"FROM unnest(%(side_{i})s::{cast}) AS v")
        parts += [f"s{i} AS ({sql})" for i, sql in enumerate(inserts[:-1])]
        self.sql = f"WITH {', '.join(parts)} {inserts[-1]}"

    def execute(self, conn: sa.Connection, row: dict[str, Any], lists: list[list[Any]]) -> Any:
        """INSERT ``row`` and each side table's ``lists`` (in :attr:`paths` order)."""
        params = self.main.params(row)
        for i, values in enumerate(lists):
            params[f"side_{i}"] = values
        return conn.exec_driver_sql(self.sql, params)
