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

#: Replacements computed by the server, never taken from the request.
SERVER_REPLACEMENTS = frozenset({"where", "and_where", "joins", "agg_score"})


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

    def template(self) -> str:
        """The clause with ``{operator}`` and ``{value}`` placeholders."""
        if self.replacement:
            return self.replacement
        if self.alias:
            return f"{self.alias} {{operator}} {{value}}"
        if self.table:
            return f"{self.table}.{self.key} {{operator}} {{value}}"
        return f"{self.key} {{operator}} {{value}}"


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
        self.columns_filled_up = True
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
        """True until ``derive_columns`` has filled in the columns."""
        return not self.columns_filled_up

    def dump(self, name: str, columns: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The ``/desc`` document of this view (and one entry of the connector listing).

        :param columns: the columns to show (derived ones), default the declared columns.
        """
        columns = self.columns if columns is None else columns
        result: dict[str, Any] = {
            "name": name, "description": self.description, "type": self.query_type,
            "idType": self.idtype,
            "query": "<callback>" if self.is_callback else self.query,
            "arguments": list(self.arguments),
            "columns": [{**v, "column": k} for k, v in columns.items()],
            "replacements": list(self.replacements),
            "no_cache": self.no_cache,
        }
        if self.summary:
            result["summary"] = self.summary
        if self.filters:
            result["filters"] = sorted(self.filters)
        if self.queries:
            result["queries"] = sorted(self.queries)
        return result


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
        """Set the description (and a one-line summary)."""
        self.v.description = desc
        self.v.summary = summary
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
            self._declare_placeholders(key or "")
        else:
            self.v.queries[str(key)] = value
            self._declare_placeholders(value)
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
            self._declare_placeholders(key)
        else:
            self.v.queries[key] = str(self.v.queries.get(key, "")) + value
            self._declare_placeholders(value)
        return self

    def query_stats(self, sql: str) -> DBViewBuilder:
        """The ``stats`` sub-query."""
        return self.query("stats", sql)

    def query_categories(self, sql: str) -> DBViewBuilder:
        """The ``categories`` sub-query."""
        return self.query("categories", sql)

    def derive_columns(self) -> DBViewBuilder:
        """Derive the columns from :meth:`table` on first use (explicit columns win)."""
        self.v.columns_filled_up = False
        return self

    def column(self, column: str, **attrs: Any) -> DBViewBuilder:
        """Declare or override a column (``type``, ``label``, ``categories``, ``min``, ``max``...)."""
        entry = self.v.columns.setdefault(column, {"label": column, "type": "string"})
        entry.update(attrs)
        if "label" not in attrs:
            entry.setdefault("label", column)
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

    def replace(self, replace: str, valid_replacements: Any = None) -> DBViewBuilder:
        """Declare a ``{replace}`` text replacement and its validator (list, int, float, regex)."""
        if replace not in self.v.replacements:
            self.v.replacements.append(replace)
        if valid_replacements is not None:
            self.v.valid_replacements[replace] = valid_replacements
        return self

    def filter(self, key: str, replacement: str | None = None, alias: str | None = None,
               table: str | None = None, group: str | None = None,
               join: str | None = None) -> DBViewBuilder:
        """Declare a dynamic filter ``filter_<key>`` (see the spec for the template options)."""
        self.v.filters[key] = FilterInfo(key, replacement, alias, table, group, join)
        if group:
            for name in (f"{group}_where", f"and_{group}_where", f"{group}_joins"):
                self._declare(name)
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

    def _declare(self, name: str) -> None:
        if name not in self.v.replacements:
            self.v.replacements.append(name)

    def _declare_placeholders(self, sql: str) -> None:
        # Server-computed names used in the text count as declared so that formatting never fails.
        for name in _PLACEHOLDER.findall(sql):
            if name in SERVER_REPLACEMENTS or name.endswith(("_where", "_joins")):
                self._declare(name)


_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
