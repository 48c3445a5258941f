"""Request ids, ``Server-Timing`` and the structured access log (DESIGN.md §4)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from flask import Flask
from flask import Response
from flask import g
from flask import request

access_log = logging.getLogger("core_server.access")


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Add the time spent in the block to the request's ``Server-Timing`` entry ``name``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        add_timing(name, time.perf_counter() - start)


def add_timing(name: str, seconds: float) -> None:
    """Accumulate ``seconds`` under ``name`` for the current request."""
    timings = g.setdefault("timings", {})
    timings[name] = timings.get(name, 0.0) + seconds


def set_rows(count: int) -> None:
    """Record how many rows/documents the request returned (for the access log)."""
    g.rows = count


def _start() -> None:
    g.start_time = time.perf_counter()
    incoming = request.headers.get("X-Request-Id", "")
    # Echo a sane client id; never reflect arbitrary header text into logs and responses.
    g.request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    total = time.perf_counter() - g.get("start_time", time.perf_counter())
    timings = dict(g.get("timings", {}))
    timings["total"] = total
    response.headers["Server-Timing"] = ", ".join(
        f"{name};dur={seconds * 1000:.2f}" for name, seconds in timings.items())
    if g.get("access_log", True):
        user = g.get("user")
        access_log.info(orjson.dumps({
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round(total * 1000, 2), "rows": g.get("rows"),
            "user": getattr(user, "name", None), "request_id": g.get("request_id"),
        }).decode())
    return response


def init_app(app: Flask) -> None:
    """Install the request hooks on ``app``."""
    enabled = bool(app.config.get("CORE_SERVER_ACCESS_LOG", True))

    def start() -> None:
        g.access_log = enabled
        _start()

    app.before_request(start)
    app.after_request(_finish)
