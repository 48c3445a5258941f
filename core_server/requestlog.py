"""Request ids, ``Server-Timing`` and the structured access log (DESIGN.md §4)."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import orjson
from flask import Flask
from flask import Response
from flask import g
from flask import request

access_log = logging.getLogger("core_server.access")


class timed:  # noqa: N801 - used like the function it was: ``with timed("db"):``
    """Add the time spent in the block to the request's ``Server-Timing`` entry ``name``."""

    __slots__ = ("name", "start")

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = 0.0

    def __enter__(self) -> None:
        # a class, not @contextmanager: no generator frame on every query of the hot path
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        add_timing(self.name, time.perf_counter() - self.start)


def add_timing(name: str, seconds: float) -> None:
    """Accumulate ``seconds`` under ``name`` for the current request."""
    ctx = g._get_current_object()
    timings = ctx.get("timings")
    if timings is None:
        timings = ctx.timings = {}
    timings[name] = timings.get(name, 0.0) + seconds


def set_rows(count: int) -> None:
    """Record how many rows/documents the request returned (for the access log)."""
    g.rows = count


def _start(access_log_on: bool = True) -> None:
    ctx = g._get_current_object()  # one context lookup instead of one per attribute
    ctx.start_time = time.perf_counter()
    ctx.access_log = access_log_on  # a view may switch its own line off
    # the WSGI environ directly: same value as request.headers["X-Request-Id"], less machinery
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
    # Echo a sane client id; never reflect arbitrary header text into logs and responses.
    ctx.request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() \
        else os.urandom(16).hex()  # 32 hex digits like uuid4().hex, without building a UUID


def _finish(response: Response) -> Response:
    ctx = g._get_current_object()
    request_id = ctx.get("request_id", "")
    now = time.perf_counter()
    total = now - ctx.get("start_time", now)
    timings = dict(ctx.get("timings") or ())
    timings["total"] = total
    headers = response.headers
    headers["X-Request-Id"] = request_id
    headers["Server-Timing"] = ", ".join(
        [f"{name};dur={seconds * 1000:.2f}" for name, seconds in timings.items()])
    # the line is built only if a handler will see it (gunicorn without logging config: never)
    if ctx.get("access_log", True) and access_log.isEnabledFor(logging.INFO):
        user = ctx.get("user")
        line = orjson.dumps({
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round(total * 1000, 2), "rows": ctx.get("rows"),
            "user": getattr(user, "name", None), "request_id": request_id,
        }).decode()
        handlers = _plain_handlers(access_log)
        if handlers is not None:
            _write(handlers, line)
        else:
            _emit(line)
    return response


def _emit(line: str) -> None:
    # the record made directly: logger.info() would also walk the stack for the caller's
    # file and line (findCaller), which an access line never shows; filters and handlers
    # see the same record otherwise
    access_log.handle(access_log.makeRecord(access_log.name, logging.INFO, __file__, 0, line,
                                            (), None, "_finish"))


# -- the access line without a LogRecord -----------------------------------------------------
# `serve` logs through logging.basicConfig: one StreamHandler with a %-style Formatter. For such
# handlers the line is formatted from the few fields its format names and written as the
# handler would (its lock, terminator, flush); a LogRecord (thread, process and path lookups,
# ~10 % of a single-row request) is made only for anything else: filters, other handler or
# formatter classes (pytest's caplog), other fields, or a failing write (handleError).

#: record fields the plain path can fill in
_PLAIN_FIELDS = frozenset({"asctime", "name", "message", "levelname", "levelno"})
_FIELD = re.compile(r"%\((\w+)\)")
#: id(formatter) -> (formatter, its format, whether it names only plain fields)
_formats: dict[int, tuple[logging.Formatter, str, bool]] = {}
#: (second, converter, time format) -> the time text of that second
_seconds: dict[tuple[int, Any, str], str] = {}


def _plain_format(formatter: logging.Formatter | None) -> bool:
    if formatter is None or type(formatter) is not logging.Formatter:
        return False
    style = formatter._style
    if type(style) is not logging.PercentStyle or style._defaults:  # type: ignore[attr-defined]
        return False
    known = _formats.get(id(formatter))
    if known is None or known[0] is not formatter or known[1] is not style._fmt:
        if len(_formats) > 64:
            _formats.clear()
        plain = set(_FIELD.findall(style._fmt or "")) <= _PLAIN_FIELDS
        known = _formats[id(formatter)] = (formatter, style._fmt or "", plain)
    return known[2]


def _plain_handlers(logger: logging.Logger) -> list[logging.StreamHandler[Any]] | None:
    """The handlers an INFO record of ``logger`` reaches, if all are plain (else None)."""
    if logger.filters or logger.disabled:
        return None
    found: list[logging.StreamHandler[Any]] = []
    seen = 0
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            seen += 1
            if type(handler) is not logging.StreamHandler or handler.filters:
                return None
            if logging.INFO >= handler.level:
                if not _plain_format(handler.formatter):
                    return None
                found.append(handler)
        current = current.parent if current.propagate else None
    return found if seen else None  # no handler at all: logging's lastResort decides


class _Stamp:
    """What ``Formatter.formatTime`` reads of a record."""

    __slots__ = ("created", "msecs")

    def __init__(self, created: float) -> None:
        self.created = created
        self.msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord does


def _asctime(formatter: logging.Formatter, created: float) -> str:
    if formatter.datefmt or not formatter.default_msec_format:
        return formatter.formatTime(_Stamp(created), formatter.datefmt)  # type: ignore[arg-type]
    # the default format: the same text all second long, then the milliseconds
    key = (int(created), formatter.converter, formatter.default_time_format)
    text = _seconds.get(key)
    if text is None:
        if len(_seconds) > 8:
            _seconds.clear()
        text = _seconds[key] = time.strftime(key[2], formatter.converter(created))
    return formatter.default_msec_format % (text, _Stamp(created).msecs)


def _write(handlers: list[logging.StreamHandler[Any]], line: str) -> None:
    created = time.time()
    for handler in handlers:
        formatter: Any = handler.formatter
        fmt = formatter._style._fmt
        fields = {"name": access_log.name, "message": line, "levelname": "INFO",
                  "levelno": logging.INFO}
        if "%(asctime)" in fmt:
            fields["asctime"] = _asctime(formatter, created)
        handler.acquire()
        try:
            handler.stream.write(fmt % fields + handler.terminator)
            handler.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: the handler reports it
            handler.handleError(access_log.makeRecord(access_log.name, logging.INFO, __file__,
                                                      0, line, (), None, "_finish"))
        finally:
            handler.release()


def init_app(app: Flask) -> None:
    """Install the request hooks on ``app``."""
    enabled = bool(app.config.get("CORE_SERVER_ACCESS_LOG", True))

    def start() -> None:
        _start(enabled)

    app.before_request(start)
    app.after_request(_finish)
