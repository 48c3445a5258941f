"""The SQL text of a view request, used by :mod:`core_server.dbview.params` only.

Only text the server knows reaches SQL: the plugin's templates, declared filter clauses,
validated replacements, quoted known column names and validated integers for paging; every
request value is a bound parameter. What differs between databases (paging without a limit,
identifier quoting) is a hook of :mod:`core_server.dbview.engines`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from core_server.dbview.engines import ConnectorEngine
from core_server.errors import ApiError

#: SQL operators of the filter comparisons (``filter_gt_x``) and of one or many values.
OPERATORS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "=", "in": "IN"}

_CACHE_LIMIT = 512
_IN_BIND = re.compile(r"\bin\s*:(\w+)", re.IGNORECASE)


def fill(template: str, replacements: Mapping[str, str], where: str) -> str:
    """Fill ``{name}`` replacements; an undeclared placeholder is a 500 naming the view."""
    try:
        return template.format(**replacements)
    except (KeyError, IndexError, ValueError) as exc:
        raise ApiError(500, "invalid_view", f"{where} uses an undeclared replacement {exc}",
                       hint="declare it with .replace() in the plugin") from None


def clause(template: str, operator: str, bind: str) -> str:
    """A filter clause: a declared template with an operator of :data:`OPERATORS` and a bind."""
    return template.format(operator=OPERATORS[operator], value=":" + bind)


def where(clauses: Sequence[str]) -> tuple[str, str]:
    """The ``{where}`` and ``{and_where}`` replacements of ``clauses`` (empty without any)."""
    if not clauses:
        return "", ""
    body = " AND ".join(clauses)
    return f" WHERE {body}", f" AND {body}"


def count_table(table: str) -> str:
    """The count template of a view that names its ``table``."""
    return f"SELECT count(*) AS count FROM {table} d {{joins}} {{where}}"


def count_of(sql: str) -> str:
    """The number of rows of the query ``sql``."""
    return f"SELECT count(*) AS count FROM ({sql}) _c"


def paged(sql: str, sort: Sequence[tuple[str, bool]], limit: int | None, offset: int,
          ce: ConnectorEngine) -> str:
    """``sql`` sorted by known columns and cut to ``limit`` rows after ``offset``."""
    if not sort and limit is None and not offset:
        return sql
    order = ", ".join(f"{ce.quote(name)}{' DESC' if desc else ''}" for name, desc in sort)
    return (f"SELECT * FROM ({sql}) _v" + (f" ORDER BY {order}" if order else "")
            + ce.backend.limit_offset(limit, offset))


def statement(cache: dict[Any, Any], sql: str, binds: Mapping[str, Any],
              expanding: set[str]) -> sa.TextClause:
    """The cached ``text()`` of ``sql`` with list parameters bound as expanding.

    :param cache: the connector's statement cache (cleared when it grows past 512 entries).
    :param expanding: binds that expand whatever the text (``IN`` filters of several values).
    """
    lists = frozenset(n for n, v in binds.items() if isinstance(v, (list, tuple)))
    key = (sql, lists, frozenset(expanding))
    cached = cache.get(key)
    if cached is None:
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        # a list bound after IN expands to (?, ?, ...); elsewhere (= ANY(:ids)) it stays an array
        in_binds = {m.lower() for m in _IN_BIND.findall(sql)}
        names = expanding | {n for n in lists if n.lower() in in_binds}
        cached = sa.text(sql)
        if names:
            cached = cached.bindparams(*[sa.bindparam(n, expanding=True) for n in names])
        cache[key] = cached
    return cached
