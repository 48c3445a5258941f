"""The statement of a page (``Transaction.page``), built once per query shape and collection.

Around the compiled filter a page selects the documents, their sort keys ``k0``... and the total
(a scalar subquery), orders, limits and offsets; building that and computing its SQLAlchemy cache
key took ~130 us of the ~180 us a filtered page spent on SQL before execution (the filter
itself ~45 us). None of it depends on the values, only on the shape: the filter's and the
cursor condition's SQL (their SQLAlchemy cache keys hold SQL text, types and parameter names,
no values), the sort and whether the total is wanted. The compiler binds every value by name
(``v0``, ``v1``... in the order compiled, ``Compiler(named=True)``), so a statement built for one
request runs for the next of the same shape with that request's values (:func:`parameters`); a
statement with any other bound parameter is never kept, so no value of an earlier request can
leak into a later one.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core_server.docstore.query import Clause
from core_server.docstore.query import Compiler
from core_server.docstore.tables import Layout

#: shapes kept per collection (beyond that a page builds its statement each time)
MAX_PLANS = 512
#: sorts whose columns and ORDER BY are kept per collection
MAX_FRAMES = 256
_LIMIT, _OFFSET = "_limit", "_offset"
Keys = list[tuple[str, bool]]


def frame(layout: Layout, compiler: Compiler, keys: Keys, columns: list[Any]
          ) -> tuple[list[Any], list[Any]]:
    """The columns (``columns``, then the sort keys ``k0``...) and ORDER BY of a page."""
    shape = tuple(keys)
    built = layout.frames.get(shape)
    if built is None:
        sort_columns = [layout.scalar(p).label(f"k{i}") for i, (p, _) in enumerate(keys)]
        built = ([*columns, *sort_columns], compiler.order_by(keys))
        if len(layout.frames) < MAX_FRAMES:
            layout.frames[shape] = built
    return built


def statement(layout: Layout, compiler: Compiler, clause: Clause, after: Clause | None,
              keys: Keys, count: bool, columns: list[Any]) -> Any:
    """The SELECT of a page; run it with :func:`parameters`."""
    where = clause._generate_cache_key()
    cursor = None if after is None else after._generate_cache_key()
    if where is None or (after is not None and cursor is None):  # not cacheable: build it
        return _build(layout, compiler, clause, after, keys, count, columns)
    shape = (where.key, None if cursor is None else cursor.key, tuple(keys), count)
    stmt = layout.plans.get(shape)
    if stmt is None:
        stmt = _build(layout, compiler, clause, after, keys, count, columns)
        if len(layout.plans) < MAX_PLANS and _only_named(stmt, compiler):
            layout.plans[shape] = stmt  # two threads may both build it: the same statement
    return stmt


def parameters(compiler: Compiler, limit: int, offset: int) -> dict[str, Any]:
    """The values of a page's statement: the compiler's, LIMIT (one more row than the page,
    to know whether there is a next) and OFFSET."""
    return {**(compiler.params or {}), _LIMIT: limit + 1, _OFFSET: offset}


def _build(layout: Layout, compiler: Compiler, clause: Clause, after: Clause | None,
           keys: Keys, count: bool, columns: list[Any]) -> Any:
    selected, order = frame(layout, compiler, keys, columns)
    stmt = sa.select(*selected)
    if count:  # the total rides along as a scalar subquery: one statement, one round trip
        total = sa.select(sa.func.count()).select_from(layout.table).where(clause)
        stmt = stmt.add_columns(total.scalar_subquery().label("total"))
    stmt = stmt.where(clause)
    if after is not None:
        stmt = stmt.where(after)
    return stmt.order_by(*order).limit(sa.bindparam(_LIMIT, type_=sa.Integer())).offset(
        sa.bindparam(_OFFSET, type_=sa.Integer()))


def _only_named(stmt: Any, compiler: Compiler) -> bool:
    """Whether every bound parameter of ``stmt`` gets its value from :func:`parameters`."""
    key = stmt._generate_cache_key()
    names = set(compiler.params or ()) | {_LIMIT, _OFFSET}
    return key is not None and compiler.params is not None and all(
        b.key in names for b in key.bindparams)
