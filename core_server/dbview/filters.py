"""Request filter keys -> SQL clauses, read the way TDP's ``sql_filter.filter_logic`` reads them.

``filter_<key>`` (or ``filter_<key>[]``) with one value is ``=``, with several ``IN``;
``filter_lt_/lte_/gt_/gte_<key>`` compare (number columns, one value, never ``lt`` with ``lte``
nor ``gt`` with ``gte``); ``filter_namedset4<key>=<set id>`` and
``filter_rangeOf<IdType>4<key>=<ids>`` add their ids to ``<key>``. A key is valid if the view
declares it as a filter, if it is one of the view's columns, or, on a view that declares neither
filters nor columns, if it is a plain identifier (then quoted as one).

Where a clause goes: declared filters (their template, ``queries['filter_<key>']`` or
``<key> {operator} {value}``) and columns of the view's table go into ``{where}`` /
``{and_where}`` (or their group's ``{<g>_where}``), as in TDP; columns that the view only
declares (a computed ``score``) and keys of views without a ``{where}`` filter the view's rows
instead (``SELECT * FROM (<view>) WHERE ...``). Every value is a bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from core_server.dbview import sql
from core_server.dbview.builder import DBView
from core_server.dbview.builder import FilterInfo
from core_server.errors import BadRequest
from core_server.values import Values
from core_server.values import number
from core_server.values import shown
from core_server.values import text

#: ``(prefix, operator)`` in the order TDP strips them
COMPARISONS = (("lt_", "lt"), ("gt_", "gt"), ("lte_", "lte"), ("gte_", "gte"))
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPEN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")

#: ``resolve(set_id) -> ids`` of a named set (``core_server.tdp``), raising its JSON errors
NamedSetResolver = Callable[[str], list[Any]]


@dataclass(frozen=True)
class Step:
    """How one filter key's values become binds (what a request plan replays per request)."""

    key: str
    numeric: bool
    #: the bind name, None when there were no values (the clause is ``1 = 0``)
    bind: str | None
    #: several values: the bind is the list (``IN``), else the single value
    many: bool


@dataclass
class Filters:
    """The filters of one request, ready for SQL."""

    #: group (None: the default ``{where}``) -> clauses, and the joins the group needs
    clauses: dict[str | None, list[str]] = field(default_factory=dict)
    joins: dict[str | None, list[str]] = field(default_factory=dict)
    #: clauses on the view's rows (columns the view declares but its table does not have)
    result: list[str] = field(default_factory=list)
    binds: dict[str, Any] = field(default_factory=dict)
    expanding: set[str] = field(default_factory=set)
    #: what callbacks get: key (``lt_value`` for comparisons) -> values
    values: dict[str, list[Any]] = field(default_factory=dict)
    #: keys dropped because the view does not know them (lenient requests only)
    ignored: list[str] = field(default_factory=list)
    #: keys of a view without declared filters or columns (a database error names them)
    open_keys: list[str] = field(default_factory=list)
    #: what each key did, in order (see :class:`Step`)
    steps: list[Step] = field(default_factory=list)

    def replacements(self, view: DBView) -> dict[str, str]:
        """``where``, ``and_where``, ``joins`` and those of every declared filter group."""
        groups = {None} | {f.group for f in view.filters.values() if f.group}
        found: dict[str, str] = {}
        for group in groups:
            prefix = "" if group is None else f"{group}_"
            where, and_where = sql.where(self.clauses.get(group, []))
            found[f"{prefix}where"] = where
            found[f"and_{prefix}where"] = and_where
            found[f"{prefix}joins"] = " ".join(self.joins.get(group, []))
        return found


@dataclass
class Context:
    """What reading the filters of one request needs besides the values."""

    view: DBView
    columns: Mapping[str, dict[str, Any]]
    #: the columns of the view's table (clauses on them go into ``{where}``)
    table: frozenset[str] = frozenset()
    strict: bool = True
    quote: Callable[[str], str] = lambda name: name
    namedsets: NamedSetResolver | None = None
    #: names bound already (the view's arguments): filter binds never reuse them
    taken: frozenset[str] = frozenset()


def collect(values: Values, namedsets: NamedSetResolver | None) -> dict[str, list[Any]]:
    """The ``filter_`` keys without prefix and ``[]``, named sets and ranges merged in."""
    found: dict[str, list[Any]] = {}
    for key, items in values.items():
        name = key[:-2] if key.endswith("[]") else key
        if name.startswith("filter_"):
            found.setdefault(name[7:], []).extend(items)
    for key in list(found):
        real = _special(key)
        if real is None:
            continue
        items = found.pop(key)
        if key.startswith("namedset4"):
            items = _namedset_ids(items, namedsets)
        found.setdefault(real, []).extend(items)
    return found


def _special(key: str) -> str | None:
    # namedset4<key> and rangeOf<IdType>4<key> (the key after the first 4, as TDP reads it)
    if key.startswith("namedset4"):
        return key[9:]
    if key.startswith("rangeOf") and "4" in key[7:]:
        return key[7:].split("4", 1)[1]
    return None


def _namedset_ids(set_ids: list[Any], resolve: NamedSetResolver | None) -> list[Any]:
    if resolve is None:
        raise BadRequest("namedsets_unavailable", "filter_namedset4... needs TDP's named sets",
                         hint="this server has no named-set storage (core_server.tdp)")
    ids: dict[Any, None] = {}
    for set_id in set_ids:
        ids.update(dict.fromkeys(resolve(text(set_id, "namedset"))))
    return list(ids)


def parse_filters(ctx: Context, values: Values) -> Filters:
    """All filters of ``values`` for ``ctx.view`` (400 ``unknown_filter``/``invalid_filter``)."""
    found = collect(values, ctx.namedsets)
    filters = Filters()
    accepted = [(key, items) for key, items in found.items() if _accept(ctx, key, filters)]
    keys = {key for key, _ in accepted}
    for key, items in accepted:
        name, cmp = split_comparison(key)
        _check_comparison(ctx, key, name, cmp, items, keys)
        _add(ctx, filters, key, name, cmp, items)
    return filters


def split_comparison(key: str) -> tuple[str, str | None]:
    """``("value", "lte")`` for ``lte_value``; ``(key, None)`` without a comparison prefix."""
    for prefix, cmp in COMPARISONS:
        if key.startswith(prefix):
            return key[len(prefix):], cmp
    return key, None


def is_open(view: DBView, columns: Mapping[str, Any]) -> bool:
    """A view without declared filters or columns accepts every plain identifier as a key."""
    return not view.filters and not columns


def _accept(ctx: Context, key: str, filters: Filters) -> bool:
    name, _ = split_comparison(key)
    if name in ctx.view.filters or name in ctx.columns:
        return True
    if is_open(ctx.view, ctx.columns) and _OPEN_KEY.fullmatch(name):
        filters.open_keys.append(name)
        return True
    if ctx.strict:
        valid = sorted(set(ctx.view.filters) | set(ctx.columns))
        raise BadRequest("unknown_filter", f"unknown filter {shown(name)} in "
                         f"{shown('filter_' + key)}",
                         hint="valid filter keys: " + (", ".join(valid) or "plain identifiers"))
    filters.ignored.append("filter_" + key)
    return False


def _check_comparison(ctx: Context, key: str, name: str, cmp: str | None, items: list[Any],
                      keys: set[str]) -> None:
    if cmp is None:
        return
    kind = ctx.columns.get(name, {}).get("type")
    if kind != "number":
        raise BadRequest("invalid_filter", f"filter_{key}: lt, lte, gt and gte need a number "
                         "column", hint=f"{name} is {kind or 'not a declared column'}")
    if len(items) > 1:
        raise BadRequest("invalid_filter", f"filter_{key} has {len(items)} values, "
                         "only one is allowed")
    complement = f"{cmp[:2]}_{name}"
    if cmp in ("lte", "gte") and complement in keys:  # TDP refuses the pair too
        raise BadRequest("invalid_filter", f"filter_{key} and filter_{complement} together",
                         hint="use only one of them")


def _add(ctx: Context, filters: Filters, key: str, name: str, cmp: str | None,
         items: list[Any]) -> None:
    numeric = ctx.columns.get(name, {}).get("type") == "number"
    converted = convert(key, numeric, items)
    filters.values.setdefault(key, []).extend(converted)
    info = ctx.view.filters.get(name)
    template, in_where = _template(ctx, name, info)
    if not converted:  # an empty named set matches nothing (TDP dropped the filter)
        clause = "1 = 0"
        filters.steps.append(Step(key, numeric, None, False))
    else:
        bind = _bind_name(key, filters.binds, ctx.taken)
        operator = cmp or ("eq" if len(converted) == 1 else "in")
        filters.binds[bind] = converted[0] if operator != "in" else converted
        if operator == "in":
            filters.expanding.add(bind)
        filters.steps.append(Step(key, numeric, bind, operator == "in"))
        clause = sql.clause(template, operator, bind)
    if not in_where:
        filters.result.append(clause)
        return
    group = info.group if info is not None else None
    filters.clauses.setdefault(group, []).append(clause)
    join = info.join if info is not None else None
    if join and join not in filters.joins.setdefault(group, []):
        filters.joins[group].append(join)


def convert(key: str, numeric: bool, items: list[Any]) -> list[Any]:
    """The values of filter ``key`` as numbers (number columns) or text (400 if invalid)."""
    param = "filter_" + key
    if numeric:
        return [number(v, param) for v in items]
    return [text(v, param) for v in items]


def is_special(key: str) -> bool:
    """True for ``filter_namedset4...``/``filter_rangeOf...4...`` (ids looked up per request)."""
    return _special(key[7:] if key.startswith("filter_") else key) is not None


def _template(ctx: Context, name: str, info: FilterInfo | None) -> tuple[str, bool]:
    # (template, goes into {where}); declared text is the plugin's, other names are quoted
    view = ctx.view
    declared = info.template() if info is not None else None
    compat = view.queries.get("filter_" + name)
    if declared:
        return declared, True
    if isinstance(compat, str):
        return compat, True
    column = ".".join(map(ctx.quote, name.split(".")))
    default = f"{column} {{operator}} {{value}}"
    if info is not None or name in ctx.table:
        return default, True
    has_where = isinstance(view.query, str) and ("{where}" in view.query
                                                 or "{and_where}" in view.query)
    return default, has_where and name not in ctx.columns


def _bind_name(key: str, binds: Mapping[str, Any], taken: frozenset[str]) -> str:
    # TDP's name (the key with . as _) unless it would clash with an argument or another bind
    name = key.replace(".", "_")
    index = len(binds)
    while not _IDENTIFIER.fullmatch(name) or name in binds or name in taken:
        name, index = f"_f{index}", index + 1
    return name
