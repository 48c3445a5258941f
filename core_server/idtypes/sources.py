"""Edges of the mapping graph: ``DBMapping`` queries of connectors and ``mapping-provider``s."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from core_server.dbview import Backend
from core_server.dbview import ConnectorEntry
from core_server.dbview import DBMapping
from core_server.dbview import DBViews
from core_server.dbview import db_errors
from core_server.errors import ApiError
from core_server.idtypes.graph import Edge
from core_server.idtypes.graph import key
from core_server.registry import MAPPING_PROVIDER
from core_server.registry import Registry
from core_server.values import InvalidValue
from core_server.values import integer

_IN_IDS = re.compile(r"\bin\s*:ids\b", re.IGNORECASE)


class SQLMapping:
    """A connector's :class:`DBMapping` as a mapping function (and search function).

    Ids are sent in chunks that fit the database's bind-parameter limit; the connection and
    statement timeout are the connector's.
    """

    def __init__(self, dbv: DBViews, entry: ConnectorEntry, mapping: DBMapping) -> None:
        self.dbv = dbv
        self.entry = entry
        self.mapping = mapping
        self.where = f"mapping {mapping.from_idtype} -> {mapping.to_idtype} of {entry.name}"
        self._statement: tuple[sa.TextClause, bool] | None = None
        self.search_statement = sa.text(mapping.search) if mapping.search else None

    def statement(self, backend: Backend) -> tuple[sa.TextClause, bool]:
        """The query for ``backend`` and whether its ``:ids`` expands to one bind per id."""
        if self._statement is None:
            query = self.mapping.query
            array = backend.array_in(query, "ids")
            if array is not None:  # one array parameter, however many ids
                self._statement = (sa.text(array), False)
            elif _IN_IDS.search(query):  # IN :ids (TDP style) expands to IN (?, ?, ...)
                expanding: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
                self._statement = (sa.text(query).bindparams(expanding), True)
            else:
                self._statement = (sa.text(query), False)
        return self._statement

    def _convert(self, ids: list[Any]) -> list[Any]:
        if not self.mapping.integer_ids:
            return [key(i) for i in ids]
        # None cannot exist in an integer column: maps to []
        return [_as_int(i) for i in ids]

    def __call__(self, ids: list[Any]) -> list[list[Any]]:
        """``[[targets], ...]`` for ``ids``, in order."""
        values = self._convert(ids)
        wanted = list(dict.fromkeys(v for v in values if v is not None))
        found: dict[Any, list[Any]] = {}
        ce = self.dbv.engine(self.entry)
        statement, expanding = self.statement(ce.backend)
        # expanded lists are chunked into the bind limit; an array is one parameter
        size = max(1, ce.backend.max_binds - 1) if expanding else max(1, len(wanted))
        kind = int if self.mapping.integer_ids else str
        with db_errors(ce.backend, self.where), ce.engine.connect() as conn:
            for start in range(0, len(wanted), size):
                result = conn.execute(statement, {"ids": wanted[start:start + size]})
                for f, t in self._pairs(result):
                    # the database may answer f as another type than the ids were sent
                    found.setdefault(f if type(f) is kind else kind(f), []).append(t)
        empty: list[Any] = []
        return [found.get(v, empty) for v in values]

    def _pairs(self, result: sa.CursorResult[Any]) -> Iterator[tuple[Any, Any]]:
        names = [str(n).lower() for n in result.keys()]  # noqa: SIM118 - not a dict
        if "f" not in names or "t" not in names:
            raise ApiError(500, "invalid_mapping", f"the query of {self.where} must return "
                           f"columns f and t, not {', '.join(names)}",
                           hint="write SELECT <source> AS f, <target> AS t ...")
        fi, ti = names.index("f"), names.index("t")
        for row in result:
            yield row[fi], row[ti]

    def search(self, query: str, limit: int) -> list[tuple[Any, Any]]:
        """Source ids starting with ``query`` (case-insensitive) with their targets."""
        if self.search_statement is None:
            return []
        ce = self.dbv.engine(self.entry)
        prefix = query.lower()
        with db_errors(ce.backend, self.where), ce.engine.connect() as conn:
            result = conn.execute(self.search_statement,
                                  {"query": prefix + "%", "limit": int(limit)})
            # a % or _ the user typed is a LIKE wildcard in SQL: keep true prefix matches only
            return [(f, t) for f, t in self._pairs(result) if key(f).lower().startswith(prefix)]


def _as_int(value: Any) -> int | None:
    try:  # ids from a URL strictly (64 bits, ASCII digits); a previous hop's values as they are
        return integer(value, "q") if isinstance(value, str) else int(value)
    except (InvalidValue, TypeError, ValueError, ArithmeticError):
        return None


def connector_edges(dbv: DBViews) -> Iterator[Edge]:
    """An edge per ``DBMapping`` of every connector."""
    for name, entry in sorted(dbv.connectors.items()):
        for mapping in entry.connector.mappings:
            fn = SQLMapping(dbv, entry, mapping)
            yield Edge(mapping.from_idtype, mapping.to_idtype, fn, name,
                       fn.search if mapping.search else None)


def provider_edges(registry: Registry) -> Iterator[Edge]:
    """Edges of every ``mapping-provider``; a provider that fails is recorded on its plugin."""
    for ext in registry.list(MAPPING_PROVIDER):
        try:
            triples = [_triple(t) for t in ext.create()]
        except Exception as exc:  # noqa: BLE001 - reported in /api/_plugins, the server starts
            registry.record_failure(ext.plugin, ext, exc)
            continue
        for source, target, fn in triples:
            search = getattr(fn, "search", None)
            yield Edge(source, target, fn, f"{ext.plugin}:{ext.id}",
                       search if callable(search) else None)


def _triple(item: Any) -> tuple[str, str, Any]:
    source, target, fn = item
    if not callable(fn):
        raise TypeError(f"the mapping {source} -> {target} is not callable")
    return str(source), str(target), fn
