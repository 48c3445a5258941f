"""OpenTelemetry spans (optional: ``pip install 'core_server[otel]'``, ``core_server.tracing``).

Off by default. When on, every request is a server span named by its route template, every SQL
statement on an engine announced by :data:`core_server.signals.engine_created` a child span
with the statement (bound parameters are never in it), the connector and the view, and every
id mapping (``/api/idtype``, score views with a target) a span naming source and target.
Spans go to the global tracer provider: configure exporters the OpenTelemetry way (the SDK's
``OTEL_*`` variables or ``opentelemetry-instrument``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import has_app_context
from flask import has_request_context
from flask import request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from core_server import signals
from core_server.config import ConfigError

_SPAN = "_core_server_span"


def init_app(app: Flask) -> None:
    """Trace requests, SQL statements and mappings of ``app`` when ``core_server.tracing``."""
    state = app.extensions["core_server"]
    if not state.config.get_bool("core_server.tracing"):
        return
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ConfigError("core_server.tracing needs OpenTelemetry: pip install "
                          "'core_server[otel]'") from exc
    tracer = trace.get_tracer("core_server")
    _trace_requests(app, tracer, trace)

    def on_engine(name: str, engine: Engine) -> None:
        if not has_app_context() or current_app._get_current_object() is app:  # type: ignore[attr-defined]
            _trace_statements(name, engine, tracer, trace)

    app.extensions["core_server_tracing"] = on_engine  # keeps the weak receiver alive
    signals.engine_created.connect(on_engine)
    if state.idtypes is not None:
        _trace_mappings(state.idtypes, tracer)


def _trace_requests(app: Flask, tracer: Any, trace: Any) -> None:
    from opentelemetry import context

    def start() -> None:
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        span = tracer.start_span(f"{request.method} {rule}", kind=trace.SpanKind.SERVER,
                                 attributes={"http.request.method": request.method,
                                             "http.route": rule, "url.path": request.path})
        g._otel = (span, context.attach(trace.set_span_in_context(span)))

    def status(response: Response) -> Response:
        if "_otel" in g:
            g._otel[0].set_attribute("http.response.status_code", response.status_code)
        return response

    def end(exc: BaseException | None) -> None:
        span, token = g.pop("_otel", (None, None))
        if span is None:
            return
        if exc is not None:
            span.record_exception(exc)
        span.end()
        context.detach(token)

    app.before_request(start)
    app.after_request(status)
    app.teardown_request(end)


def _trace_statements(name: str, engine: Engine, tracer: Any, trace: Any) -> None:
    def before(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        view = (request.view_args or {}).get("view") if has_request_context() else None
        attributes = {"db.system": conn.dialect.name, "db.statement": statement,
                      "core_server.connector": name}
        if view:
            attributes["core_server.view"] = str(view)
        span = tracer.start_span(f"sql {view or name}", kind=trace.SpanKind.CLIENT,
                                 attributes=attributes)
        conn.info.setdefault(_SPAN, []).append(span)

    def after(conn: Any, *args: Any) -> None:
        spans = conn.info.get(_SPAN)
        if spans:
            spans.pop().end()

    def failed(ctx: Any) -> None:
        spans = ctx.connection.info.get(_SPAN) if ctx.connection is not None else None
        if spans:
            span = spans.pop()
            span.record_exception(ctx.original_exception)
            span.end()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


def _trace_mappings(idtypes: Any, tracer: Any) -> None:
    # the app's IdTypes object: its map/search are wrapped, the class stays untouched
    for method in ("map", "search"):
        setattr(idtypes, method, _spanned(getattr(idtypes, method), f"mapping {method}", tracer))


def _spanned(fn: Callable[..., Any], name: str, tracer: Any) -> Callable[..., Any]:
    def traced(source: str, target: str, *args: Any, **kwargs: Any) -> Any:
        attributes = {"core_server.mapping.source": source, "core_server.mapping.target": target}
        with tracer.start_as_current_span(f"{name} {source}->{target}", attributes=attributes):
            return fn(source, target, *args, **kwargs)
    return traced
