"""Limits of the HTTP layer that the app decides itself, so their errors are JSON.

The HTTP servers in front of the app refuse oversized requests with their own pages: gunicorn
with a plain 400 for a request line over 4 KB, werkzeug's development server (``http.server``)
with an HTML 414/431. We raise those server limits well above ours (:data:`GUNICORN_LIMITS`,
:class:`JsonErrorRequestHandler`) and check the request line and headers here, as the first
hook of every request: 414 ``uri_too_long`` and 431 ``headers_too_large`` in the JSON envelope,
with the configured limit in the hint. nginx (``core-server nginx``) maps its own 413/414/431
to the same envelope, with the same 16 KiB defaults.

Also here: a 204/304 answer carries no ``Content-Type`` (Flask sets ``text/html`` on every
response, also on one without a body).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from flask import Flask
from flask import Response
from flask import request
from werkzeug.serving import WSGIRequestHandler

from core_server.errors import HTTP_CODES
from core_server.errors import ApiError
from core_server.errors import is_api_request

#: gunicorn's own limits, far above the app's (``core_server.max_request_line`` and
#: ``core_server.max_header_size``): 0 lifts the request-line limit (gunicorn still stops at
#: 1 MiB), one header line may have 256 KiB, at most 100 header lines (gunicorn's default).
#: Past those gunicorn answers itself (plain text 400); in production nginx stops much earlier.
GUNICORN_LIMITS: dict[str, int] = {
    "limit_request_line": 0,
    "limit_request_field_size": 256 * 1024,
    "limit_request_fields": 100,
}

_NO_BODY = (204, 304)


def _request_line_length(environ: dict[str, Any]) -> int:
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri is None:  # servers without the raw URI: path and query as received
        query = environ.get("QUERY_STRING", "")
        uri = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    return len(environ.get("REQUEST_METHOD", "")) + 1 + len(uri)


def _longest_header(environ: dict[str, Any]) -> tuple[str, int]:
    longest = ("", 0)
    for key, value in environ.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            size = len(key) - (5 if key.startswith("HTTP_") else 0) + 2 + len(str(value))
            if size > longest[1]:
                longest = (key.removeprefix("HTTP_").replace("_", "-").title(), size)
    return longest


def _may_exceed(environ: dict[str, Any], max_header: int) -> bool:
    # a cheap bound before the exact scan: a header line has at most len(key) + len(value) + 2
    # bytes (the exact size subtracts the "HTTP_" prefix); header values are str in WSGI (any
    # other value of a header key goes to the exact scan)
    bound = max_header - 2
    for key, value in environ.items():
        if type(value) is str:
            if len(key) + len(value) > bound:
                return True
        elif key.startswith(("HTTP_", "CONTENT_")):
            return True
    return False


def check_request(max_line: int, max_header: int) -> None:
    """414 for a request line over ``max_line``, 431 for a header line over ``max_header``
    (each in bytes, as nginx's ``large_client_header_buffers``; 0: no limit)."""
    environ = request.environ
    if max_line:
        line = _request_line_length(environ)
        if line > max_line:
            raise ApiError(414, "uri_too_long", f"the request line has {line} bytes, more than "
                           f"{max_line}", hint="send long id lists or filters as a POST body "
                           "(config core_server.max_request_line)")
    if max_header and _may_exceed(environ, max_header):
        name, size = _longest_header(environ)
        if size > max_header:
            raise ApiError(431, "headers_too_large", f"header {name} has {size} bytes, more "
                           f"than {max_header}", hint="config core_server.max_header_size")


def _no_body_type(response: Response) -> Response:
    if response.status_code in _NO_BODY:
        del response.headers["Content-Type"]
    return response


def init_app(app: Flask) -> None:
    """Check every request before the login or any route (wired right after ``requestlog``,
    so the error has its request id) and fix 204/304 headers."""
    max_request_line = int(app.config.get("CORE_SERVER_MAX_REQUEST_LINE", 0))
    max_header_size = int(app.config.get("CORE_SERVER_MAX_HEADER_SIZE", 0))

    def check() -> None:
        if is_api_request():
            check_request(max_request_line, max_header_size)

    app.before_request(check)
    app.after_request(_no_body_type)


class JsonErrorRequestHandler(WSGIRequestHandler):
    """The development server's request handler, answering its own errors as JSON.

    ``http.server`` refuses a request line over 64 KiB (414), a header line over 64 KiB or
    more than 100 headers (431) before the app sees the request; this sends those in the
    envelope of :mod:`core_server.errors` (no ``request_id``: no request exists yet).
    """

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        status = HTTPStatus(code) if code in HTTPStatus._value2member_map_ else None
        text = message or (status.phrase if status else "error")
        body = orjson.dumps({"error": {"status": code, "code": HTTP_CODES.get(
            code, "http_error"), "message": text}})
        self.log_error("code %d, message %s", code, text)
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200 and code not in _NO_BODY:
            self.wfile.write(body)
