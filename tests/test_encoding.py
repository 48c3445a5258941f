"""Value conversions of core_server.encoding."""

import datetime as dt
import decimal
import math

import numpy as np
import orjson
import pandas as pd

from core_server.encoding import dumps


def test_conversions() -> None:
    value = {
        "dec": decimal.Decimal("1.5"), "nan": math.nan, "npnan": np.float64("nan"),
        "npint": np.int64(7), "arr": np.array([1, 2]), "series": pd.Series([1, 2]),
        "frame": pd.DataFrame({"a": [1, 2]}), "date": dt.date(2020, 1, 2), "set": {3},
        "bytes": b"x",
    }
    assert orjson.loads(dumps(value)) == {
        "dec": 1.5, "nan": None, "npnan": None, "npint": 7, "arr": [1, 2], "series": [1, 2],
        "frame": [{"a": 1}, {"a": 2}], "date": "2020-01-02", "set": [3], "bytes": "x",
    }
