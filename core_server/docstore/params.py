"""Request parsing for the collection routes: query-string filters, paging, bodies, If-Match."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import cast

from flask import Request
from werkzeug.datastructures import MultiDict

from core_server.errors import ApiError
from core_server.errors import ApiRequest
from core_server.errors import BadRequest
from core_server.values import INT64_MAX
from core_server.values import InvalidValue
from core_server.values import Repeated
from core_server.values import boolean
from core_server.values import integer
from core_server.values import shown

#: Reserved query parameters (everything else is a filter on a field).
RESERVED = frozenset({"_sort", "_limit", "_page", "_offset", "_skip", "_cursor", "_count",
                      "fields", "_fields", "_all", "_reverse"})
_BRACKET = re.compile(r"^(?P<path>[^\[\]]+)\[(?P<op>\$[A-Za-z]+)\]$")
_LIST_OPS = frozenset({"$in", "$nin"})


@dataclass
class ListArgs:
    """The parsed options of a listing."""

    filter: dict[str, Any] = field(default_factory=dict)
    sort: Any = None
    limit: Any = None
    offset: Any = 0
    cursor: str | None = None
    count: bool = True
    fields: list[str] | None = None


def parse_bool(value: Any, name: str) -> bool:
    """A boolean as :func:`core_server.values.boolean` reads it (or a JSON bool), else 400."""
    return boolean(value, name)


def parse_fields(value: Any) -> list[str] | None:
    """``a,b.c`` or a JSON list -> paths."""
    if value in (None, ""):
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise BadRequest("invalid_value", "fields must be a list of field names")
    return [i.strip() for i in items]


def query_args(args: MultiDict[str, str], allowed: frozenset[str] = RESERVED) -> ListArgs:
    """Parse a listing's query string (``f=v``, ``f.$op=v``, ``f[$op]=v``, paging, sort)."""
    out = ListArgs()
    for key in args:
        values = args.getlist(key)
        if key.startswith("_") or key == "fields":
            _reserved(out, key, values, allowed)
            continue
        path, op = _split(key)
        if op in _LIST_OPS:
            value: Any = [v for item in values for v in item.split(",")]
        elif len(values) > 1:
            raise BadRequest("invalid_value", f"query parameter {key!r} is repeated",
                             hint="use $in for several values")
        else:
            value = values[0]
        ops = out.filter.setdefault(path, {})
        if not isinstance(ops, dict) or op in ops:
            raise BadRequest("invalid_value", f"query parameter {key!r} is repeated")
        ops[op] = value
    return out


def _split(key: str) -> tuple[str, str]:
    bracket = _BRACKET.match(key)
    if bracket:
        return bracket["path"], bracket["op"].lower()
    if ".$" in key:
        path, _, op = key.partition(".$")
        return path, "$" + op.lower()
    return key, "$eq"


def _reserved(out: ListArgs, key: str, values: list[str], allowed: frozenset[str]) -> None:
    if key not in allowed:
        raise BadRequest("unknown_parameter", f"unknown query parameter {key!r}",
                         hint="reserved: " + ", ".join(sorted(allowed)))
    if len(values) > 1:
        raise Repeated(key, values)
    value = values[0]
    if value == "":
        return  # an empty reserved parameter is an absent one (as _limit= in every route)
    if key == "_sort":
        out.sort = value
    elif key in ("_limit", "_page"):
        out.limit = value
    elif key in ("_offset", "_skip"):
        out.offset = value
    elif key == "_cursor":
        out.cursor = value
    elif key == "_count":
        out.count = parse_bool(value, key)
    elif key in ("fields", "_fields"):
        out.fields = parse_fields(value)


def body_args(body: dict[str, Any]) -> ListArgs:
    """Parse a ``_query`` body ``{filter, sort, limit, offset, cursor, fields, count}``."""
    known = {"filter", "sort", "limit", "offset", "cursor", "fields", "count"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest("unknown_parameter", f"unknown keys {unknown} in the query body",
                         hint="keys: " + ", ".join(sorted(known)))
    flt = body.get("filter")
    flt = {} if flt is None else flt
    if not isinstance(flt, dict):
        raise BadRequest("invalid_value", "filter must be a JSON object")
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise BadRequest("invalid_value", "cursor must be a string")
    sort = body.get("sort")
    sort = None if sort == "" else sort  # "" is no sort, as _sort= in a query string
    if sort is not None and not isinstance(sort, (str, list)):
        raise BadRequest("invalid_value", "sort must be a list or a comma-separated string")
    offset = body.get("offset")
    return ListArgs(filter=flt, sort=sort, limit=body.get("limit"),
                    offset=0 if offset is None else offset, cursor=cursor,
                    count=parse_bool(body.get("count", True), "count"),
                    fields=parse_fields(body.get("fields")))


def json_body(request: Request, expect: type | tuple[type, ...] = dict) -> Any:
    """The JSON body, which must be an ``expect``: 400 ``invalid_body`` otherwise.

    Parsing is the request's own (:meth:`~core_server.errors.ApiRequest.json_body`): 415 without
    a JSON Content-Type, 400 ``malformed_json`` for an empty or invalid body.
    """
    value = cast(ApiRequest, request).json_body(required=True)
    if not isinstance(value, expect):
        want = "an object" if expect is dict else "a JSON object or array"
        raise BadRequest("invalid_body", f"the request body must be {want}")
    return value


def if_match(request: Request, required: bool) -> int | None:
    """The version in ``If-Match: "3"`` (None for ``*`` or no header); 428 if required."""
    header = request.headers.get("If-Match")
    if header is None:
        if required:
            raise ApiError(428, "precondition_required", "this server requires If-Match",
                           hint='send If-Match: "<_version>" from the ETag')
        return None
    header = header.strip()
    if header == "*":
        return None
    text = header.removeprefix("W/").strip('"')
    try:  # one integer reader for every value (ASCII digits, 64 bits: not "²", not 10**30)
        return integer(text, "If-Match", 1, INT64_MAX)
    except InvalidValue:
        raise ApiError(412, "precondition_failed", f"If-Match {shown(header)} matches no "
                       "version", hint='send If-Match: "<_version>" from the ETag') from None


def etag(version: int) -> str:
    """The strong ETag of a document version."""
    return f'"{version}"'
