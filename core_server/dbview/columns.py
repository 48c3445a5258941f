"""``derive_columns``: column types, ranges and categories read from the view's table (spec §5).

Runs once per view and connector on first use (never at startup); the result is cached by the
caller (:class:`core_server.dbview.service.DBViews`), never written into the plugin's view object,
so two apps over different databases never share derived columns. Columns declared with
``column()`` keep their explicit settings.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core_server.dbview.builder import DBView


def _kind(column_type: Any) -> str:
    if isinstance(column_type, sa.Enum):
        return "categorical"
    if isinstance(column_type, (sa.Integer, sa.Numeric, sa.Float)):
        return "number"
    return "string"


def _split_table(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return (schema or None), name


class Columns(dict[str, dict[str, Any]]):
    """The columns of a view; ``table`` names those that are columns of its table."""

    table: frozenset[str] = frozenset()


def derive_columns(view: DBView, engine: Engine) -> Columns:
    """The columns of ``view``: declared ones, completed from its table when it derives them.

    As in TDP the declared columns come first (their attributes win), then the table's others.
    """
    if not view.needs_derived_columns():
        return Columns(view.columns)
    schema, name = _split_table(str(view.table))
    inspected = sa.inspect(engine).get_columns(name, schema=schema)
    table = sa.table(name, *[sa.column(c["name"]) for c in inspected], schema=schema)
    derived = Columns({k: dict(v) for k, v in view.columns.items()})
    derived.table = frozenset(c["name"] for c in inspected)
    for col in inspected:
        entry: dict[str, Any] = {"label": col["name"], "type": _kind(col["type"]),
                                 "column": col["name"]}
        if isinstance(col["type"], sa.Enum):
            entry["categories"] = sorted(col["type"].enums, key=str.lower)
        derived[col["name"]] = {**entry, **derived.get(col["name"], {})}
    with engine.connect() as conn:
        for column, entry in derived.items():
            if column in table.c:
                _fill_stats(conn, table, column, entry)
    return derived


def _fill_stats(conn: sa.Connection, table: sa.TableClause, column: str,
                entry: dict[str, Any]) -> None:
    c = table.c[column]
    if entry["type"] == "number" and ("min" not in entry or "max" not in entry):
        low, high = conn.execute(sa.select(sa.func.min(c), sa.func.max(c))).one()
        entry.setdefault("min", _plain(low))
        entry.setdefault("max", _plain(high))
    elif entry["type"] in ("categorical", "set") and not entry.get("categories"):
        values = conn.execute(sa.select(c).distinct().where(c.is_not(None))).scalars()
        separator = entry.get("separator", ";")
        found: set[str] = set()
        for value in values:
            parts = str(value).split(separator) if entry["type"] == "set" else [str(value)]
            found.update(p for p in parts if p)
        entry["categories"] = sorted(found)


def _plain(value: Any) -> Any:
    return float(value) if value is not None and not isinstance(value, (int, float)) else value
