"""Create and evolve collection tables; refuse (and report) changes that need a data migration."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa

from core_server.dblimits import create_table
from core_server.dblimits import engine_schema_lock
from core_server.docstore.dialects import begin_write
from core_server.docstore.model import Collection
from core_server.docstore.tables import Layout
from core_server.docstore.tables import is_side_trigger

log = logging.getLogger("core_server.docstore")
#: the schema lock of the store's tables (dblimits.engine_schema_lock)
LOCK_NAME = "core_server.docstore.schema"


def signature(collection: Collection) -> dict[str, Any]:
    """What the stored data depends on: each field's type, element type and ref target."""
    return {
        "fields": {f.path: [f.type, f.element_type, f.collection] for f in collection.walk()},
        "additional_properties": collection.additional_properties,
        "required": sorted(f.path for f in collection.walk() if f.required and not f.has_default),
    }


def incompatible(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Reasons why data stored under ``old`` may not satisfy ``new`` (empty: compatible)."""
    reasons = []
    old_fields, new_fields = old.get("fields", {}), new["fields"]
    for path, spec in old_fields.items():
        if path not in new_fields and not new["additional_properties"]:
            reasons.append(f"field {path} was removed")
        elif path in new_fields and list(new_fields[path]) != list(spec):
            reasons.append(f"field {path} changed from {spec[0]} to {new_fields[path][0]}")
    for path in new["required"]:
        if path not in old.get("required", []):
            reasons.append(f"field {path} became required without a default")
    if old.get("additional_properties") and not new["additional_properties"]:
        reasons.append("additional_properties was switched off")
    return reasons


def sync_tables(store: Any) -> None:
    """Bring the database in line with every registered collection (see module docs).

    Workers and hosts that start on a fresh database at once take turns (the schema lock):
    PostgreSQL's concurrent ``CREATE TABLE`` collide in ``pg_type`` even with
    ``IF NOT EXISTS``, and MariaDB's ``ALTER TABLE`` of generated columns would run twice.
    """
    with engine_schema_lock(store.engine, LOCK_NAME):
        _sync(store)


def _sync(store: Any) -> None:
    engine = store.engine
    _create(engine, store.meta_table)
    with engine.connect() as conn:
        stored = {row.name: orjson.loads(row.signature)
                  for row in conn.execute(sa.select(store.meta_table))}
    for name, collection in store.collections.items():
        missing = [f.collection for f in collection.ref_fields()
                   if f.collection not in store.collections]
        new = signature(collection)
        reasons = incompatible(stored[name], new) if name in stored else []
        if missing:
            reasons.append("refs to unknown collections: " + ", ".join(sorted(set(missing))))
        if reasons:
            message = f"collection {name} needs a data migration: " + "; ".join(reasons)
            log.error(message)
            store.unavailable[name] = message
            continue
        try:
            _sync_collection(engine, store._layout(collection))
        except sa.exc.DBAPIError as exc:
            message = f"collection {name}: cannot create its tables or indexes: {exc.orig}"
            log.error(message)
            store.unavailable[name] = message
            continue
        _save_signature(engine, store.meta_table, name, new, name in stored)


def _sync_collection(engine: sa.Engine, layout: Layout) -> None:
    for table in layout.all_tables():
        _create(engine, table)
    if layout.generated:
        _add_generated_columns(engine, layout)
    with _writing(engine) as conn:
        for index in layout.indexes:  # new indexes of an existing table
            conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
        _sync_triggers(conn, layout)


def _sync_triggers(conn: sa.Connection, layout: Layout) -> None:
    """The side-row triggers of the layout, also on tables created before them. A trigger of
    a list field no longer declared is dropped (it would write a side table nobody reads),
    one whose text differs from this version's is made anew."""
    if not layout.dialect.side_triggers:
        return
    present = layout.dialect.triggers_of(conn, layout.table.name)
    for name, ddl in present.items():
        if is_side_trigger(name) and layout.side_triggers.get(name) != ddl:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    for name, ddl in layout.side_triggers.items():
        if present.get(name) != ddl:
            conn.exec_driver_sql(ddl)


@contextmanager
def _writing(engine: sa.Engine) -> Iterator[sa.Connection]:
    # SQLite: BEGIN IMMEDIATE takes the write lock first (waiting busy_timeout for it); a
    # deferred transaction that read the schema and then writes fails at once ("database is
    # locked") when another process wrote in between
    with engine.connect() as conn:
        begin_write(conn)
        with conn.begin():
            yield conn


def _create(engine: sa.Engine, table: sa.Table) -> None:
    try:
        with _writing(engine) as conn:
            create_table(conn, table)
    except sa.exc.DBAPIError:
        # another worker created it between the check and the CREATE (without a schema lock)
        if not sa.inspect(engine).has_table(table.name):
            raise


def _add_generated_columns(engine: sa.Engine, layout: Layout) -> None:
    present = {c["name"] for c in sa.inspect(engine).get_columns(layout.table.name)}
    for column in layout.generated.values():
        if column.name in present:
            continue
        ddl = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {layout.table.name} ADD COLUMN {ddl}"))


def _save_signature(engine: sa.Engine, table: sa.Table, name: str, sig: dict[str, Any],
                    exists: bool) -> None:
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    values = {"signature": orjson.dumps(sig).decode(), "updated_at": now}
    with _writing(engine) as conn:
        if exists:
            conn.execute(table.update().where(table.c.name == name).values(**values))
        else:
            try:
                with conn.begin_nested():
                    conn.execute(table.insert().values(name=name, **values))
            except sa.exc.IntegrityError:
                pass  # another worker recorded it first
