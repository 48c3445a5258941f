"""Request ids, ``Server-Timing`` and the structured access log (DESIGN.md §4)."""

from __future__ import annotations

import logging
import os
import time

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
        # the record made directly: logger.info() would also walk the stack for the caller's
        # file and line (findCaller), which an access line never shows; filters and handlers
        # see the same record otherwise
        access_log.handle(access_log.makeRecord(access_log.name, logging.INFO, __file__, 0,
                                                line, (), None, "_finish"))
    return response


def init_app(app: Flask) -> None:
    """Install the request hooks on ``app``."""
    enabled = bool(app.config.get("CORE_SERVER_ACCESS_LOG", True))

    def start() -> None:
        _start(enabled)

    app.before_request(start)
    app.after_request(_finish)
