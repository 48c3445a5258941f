"""Helpers that plugins call on builders: the common lookup views and WHERE injection."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import MutableMapping
from typing import Any

from core_server.dbview.builder import DBView
from core_server.dbview.builder import DBViewBuilder

_CLAUSE_ENDS = (" group by", " order by", " limit", " offset")


def _insert_at(sql: str, index: int, text: str) -> str:
    return sql[:index] + text + sql[index:]


def _first_end(lowered: str, start: int = 0) -> int:
    for keyword in _CLAUSE_ENDS:
        index = lowered.find(keyword, start)
        if index >= 0:
            return index
    return len(lowered)


def inject_where(builder: DBViewBuilder) -> DBViewBuilder:
    """Add ``{joins}`` and ``{where}`` (or ``{and_where}``) to the main query of ``builder``.

    With an existing ``WHERE``: `` {and_where}`` goes before the first of GROUP BY, ORDER BY,
    LIMIT, OFFSET and ``{joins} `` before the WHERE; otherwise `` {joins} {where}`` is inserted
    there. A no-op for callback views.
    """
    view = builder.v
    if not isinstance(view.query, str):
        return builder
    sql = view.query
    lowered = sql.lower()
    where_index = lowered.find(" where ")
    if where_index >= 0:
        end = _first_end(lowered, where_index)
        sql = _insert_at(sql, end, " {and_where}")
        sql = _insert_at(sql, where_index, " {joins} ")
        names = ["and_where", "joins"]
    else:
        sql = _insert_at(sql, _first_end(lowered), " {joins} {where} ")
        names = ["where", "joins"]
    view.query = sql
    for name in names:
        builder.replace(name)
    return builder


def inject_where_clause(builder: DBViewBuilder, clause: str) -> DBViewBuilder:
    """Add the fixed condition ``clause`` to the main query (``WHERE (clause) AND ...``)."""
    view = builder.v
    if not isinstance(view.query, str):
        return builder
    sql = view.query
    lowered = sql.lower()
    where_index = lowered.find(" where ")
    if where_index >= 0:
        at = where_index + len(" where ")
        view.query = _insert_at(sql, at, f"({clause}) AND ")
    else:
        view.query = _insert_at(sql, _first_end(lowered), f" WHERE {clause} ")
    return builder


def limit_offset(builder: DBViewBuilder) -> DBViewBuilder:
    """Append `` LIMIT {limit} OFFSET {offset}`` with integer validators, as TDP.

    Like TDP it also declares the argument ``query`` (the ``/lookup`` route fills it in).
    """
    builder.append(" LIMIT {limit} OFFSET {offset}")
    return builder.replace("limit", int).replace("offset", int).arg("query")


def add_common_queries(queries: MutableMapping[str, DBView], table: str, idtype: str,
                       id_query: str, columns: list[str] | None = None,
                       call_function: Callable[[DBViewBuilder], Any] | None = None,
                       prefix: str | None = None, name_column: str = "name") -> None:
    """Add the four lookup views ``<prefix>_items``, ``_items_verify``, ``_unique``, ``_unique_all``.

    As in TDP the first two name ``table`` (their columns are derived from it).

    :param queries: the plugin's view dict, updated in place.
    :param table: the table they read.
    :param idtype: id type of ``_items`` rows.
    :param id_query: SQL selecting the id, e.g. ``'my_id as id'``.
    :param columns: columns allowed as ``{column}`` (default: ``[name_column]``).
    :param call_function: applied to every builder (e.g. to add a security rule).
    :param prefix: view name prefix (default ``table``).
    :param name_column: the column matched by ``_items_verify``.
    """
    prefix = prefix or table
    valid = list(columns or [name_column])
    queries[f"{prefix}_items"] = (
        DBViewBuilder("lookup").idtype(idtype).table(table)
        .query(f"SELECT {id_query}, {{column}} AS text FROM {table} "
               "WHERE LOWER({column}) LIKE :query ORDER BY {column} ASC "
               "LIMIT {limit} OFFSET {offset}")
        .arg("query").replace("column", valid).replace("limit", int).replace("offset", int)
        .call(call_function).assign_ids().build())
    queries[f"{prefix}_items_verify"] = (
        DBViewBuilder("helper").idtype(idtype).table(table)
        .query(f"SELECT {id_query}, {name_column} AS text FROM {table}")
        .call(inject_where)
        .filter(name_column, f"lower({name_column}) {{operator}} {{value}}")
        .call(call_function).assign_ids().build())
    queries[f"{prefix}_unique"] = (
        DBViewBuilder("lookup")
        .query(f"SELECT d as id, d as text FROM (SELECT distinct {{column}} AS d FROM {table} "
               "WHERE LOWER({column}) LIKE :query) as t ORDER BY d ASC "
               "LIMIT {limit} OFFSET {offset}")
        .arg("query").replace("column", valid).replace("limit", int).replace("offset", int)
        .call(call_function).build())
    queries[f"{prefix}_unique_all"] = (
        DBViewBuilder("helper")
        .query(f"SELECT distinct {{column}} AS text FROM {table} ORDER BY {{column}} ASC")
        .replace("column", valid)
        .call(call_function).build())
