"""Typed request values: integers, numbers, booleans, choices and id lists, read one way.

Every route family that reads parameters goes through these functions, so a bad value is the
same 400 ``invalid_value`` everywhere, naming the parameter and the form it accepts (also in
``details``). Parsing is strict on purpose:

- integers are ASCII digits with an optional sign (``str.isdigit()`` accepts ``²``, which
  ``int()`` rejects) within signed 64 bits, the range of every database integer and LIMIT;
- numbers are such integers or finite decimals (no ``nan``, ``inf`` or ``1e999``);
- booleans are ``true/false``, ``1/0``, ``yes/no``, ``on/off`` in any case (TDP sends ``true``);
- text never holds a NUL character (PostgreSQL cannot store one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import overload

from flask import request

from core_server.errors import BadRequest

#: Request values: key -> list of values (query string, form or JSON body).
Values = Mapping[str, list[Any]]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64_DIGITS = 19
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_SHOWN = 40
BOOLEAN_FORM = "true or false (also 1/0, yes/no, on/off)"
NUMBER_FORM = "a number (an integer within 64 bits or a finite decimal)"
TEXT_FORM = "text without NUL characters"


class InvalidValue(BadRequest):
    """400 ``invalid_value``: parameter ``param`` got a value outside ``accepted``."""

    def __init__(self, param: str, value: Any, accepted: str) -> None:
        super().__init__("invalid_value", f"{param} must be {accepted}, not {shown(value)}",
                         hint=f"send {param} as {accepted}",
                         details=[{"parameter": param, "accepted": accepted}])
        self.param = param
        self.accepted = accepted


class Repeated(InvalidValue):
    """400 ``invalid_value``: a single-valued parameter ``param`` was given more than once."""

    def __init__(self, param: str, found: Sequence[Any]) -> None:
        super().__init__(param, found, "one value")
        self.message = (
            f"{param} is given {len(found)} times ({shown(list(found))}); it takes one value")
        self.hint = f"send {param} once"


def shown(value: Any) -> str:
    """``repr(value)`` cut to a readable length (values may be 100 KB long)."""
    text = repr(value)
    if len(text) <= _SHOWN:
        return text
    return text[:_SHOWN] + "..." + (text[-1] if text[-1] in "'\"" else "")


# -- single values -------------------------------------------------------------------------------


def integer_form(minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> str:
    """How :func:`integer` describes its range in errors."""
    if minimum == INT64_MIN and maximum == INT64_MAX:
        return "an integer within signed 64 bits"
    if maximum == INT64_MAX:
        return f"an integer >= {minimum} (at most {INT64_MAX})"
    return f"an integer from {minimum} to {maximum}"


def _to_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a JSON 174.0 is an integer (as JSON Schema says)
    if not isinstance(value, str) or _INTEGER.fullmatch(value) is None:
        return None
    if len(value.lstrip("+-").lstrip("0")) > _INT64_DIGITS:
        return None  # beyond 64 bits (and int() of 100 KB of digits is slow)
    return int(value)


def integer(value: Any, param: str, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """``value`` as an integer within ``minimum..maximum`` (by default signed 64 bits).

    :raises InvalidValue: for anything else, naming ``param`` and the range.
    """
    number = _to_int(value)
    if number is None or not minimum <= number <= maximum:
        raise InvalidValue(param, value, integer_form(minimum, maximum))
    return number


def floating(value: Any, param: str) -> float:
    """``value`` as a finite float (decimal or exponent notation, ASCII only)."""
    found = math.inf
    if isinstance(value, float) or isinstance(value, str) and _DECIMAL.fullmatch(value):
        found = float(value)  # a decimal text too long for a float is inf, not an error
    elif isinstance(value, int) and not isinstance(value, bool):
        found = float(value) if abs(value) < 2**1023 else math.inf
    if not math.isfinite(found):
        raise InvalidValue(param, value, "a finite number")
    return found


def number(value: Any, param: str) -> int | float:
    """An integer (kept exact, within 64 bits) or a finite decimal number."""
    if isinstance(value, int) and not isinstance(value, bool) or \
            isinstance(value, str) and _INTEGER.fullmatch(value) is not None:
        found = _to_int(value)
        if found is None or not INT64_MIN <= found <= INT64_MAX:
            raise InvalidValue(param, value, NUMBER_FORM)
        return found
    try:
        return floating(value, param)
    except InvalidValue:
        raise InvalidValue(param, value, NUMBER_FORM) from None


def boolean(value: Any, param: str) -> bool:
    """``value`` as a boolean (see the module docstring for the accepted words)."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidValue(param, value, BOOLEAN_FORM)


def choice(value: Any, param: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if isinstance(value, str) and value in choices:
        return value
    raise InvalidValue(param, value, "one of: " + ", ".join(choices))


def text(value: Any, param: str, max_length: int | None = None) -> str:
    """``value`` as text: no NUL character and at most ``max_length`` characters."""
    found = value if isinstance(value, str) else str(value)
    if "\x00" in found:
        raise InvalidValue(param, value, TEXT_FORM)
    if max_length is not None and len(found) > max_length:
        raise InvalidValue(param, value, f"text of at most {max_length} characters")
    return found


# -- values of a request -------------------------------------------------------------------------


def first(values: Values, key: str) -> Any:
    """The one value of the single-valued parameter ``key`` (or ``key[]``), or None.

    :raises InvalidValue: when it is given more than once (``_limit=1&_limit=2``): which one
        counts would otherwise be an accident of the parser.
    """
    found = list(values.get(key) or ()) + list(values.get(key + "[]") or ())
    if len(found) > 1:
        raise Repeated(key, found)
    return found[0] if found else None


def _given(values: Values, key: str) -> Any:
    value = first(values, key)
    return None if value is None or value == "" else value


@overload
def get_int(values: Values, key: str, default: int, *, minimum: int = ...,
            maximum: int = ...) -> int: ...


@overload
def get_int(values: Values, key: str, default: None = None, *, minimum: int = ...,
            maximum: int = ...) -> int | None: ...


def get_int(values: Values, key: str, default: int | None = None, *, minimum: int = INT64_MIN,
            maximum: int = INT64_MAX) -> int | None:
    """The integer ``key`` (:func:`integer`); ``default`` when absent or empty."""
    value = _given(values, key)
    return default if value is None else integer(value, key, minimum, maximum)


def get_bool(values: Values, key: str, default: bool = False) -> bool:
    """The boolean ``key`` (:func:`boolean`); ``default`` when absent or empty."""
    value = _given(values, key)
    return default if value is None else boolean(value, key)


def get_choice(values: Values, key: str, choices: Sequence[str], default: str) -> str:
    """The value of ``key`` if one of ``choices``; ``default`` when absent or empty."""
    value = _given(values, key)
    return default if value is None else choice(value, key, choices)


def get_text(values: Values, key: str, default: str = "") -> str:
    """The text of ``key`` (:func:`text`); ``default`` when absent."""
    value = first(values, key)
    return default if value is None else text(value, key)


def id_list(values: Values, key: str, required: bool = True,
            split_brackets: bool = False) -> list[Any]:
    """``key[]=a&key[]=b``, repeated ``key=a&key=b``, ``key=a,b`` or a JSON array in a body.

    :param split_brackets: split one ``key[]=a,b`` value at commas too (TDP's SQL views do).
    :raises BadRequest: 400 ``missing_argument`` when ``required`` and absent.
    """
    brackets = key + "[]" in values
    raw = values[key + "[]"] if brackets else values.get(key)
    if raw is None:
        if required:
            raise BadRequest("missing_argument", f"{key} is missing",
                             hint=f"send {key}[]=a&{key}[]=b or {key}=a,b")
        return []
    if len(raw) == 1 and isinstance(raw[0], str) and (split_brackets or not brackets):
        return [v for v in raw[0].split(",") if v != ""]
    return list(raw)


def integer_list(values: Values, key: str, required: bool = True, minimum: int = INT64_MIN,
                 maximum: int = INT64_MAX) -> list[int]:
    """:func:`id_list` of integers (each one checked by :func:`integer`)."""
    return [integer(v, key, minimum, maximum) for v in id_list(values, key, required)]


def _body_values(body: Any) -> dict[str, list[Any]]:
    if not isinstance(body, dict):
        raise BadRequest("malformed_json", "the JSON body must be an object of parameters")
    values: dict[str, list[Any]] = {}
    for key, value in body.items():
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, (dict, list)) for v in items):
            raise InvalidValue(key, value, "a string, number, boolean or a list of them")
        # numbers as the query string would send them: one parsing path for both
        values[key] = [str(v) if isinstance(v, (int, float)) else v for v in items]
    return values


def _check_text(values: Mapping[str, list[Any]]) -> None:
    for key, items in values.items():
        if "\x00" in key:
            raise InvalidValue(shown(key), key, "a parameter name without NUL characters")
        for item in items:
            if isinstance(item, str) and "\x00" in item:
                raise InvalidValue(key, item, TEXT_FORM)


def request_values() -> dict[str, list[Any]]:
    """The current request's parameters as ``key -> list``: query string, plus form or JSON body.

    A JSON body is an object of parameters (numbers become their text, as in a query string);
    no value may hold a NUL character.
    """
    values: dict[str, list[Any]] = request.args.to_dict(flat=False)
    if request.method == "POST":
        if request.is_json:
            values.update(_body_values(request.json_body()))  # type: ignore[attr-defined]
        else:
            values.update({k: request.form.getlist(k) for k in request.form})
    _check_text(values)
    return values
