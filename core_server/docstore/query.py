"""Mongo-style filters, sorting and keyset paging compiled to SQLAlchemy Core.

A filter key is looked up in the schema before any SQL exists; the SQL text comes from
:class:`~core_server.docstore.tables.Layout` and every value is a parameter bound with the
field's type. Semantics follow MongoDB: equality on a list matches any element, ``$ne``/``$nin``
also match documents without the field, ``{"f": None}`` matches missing or null.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from core_server import values
from core_server.docstore.dialects import BIND_TYPES
from core_server.docstore.dialects import check_regex
from core_server.docstore.model import AUTO_FIELDS
from core_server.docstore.model import SCALAR_TYPES
from core_server.docstore.model import Field
from core_server.docstore.tables import Layout
from core_server.docstore.validate import parse_datetime
from core_server.errors import BadRequest
from core_server.errors import Forbidden
from core_server.values import InvalidValue

MAX_CLAUSES = 50
MAX_DEPTH = 5
COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
OPERATORS = (*COMPARISONS, "$in", "$nin", "$exists", "$like", "$regex", "$reg", "$contains",
             "$size", "$not", "$or", "$and", "$nor")
LOGICAL = ("$and", "$or", "$nor", "$not")
Clause = ColumnElement[bool]


def convert(field: Field, value: Any, from_text: bool = False) -> Any:
    """``value`` as the field's element type, or 400 ``invalid_value``."""
    kind = field.element_type
    result = _convert(kind, value, from_text)
    if result is _INVALID:
        shown = value if len(repr(value)) < 80 else repr(value)[:80] + "..."
        raise BadRequest("invalid_value", f"{shown!r} is not a valid {kind} for '{field.path}'")
    return result


_INVALID = object()


def _convert(kind: str, value: Any, from_text: bool) -> Any:
    if from_text and isinstance(value, str) and kind in _FROM_TEXT:
        try:  # query-string text is read as every route reads it (core_server.values)
            return _FROM_TEXT[kind](value, kind)
        except InvalidValue:
            return _INVALID
    if kind in ("string", "ref"):
        return value if isinstance(value, str) and "\x00" not in value else _INVALID
    if kind == "datetime":
        normal = parse_datetime(value)
        return _INVALID if normal is None else normal
    if kind == "bool":
        return value if isinstance(value, bool) else _INVALID
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and \
            values.INT64_MIN <= value <= values.INT64_MAX
        return value if ok else _INVALID
    if kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            return _INVALID
        try:
            return values.floating(value, kind)
        except InvalidValue:
            return _INVALID
    return _INVALID


_FROM_TEXT: dict[str, Callable[[str, str], Any]] = {
    "int": values.integer, "float": values.floating, "bool": values.boolean}


@dataclass
class _Budget:
    clauses: int = 0

    def spend(self, depth: int) -> None:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES or depth > MAX_DEPTH:
            raise BadRequest("filter_too_complex",
                             f"filters are limited to {MAX_CLAUSES} clauses and depth {MAX_DEPTH}")


class Compiler:
    """Compile filters and sorts of one collection.

    :param readable: ``fn(path) -> bool``; filtering or sorting on a hidden field is refused.
    """

    def __init__(self, layout: Layout, readable: Callable[[str], bool] | None = None,
                 named: bool = False) -> None:
        self.layout = layout
        self.collection = layout.collection
        self.dialect = layout.dialect
        self.readable = readable or (lambda path: True)
        #: ``named``: every value is bound as ``v0``, ``v1``... in the order compiled, and here
        #: (a page's statement is cached by its shape and run with these; Transaction.page)
        self.params: dict[str, Any] | None = {} if named else None

    def bind(self, value: Any, kind: Any, expanding: bool = False) -> Any:
        """A bound parameter of ``value`` (named and recorded in :attr:`params` if ``named``)."""
        if self.params is None:
            return sa.bindparam(None, value, type_=kind, expanding=expanding)
        name = f"v{len(self.params)}"
        self.params[name] = value
        return sa.bindparam(name, value, type_=kind, expanding=expanding)

    # -- filters -------------------------------------------------------------------------------

    def filter(self, spec: Any, from_text: bool = False) -> Clause:
        """The WHERE clause of a filter document (``{}`` or ``None`` -> true)."""
        if spec is None:
            return sa.true()
        return self._document(spec, 1, _Budget(), from_text)

    def _document(self, spec: Any, depth: int, budget: _Budget, text: bool) -> Clause:
        if not isinstance(spec, dict):
            raise BadRequest("invalid_value", "a filter must be a JSON object")
        if depth > MAX_DEPTH:
            budget.spend(depth)
        parts = []
        for key, value in spec.items():
            if not isinstance(key, str):
                raise BadRequest("unknown_field", "filter keys must be strings")
            if key.startswith("$"):
                parts.append(self._logical(key.lower(), value, depth, budget, text))
            else:
                parts.append(self._field(key, value, depth, budget, text))
        return sa.and_(sa.true(), *parts) if parts else sa.true()

    def _logical(self, op: str, value: Any, depth: int, budget: _Budget, text: bool) -> Clause:
        if op not in LOGICAL:
            raise BadRequest("unknown_operator", f"unknown operator {op!r}",
                             hint="top level: $and, $or, $nor, $not")
        budget.spend(depth)
        if op == "$not":
            return _negate(self._document(value, depth + 1, budget, text))
        if not isinstance(value, list) or not value:
            raise BadRequest("invalid_value", f"{op} needs a non-empty list of filters")
        clauses = [self._document(v, depth + 1, budget, text) for v in value]
        if op == "$and":
            return sa.and_(*clauses)
        either = sa.or_(*clauses)
        return _negate(either) if op == "$nor" else either

    def _field(self, path: str, value: Any, depth: int, budget: _Budget, text: bool) -> Clause:
        field = self.resolve(path)
        if isinstance(value, dict) and value and all(isinstance(k, str) and k.startswith("$")
                                                     for k in value):
            return self._ops(field, value, depth, budget, text)
        budget.spend(depth)
        return self._eq(field, value, text)

    def resolve(self, path: str) -> Field:
        """The declared field at ``path`` or 400 ``unknown_field`` (before any SQL exists)."""
        field = self.collection.field(path) if isinstance(path, str) else None
        if field is None:
            names = ", ".join(sorted([*self.collection.fields, *AUTO_FIELDS]))
            shown = path if len(str(path)) < 60 else str(path)[:60] + "..."
            raise BadRequest("unknown_field", f"collection {self.collection.name} has no field "
                             f"{shown!r}", hint=f"fields: {names}")
        if not self.readable(field.path):
            raise Forbidden(f"you may not filter or sort on {self.collection.name}.{path}")
        return field

    def _ops(self, field: Field, ops: dict[str, Any], depth: int, budget: _Budget,
             text: bool) -> Clause:
        parts = []
        for op, value in ops.items():
            op = op.lower()
            if op not in OPERATORS:
                raise BadRequest("unknown_operator", f"unknown operator {op!r} on "
                                 f"'{field.path}'", hint="operators: " + " ".join(OPERATORS))
            budget.spend(depth)
            if op in ("$or", "$and", "$nor"):
                if not isinstance(value, list) or not value:
                    raise BadRequest("invalid_value", f"{op} needs a non-empty list")
                inner = [self._sub(field, v, depth + 1, budget, text) for v in value]
                clause = sa.and_(*inner) if op == "$and" else sa.or_(*inner)
                parts.append(_negate(clause) if op == "$nor" else clause)
            elif op == "$not":
                parts.append(_negate(self._sub(field, value, depth + 1, budget, text)))
            else:
                parts.append(self._op(field, op, value, text))
        return sa.and_(*parts)

    def _sub(self, field: Field, value: Any, depth: int, budget: _Budget, text: bool) -> Clause:
        if isinstance(value, dict) and all(str(k).startswith("$") for k in value) and value:
            return self._ops(field, value, depth, budget, text)
        raise BadRequest("invalid_value", f"'{field.path}': expected an operator object")

    def _op(self, field: Field, op: str, value: Any, text: bool) -> Clause:
        if op == "$exists":
            return self._exists(field, value, text)
        if op == "$size":
            return self._size(field, value, text)
        if field.type not in SCALAR_TYPES and not field.has_side_table:
            raise BadRequest("unknown_operator", f"'{field.path}' ({field.type}) only supports "
                             "$exists" + (" and $size" if field.is_list else ""))
        if op == "$contains" and not field.is_list:
            raise BadRequest("unknown_operator", f"$contains needs a list field; "
                             f"'{field.path}' is {field.type}")
        if op in ("$eq", "$contains"):
            return self._eq(field, value, text)
        if op == "$ne":
            return _negate(self._eq(field, value, text))
        if op in ("$in", "$nin"):
            clause = self._in(field, value, text)
            return _negate(clause) if op == "$nin" else clause
        if op in ("$like", "$regex", "$reg"):
            if field.element_type not in ("string", "ref", "datetime") or not isinstance(
                    value, str) or "\x00" in value:
                raise BadRequest("invalid_value", f"{op} needs a string pattern on a text field")
            pattern = self.bind(value if op == "$like" else check_regex(value), sa.String())
            return self._element(field, lambda e: self.dialect.like(e, pattern) if op == "$like"
                                 else self.dialect.regex(e, pattern))
        bound = self._bind(field, value, text)
        compare: dict[str, Callable[[Any], Clause]] = {
            "$gt": lambda e: e > bound, "$gte": lambda e: e >= bound,
            "$lt": lambda e: e < bound, "$lte": lambda e: e <= bound}
        return self._element(field, compare[op])

    def _bind(self, field: Field, value: Any, text: bool) -> Any:
        if value is None or isinstance(value, (list, dict)):
            raise BadRequest("invalid_value", f"'{field.path}' compares with a single "
                             f"{field.element_type} value")
        kind = field.element_type
        return self.bind(convert(field, value, text), BIND_TYPES[kind])

    def _element(self, field: Field, predicate: Callable[[Any], Clause]) -> Clause:
        """``predicate`` on a scalar, or on any element of a list (side table)."""
        if not field.is_list:
            expr = self.layout.scalar(field.path)
            return sa.and_(expr.is_not(None), predicate(expr))
        side = self.layout.sides[field.path]
        return sa.exists().where(side.c.doc_id == self.layout.table.c._id,
                                 predicate(side.c.value))

    def _eq(self, field: Field, value: Any, text: bool) -> Clause:
        if value is None:
            if field.is_list or field.type == "dict":
                return sa.not_(self._present_non_null(field))
            return self.layout.scalar(field.path).is_(None)
        if field.type == "dict" or (field.is_list and not field.has_side_table):
            raise BadRequest("invalid_value", f"'{field.path}' ({field.type}) cannot be "
                             "compared by value", hint="use $exists or $size")
        bound = self._bind(field, value, text)
        return self._element(field, lambda e: e == bound)

    def _in(self, field: Field, value: Any, text: bool) -> Clause:
        if not isinstance(value, list):  # the query string always gives a list
            raise BadRequest("invalid_value", f"$in and $nin on '{field.path}' take a list of "
                             f"values, not {values.shown(value)}", hint='{"$in": [1, 2]}')
        if len(value) > 1000:
            raise BadRequest("filter_too_complex", "$in and $nin take at most 1000 values")
        clauses = [self._eq(field, v, text) for v in value if v is None]
        others = [convert(field, v, text) for v in value if v is not None]
        if others:
            kind = BIND_TYPES[field.element_type]
            bound = self.bind(others, kind, expanding=True)
            clauses.append(self._element(field, lambda e: e.in_(bound)))
        return sa.or_(sa.false(), *clauses)

    def _present_non_null(self, field: Field) -> Clause:
        return sa.literal_column(self.dialect.nonnull_sql(field.path), sa.Boolean())

    def _exists(self, field: Field, value: Any, text: bool) -> Clause:
        want = convert(Field("$exists", "bool"), value, text)
        if field.path in AUTO_FIELDS:
            return sa.true() if want else sa.false()
        present = sa.literal_column(self.dialect.present_sql(field.path), sa.Boolean())
        return present if want else sa.not_(present)

    def _size(self, field: Field, value: Any, text: bool) -> Clause:
        if not field.is_list:
            raise BadRequest("unknown_operator", f"$size needs a list field; '{field.path}' "
                             f"is {field.type}")
        size = convert(Field("$size", "int"), value, text)
        expr = sa.literal_column(self.dialect.size_sql(field.path), sa.Integer())
        return sa.and_(expr.is_not(None), expr == self.bind(size, sa.Integer()))

    # -- sorting and keyset paging -------------------------------------------------------------

    def sort_keys(self, sort: Any) -> list[tuple[str, bool]]:
        """``["age", "-city", "name:desc"]`` (or a comma string) -> ``[(path, desc)]`` + ``_id``."""
        items = sort.split(",") if isinstance(sort, str) else list(sort or [])
        keys: list[tuple[str, bool]] = []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise BadRequest("invalid_value", f"bad sort key {item!r}")
            path, _, direction = item.strip().partition(":")
            descending = path.startswith("-") or direction.lower() == "desc"
            path = path.lstrip("-+")
            if direction.lower() not in ("", "asc", "desc"):
                raise BadRequest("invalid_value", f"sort direction of {path!r} must be asc/desc")
            field = self.resolve(path)
            if field.type not in SCALAR_TYPES:
                raise BadRequest("invalid_value", f"cannot sort by {field.type} field {path!r}")
            keys.append((field.path, descending))
        if not any(path == "_id" for path, _ in keys):
            keys.append(("_id", False))
        return keys

    def order_by(self, keys: list[tuple[str, bool]]) -> list[ColumnElement[Any]]:
        """ORDER BY elements of ``keys``."""
        return [self.dialect.order(self.layout.scalar(p), d) for p, d in keys]

    def after(self, keys: list[tuple[str, bool]], values: list[Any]) -> Clause:
        """Rows strictly after the row with sort ``values`` (nulls sort as the smallest)."""
        alternatives = []
        for i, (path, descending) in enumerate(keys):
            expr = self.layout.scalar(path)
            kind = BIND_TYPES.get(self.resolve(path).type, sa.String())
            prefix = [self._null_safe_eq(self.layout.scalar(p), values[j], BIND_TYPES.get(
                self.resolve(p).type, sa.String())) for j, (p, _) in enumerate(keys[:i])]
            step = self._beyond(expr, values[i], kind, descending)
            alternatives.append(sa.and_(*prefix, step))
        return sa.or_(*alternatives)

    def _null_safe_eq(self, expr: ColumnElement[Any], value: Any, kind: Any) -> Clause:
        return expr.is_(None) if value is None else expr == self.bind(value, kind)

    def _beyond(self, expr: ColumnElement[Any], value: Any, kind: Any,
                descending: bool) -> Clause:
        if value is None:
            return sa.false() if descending else expr.is_not(None)
        bound = self.bind(value, kind)
        return sa.or_(expr < bound, expr.is_(None)) if descending else expr > bound


def _negate(clause: Clause) -> Clause:
    # NOT over SQL's three-valued logic would drop rows where a comparison is NULL (a missing
    # field); Mongo's $not/$ne include them.
    return sa.not_(sa.func.coalesce(clause, sa.false()))


def encode_cursor(signature: str, values: list[Any]) -> str:
    """An opaque keyset token."""
    raw = orjson.dumps({"s": signature, "v": values})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, signature: str, size: int) -> list[Any]:
    """The sort values of a token made for the same filter and sort, or 400 ``invalid_cursor``."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values = data["v"]
        ok = data["s"] == signature and isinstance(values, list) and len(values) == size and all(
            v is None or (isinstance(v, (int, float, str)) and "\x00" not in str(v)
                          and abs(v if not isinstance(v, str) else 0) < 2**63) for v in values)
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise BadRequest("invalid_cursor", "the cursor does not belong to this query",
                         hint="use next_cursor of the previous page with the same filter and sort")
    return values  # type: ignore[no-any-return]


def query_signature(collection: str, filter_spec: Any, keys: list[tuple[str, bool]]) -> str:
    """A short hash of collection, filter and sort (cursors only continue their own query)."""
    raw = orjson.dumps([collection, filter_spec, keys], option=orjson.OPT_SORT_KEYS,
                       default=str)
    return hashlib.sha1(raw).hexdigest()[:16]
