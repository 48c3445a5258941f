"""References, side tables and unique checks: the cross-row work of a write.

Delete strategies (spec §7) run inside the caller's transaction: the whole cascade closure is
computed first (a visited set makes cycles harmless), then ``restrict`` is checked against every
referrer outside the closure, then ``unlink``/``set_null`` rewrite referrers, then rows go.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from core_server.docstore.model import Collection
from core_server.docstore.model import Field
from core_server.docstore.model import Index
from core_server.docstore.tables import Layout
from core_server.errors import Conflict
from core_server.errors import Unprocessable
from core_server.trees import MISSING
from core_server.trees import get_path
from core_server.trees import set_path

CHUNK = 500


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def ref_values(field: Field, doc: dict[str, Any]) -> list[str]:
    """The ids a ref/refs field of ``doc`` points to."""
    value = get_path(doc, field.path)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def check_refs_many(tx: Any, collection: Collection, docs: list[dict[str, Any]]) -> None:
    """:func:`check_refs` for many documents with one query per field and chunk."""
    for field in collection.ref_fields():
        ids = sorted({i for doc in docs for i in ref_values(field, doc)})
        if ids:
            _check_ids(tx, collection, field, ids)


def _check_ids(tx: Any, collection: Collection, field: Field, ids: list[str]) -> None:
    table = tx.layout(field.collection).table
    found: set[str] = set()
    for chunk in _chunks(ids):
        stmt = sa.select(table.c._id).where(table.c._id.in_(chunk)).with_for_update(read=True)
        found.update(r[0] for r in tx.conn.execute(stmt))
    missing = [{"path": f"$.{field.path}", "code": "ref_not_found", "id": i,
                "collection": field.collection} for i in ids if i not in found]
    if missing:
        raise Unprocessable("ref_not_found", f"{len(missing)} referenced document(s) of "
                            f"{collection.name} do not exist", details=missing)


def check_refs(tx: Any, collection: Collection, doc: dict[str, Any]) -> None:
    """422 ``ref_not_found`` listing every reference to a missing document.

    Targets are read with a shared lock (PostgreSQL/MariaDB) so that they cannot be deleted
    before this transaction commits.
    """
    missing = []
    for field in collection.ref_fields():
        ids = sorted(set(ref_values(field, doc)))
        if not ids:
            continue
        table = tx.layout(field.collection).table
        found: set[str] = set()
        for chunk in _chunks(ids):
            stmt = sa.select(table.c._id).where(table.c._id.in_(chunk)).with_for_update(read=True)
            found.update(r[0] for r in tx.conn.execute(stmt))
        missing += [{"path": f"$.{field.path}", "code": "ref_not_found", "id": i,
                     "collection": field.collection} for i in ids if i not in found]
    if missing:
        raise Unprocessable("ref_not_found", f"{len(missing)} referenced document(s) of "
                            f"{collection.name} do not exist", details=missing)


def write_sides(tx: Any, layout: Layout, doc_id: str, doc: dict[str, Any], replace: bool) -> None:
    """Store each list field's elements in its side table (a new row's are written by the
    database's triggers where it has them: :attr:`Layout.sides_by_trigger`)."""
    if not layout.sides or (layout.sides_by_trigger and not replace):
        return
    inserts = layout.inserts(tx.conn.dialect)[1]
    for path, side in layout.sides.items():
        if replace:
            tx.conn.execute(side.delete().where(side.c.doc_id == doc_id))
        values = get_path(doc, path)
        if isinstance(values, list) and values:
            inserts[path].execute(tx.conn, [{"doc_id": doc_id, "value": v} for v in values])


def write_sides_many(tx: Any, layout: Layout, rows: list[dict[str, Any]]) -> None:
    """Side-table rows of many new documents, one executemany per side table (none where
    the database's triggers write them)."""
    if not layout.sides or layout.sides_by_trigger:
        return
    inserts = layout.inserts(tx.conn.dialect)[1]
    for path in layout.sides:
        values = [{"doc_id": row["_id"], "value": v} for row in rows
                  for v in (list_at(row["doc"], path))]
        if values:
            inserts[path].execute(tx.conn, values)


def list_at(doc: dict[str, Any], path: str) -> list[Any]:
    """The list at ``path`` of ``doc`` (empty when missing or not a list)."""
    value = get_path(doc, path)
    return value if isinstance(value, list) else []


def check_unique(tx: Any, layout: Layout, index: Index, doc: dict[str, Any],
                 own_id: str | None) -> None:
    """409 ``duplicate`` naming ``index`` if another document has the same values."""
    clauses = []
    for path, _ in index.fields:
        value = get_path(doc, path)
        if value is None or value is MISSING or isinstance(value, (list, dict)):
            return  # NULLs never collide in a unique index
        kind = layout.scalar(path).type
        clauses.append(layout.scalar(path) == sa.bindparam(None, value, type_=kind))
    table = layout.table
    stmt = sa.select(table.c._id).where(*clauses).limit(1)
    if own_id is not None:
        stmt = stmt.where(table.c._id != own_id)
    other = tx.conn.execute(stmt).scalar()
    if other is not None:
        fields = [p for p, _ in index.fields]
        raise Conflict("duplicate", f"{layout.collection.name} {', '.join(fields)} must be "
                       f"unique; document {other} has the same value",
                       details=[{"index": index.name, "fields": fields, "conflicting_id": other}])


def referrers_of(store: Any, collection: str) -> list[tuple[Collection, Field]]:
    """Every (collection, field) that references ``collection``."""
    return [(c, f) for c in store.collections.values() for f in c.ref_fields()
            if f.collection == collection]


def _referring_ids(tx: Any, source: Collection, field: Field, ids: list[str]) -> set[str]:
    layout = tx.layout(source.name)
    found: set[str] = set()
    for chunk in _chunks(ids):
        if field.type == "refs":
            side = layout.sides[field.path]
            stmt = sa.select(side.c.doc_id).where(side.c.value.in_(chunk)).distinct()
        else:
            stmt = sa.select(layout.table.c._id).where(layout.scalar(field.path).in_(chunk))
        found.update(r[0] for r in tx.conn.execute(stmt))
    return found


def delete_ids(tx: Any, collection: str, ids: Iterable[str]) -> int:
    """Delete documents with every reference strategy applied; return the number deleted."""
    doomed: dict[str, set[str]] = {collection: set(ids)}
    queue = [(collection, sorted(doomed[collection]))]
    while queue:  # the cascade closure; ``doomed`` doubles as the visited set
        name, batch = queue.pop()
        for source, field in referrers_of(tx.store, name):
            if field.on_delete != "cascade":
                continue
            fresh = _referring_ids(tx, source, field, batch) - doomed.setdefault(source.name,
                                                                                 set())
            if fresh:
                doomed[source.name] |= fresh
                queue.append((source.name, sorted(fresh)))
    _restrict(tx, doomed)
    _detach(tx, doomed)
    return sum(_delete_rows(tx, name, sorted(batch)) for name, batch in doomed.items() if batch)


def _restrict(tx: Any, doomed: dict[str, set[str]]) -> None:
    blocked = []
    for name, batch in doomed.items():
        for source, field in referrers_of(tx.store, name):
            if field.on_delete != "restrict" or not batch:
                continue
            others = _referring_ids(tx, source, field, sorted(batch)) - doomed.get(source.name,
                                                                                   set())
            if others:
                blocked.append({"collection": source.name, "field": field.path,
                                "ids": sorted(others)[:100], "count": len(others)})
    if blocked:
        raise Conflict("ref_restrict", "documents that reference it must be deleted first",
                       details=blocked, hint="delete or change the referencing documents")


def _detach(tx: Any, doomed: dict[str, set[str]]) -> None:
    changes: dict[tuple[str, str], list[tuple[Field, set[str]]]] = {}
    for name, batch in doomed.items():
        for source, field in referrers_of(tx.store, name):
            if field.on_delete not in ("unlink", "set_null") or not batch:
                continue
            others = _referring_ids(tx, source, field, sorted(batch)) - doomed.get(source.name,
                                                                                   set())
            for doc_id in others:
                changes.setdefault((source.name, doc_id), []).append((field, batch))
    for (source_name, doc_id), fields in sorted(changes.items(), key=lambda kv: kv[0]):
        _rewrite_refs(tx, source_name, doc_id, fields)


def _rewrite_refs(tx: Any, source: str, doc_id: str, fields: list[tuple[Field, set[str]]]) -> None:
    row = tx._must_row(source, doc_id)
    doc = dict(row.doc)
    for field, gone in fields:
        value = get_path(doc, field.path)
        if field.type == "refs" and field.on_delete == "unlink" and isinstance(value, list):
            value = [v for v in value if v not in gone]
        else:
            value = None
        set_path(doc, field.path, value)
    enforce, tx.enforce = tx.enforce, False  # the strategy is the schema's, not the user's edit
    try:
        tx._replace(source, row, doc)
    finally:
        tx.enforce = enforce


def _delete_rows(tx: Any, name: str, ids: list[str]) -> int:
    layout = tx.layout(name)
    schema = layout.collection
    table = layout.table
    count = 0
    for chunk in _chunks(ids):
        rows = tx.conn.execute(sa.select(*tx.columns(layout)).where(table.c._id.in_(chunk))
                               .with_for_update()).all()
        docs = [tx.to_doc(schema, r) for r in rows]
        for doc in docs:
            tx._hook(name, "before_delete", doc)
        for side in layout.sides.values():
            tx.conn.execute(side.delete().where(side.c.doc_id.in_(chunk)))
        count += tx.conn.execute(table.delete().where(table.c._id.in_(chunk))).rowcount
        for doc in docs:
            tx._hook(name, "after_delete", doc)
    return count
