"""orjson-backed JSON for every response, plus the value conversions shared by all encoders.

Conversions (documented in docs/api.rst): NaN/inf -> null, Decimal -> float, numpy scalars ->
Python numbers, pandas/NumPy arrays -> lists, datetime/date -> ISO-8601 (SQL views convert
datetimes to epoch milliseconds themselves, as TDP does), sets -> lists, bytes -> UTF-8 text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from typing import Any

import orjson
from flask import Flask
from flask import Response
from flask.json.provider import JSONProvider

#: orjson options used everywhere: NumPy arrays natively, non-str dict keys allowed.
ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def default(value: Any) -> Any:
    """Convert what orjson does not know natively (used as orjson's ``default``)."""
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
