"""The JSON error envelope every failing ``/api`` response uses (DESIGN.md §6).

Raise an :class:`ApiError` (or a subclass) anywhere in request handling; :func:`init_app` makes
sure that it, every werkzeug HTTP error and every unexpected exception under ``/api`` reach the
client as ``{"error": {"status", "code", "message", "hint"?, "details"?, "request_id"?}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import request
from flask import Request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

from core_server.encoding import json_response

log = logging.getLogger("core_server.errors")

#: werkzeug's HTTP errors mapped to our stable machine codes.
HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable",
    428: "precondition_required",
    429: "too_many_requests",
    431: "headers_too_large",
    500: "internal",
    501: "not_implemented",
    503: "unavailable",
    504: "timeout",
}


class ApiError(Exception):
    """An error that the client should see as the JSON envelope.

    :param status: the HTTP status.
    :param code: a stable machine-readable code, e.g. ``unknown_filter``.
    :param message: one sentence for a human, naming the offending plugin, view or field.
    :param hint: what would work instead.
    :param details: a list of structured problems (e.g. validation errors).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.details = details
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """The envelope body of this error."""
        body: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        if self.details is not None:
            body["details"] = self.details
        request_id = g.get("request_id") if g else None
        if request_id:
            body["request_id"] = request_id
        return {"error": body}


class BadRequest(ApiError):
    """400 with a specific code."""

    def __init__(self, code: str, message: str, **kw: Any) -> None:
        super().__init__(400, code, message, **kw)


class NotFound(ApiError):
    """404 ``not_found``."""

    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(404, "not_found", message, **kw)


class Unauthorized(ApiError):
    """401: the request did not say who is asking (or said it wrongly)."""

    def __init__(self, message: str = "authentication required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="core_server"'})
        super().__init__(401, "unauthorized", message, **kw)


class Forbidden(ApiError):
    """403: the user is known but not allowed."""

    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(403, "forbidden", message, **kw)


class Conflict(ApiError):
    """409 with a specific code."""

    def __init__(self, code: str, message: str, **kw: Any) -> None:
        super().__init__(409, code, message, **kw)


class Unprocessable(ApiError):
    """422 with a specific code (validation)."""

    def __init__(self, code: str, message: str, **kw: Any) -> None:
        super().__init__(422, code, message, **kw)


class ServiceUnavailable(ApiError):
    """503: a backing service (usually a database) cannot be reached."""

    def __init__(self, code: str, message: str, **kw: Any) -> None:
        super().__init__(503, code, message, **kw)


class GatewayTimeout(ApiError):
    """504 ``timeout``: a statement ran past its limit."""

    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(504, "timeout", message, **kw)


class ApiRequest(Request):
    """Flask request whose JSON parse failures are 400 ``malformed_json``, not an HTML page."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:  # wrong Content-Type: Flask passes None
            raise ApiError(415, "unsupported_media_type",
                           f"expected a JSON body, got Content-Type {self.mimetype or 'none'!r}",
                           hint="send Content-Type: application/json")
        raise BadRequest("malformed_json", f"the request body is not valid JSON: {e}")

    def get_data(self, cache: bool = True, as_text: bool = False,
                 parse_form_data: bool = False) -> Any:
        """The body, as werkzeug reads it, but a streamed (chunked) body that reaches
        ``max_content_length`` is a 413.

        werkzeug stops reading a body without Content-Length at the limit and returns what it
        read without an error, so a 50 MB chunked body would be parsed as a cut-off 16 MB one
        (400 ``malformed_json``) instead of being refused as too large.
        """
        data: bytes = super().get_data(cache=cache, as_text=False,
                                       parse_form_data=parse_form_data)
        if self.content_length is None:  # first: max_content_length asks the app (two lookups)
            limit = self.max_content_length
            if limit is not None and len(data) >= limit:
                raise RequestEntityTooLarge()
        return data.decode(errors="replace") if as_text else data

    def json_body(self, required: bool = False) -> Any:
        """The parsed JSON body (the app's orjson provider); None when the body is empty.

        :param required: an empty body is an error too (the document store's writes).
        :raises ApiError: 415 for a body that is not ``application/json`` (or ``+json``), 400
            ``malformed_json`` for invalid JSON.
        """
        if not required and not self.get_data(cache=True):
            return None
        return self.get_json()


def error_response(error: ApiError) -> Response:
    """Render ``error`` as a JSON response (also usable outside the handlers)."""
    response = json_response(error.to_dict(), status=error.status)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def is_api_request() -> bool:
    """Whether the current request is under ``/api`` (JSON errors, CSRF checks).

    Mounted namespace apps and proxies (``X-Forwarded-Prefix``) put part of the path into
    ``script_root``, so the full path decides.
    """
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup
    full = req.script_root + req.path
    return "/api/" in full.rstrip("/") + "/"


def _from_http_exception(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    code = HTTP_CODES.get(status, "http_error")
    message = exc.description or exc.name
    hint = None
    headers: dict[str, str] = {}
    if status == 404:
        message = f"no route for {request.method} {request.path}"
        hint = "GET /api/openapi.json lists every route"
    elif status == 405:
        allowed = getattr(exc, "valid_methods", None)
        message = f"method {request.method} is not allowed on {request.path}"
        if allowed:
            hint = "allowed: " + ", ".join(sorted(allowed))
            headers["Allow"] = ", ".join(sorted(allowed))
    elif status == 413:
        limit = request.max_content_length
        message = "the request body is too large"
        hint = f"the limit is {limit} bytes (config core_server.max_content_length)" if limit else None
    return ApiError(status, code, message, hint=hint, headers=headers)


def _handle_api_error(exc: ApiError) -> Response:
    g.error_code = exc.code  # for the metrics (errors by code, statement timeouts, conflicts)
    return error_response(exc)


def _handle_http_exception(exc: HTTPException) -> Response | HTTPException:
    if not is_api_request():
        return exc
    error = _from_http_exception(exc)
    g.error_code = error.code
    return error_response(error)


def _redirect_as_json(response: Response) -> Response:
    # Flask answers a missing trailing slash with werkzeug's HTML redirect page, bypassing the
    # error handlers (routing redirects are not errors); under /api the body says it in JSON.
    if 300 <= response.status_code < 400 and response.mimetype == "text/html" \
            and is_api_request():
        location = response.headers.get("Location")
        body = json_response({"redirect": location}, status=response.status_code)
        response.set_data(body.get_data())
        response.headers["Content-Type"] = body.headers["Content-Type"]
    return response


def _handle_unexpected(exc: Exception) -> Response:
    # The traceback goes to the log with the request id; the client only gets the id.
    log.exception("unhandled error in %s %s (request %s)", request.method, request.path,
                  g.get("request_id"))
    error = ApiError(500, "internal", "internal server error",
                     hint="quote the request_id when reporting this")
    return error_response(error)


def init_app(app: Flask) -> None:
    """Install the JSON error handlers on ``app`` (also used for mounted namespace apps)."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
    app.after_request(_redirect_as_json)
