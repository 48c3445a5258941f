"""Document validation against a :class:`~core_server.docstore.model.Collection`.

Every problem is collected (never only the first) as ``{"path": "$.a.b", "code": ..., ...}``;
values are normalised on the way (datetimes to UTC ISO-8601, ints given to float fields to float).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import orjson

from core_server.docstore.model import AUTO_FIELDS
from core_server.docstore.model import INDEXED_STRING_MAX
from core_server.docstore.model import Collection
from core_server.docstore.model import Field

Problem = dict[str, Any]
_JSON_TYPES = {str: "string", bool: "bool", int: "int", float: "float", list: "list",
               dict: "dict", type(None): "null"}


def type_name(value: Any) -> str:
    """The JSON type name of ``value`` for error details."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def format_datetime(value: dt.datetime) -> str:
    """Fixed-width UTC ISO-8601 (so that text order is time order in every database)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_datetime(value: Any) -> str | None:
    """Normalise an ISO-8601 string (naive means UTC); ``None`` if it is not one."""
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return format_datetime(parsed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


#: whether a value has a field type's JSON type (datetime is parsed instead)
_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str), "ref": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool), "int": _is_int, "float": _is_float,
    "list": lambda v: isinstance(v, list), "refs": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


def coerce(field: Field, value: Any, path: str, errors: list[Problem]) -> Any:
    """Check a scalar ``value`` against ``field``'s type; return it normalised."""
    kind = field.type
    check = _TYPE_CHECKS.get(kind)
    ok = check(value) if check is not None else None  # one check, not all of them per value
    if kind == "datetime":
        normal = parse_datetime(value)
        if normal is None:
            errors.append({"path": path, "code": "type", "expected": "datetime",
                           "got": type_name(value)})
        return normal
    if kind == "int" and ok and abs(value) > 2**63 - 1:
        errors.append({"path": path, "code": "max", "limit": 2**63 - 1})
        return value
    if not ok:
        errors.append({"path": path, "code": "type", "expected": kind, "got": type_name(value)})
        return value
    return float(value) if kind == "float" else value


def check_value(field: Field, value: Any, path: str,
                indexed_strings: bool = False) -> list[Problem]:
    """All problems of ``value`` for ``field`` (used for defaults and action params too)."""
    errors: list[Problem] = []
    _value(field, value, path, errors, indexed_strings)
    return errors


def _value(field: Field, value: Any, path: str, errors: list[Problem], capped: bool,
           indexed: frozenset[str] = frozenset()) -> Any:
    if value is None:
        if not field.nullable:
            errors.append({"path": path, "code": "null", "message": "the field is not nullable"})
        return None
    before = len(errors)
    value = coerce(field, value, path, errors)
    if len(errors) > before:
        return value
    _constraints(field, value, path, errors, capped or field.indexed)
    if field.type == "list" and field.items is not None:
        value = [_value(field.items, v, f"{path}[{i}]", errors, field.has_side_table)
                 for i, v in enumerate(value)]
    elif field.type == "refs":
        for i, v in enumerate(value):
            if not isinstance(v, str):
                errors.append({"path": f"{path}[{i}]", "code": "type", "expected": "ref",
                               "got": type_name(v)})
    elif field.type == "dict" and field.fields:
        value = _object(field.fields, value, path, errors, additional=False, partial=False,
                        indexed=indexed)
    return value


def _constraints(field: Field, value: Any, path: str, errors: list[Problem], capped: bool) -> None:
    if field.enum is not None and value not in field.enum:
        errors.append({"path": path, "code": "enum", "allowed": list(field.enum)})
    if field.min is not None and isinstance(value, (int, float)) and value < field.min:
        errors.append({"path": path, "code": "min", "limit": field.min})
    if field.max is not None and isinstance(value, (int, float)) and value > field.max:
        errors.append({"path": path, "code": "max", "limit": field.max})
    if isinstance(value, (str, list)):
        size = len(value)
        limit = field.max_length
        if capped and isinstance(value, str) and field.type in ("string", "ref"):
            limit = min(limit or INDEXED_STRING_MAX, INDEXED_STRING_MAX)
        if field.min_length is not None and size < field.min_length:
            errors.append({"path": path, "code": "min_length", "limit": field.min_length})
        if limit is not None and size > limit:
            errors.append({"path": path, "code": "max_length", "limit": limit})
    if field.pattern is not None and isinstance(value, str) and not field.pattern.search(value):
        errors.append({"path": path, "code": "pattern", "pattern": field.pattern.pattern})


#: a fast check's answer "take the full path" (the value is odd, or needs normalising)
_SLOW: Any = object()
_INT_MAX = 2**63 - 1


def _fast_scalar(field: Field, capped: bool) -> Callable[[Any], bool] | None:
    """``fn(value) -> bool``: the value is valid as it is (no constraint beyond its type)."""
    if field.enum is not None or field.pattern is not None or field.min is not None \
            or field.max is not None or field.min_length is not None:
        return None
    kind = field.type
    if kind in ("string", "ref"):
        limit = field.max_length
        if capped or field.indexed:
            limit = min(limit or INDEXED_STRING_MAX, INDEXED_STRING_MAX)
        if limit is None:
            return lambda v: type(v) is str
        return lambda v: type(v) is str and len(v) <= limit
    if kind == "int":
        return lambda v: type(v) is int and -_INT_MAX <= v <= _INT_MAX
    if kind == "float":  # an int given to a float field is normalised: the full path
        return lambda v: type(v) is float and math.isfinite(v)
    if kind == "bool":
        return lambda v: type(v) is bool
    return None


def _fast_field(field: Field, capped: bool) -> Callable[[Any], Any] | None:
    """``fn(value) -> value | _SLOW`` for a top-level field whose common values need none of
    :func:`_value`'s work beyond a type test: the same answer, without its per-value calls
    and path strings (bulk loads spend most of their Python time validating)."""
    if field.type in ("list", "refs"):
        if field.min_length is not None or field.enum is not None:
            return None
        item = field.items if field.type == "list" else Field(field.path, "ref")
        check = _fast_scalar(item, field.has_side_table) if item is not None else None
        if check is None:
            return None
        limit = field.max_length

        def fast_list(v: Any) -> Any:
            if type(v) is list and (limit is None or len(v) <= limit) \
                    and all(check(x) for x in v):
                return list(v)  # a list of its own, as the full path builds one
            return _SLOW
        return fast_list
    scalar = _fast_scalar(field, capped)
    if scalar is None:
        return None
    return lambda v: v if scalar(v) else _SLOW


#: id(collection) -> (collection, its index paths, fast checks of its top-level fields)
_COMPILED: dict[int, tuple[Collection, frozenset[str], dict[str, Callable[[Any], Any]]]] = {}


def _compiled(collection: Collection) -> tuple[frozenset[str], dict[str, Callable[[Any], Any]]]:
    known = _COMPILED.get(id(collection))
    if known is None or known[0] is not collection:  # schemas do not change; ids are reused
        if len(_COMPILED) > 4096:  # apps made and dropped (tests): start over
            _COMPILED.clear()
        indexed = frozenset(collection.index_paths())
        fast = {key: fn for key, spec in collection.fields.items()
                if (fn := _fast_field(spec, key in indexed)) is not None}
        known = _COMPILED[id(collection)] = (collection, indexed, fast)
    return known[1], known[2]


def _object(fields: dict[str, Field], doc: dict[str, Any], path: str, errors: list[Problem], *,
            additional: bool, partial: bool, indexed: frozenset[str] = frozenset(),
            fast: dict[str, Callable[[Any], Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        check = fast.get(key) if fast else None
        if check is not None:
            clean = check(value)
            if clean is not _SLOW:
                out[key] = clean
                continue
        spec = fields.get(key)
        if spec is None:
            if not additional:
                errors.append({"path": f"{path}.{key}", "code": "unknown_field"})
            else:
                out[key] = value
            continue
        where = f"{path}.{key}"
        # strings in an index are capped (MariaDB keeps them in a VARCHAR column)
        out[key] = _value(spec, value, where, errors, where[2:] in indexed, indexed)
    for key, spec in fields.items():
        if key in doc:
            continue
        if spec.has_default and not partial:
            out[key] = spec.default
        elif spec.required and not partial:
            errors.append({"path": f"{path}.{key}", "code": "required"})
    return out


def _has_nul(value: Any) -> bool:
    # one C pass: orjson writes a NUL in any string or key as \u0000 (a literal backslash-u
    # text comes out as \\u0000 and only sends the document the slow, exact way)
    try:
        return b"\\u0000" in orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # not plain JSON (Python API): walk it
        return True


def _nul_characters(value: Any, path: str) -> list[Problem]:
    """NUL characters cannot be stored in PostgreSQL JSONB and compare oddly in SQLite."""
    if not _has_nul(value):
        return []
    return _nul_paths(value, path)


def _nul_paths(value: Any, path: str) -> list[Problem]:
    if isinstance(value, str):
        return [{"path": path, "code": "nul_character"}] if "\x00" in value else []
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nul_paths(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        found = [{"path": f"{path}.{k}", "code": "nul_character"} for k in value if "\x00" in k]
        return found + [p for k, v in value.items() for p in _nul_paths(v, f"{path}.{k}")]
    return []


def validate(collection: Collection, doc: Any, *, partial: bool = False,
             allow_auto: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    """Validate a whole document; return the normalised document and every problem.

    :param partial: only check the given keys (``_check`` in update mode).
    :param allow_auto: skip the ``read_only_field`` check (the caller strips auto fields).
    """
    if not isinstance(doc, dict):
        return {}, [{"path": "$", "code": "type", "expected": "object", "got": type_name(doc)}]
    errors: list[Problem] = []
    body = dict(doc)
    for auto in AUTO_FIELDS:
        if auto in body:
            value = body.pop(auto)
            if not allow_auto:
                errors.append({"path": f"$.{auto}", "code": "read_only_field", "got": value})
    errors += _nul_characters(body, "$")
    indexed, fast = _compiled(collection)
    out = _object(collection.fields, body, "$", errors,
                  additional=collection.additional_properties, partial=partial,
                  indexed=indexed, fast=fast)
    return out, errors
