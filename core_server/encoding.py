"""orjson-backed JSON for every response, plus the value conversions shared by all encoders.

Conversions (documented in docs/api.rst): NaN/inf -> null, Decimal -> float, numpy scalars ->
Python numbers, pandas/NumPy arrays -> lists, datetime/date -> ISO-8601 (the rows of SQL views
use :func:`encoder` with ``dates=epoch_ms``, as TDP does), sets -> lists, bytes -> UTF-8 text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from flask import Flask
from flask import Response
from flask.json.provider import JSONProvider

#: orjson options used everywhere: NumPy arrays natively, non-str dict keys allowed.
ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: A conversion of dates and datetimes for :func:`default` (ISO-8601 when None).
DateConversion = Callable[[dt.date], Any]


def epoch_ms(value: dt.date) -> int:
    """Epoch milliseconds of a date or datetime (naive values are taken as UTC)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int((aware - _EPOCH).total_seconds() * 1000)
    return epoch_ms(dt.datetime(value.year, value.month, value.day))


def default(value: Any, dates: DateConversion | None = None) -> Any:
    """Convert what orjson does not know natively (used as orjson's ``default``).

    :param dates: how dates and datetimes are written (ISO-8601 text when None).
    """
    if dates is not None and isinstance(value, dt.date):
        return dates(value)
    if isinstance(value, decimal.Decimal):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # a DataFrame
        return value.to_dict("records")
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # numpy / pandas scalars
        item = value.item()
        if isinstance(item, float) and (math.isnan(item) or math.isinf(item)):
            return None
        return item
    if hasattr(value, "tolist"):  # arrays, Series, Index
        return value.tolist()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encoder(option: int = 0, dates: DateConversion | None = None) -> Callable[[Any], bytes]:
    """A ``dumps(value) -> bytes`` with :func:`default` and :data:`ORJSON_OPTIONS`.

    :param option: orjson options added to :data:`ORJSON_OPTIONS`.
    :param dates: how :func:`default` writes dates and datetimes; orjson writes them itself
        (ISO-8601) unless ``option`` has ``orjson.OPT_PASSTHROUGH_DATETIME``.
    """
    convert = default if dates is None else partial(default, dates=dates)
    options = ORJSON_OPTIONS | option

    def encode(value: Any) -> bytes:
        return orjson.dumps(value, default=convert, option=options)

    return encode


def dumps(value: Any) -> bytes:
    """Encode ``value`` as JSON bytes."""
    return orjson.dumps(value, default=default, option=ORJSON_OPTIONS)


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON :class:`flask.Response` of ``value``, encoded with orjson."""
    return Response(dumps(value), status=status, headers=headers, mimetype="application/json")


class OrjsonProvider(JSONProvider):
    """Flask JSON provider so that ``jsonify`` and ``return dict`` use orjson too."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode("utf-8")

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        value = self._prepare_response_obj(args, kwargs)
        return json_response(value)


def init_app(app: Flask) -> None:
    """Make orjson the app's JSON provider."""
    app.json = OrjsonProvider(app)
