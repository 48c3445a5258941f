"""Request values -> one validated view request, and the SQL text it runs (spec §3).

Nothing here builds SQL from request text: filter keys must name declared filters or columns,
values become bound parameters, replacements must pass their validator and ``_sort`` names
known columns. Typed values are read with :mod:`core_server.values`; the text itself is
assembled by :mod:`core_server.dbview.sql`. No security check, engine or query happens here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import sqlalchemy as sa

from core_server.dbview import filters
from core_server.dbview import sql
from core_server.dbview.filters import Step
from core_server.dbview.builder import ArgumentInfo
from core_server.dbview.builder import DBView
from core_server.dbview.builder import is_server_name
from core_server.dbview.engines import ConnectorEngine
from core_server.dbview.service import ConnectorEntry
from core_server.dbview.service import DBViews
from core_server.errors import ApiError
from core_server.errors import BadRequest
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
from core_server.values import shown
from core_server.values import text

SAFE_REPLACEMENT = re.compile(r"[A-Za-z0-9_.]*")
#: what a regex-validated replacement may not contain: whitespace, quotes, ``;``, parentheses,
#: backslash, ``#``, ``$`` (dollar quoting), ``:`` (bind parameters, casts), comments
NOT_INERT = re.compile(r"""[\s'"`;()\\#$:\x00]|--|/\*|\*/""")
INERT_FORM = "no whitespace, quotes, ;, (, ), \\, #, $, :, -- or /* */"
#: what ``agg`` and ``data_subtype`` of agg_score accept when the agg view has no validator
_AGG_DEFAULTS: dict[str, Any] = {
    "agg": ["min", "max", "avg", "sum", "count"],
    "data_subtype": re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?$"),
}
OPTIONS = frozenset({"_format", "_limit", "_offset", "_sort", "_return_query", "_assignids", "_"})
FORMATS = ("json", "csv", "tsv", "ndjson")
SORT_FORM = "comma-separated column names, each with an optional - (descending) or + prefix"
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
    #: clauses on the view's rows, filter keys dropped (lenient requests) and keys of a view
    #: without declared filters or columns (see :mod:`core_server.dbview.filters`)
    result: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    open_keys: list[str] = field(default_factory=list)
    #: how the filter values became binds (replayed by a request plan)
    steps: list[Step] = field(default_factory=list)


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
    #: SQL texts of this request's shape, shared by the requests of one plan
    #: (:mod:`core_server.dbview.plans`): the text depends on the shape only, never on values
    memo: dict[Any, Any] | None = None

    def sql(self, template: str | None = None) -> str:
        """The main (or given) SQL template with the replacements filled in.

        Filters on the rows (computed columns) wrap the main query.
        """
        if template is None and self.memo is not None:
            found = self.memo.get("sql")
            if found is None:
                found = self.memo["sql"] = self._sql(None)
            return str(found)
        return self._sql(template)

    def _sql(self, template: str | None) -> str:
        filled = sql.fill(str(template or self.view.query), self.parsed.replacements, self.name)
        return filled if template is not None else sql.filtered(filled, self.parsed.result)

    def rows_sql(self, ce: ConnectorEngine, limit: int | None) -> str:
        """The main query with ``_sort``, ``limit`` and ``_offset`` pushed into SQL."""
        if self.memo is not None:
            key = ("rows", limit)
            found = self.memo.get(key)
            if found is None:
                found = self.memo[key] = sql.paged(self.sql(), self.options.sort, limit,
                                                   self.options.offset, ce)
            return str(found)
        return sql.paged(self.sql(), self.options.sort, limit, self.options.offset, ce)

    def count_sql(self) -> str:
        """The query counting the view's rows; 400 ``count_unsupported`` for callbacks."""
        view = self.view
        if self.parsed.result and isinstance(view.query, str):
            return sql.count_of(self.sql())  # the count query cannot see computed columns
        if isinstance(view.queries.get("count"), str):
            return self.sql(view.queries["count"])
        if view.table:
            return self.sql(sql.count_table(view.table))
        if isinstance(view.query, str):
            return sql.count_of(self.sql())
        raise BadRequest("count_unsupported", f"{self.name} is a callback view without a count "
                         "query", hint="fetch the rows instead")

    def statement(self, text: str) -> sa.TextClause:
        """The cached ``text()`` of ``text`` with this request's list binds expanding."""
        if self.memo is not None:  # which binds are lists is part of the shape too
            key = ("statement", text)
            found = self.memo.get(key)
            if found is None:
                found = self.memo[key] = sql.statement(self.entry.compiled, text,
                                                       self.parsed.binds, self.parsed.expanding)
            return found
        return sql.statement(self.entry.compiled, text, self.parsed.binds, self.parsed.expanding)


def view_request(dbv: DBViews, entry: ConnectorEntry, view: DBView, name: str, values: Values,
                 columns: Mapping[str, dict[str, Any]], fmt: str | None = None,
                 lenient: bool = False) -> ViewRequest:
    """Validate ``values`` for ``view`` of ``entry``: options, arguments, filters, replacements.

    :param columns: the view's columns including derived ones (what filters and ``_sort`` name).
    :param fmt: the format of a ``.csv``-style suffix of the URL (wins over ``_format``).
    :param lenient: drop unknown filter keys (listed in ``parsed.ignored``) instead of a 400.
    """
    options = parse_options(values, None if view.is_callback else columns, fmt)
    _check_limit(options, dbv.max_limit)
    quote = None if view.is_callback else dbv.engine(entry).quote
    parsed = parse(view, values, dbv.strict_filters and not lenient, columns, quote=quote,
                   namedsets=dbv.namedset_resolver)
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
    options.limit = get_int(values, "_limit", minimum=0, maximum=MAX_PAGING)
    options.offset = get_int(values, "_offset", 0, minimum=0, maximum=MAX_PAGING)
    options.sort = parse_sort(first(values, "_sort"), columns)
    options.return_query = _flag(values, "_return_query")
    options.assign_ids = _flag(values, "_assignids")
    return options


def _flag(values: Values, key: str) -> bool:
    # as TDP: a key given without a value (``?_return_query``) is true
    return values.get(key) == [""] or get_bool(values, key)


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
    limit = get_int(values, "limit", 30, minimum=1, maximum=MAX_PAGING - 1)
    # offset + limit + 1 (offset2) is a SQL integer too: a page beyond that is beyond every
    # table anyway, so it is read as the last such page (empty) rather than refused
    page = min(get_int(values, "page", 0, minimum=0), (MAX_PAGING - 1 - limit) // limit)
    offset = page * limit
    filled = dict(values)
    filled.update({"query": [f"%{query}%"], "query_end": [f"%{query}"],
                   "query_start": [f"{query}%"], "query_match": [query],
                   "limit": [str(limit + 1)], "offset": [str(offset)],
                   "offset2": [str(offset + limit + 1)]})
    filled.pop("page", None)
    return filled, limit


def _agg_score(entry: ConnectorEntry, view: DBView, values: Values, parsed: Parsed) -> None:
    # TDP's AggregateScore: {agg_score} is the view's agg_score_<agg> query, else the
    # connector's agg_score query named <agg>, else its main query; '' without agg
    if "agg_score" not in view.replacements and "{agg_score}" not in str(view.query):
        return
    parsed.replacements["agg_score"] = ""
    agg = first(values, "agg")
    if agg is None or agg == "":
        return
    agg = text(agg, "agg")
    agg_view = entry.connector.agg_score
    template = view.queries.get(f"agg_score_{agg}", agg_view.queries.get(agg))
    named = template is not None
    if template is None:
        template = agg_view.query
    if not isinstance(template, str):
        raise ApiError(500, "invalid_view", f"the agg_score of {entry.name} is not SQL text")
    subs = {}
    for name in agg_view.replacements:
        value = agg if name == "agg" else first(values, name)
        subs[name] = _agg_value(agg_view, name, value, named)
    parsed.replacements["agg_score"] = sql.fill(template, subs, f"{entry.name} agg_score")


def _agg_value(agg_view: DBView, name: str, value: Any, named: bool) -> str:
    # agg and data_subtype go into SQL text: the agg view's validator, else a whitelist
    valid = agg_view.valid_replacements.get(name)
    if value is None:
        raise BadRequest("missing_argument", f"{name} is missing for agg_score",
                         hint=_replacement_hint(name, valid or _AGG_DEFAULTS.get(name)))
    if valid is None and name == "agg" and named:
        return str(value)  # the name of one of the plugin's aggregation queries
    return _validate_replacement(name, text(value, name), valid or _AGG_DEFAULTS.get(name))


def parse(view: DBView, values: Values, strict_filters: bool = True,
          columns: Mapping[str, dict[str, Any]] | None = None, *,
          quote: Callable[[str], str] | None = None,
          namedsets: filters.NamedSetResolver | None = None) -> Parsed:
    """Validate ``values`` against ``view``: arguments, replacements, then filters.

    :param columns: the view's columns including derived ones (default: the declared ones);
        a :class:`~core_server.dbview.columns.Columns` also tells which are its table's.
    :param strict_filters: unknown filter keys are 400 (else dropped and listed in ``ignored``).
    :param quote: quotes a column name as an identifier of the view's database.
    :param namedsets: resolves ``filter_namedset4<key>`` set ids to their ids.
    """
    columns = view.columns if columns is None else columns
    parsed = Parsed()
    parse_arguments(view, values, parsed)
    _parse_replacements(view, values, parsed)
    ctx = filters.Context(view, columns, getattr(columns, "table", frozenset()), strict_filters,
                          quote or (lambda name: name), namedsets, frozenset(parsed.binds))
    _parse_filters(view, values, parsed, ctx)
    return parsed


def parse_arguments(view: DBView, values: Values, parsed: Parsed) -> None:
    """The view's arguments from ``values`` into ``parsed`` (converted, bound; 400 if bad)."""
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
        if is_server_name(name):
            continue
        valid = view.valid_replacements.get(name)
        value = first(values, name)
        if value is None and valid is None:
            parsed.replacements[name] = ""  # as TDP: a missing free replacement is empty
            continue
        if value is None:
            raise BadRequest("missing_argument", f"replacement {name!r} is missing",
                             hint=_replacement_hint(name, valid))
        value = _validate_replacement(name, text(value, name), valid)
        if name in paging_replacements(view.query) and not (
                value.isdigit() and int(value) <= MAX_PAGING):
            raise BadRequest("invalid_replacement", f"replacement {name!r} must be an integer "
                             f"from 0 to {MAX_PAGING}, not {shown(value)}", hint=f"{name} is a "
                             "LIMIT or OFFSET of the query: never negative, and with the other "
                             "within 64 bits")
        parsed.replacements[name] = value


def counts(view: DBView) -> bool:
    """Whether ``/count`` of ``view`` can answer (``count_sql`` has a query to count)."""
    return isinstance(view.queries.get("count"), str) or bool(view.table) or \
        isinstance(view.query, str)


def is_server_replacement(name: str, view: DBView) -> bool:
    """True for replacements the server computes (where/joins/agg_score and group variants)."""
    return is_server_name(name)


def _replacement_hint(name: str, valid: Any) -> str:
    if isinstance(valid, (list, tuple, set, frozenset)):
        return f"{name} must be one of: " + ", ".join(map(str, valid))
    if valid in (int, float):
        return f"{name} must be a{'n integer' if valid is int else ' number'}"
    if isinstance(valid, re.Pattern):
        return f"{name} must match {valid.pattern} and be SQL-inert ({INERT_FORM})"
    return f"{name} may contain letters, digits, '_' and '.'"


#: The largest _limit, _offset and LIMIT/OFFSET replacement: their sum stays within 64 bits
#: (SQLite adds them and fails beyond).
MAX_PAGING = 2**62

_PAGING = re.compile(r"\b(?:LIMIT|OFFSET)\s+\{(\w+)\}", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _paging_names(query: str) -> frozenset[str]:
    return frozenset(_PAGING.findall(query))


def paging_replacements(query: Any) -> frozenset[str]:
    """The replacements of a view's SQL that stand in a ``LIMIT {x}`` or ``OFFSET {x}``."""
    return _paging_names(query) if isinstance(query, str) else frozenset()


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
        # TDP's check (re.match: a prefix) and nothing in the value that could end the context
        ok = valid.match(value) is not None and NOT_INERT.search(value) is None
    elif valid is None:
        ok = SAFE_REPLACEMENT.fullmatch(value) is not None
    if not ok:
        raise BadRequest("invalid_replacement", f"invalid value for replacement {name!r}",
                         hint=_replacement_hint(name, valid))
    return value


def filter_keys(view: DBView, columns: Mapping[str, Any] | None = None) -> list[str]:
    """Every valid filter key of ``view`` (declared filters and known columns)."""
    return sorted(set(view.filters) | set(view.columns if columns is None else columns))


def _parse_filters(view: DBView, values: Values, parsed: Parsed, ctx: filters.Context) -> None:
    found = filters.parse_filters(ctx, values)
    parsed.filters = found.values
    parsed.binds.update(found.binds)
    parsed.expanding |= found.expanding
    parsed.replacements.update(found.replacements(view))
    parsed.result = found.result
    parsed.ignored = found.ignored
    parsed.open_keys = found.open_keys
    parsed.steps = found.steps
