"""The request shapes of TDP's web client for named sets, read into typed values.

The client posts forms (``application/x-www-form-urlencoded``) whose arrays are repeated
``key[]`` fields (``ids[]=a&ids[]=b``); older clients and scripts send ``ids`` as a JSON array
string, as a comma-separated string or repeated, or a JSON body. All of them give the same values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Request
from werkzeug.datastructures import MultiDict

from core_server import values as typed
from core_server.errors import BadRequest
from core_server.tdp import permissions as perms

_TEXT = ("name", "description", "idType", "subTypeKey", "subTypeValue", "group")
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no", ""})


def _source(request: Request) -> MultiDict[str, Any]:
    if request.is_json:
        body = request.get_json()
        if not isinstance(body, dict):
            raise BadRequest("invalid_value", "the JSON body must be an object")
        pairs = MultiDict[str, Any]()
        for key, value in body.items():
            _check_shape(key, value)
            pairs.setlist(key, value if isinstance(value, list) else [value])
        return pairs
    return MultiDict(request.values)


def _check_shape(key: str, value: Any) -> None:
    """A JSON field has the shape the form would give: text fields are scalars, ``ids`` and
    ``buddies`` a list of scalars or one string (nothing is stored as a Python repr)."""
    accepted = _SHAPES.get(key)
    if key in ("ids", "buddies"):
        items = value if isinstance(value, list) else [value]
        item_ok = _is_scalar if key == "ids" else (lambda v: isinstance(v, str))
        if not isinstance(value, (list, str)) or not all(item_ok(v) for v in items):
            raise typed.InvalidValue(key, value, "a list of ids (strings or numbers), or one "
                                     "comma-separated string" if key == "ids" else
                                     "a list of user names, or one string")
    elif accepted is not None and not (value is None or isinstance(value, accepted[0]) and
                                       not (isinstance(value, bool) and bool not in accepted[0])):
        raise typed.InvalidValue(key, value, accepted[1])


#: The JSON types of the named-set fields (a form sends text for all of them).
_SHAPES: dict[str, tuple[tuple[type, ...], str]] = {
    **{key: ((str,), "a string") for key in _TEXT},
    "type": ((int, float, str), "an integer"),
    "permissions": ((int, float, str), "up to four digits 0-7"),
    "subTypeFromSession": ((bool, str), "true or false")}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _listed(source: MultiDict[str, Any], key: str, split: Callable[[str], list[str]]
            ) -> list[str] | None:
    values = source.getlist(f"{key}[]") or source.getlist(key)
    if not values and f"{key}[]" not in source and key not in source:
        return None
    if len(values) == 1 and isinstance(values[0], str):
        return _one_string(values[0], key, split)
    return [typed.text(str(v), key) for v in values if v is not None]


def _one_string(text: str, key: str, split: Callable[[str], list[str]]) -> list[str]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            raise BadRequest("invalid_value", f"{key} is not a valid JSON array") from None
        if not isinstance(parsed, list) or not all(_is_scalar(v) or v is None for v in parsed):
            raise BadRequest("invalid_value", f"{key} must be a JSON array of strings or numbers")
        return [typed.text(str(v), key) for v in parsed if v is not None]
    return split(stripped) if stripped else []


def _int(source: MultiDict[str, Any], key: str, parse: Callable[[Any], int]) -> int | None:
    if key not in source:
        return None
    try:
        return parse(source.get(key))
    except (TypeError, ValueError) as exc:
        raise BadRequest("invalid_value", f"{key}: {exc}", hint=f"send {key} as a number") \
            from None


def _plain_int(value: Any) -> int:
    try:  # ASCII digits within 64 bits, as every route reads integers
        return typed.integer(value.strip() if isinstance(value, str) else value, "type")
    except typed.InvalidValue:
        raise ValueError(f"expected an integer, got {typed.shown(value)}") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise BadRequest("invalid_value", f"subTypeFromSession must be true or false, got {value!r}")


def _comma(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _buddy_split(text: str) -> list[str]:
    # the client's permission dialog separates buddies with ';'
    return [part for chunk in text.split(";") for part in _comma(chunk)]


def namedset_values(request: Request) -> dict[str, Any]:
    """The named-set fields the request sets (only those present; ``creator`` is ignored)."""
    source = _source(request)
    values: dict[str, Any] = {k: typed.text(str(source.get(k) or ""), k)
                              for k in _TEXT if k in source}
    if "group" in values and not values["group"]:
        values["group"] = None
    for key, split in (("ids", _comma), ("buddies", _buddy_split)):
        listed = _listed(source, key, split)
        if listed is not None:
            values[key] = listed if key == "ids" else perms.names(listed)
    number = _int(source, "type", _plain_int)
    if number is not None:
        values["type"] = number
    permission = _int(source, "permissions", perms.parse)
    if permission is not None:
        values["permissions"] = permission
    if "subTypeFromSession" in source:
        values["subTypeFromSession"] = _bool(source.get("subTypeFromSession"))
    return values


def attachment_body(request: Request) -> tuple[str, str]:
    """``(text, content type)`` of an attachment upload (the client sends JSON)."""
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("invalid_value", "an attachment must be UTF-8 text (the TDP client "
                         "sends JSON)") from None
    content_type = request.mimetype or "application/json"
    return text, content_type
