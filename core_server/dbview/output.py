"""Encode row batches as JSON, NDJSON, CSV or TSV bytes (the streaming half of a view response).

Rows arrive as batches of DBAPI tuples plus the column names. JSON and NDJSON build dicts with
``zip`` and encode a whole batch with one ``orjson.dumps`` call; CSV/TSV use the C ``csv`` writer.
Values: NaN/inf -> null, Decimal -> float, datetime/date -> epoch milliseconds (as TDP), other
unknown types as everywhere (:func:`core_server.encoding.default`, through the encoder that
:func:`core_server.encoding.encoder` makes). CSV/TSV apply the same conversions (null is an
empty field) to the columns that hold floats, decimals or dates in the first batch.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import math
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import orjson

from core_server import encoding

Row = Sequence[Any]
Batch = list[Row]

MIMETYPES = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}
_EPOCH_DATES = orjson.OPT_PASSTHROUGH_DATETIME  # dates reach default(), which writes epoch ms

#: Encode one value with the row conventions (datetimes and dates as epoch milliseconds).
dumps = encoding.encoder(_EPOCH_DATES, dates=encoding.epoch_ms)
epoch_ms = encoding.epoch_ms


def to_dicts(names: Sequence[str], batch: Iterable[Row]) -> list[dict[str, Any]]:
    """Rows as dicts keyed by ``names``."""
    # map/zip/dict all run in C: no Python frame per row
    return list(map(dict, map(zip, repeat(names), batch)))


def encode_json(names: Sequence[str], batches: Iterable[Batch]) -> Iterator[bytes]:
    """A JSON array of objects, one chunk per batch."""
    yield b"["
    separator = b""
    for batch in batches:
        if batch:
            yield separator + dumps(to_dicts(names, batch))[1:-1]
            separator = b","
    yield b"]"


def encode_ndjson(names: Sequence[str], batches: Iterable[Batch]) -> Iterator[bytes]:
    """One JSON object per line, one ``orjson.dumps`` per batch."""
    for batch in batches:
        if batch:
            yield _lines(to_dicts(names, batch))


def _lines(rows: list[dict[str, Any]]) -> bytes:
    # ``[{..},{..}]`` -> ``{..}\n{..}\n``: the rows are objects, so the separators are exactly
    # the ``},{`` between them; if a value holds that text too (a string, a nested list of
    # objects) there are more than len - 1 of them and the rows are encoded one by one
    body = dumps(rows)[1:-1]
    if body.count(b"},{") != len(rows) - 1:
        return b"\n".join(map(dumps, rows)) + b"\n"
    return body.replace(b"},{", b"}\n{") + b"\n"


def _cell(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, decimal.Decimal):
        return None if not value.is_finite() else value
    if isinstance(value, (dt.datetime, dt.date)):
        return epoch_ms(value)
    return value


def _suspects(batch: Batch) -> list[int]:
    # columns whose values need converting, judged on the first batch (ints/strings never do)
    if not batch:
        return []
    width = len(batch[0])
    return [i for i in range(width)
            if any(isinstance(row[i], (float, dt.date, decimal.Decimal)) for row in batch)]


def _clean(batch: Batch, suspects: list[int]) -> Batch:
    if not suspects:
        return batch
    cleaned: Batch = []
    for row in batch:
        values = list(row)
        for i in suspects:
            values[i] = _cell(values[i])
        cleaned.append(values)
    return cleaned


def _encode_delimited(names: Sequence[str], batches: Iterable[Batch], delimiter: str,
                      terminator: str) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(names)
    suspects: list[int] | None = None
    for batch in batches:
        if suspects is None:
            suspects = _suspects(batch)
        writer.writerows(_clean(batch, suspects))
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    rest = buffer.getvalue()
    if rest:
        yield rest.encode("utf-8")


def encode_csv(names: Sequence[str], batches: Iterable[Batch]) -> Iterator[bytes]:
    """RFC 4180 CSV with a header line."""
    return _encode_delimited(names, batches, ",", "\r\n")


def encode_tsv(names: Sequence[str], batches: Iterable[Batch]) -> Iterator[bytes]:
    """TDP's tab-separated output with a header line."""
    return _encode_delimited(names, batches, "\t", "\n")


def encode_body(fmt: str, names: Sequence[str], batches: Iterable[Batch]) -> bytes:
    """The whole body in ``fmt`` for batches that are in memory already (a bounded page).

    JSON of one batch is a single ``orjson.dumps`` of the row list: no chunk slicing and joining.
    """
    if fmt == "json":
        batches = list(batches)
        if len(batches) == 1:
            return dumps(to_dicts(names, batches[0]))
    return b"".join(ENCODERS[fmt](names, batches))


ENCODERS: dict[str, Callable[[Sequence[str], Iterable[Batch]], Iterator[bytes]]] = {
    "json": encode_json, "ndjson": encode_ndjson, "csv": encode_csv, "tsv": encode_tsv,
}
