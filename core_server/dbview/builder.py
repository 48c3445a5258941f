"""The view builder of TDP plugins: ``DBViewBuilder(...)....build() -> DBView``.

A :class:`DBView` is a plain description (SQL templates, declared columns, arguments, filters and
replacements); it holds no dialect text and touches no database. Execution lives in
:mod:`core_server.dbview.execute`, column derivation in :mod:`core_server.dbview.columns`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Query types; ``private`` views are hidden from listings and the HTTP API.
QUERY_TYPES = ("generic", "helper", "lookup", "score", "table", "private")

#: Replacements computed by the server, never taken from the request: ``agg_score``,
#: ``where``, ``and_where``, ``joins`` and the ``<group>_where``, ``and_<group>_where``,
#: ``<group>_joins`` of filter groups (empty when no filter of the group is used).
SERVER_REPLACEMENTS = frozenset({"where", "and_where", "joins", "agg_score"})
_SERVER_NAME = re.compile(r"(?:and_)?(?:\w+_)?where|(?:\w+_)?joins|agg_score")


def is_server_name(name: str) -> bool:
    """True for a replacement the server computes (see :data:`SERVER_REPLACEMENTS`)."""
    return _SERVER_NAME.fullmatch(name) is not None


@dataclass
class ArgumentInfo:
    """A declared bind parameter ``:name`` of a view."""

    name: str
    type: Callable[[Any], Any] | None = None
    description: str = ""
    example: Any = None
    as_list: bool = False
    is_id: bool | None = None
    list_as_tuple: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (desc route and OpenAPI)."""
        return {"name": self.name, "type": _type_name(self.type), "description": self.description,
                "example": self.example, "as_list": self.as_list}


@dataclass
class FilterInfo:
    """A declared dynamic filter: how ``filter_<key>`` becomes a SQL clause."""

    key: str
    replacement: str | None = None
    alias: str | None = None
    table: str | None = None
    group: str | None = None
    join: str | None = None

    def template(self) -> str | None:
        """The clause with ``{operator}`` and ``{value}`` placeholders (None: the default one).

        As in TDP, ``table`` beats ``alias`` beats ``replacement``.
        """
        if self.table:
            return f"{self.table}.{self.key} {{operator}} {{value}}"
        if self.alias:
            return f"{self.alias} {{operator}} {{value}}"
        return self.replacement or None


def _type_name(kind: Any) -> str | None:
    if kind is None:
        return None
    return getattr(kind, "__name__", str(kind))


class DBView:
    """One SQL (or callback) view, as built by :class:`DBViewBuilder`.

    Attributes plugins may read (TDP names): ``description, summary, query_type, tags, idtype,
    query, queries, columns, replacements, valid_replacements, arguments, argument_infos, filters,
    table, security, no_cache, assign_ids``.
    """

    def __init__(self, idtype: str | None = None, query_type: str = "generic",
                 tags: list[str] | None = None) -> None:
        self.description = ""
        self.summary: str | None = None
        self.query_type = query_type
        self.tags = list(tags or [])
        self.idtype = idtype
        self.query: str | Callable[..., Any] | None = None
        self.queries: dict[str, Any] = {}
        self.columns: dict[str, dict[str, Any]] = {}
        #: as in TDP: a view with a table derives its columns unless this is True
        self.columns_filled_up = False
        self.replacements: list[str] = []
        self.valid_replacements: dict[str, Any] = {}
        self.arguments: list[str] = []
        self.argument_infos: dict[str, ArgumentInfo] = {}
        self.filters: dict[str, FilterInfo] = {}
        self.table: str | None = None
        self.security: Any = None
        self.no_cache = False
        self.assign_ids = False

    @property
    def is_callback(self) -> bool:
        """True when rows come from a Python function instead of SQL."""
        return callable(self.query)

    @property
    def is_private(self) -> bool:
        """Private views are usable by the server only."""
        return self.query_type == "private"

    def needs_derived_columns(self) -> bool:
        """True for views with a :meth:`DBViewBuilder.table` (TDP derives them all)."""
        return not self.columns_filled_up and self.table is not None

    def dump(self, name: str, columns: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The ``/desc`` document of this view (and its entry in the connector listing).

        TDP's fields in TDP's order (``arguments`` lists the replacements too, ``query`` and
        ``queries`` with their whitespace collapsed), then ours: ``summary``, ``tags``,
        ``replacements``, ``assign_ids``.

        :param columns: the columns to show (derived ones), default the declared columns.
        """
        columns = self.columns if columns is None else columns
        result: dict[str, Any] = {
            "name": name, "description": self.description, "type": self.query_type,
            "idType": self.idtype, "query": clean_query(self.query),
            "arguments": [*self.arguments, *self.replacements],
            "columns": [{**v, "column": k} for k, v in columns.items()],
        }
        if self.filters:
            result["filters"] = list(self.filters)
        if self.queries:
            result["queries"] = {k: clean_query(v) for k, v in self.queries.items()}
        result["no_cache"] = self.no_cache
        result.update(summary=self.summary, tags=list(self.tags),
                      replacements=list(self.replacements), assign_ids=self.assign_ids)
        return result


def clean_query(query: Any) -> str | None:
    """A query as TDP shows it: whitespace runs as one space; callbacks as ``custom function``."""
    if callable(query):
        return "custom function"
    return None if query is None else _SPACES.sub(" ", str(query).strip())


_SPACES = re.compile(r"\s+")


class DBViewBuilder:
    """Fluent builder of a :class:`DBView`; every method returns the builder.

    :param query_type: ``generic``, ``helper``, ``lookup``, ``score``, ``table`` or ``private``.
    :param tags: free-form tags shown in listings.
    """

    def __init__(self, query_type: str = "generic", tags: list[str] | None = None) -> None:
        if query_type not in QUERY_TYPES:
            raise ValueError(f"unknown query type {query_type!r}; known: {', '.join(QUERY_TYPES)}")
        self.v = DBView(query_type=query_type, tags=tags)

    def clone(self, view: DBView) -> DBViewBuilder:
        """Start from a copy of ``view``."""
        self.v = copy.deepcopy(view)
        return self

    def description(self, desc: str, summary: str | None = None) -> DBViewBuilder:
        """Set the description and a summary (default, as TDP: its first 20 characters)."""
        self.v.description = desc
        self.v.summary = summary or (desc if len(desc) < 20 else desc[:20] + "...")
        return self

    def summary(self, summary: str) -> DBViewBuilder:
        """Set the one-line summary."""
        self.v.summary = summary
        return self

    def idtype(self, idtype: str) -> DBViewBuilder:
        """The id type of the rows' ``id`` column."""
        self.v.idtype = idtype
        return self

    def table(self, table: str) -> DBViewBuilder:
        """The table (``schema.table`` allowed) behind the view; used for columns and count."""
        self.v.table = table
        return self

    def query(self, key: str | None, value: str | None = None) -> DBViewBuilder:
        """``query(sql)`` sets the main SQL; ``query(key, sql)`` a named sub-query."""
        if value is None:
            self.v.query = key
        else:
            self.v.queries[str(key)] = value
        return self

    def callback(self, key: Any, value: Callable[..., Any] | None = None) -> DBViewBuilder:
        """Like :meth:`query` with ``f(engine, arguments, filters) -> rows`` instead of SQL."""
        if value is None:
            self.v.query = key
        else:
            self.v.queries[str(key)] = value
        return self

    def append(self, key: str, value: str | None = None) -> DBViewBuilder:
        """Append text to the main query (``append(sql)``) or a named one (``append(key, sql)``)."""
        if value is None:
            self.v.query = str(self.v.query or "") + key
        else:
            self.v.queries[key] = str(self.v.queries.get(key, "")) + value
        return self

    def query_stats(self, sql: str) -> DBViewBuilder:
        """The ``stats`` sub-query."""
        return self.query("stats", sql)

    def query_categories(self, sql: str) -> DBViewBuilder:
        """The ``categories`` sub-query."""
        return self.query("categories", sql)

    def query_count(self, sql: str) -> DBViewBuilder:
        """The ``count`` sub-query of ``/count`` (default: counted from the table or the rows)."""
        return self.query("count", sql)

    def derive_columns(self) -> DBViewBuilder:
        """Derive the columns from :meth:`table` on first use (explicit columns win).

        As in TDP this is the default for every view with a table.
        """
        self.v.columns_filled_up = False
        return self

    def column(self, column: str, **attrs: Any) -> DBViewBuilder:
        """Declare a column (``type``, ``label``, ``categories``, ``min``, ``max``...).

        As in TDP a second call replaces the first; ``label`` defaults to the name, a missing
        ``type`` is derived from the table (if any).
        """
        self.v.columns[column] = {"label": column, **attrs, "column": column}
        return self

    def columns(self, columns: list[str], **attrs: Any) -> DBViewBuilder:
        """Declare several columns with the same attributes."""
        for column in columns:
            self.column(column, **attrs)
        return self

    def arg(self, arg: str, type: Callable[[Any], Any] | None = None, description: str = "",
            example: Any = None, as_list: bool = False, is_id: bool | None = None,
            list_as_tuple: bool = False) -> DBViewBuilder:
        """Declare a required bind parameter ``:arg`` (read from ``arg`` or ``arg[]``)."""
        if arg not in self.v.arguments:
            self.v.arguments.append(arg)
        self.v.argument_infos[arg] = ArgumentInfo(arg, type, description, example, as_list,
                                                  is_id, list_as_tuple)
        return self

    def replace(self, replace: str, valid_replacements: Any = None, *,
                valid: Any = None) -> DBViewBuilder:
        """Declare a ``{replace}`` text replacement and its validator (list, int, float, regex).

        ``valid=`` is another name of ``valid_replacements``.
        """
        if replace not in self.v.replacements:
            self.v.replacements.append(replace)
        valid_replacements = valid if valid_replacements is None else valid_replacements
        if valid_replacements is not None:
            self.v.valid_replacements[replace] = valid_replacements
        return self

    def filter(self, key: str, replacement: str | None = None, alias: str | None = None,
               table: str | None = None, group: str | None = None,
               join: str | None = None) -> DBViewBuilder:
        """Declare a dynamic filter ``filter_<key>`` (see the spec for the template options)."""
        self.v.filters[key] = FilterInfo(key, replacement, alias, table, group, join)
        return self

    def filters(self, keys: list[str], alias: str | None = None, table: str | None = None,
                group: str | None = None, join: str | None = None) -> DBViewBuilder:
        """:meth:`filter` for each key."""
        for key in keys:
            self.filter(key, alias=alias, table=table, group=group, join=join)
        return self

    def assign_ids(self) -> DBViewBuilder:
        """Give each row an integer ``_id`` mapped from its ``id`` (persistent, per id type)."""
        self.v.assign_ids = True
        return self

    def call(self, f: Callable[[DBViewBuilder], Any] | None) -> DBViewBuilder:
        """Call ``f(self)``; ``None`` is a no-op."""
        if f is not None:
            f(self)
        return self

    def security(self, check: Any) -> DBViewBuilder:
        """Who may read the view: a role, a list of roles, ``callable(user)`` or ``False``."""
        self.v.security = check
        return self

    def no_cache(self) -> DBViewBuilder:
        """Mark the view as not cacheable by clients."""
        self.v.no_cache = True
        return self

    def build(self) -> DBView:
        """The finished view."""
        return self.v
