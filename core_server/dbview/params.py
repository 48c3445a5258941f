"""Request values -> one validated view request, and the SQL text it runs (spec §3).

Nothing here builds SQL from request text: filter keys must name declared filters or columns,
values become bound parameters, replacements must pass their validator and ``_sort`` names
known columns. Typed values are read with :mod:`core_server.values`; the text itself is
assembled by :mod:`core_server.dbview.sql`. No security check, engine or query happens here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import sqlalchemy as sa

from core_server.dbview import sql
from core_server.dbview.builder import SERVER_REPLACEMENTS
from core_server.dbview.builder import ArgumentInfo
from core_server.dbview.builder import DBView
from core_server.dbview.builder import FilterInfo
from core_server.dbview.engines import ConnectorEngine
from core_server.dbview.service import ConnectorEntry
from core_server.dbview.service import DBViews
from core_server.errors import BadRequest
from core_server.values import INT64_MAX
from core_server.values import InvalidValue
from core_server.values import Values
from core_server.values import boolean
from core_server.values import first
from core_server.values import floating
from core_server.values import get_bool
from core_server.values import get_int
from core_server.values import get_text
from core_server.values import id_list
from core_server.values import integer
from core_server.values import number
from core_server.values import shown
from core_server.values import text

SAFE_REPLACEMENT = re.compile(r"[A-Za-z0-9_.]+")
OPTIONS = frozenset({"_format", "_limit", "_offset", "_sort", "_return_query", "_assignids", "_"})
FORMATS = ("json", "csv", "tsv", "ndjson")
SORT_FORM = "comma-separated column names, each with an optional - (descending) or + prefix"
_FILTER_KEY = re.compile(r"^filter_(?:(lt|lte|gt|gte)_)?(.+?)(?:\[\])?$")
#: how a typed view argument (``.arg(name, type=int)``) is read
_KINDS: dict[Any, Callable[[Any, str], Any]] = {int: integer, float: floating, bool: boolean,
                                                 str: text}


@dataclass
class Options:
    """The ``_``-prefixed request options."""

    format: str = "json"
    limit: int | None = None
    offset: int = 0
    sort: list[tuple[str, bool]] = field(default_factory=list)
    return_query: bool = False
    assign_ids: bool = False


@dataclass
class Parsed:
    """A validated request for one view."""

    arguments: dict[str, Any] = field(default_factory=dict)
    filters: dict[str, list[Any]] = field(default_factory=dict)
    replacements: dict[str, str] = field(default_factory=dict)
    binds: dict[str, Any] = field(default_factory=dict)
    expanding: set[str] = field(default_factory=set)


@dataclass
class ViewRequest:
    """One request for one view: the resolved connector and view and the validated values.

    Built by :func:`view_request`; its methods give the SQL text of the request.
    """

    entry: ConnectorEntry
    view: DBView
    name: str
    values: Values
    columns: Mapping[str, dict[str, Any]]
    options: Options
    parsed: Parsed

    def sql(self, template: str | None = None) -> str:
        """The main (or given) SQL template with the replacements filled in."""
        return sql.fill(str(template or self.view.query), self.parsed.replacements, self.name)

    def rows_sql(self, ce: ConnectorEngine, limit: int | None) -> str:
        """The main query with ``_sort``, ``limit`` and ``_offset`` pushed into SQL."""
        return sql.paged(self.sql(), self.options.sort, limit, self.options.offset, ce)

    def count_sql(self) -> str:
        """The query counting the view's rows; 400 ``count_unsupported`` for callbacks."""
        view = self.view
        if "count" in view.queries:
            return self.sql(view.queries["count"])
        if view.table:
            return self.sql(sql.count_table(view.table))
        if isinstance(view.query, str):
            return sql.count_of(self.sql())
        raise BadRequest("count_unsupported", f"{self.name} is a callback view without a count "
                         "query", hint="fetch the rows instead")

    def statement(self, text: str) -> sa.TextClause:
        """The cached ``text()`` of ``text`` with this request's list binds expanding."""
        return sql.statement(self.entry.compiled, text, self.parsed.binds, self.parsed.expanding)


def view_request(dbv: DBViews, entry: ConnectorEntry, view: DBView, name: str, values: Values,
                 columns: Mapping[str, dict[str, Any]], fmt: str | None = None) -> ViewRequest:
    """Validate ``values`` for ``view`` of ``entry``: options, arguments, filters, replacements.

    :param columns: the view's columns including derived ones (what filters and ``_sort`` name).
    :param fmt: the format of a ``.csv``-style suffix of the URL (wins over ``_format``).
    """
    options = parse_options(values, None if view.is_callback else columns, fmt)
    _check_limit(options, dbv.max_limit)
    parsed = parse(view, values, dbv.strict_filters, columns)
    _agg_score(entry, view, values, parsed)
    return ViewRequest(entry, view, f"{entry.name}/{name}", values, columns, options, parsed)


def split_format(views: Mapping[str, Any] | None, view: str) -> tuple[str, str | None]:
    """``("v", "csv")`` for a URL's ``v.csv`` unless ``views`` has a view named ``v.csv``."""
    name, dot, suffix = view.rpartition(".")
    if dot and suffix in FORMATS and (views is None or view not in views):
        return name, suffix
    return view, None


def uses_target(view: DBView) -> bool:
    """True when ``target`` is an argument or replacement of ``view`` (not an id type hand-off)."""
    return "target" in view.arguments or "target" in view.replacements


def parse_options(values: Values, columns: Mapping[str, Any] | None, fmt: str | None) -> Options:
    """Read and check the ``_`` options; unknown ``_x`` keys are 400.

    :param columns: what ``_sort`` may name; None defers the check (callbacks, known later).
    """
    unknown = sorted(k for k in values if k.startswith("_") and k not in OPTIONS)
    if unknown:
        raise BadRequest("unknown_parameter", f"unknown option {shown(unknown[0])}",
                         hint="options: " + ", ".join(sorted(OPTIONS - {"_"})))
    options = Options()
    options.format = fmt or str(first(values, "_format") or "json").lower()
    if options.format not in FORMATS:
        raise InvalidValue("_format", options.format, "one of: " + ", ".join(FORMATS))
    # _limit + 1 rows are read to know whether there are more
    options.limit = get_int(values, "_limit", minimum=0, maximum=INT64_MAX - 1)
    options.offset = get_int(values, "_offset", 0, minimum=0)
    options.sort = parse_sort(first(values, "_sort"), columns)
    options.return_query = get_bool(values, "_return_query")
    options.assign_ids = get_bool(values, "_assignids")
    return options


def parse_sort(value: Any, columns: Mapping[str, Any] | None) -> list[tuple[str, bool]]:
    """``_sort=-a,b`` as ``[("a", True), ("b", False)]``; names must be in ``columns``."""
    sort = []
    for part in str(value or "").split(","):
        name = part.strip()
        if not name:
            continue
        descending = name[0] == "-"
        if name[0] in "-+":
            name = name[1:]
        if not name or name[0] in "-+":
            raise InvalidValue("_sort", value, SORT_FORM)
        if columns is not None and name not in columns:
            raise BadRequest("unknown_field", f"cannot sort by unknown column {shown(name)}",
                             hint="columns: " + ", ".join(columns))
        sort.append((name, descending))
    return sort


def _check_limit(options: Options, max_limit: int | None) -> None:
    if max_limit is not None and options.limit is not None and options.limit > max_limit:
        raise BadRequest("limit_too_large", f"_limit={options.limit} exceeds the server cap "
                         f"of {max_limit} rows", hint=f"page with _limit<={max_limit} and _offset")


def lookup_values(values: Values) -> tuple[dict[str, list[Any]], int]:
    """Request values of ``/lookup`` with the TDP query/limit/offset arguments filled in."""
    query = get_text(values, "query").lower()
    limit = get_int(values, "limit", 30, minimum=1, maximum=INT64_MAX - 1)
    # offset + limit + 1 (offset2) is a SQL integer too
    page = get_int(values, "page", 0, minimum=0, maximum=(INT64_MAX - 1 - limit) // limit)
    offset = page * limit
    filled = dict(values)
    filled.update({"query": [f"%{query}%"], "query_end": [f"%{query}"],
                   "query_start": [f"{query}%"], "query_match": [query],
                   "limit": [str(limit + 1)], "offset": [str(offset)],
                   "offset2": [str(offset + limit + 1)]})
    filled.pop("page", None)
    return filled, limit


def _agg_score(entry: ConnectorEntry, view: DBView, values: Values, parsed: Parsed) -> None:
    # {agg_score} from the request's agg (empty when absent)
    if "agg_score" not in view.replacements:
        return
    agg = first(values, "agg")
    if not agg:
        parsed.replacements["agg_score"] = ""
        return
    agg_view = view.queries.get(f"agg_score_{agg}")
    if isinstance(agg_view, str):
        parsed.replacements["agg_score"] = agg_view
        return
    agg_view = entry.connector.agg_score
    sub = parse(agg_view, values, strict_filters=False)  # the filters are the view's
    parsed.replacements["agg_score"] = sql.fill(str(agg_view.query), sub.replacements, "agg")


def parse(view: DBView, values: Values, strict_filters: bool = True,
          columns: Mapping[str, dict[str, Any]] | None = None) -> Parsed:
    """Validate ``values`` against ``view``: arguments, replacements, then filters.

    :param columns: the view's columns including derived ones (default: the declared ones).
    """
    parsed = Parsed()
    _parse_arguments(view, values, parsed)
    _parse_replacements(view, values, parsed)
    _parse_filters(view, view.columns if columns is None else columns, values, parsed,
                   strict_filters)
    return parsed


def _parse_arguments(view: DBView, values: Values, parsed: Parsed) -> None:
    for name in view.arguments:
        info = view.argument_infos.get(name)
        as_list = info is not None and info.as_list
        # TDP clients send lists as ids[]=1,2 too
        raw = id_list(values, name, required=False, split_brackets=True) if as_list \
            else values.get(name) or values.get(name + "[]")
        if not raw:
            raise BadRequest("missing_argument", f"view argument {name!r} is missing",
                             hint=f"add ?{name}=..." + (f" (e.g. {info.example})"
                                                         if info and info.example else ""))
        converted = [_argument(name, info, v) for v in raw]
        if info is not None and info.as_list:
            value: Any = tuple(converted) if info.list_as_tuple else converted
        else:
            value = converted[0]
        parsed.arguments[name] = value
        parsed.binds[name] = value


def _argument(name: str, info: ArgumentInfo | None, value: Any) -> Any:
    kind = info.type if info is not None else None
    if kind is None:
        return value
    read = _KINDS.get(kind)
    try:
        return read(value, name) if read is not None else kind(value)
    except InvalidValue as exc:
        raise BadRequest("invalid_argument", f"argument {name!r} must be {exc.accepted}, "
                         f"got {shown(value)}", hint=f"send {name} as {exc.accepted}",
                         details=exc.details) from None
    except (TypeError, ValueError, ArithmeticError):
        raise BadRequest("invalid_argument", f"argument {name!r} must be of type "
                         f"{getattr(kind, '__name__', kind)}, got {shown(value)}") from None


def _parse_replacements(view: DBView, values: Values, parsed: Parsed) -> None:
    for name in view.replacements:
        if is_server_replacement(name, view):
            continue
        value = first(values, name)
        if value is None:
            raise BadRequest("missing_argument", f"replacement {name!r} is missing",
                             hint=_replacement_hint(name, view.valid_replacements.get(name)))
        parsed.replacements[name] = _validate_replacement(name, str(value),
                                                          view.valid_replacements.get(name))


def is_server_replacement(name: str, view: DBView) -> bool:
    """True for replacements the server computes (where/joins/agg_score and group variants)."""
    if name in SERVER_REPLACEMENTS:
        return True
    groups = {f.group for f in view.filters.values() if f.group}
    return any(name in (f"{g}_where", f"and_{g}_where", f"{g}_joins") for g in groups)


def _replacement_hint(name: str, valid: Any) -> str:
    if isinstance(valid, (list, tuple, set, frozenset)):
        return f"{name} must be one of: " + ", ".join(map(str, valid))
    if valid in (int, float):
        return f"{name} must be a{'n integer' if valid is int else ' number'}"
    if isinstance(valid, re.Pattern):
        return f"{name} must match {valid.pattern}"
    return f"{name} may contain letters, digits, '_' and '.'"


def _validate_replacement(name: str, value: str, valid: Any) -> str:
    ok = False
    if isinstance(valid, (list, tuple, set, frozenset)):
        ok = value in {str(v) for v in valid}
    elif valid in (int, float):
        try:  # the number goes into the SQL text: bounded and normalised
            value = str(integer(value, name) if valid is int else floating(value, name))
            ok = True
        except InvalidValue:
            ok = False
    elif isinstance(valid, re.Pattern):
        ok = valid.fullmatch(value) is not None
    elif valid is None:
        ok = SAFE_REPLACEMENT.fullmatch(value) is not None
    if not ok:
        raise BadRequest("invalid_replacement", f"invalid value for replacement {name!r}",
                         hint=_replacement_hint(name, valid))
    return value


def filter_keys(view: DBView, columns: Mapping[str, Any] | None = None) -> list[str]:
    """Every valid filter key of ``view`` (declared filters and known columns)."""
    return sorted(set(view.filters) | set(view.columns if columns is None else columns))


def _parse_filters(view: DBView, columns: Mapping[str, dict[str, Any]], values: Values,
                   parsed: Parsed, strict: bool) -> None:
    groups: dict[str | None, list[str]] = {}
    joins: dict[str | None, list[str]] = {}
    used: dict[str, str] = {}
    for key in sorted(values):
        match = _FILTER_KEY.match(key)
        if not match:
            continue
        cmp, name = match.group(1), match.group(2)
        if name not in view.filters and name not in columns:
            if not strict:
                continue
            raise BadRequest("unknown_filter", f"unknown filter {shown(name)} in {shown(key)}",
                             hint="valid filter keys: " + ", ".join(filter_keys(view, columns)))
        info = view.filters.get(name) or FilterInfo(name)
        clause = _clause(columns, info, key, cmp, list(values[key]), parsed, used)
        groups.setdefault(info.group, []).append(clause)
        if info.join and info.join not in joins.setdefault(info.group, []):
            joins[info.group].append(info.join)
    _set_where(view, parsed, groups, joins)


def _clause(columns: Mapping[str, dict[str, Any]], info: FilterInfo, key: str, cmp: str | None,
            raw: list[Any], parsed: Parsed, used: dict[str, str]) -> str:
    column = columns.get(info.key, {})
    numeric = column.get("type") == "number"
    if cmp:
        if not numeric:
            raise BadRequest("invalid_filter", f"filter_{cmp}_{info.key}: comparisons need a "
                             "number column", hint=f"{info.key} is {column.get('type', 'unknown')}")
        if len(raw) != 1:
            raise BadRequest("invalid_filter", f"filter_{cmp}_{info.key} takes one value")
        side = cmp[0]
        if used.get(info.key + side, cmp) != cmp:
            raise BadRequest("invalid_filter", f"filter {info.key!r} has both "
                             f"{used[info.key + side]} and {cmp}", hint="use only one of them")
        used[info.key + side] = cmp
    converted = [number(v, key) for v in raw] if numeric else [str(v) for v in raw]
    bind = f"_f{len(parsed.binds)}"
    parsed.filters.setdefault(f"{cmp}_{info.key}" if cmp else info.key, []).extend(converted)
    value: Any
    if cmp:
        operator, value = cmp, converted[0]
    elif len(converted) == 1:
        operator, value = "eq", converted[0]
    else:
        operator, value = "in", converted
        parsed.expanding.add(bind)
    parsed.binds[bind] = value
    return sql.clause(info.template(), operator, bind)


def _set_where(view: DBView, parsed: Parsed, groups: dict[str | None, list[str]],
               joins: dict[str | None, list[str]]) -> None:
    names = {None} | {f.group for f in view.filters.values() if f.group}
    for group in names:
        prefix = "" if group is None else f"{group}_"
        where, and_where = sql.where(groups.get(group, []))
        parsed.replacements[f"{prefix}where"] = where
        parsed.replacements[f"and_{prefix}where"] = and_where
        parsed.replacements[f"{prefix}joins"] = " ".join(joins.get(group, []))
