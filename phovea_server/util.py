"""``phovea_server.util``: JSON helpers of Phovea-era plugins, over core_server's encoder."""

from __future__ import annotations

from typing import Any

from flask import Response

from core_server.encoding import dumps
from core_server.encoding import json_response

__all__ = ["jsonify", "to_json"]


def to_json(obj: Any, *args: Any, **kwargs: Any) -> str:
    """``obj`` as JSON text (NaN as null, NumPy and pandas values converted)."""
    return dumps(obj).decode("utf-8")


def jsonify(obj: Any, *args: Any, **kwargs: Any) -> Response:
    """A JSON response of ``obj``."""
    return json_response(obj)
