"""Request values -> validated arguments, filters and replacements of one view (spec §3).

Nothing here builds SQL from request text: filter keys must name declared filters or columns,
values become bound parameters, and replacements must pass their validator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from core_server.dbview.builder import SERVER_REPLACEMENTS
from core_server.dbview.builder import DBView
from core_server.dbview.builder import FilterInfo
from core_server.errors import BadRequest

#: Request values: key -> list of strings (query string, form or JSON body).
Values = Mapping[str, list[Any]]

SAFE_REPLACEMENT = re.compile(r"[A-Za-z0-9_.]+")
OPTIONS = frozenset({"_format", "_limit", "_offset", "_sort", "_return_query", "_assignids", "_"})
FORMATS = ("json", "csv", "tsv", "ndjson")
_COMPARISONS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_FILTER_KEY = re.compile(r"^filter_(?:(lt|lte|gt|gte)_)?(.+?)(?:\[\])?$")


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


def first(values: Values, key: str) -> Any:
    """The first value of ``key`` (or ``key[]``), or None."""
    found = values.get(key) or values.get(key + "[]")
    return found[0] if found else None


def parse_int(value: Any, name: str, minimum: int = 0) -> int:
    """An integer request option, 400 ``invalid_value`` otherwise."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum:
        raise BadRequest("invalid_value", f"{name} must be an integer >= {minimum}, not {value!r}")
    return number


def parse_options(values: Values, columns: Mapping[str, Any] | None, fmt: str | None) -> Options:
    """Read and check the ``_`` options; unknown ``_x`` keys are 400.

    :param columns: what ``_sort`` may name; None defers the check (callbacks, known later).
    """
    unknown = sorted(k for k in values if k.startswith("_") and k not in OPTIONS)
    if unknown:
        raise BadRequest("unknown_parameter", f"unknown option {unknown[0]!r}",
                         hint="options: " + ", ".join(sorted(OPTIONS - {"_"})))
    options = Options()
    options.format = fmt or str(first(values, "_format") or "json").lower()
    if options.format not in FORMATS:
        raise BadRequest("invalid_value", f"unknown _format {options.format!r}",
                         hint="formats: " + ", ".join(FORMATS))
    if first(values, "_limit") not in (None, ""):
        options.limit = parse_int(first(values, "_limit"), "_limit")
    if first(values, "_offset") not in (None, ""):
        options.offset = parse_int(first(values, "_offset"), "_offset")
    options.sort = _parse_sort(first(values, "_sort"), columns)
    options.return_query = bool(first(values, "_return_query"))
    options.assign_ids = bool(first(values, "_assignids"))
    return options


def _parse_sort(text: Any, columns: Mapping[str, Any] | None) -> list[tuple[str, bool]]:
    sort = []
    for part in str(text or "").split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("-+")
        if not name:
            continue
        if columns is not None and name not in columns:
            raise BadRequest("unknown_field", f"cannot sort by unknown column {name!r}",
                             hint="columns: " + ", ".join(columns))
        sort.append((name, descending))
    return sort


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
        raw = values.get(name) or values.get(name + "[]")
        if not raw:
            raise BadRequest("missing_argument", f"view argument {name!r} is missing",
                             hint=f"add ?{name}=..." + (f" (e.g. {info.example})"
                                                         if info and info.example else ""))
        kind = info.type if info and info.type else None
        if info and info.as_list and len(raw) == 1 and isinstance(raw[0], str) and "," in raw[0]:
            raw = raw[0].split(",")  # TDP clients send ids[]=1,2,3 too
        try:
            converted = [kind(v) if kind else v for v in raw]
        except (TypeError, ValueError):
            raise BadRequest("invalid_argument", f"argument {name!r} must be of type "
                             f"{getattr(kind, '__name__', kind)}, got {raw!r}") from None
        if info and info.as_list:
            value: Any = tuple(converted) if info.list_as_tuple else converted
        else:
            value = converted[0]
        parsed.arguments[name] = value
        parsed.binds[name] = value


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
        try:
            value = str(valid(value))
            ok = True
        except ValueError:
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
            raise BadRequest("unknown_filter", f"unknown filter {name!r} in {key!r}",
                             hint="valid filter keys: " + ", ".join(filter_keys(view, columns)))
        info = view.filters.get(name) or FilterInfo(name)
        clause = _clause(columns, info, cmp, list(values[key]), parsed, used)
        groups.setdefault(info.group, []).append(clause)
        if info.join and info.join not in joins.setdefault(info.group, []):
            joins[info.group].append(info.join)
    _set_where(view, parsed, groups, joins)


def _clause(columns: Mapping[str, dict[str, Any]], info: FilterInfo, cmp: str | None,
            raw: list[Any], parsed: Parsed, used: dict[str, str]) -> str:
    column = columns.get(info.key, {})
    number = column.get("type") == "number"
    if cmp:
        if not number:
            raise BadRequest("invalid_filter", f"filter_{cmp}_{info.key}: comparisons need a "
                             "number column", hint=f"{info.key} is {column.get('type', 'unknown')}")
        if len(raw) != 1:
            raise BadRequest("invalid_filter", f"filter_{cmp}_{info.key} takes one value")
        side = cmp[0]
        if used.get(info.key + side, cmp) != cmp:
            raise BadRequest("invalid_filter", f"filter {info.key!r} has both "
                             f"{used[info.key + side]} and {cmp}", hint="use only one of them")
        used[info.key + side] = cmp
    converted = [_number(v, info.key) for v in raw] if number else [str(v) for v in raw]
    bind = f"_f{len(parsed.binds)}"
    parsed.filters.setdefault(f"{cmp}_{info.key}" if cmp else info.key, []).extend(converted)
    value: Any
    if cmp:
        operator, value = _COMPARISONS[cmp], converted[0]
    elif len(converted) == 1:
        operator, value = "=", converted[0]
    else:
        operator, value = "IN", converted
        parsed.expanding.add(bind)
    parsed.binds[bind] = value
    return info.template().format(operator=operator, value=":" + bind)


def _number(value: Any, key: str) -> int | float:
    try:
        text = str(value)
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    except ValueError:
        raise BadRequest("invalid_value", f"filter {key!r} needs a number, got {value!r}") \
            from None


def _set_where(view: DBView, parsed: Parsed, groups: dict[str | None, list[str]],
               joins: dict[str | None, list[str]]) -> None:
    names = {None} | {f.group for f in view.filters.values() if f.group}
    for group in names:
        clauses = groups.get(group, [])
        prefix = "" if group is None else f"{group}_"
        body = " AND ".join(clauses)
        parsed.replacements[f"{prefix}where"] = f" WHERE {body}" if clauses else ""
        parsed.replacements[f"and_{prefix}where"] = f" AND {body}" if clauses else ""
        parsed.replacements[f"{prefix}joins"] = " ".join(joins.get(group, []))
