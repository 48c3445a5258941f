"""A connector: the views of one plugin plus where and how to reach its database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core_server.dbview.builder import DBView
from core_server.dbview.builder import DBViewBuilder
from core_server.settings import parse_duration_ms

AGG_CHOICES = ["min", "max", "avg"]


@dataclass
class DBMapping:
    """An id mapping query from one id type to another (served by :mod:`core_server.idtypes`).

    :param query: SQL returning columns ``f`` (source id) and ``t`` (target id) for the list
        parameter ``:ids``, written ``IN :ids`` (any database) or ``= ANY(:ids)`` (PostgreSQL).
    :param integer_ids: send the ids as integers (for integer key columns).
    :param search: **(ours)** optional SQL returning ``f`` and ``t`` for source ids matching
        ``:query`` (a lower-cased ``prefix%`` pattern), at most ``:limit`` rows.
    """

    from_idtype: str
    to_idtype: str
    query: str
    integer_ids: bool = False
    search: str | None = None


def _agg_score_view() -> DBView:
    return (DBViewBuilder()
            .query("{agg}({data_subtype})")
            .replace("agg", AGG_CHOICES)
            .replace("data_subtype")
            .build())


#: The default aggregation of score views: ``{agg}({data_subtype})`` with agg in min/max/avg.
default_agg_score = _agg_score_view()


class DBConnector:
    """The views of a ``db-connector`` extension and its database settings.

    Unset ``dburl``, ``statement_timeout`` and ``statement_timeout_query`` are read from the
    config section named by the extension's ``configKey``.

    :param views: view name -> :class:`DBView` (a :class:`DBViewBuilder` is built for you).
    :param agg_score: the view formatting ``{agg_score}``; :data:`default_agg_score` if None.
    :param mappings: id mappings this connector provides.
    """

    def __init__(self, views: Mapping[str, Any] | None = None, agg_score: DBView | None = None,
                 mappings: list[DBMapping] | None = None) -> None:
        self.dburl: str | None = None
        self.statement_timeout: int | None = None
        self.statement_timeout_query: str | None = None
        self.description = ""
        self.views: dict[str, DBView] = {
            name: v.build() if isinstance(v, DBViewBuilder) else v
            for name, v in (views or {}).items()}
        self.agg_score = agg_score or default_agg_score
        self.mappings = list(mappings or [])
        #: extra ``create_engine`` keyword arguments (config ``engine``)
        self.engine_options: dict[str, Any] = {}

    def configure(self, section: Mapping[str, Any]) -> None:
        """Fill unset settings from a config section (``dburl``, ``statement_timeout``...)."""
        if self.dburl is None:
            self.dburl = section.get("dburl")
        if self.statement_timeout is None:
            self.statement_timeout = section.get("statement_timeout")
        if self.statement_timeout_query is None:
            self.statement_timeout_query = section.get("statement_timeout_query")
        if self.statement_timeout is not None:  # TDP wrote intervals: "'5min'", "30s", 500
            self.statement_timeout = parse_duration_ms(self.statement_timeout)
        self.engine_options = {**dict(section.get("engine") or {}), **self.engine_options}

    def dump(self, name: str) -> dict[str, Any]:
        """The entry of this connector in ``GET /api/db/``."""
        return {"name": name, "description": self.description}
