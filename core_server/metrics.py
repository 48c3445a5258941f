"""Prometheus metrics at ``/api/_metrics`` (prometheus_client), for one process or many.

Under gunicorn every worker is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set (deploy/
gunicorn.conf.py sets it up) each worker writes its values to files there and a scrape of any
worker adds up all of them. Without it (``core-server serve``, tests) the app's own registry
answers. Metric names and labels are listed in docs/deployment.rst.

Where the numbers come from, so that the subsystems need no metric code of their own: the
request hooks here (route template, status, latency, rows from ``requestlog.set_rows``, the
error code ``errors`` leaves in ``g.error_code``), SQLAlchemy pool and transaction events on
every engine announced by :data:`core_server.signals.engine_created`.

Access: open, like Prometheus endpoints usually are, because the proxy does not forward it
(``core-server nginx`` answers 404 for it): scrape each API host on its internal port. Switch it
off with ``core_server.metrics = false``.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import has_app_context
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from prometheus_client import values
from sqlalchemy import event
from sqlalchemy.engine import Engine

from core_server import signals
from core_server.errors import NotFound
from core_server.openapi import error_responses

blueprint = Blueprint("metrics", __name__, url_prefix="/api")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: seconds; API requests are mostly milliseconds, exports and slow views seconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0, 60.0)
CONFLICT_CODES = frozenset({"version_conflict", "precondition_failed", "duplicate", "conflict"})


class Metrics:
    """The metric objects of one app (its registry; in multiprocess mode also the files)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        if self.multiprocess and values.ValueClass is values.MutexValue:
            # prometheus_client picks file-backed values when it is imported; `serve --workers`
            # sets the folder after that (the CLI imported it): pick again
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        r = self.registry
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self.requests = Counter("core_server_requests", "HTTP requests by route template and "
                                "status", ["method", "route", "status"], registry=r)
        self.latency = Histogram("core_server_request_duration_seconds", "time to the response "
                                 "(headers; a streamed body may take longer)", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.rows = Counter("core_server_rows_served", "rows and documents returned",
                            ["route"], registry=r)
        self.errors = Counter("core_server_errors", "JSON error responses by code",
                              ["code"], registry=r)
        self.timeouts = Counter("core_server_statement_timeouts", "statements cut off by the "
                                "statement timeout (504 timeout)", ["connector"], registry=r)
        self.pool_in_use = Gauge("core_server_db_pool_in_use", "connections checked out",
                                 ["connector"], multiprocess_mode="livesum", registry=r)
        self.pool_overflow = Gauge("core_server_db_pool_overflow", "connections beyond the pool "
                                   "size", ["connector"], multiprocess_mode="livesum", registry=r)
        self.pool_wait = Histogram("core_server_db_pool_checkout_seconds", "time to get a pooled "
                                   "connection (waits when the pool is exhausted)", ["connector"],
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.store_tx = Counter("core_server_store_transactions", "document-store transactions "
                                "by outcome", ["outcome"], registry=r)
        self.store_conflicts = Counter("core_server_store_conflicts", "document-store writes "
                                       "refused by a concurrent change or a unique value",
                                       ["code"], registry=r)

    def scrape(self) -> bytes:
        """The text exposition of every worker (multiprocess) or of this app."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return generate_latest(combined)

    # --- requests -------------------------------------------------------------------------

    def observe(self, response: Response) -> Response:
        """After each request: count it, time it, and its rows, error, timeout or conflict."""
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        rule = req.url_rule
        route = rule.rule if rule is not None else "<unmatched>"
        key = (req.method, route, response.status_code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._labelled(*key)
        children[0].inc()
        started = ctx.get("start_time")
        if started is not None:
            children[1].observe(time.perf_counter() - started)
        rows = ctx.get("rows")
        if rows:
            children[2].inc(rows)
        code = ctx.get("error_code")
        if code is not None:
            self._error(code, route)
        return response

    def _labelled(self, method: str, route: str, status: int) -> tuple[Any, Any, Any]:
        # labels() takes a lock and builds its key on every call: resolve each label set
        # once (as many entries as the metrics have label sets: routes x methods x statuses)
        return (self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route), self.rows.labels(route))

    def _error(self, code: str, route: str) -> None:
        self.errors.labels(code).inc()
        if code == "timeout":
            self.timeouts.labels((request.view_args or {}).get("connector", "")).inc()
        if code in CONFLICT_CODES and route.startswith("/api/store"):
            self.store_conflicts.labels(code).inc()

    # --- engines ----------------------------------------------------------------------------

    def instrument(self, name: str, engine: Engine) -> None:
        """Pool gauges, checkout times and (store) transaction outcomes of ``engine``."""
        pool = engine.pool
        in_use = self.pool_in_use.labels(name)
        overflow = self.pool_overflow.labels(name)
        counts = getattr(pool, "overflow", None)
        # the value last written: with multiprocess files every set() is a locked file write,
        # and the overflow mostly stays 0 (the pools have none); the same value is not written
        # again (only this process writes its file, so the scrape shows the same)
        last: list[int | None] = [None]

        def set_overflow() -> None:
            if counts is not None:
                value = max(0, counts())
                if value != last[0]:
                    last[0] = value
                    overflow.set(value)

        def checkout(*args: Any) -> None:
            in_use.inc()
            set_overflow()

        def checkin(*args: Any) -> None:
            in_use.dec()
            set_overflow()

        event.listen(pool, "checkout", checkout)
        event.listen(pool, "checkin", checkin)
        # a connection detached from the pool (SQLite's kept read connections) is not the pool's
        event.listen(pool, "detach", checkin)
        _time_checkouts(pool, self.pool_wait.labels(name))
        if name == "store":  # the label children resolved once (labels() locks, builds a key)
            commits, rollbacks = self.store_tx.labels("commit"), self.store_tx.labels("rollback")
            event.listen(engine, "commit", lambda conn: commits.inc())
            event.listen(engine, "rollback", lambda conn: rollbacks.inc())


def _time_checkouts(pool: Any, histogram: Any) -> None:
    # SQLAlchemy has events for a checkout done, none for one started: time Pool.connect()
    connect = pool.connect

    def timed_connect() -> Any:
        started = time.perf_counter()
        try:
            return connect()
        finally:
            histogram.observe(time.perf_counter() - started)

    pool.connect = timed_connect


def enable_multiprocess() -> str:
    """Give the workers to come a new metrics folder (unless one is set); return it."""
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="core_server-metrics-")
    return os.environ[MULTIPROC_ENV]


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: a dead worker's live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def metrics_of(app: Flask) -> Metrics | None:
    """The app's :class:`Metrics` (None when ``core_server.metrics`` is off)."""
    return app.extensions.get("core_server_metrics")


@blueprint.get("/_metrics")
def scrape() -> Response:
    """Prometheus text format: requests, latency, rows, pools, timeouts, store outcomes."""
    metrics = metrics_of(current_app)
    if metrics is None:
        raise NotFound("metrics are switched off", hint="set core_server.metrics = true")
    g.access_log = False  # scraped every few seconds: not worth a log line each
    return Response(metrics.scrape(), content_type=CONTENT_TYPE_LATEST)


def openapi_fragment() -> dict[str, Any]:
    """The OpenAPI path of ``/api/_metrics``."""
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {"paths": {"/api/_metrics": {"get": {
        "summary": "Prometheus metrics of every worker of this host (not through the proxy)",
        "tags": ["core"], "responses": {"200": {"description": "text format", "content": text},
                                        **error_responses(404)}}}}}


def init_app(app: Flask) -> None:
    """Create the app's metrics, hook requests and engines, and add ``/api/_metrics``."""
    config = app.extensions["core_server"].config
    if not config.get_bool("core_server.metrics"):
        return
    metrics = app.extensions["core_server_metrics"] = Metrics()
    app.after_request(metrics.observe)

    def on_engine(name: str, engine: Engine) -> None:
        # engines are made lazily inside a request or app context of the app that owns them
        if not has_app_context() or current_app._get_current_object() is app:  # type: ignore[attr-defined]
            metrics.instrument(name, engine)

    # weak=False: the receiver lives as long as the app (held in app.extensions via metrics)
    metrics.receiver = on_engine  # type: ignore[attr-defined]
    signals.engine_created.connect(on_engine)
    app.extensions["core_server"].openapi.append(openapi_fragment)
    app.register_blueprint(blueprint)
