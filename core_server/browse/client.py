"""An in-process client of the server's own JSON API, as the current user.

The HTML pages read everything through the JSON API (like Datasette's internal client): the
same parameters, security rules, limits and errors as for any API client, and no page depends
on how a subsystem is built inside. A call runs the app's own request handling (no socket, no
middleware) in a fresh app context, with the incoming request's cookies, ``Authorization``,
host, scheme and script root (the public prefix behind a proxy), so that links in the answer
(``Link: next``) use the public URL. Inner access-log lines carry the page's request id.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from flask import Flask
from flask import current_app
from flask import g
from flask import request

from core_server import requestlog

#: Request headers not passed on: the page's body, caching and encoding are not the API call's.
_DROPPED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH",
                      "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_ACCEPT_ENCODING",
                      "HTTP_RANGE", "HTTP_X_REQUEST_ID"})

#: Query: a string, or ``(key, value)`` pairs, or a mapping of key to value(s).
Query = str | list[tuple[str, str]] | dict[str, Any]


@dataclass
class Answer:
    """One API answer: status, headers and the decoded JSON body (None if it is not JSON)."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The decoded body (None for an empty or non-JSON body)."""
        if not self.body or "json" not in self.headers.get("Content-Type", ""):
            return None
        return orjson.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of a failed call (status and message at least)."""
        body = self.json() if not self.ok else None
        found = body.get("error") if isinstance(body, dict) else None
        return found if isinstance(found, dict) else {"status": self.status, "code": "error",
                                                      "message": f"HTTP {self.status}"}


def query_string(query: Query) -> str:
    """``query`` as an encoded query string."""
    if isinstance(query, str):
        return query
    return urlencode(query, doseq=True)


def get(path: str, query: Query = "") -> Answer:
    """``GET path?query`` against this app's own API, as the current request's user.

    :param path: below the script root, e.g. ``/api/db/mydb/``.
    """
    environ = {k: v for k, v in request.environ.items() if k not in _DROPPED}
    environ.update({"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query_string(query),
                    "HTTP_ACCEPT": "application/json", "wsgi.input": io.BytesIO(b""),
                    "HTTP_X_REQUEST_ID": g.get("request_id", ""), "CONTENT_LENGTH": "0"})
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = int(status.split()[0]), dict(headers)
        return lambda data: None

    with requestlog.timed("api"), app.app_context():  # a fresh g for the inner request
        chunks = Flask.wsgi_app(app, environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
    answer = Answer(captured["status"], captured["headers"], body)
    _add_db_timing(answer.headers.get("Server-Timing", ""))
    return answer


def _add_db_timing(header: str) -> None:
    # the page's Server-Timing shows the database time of its API calls as its own
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if name == "db" and dur:
            requestlog.add_timing("db", float(dur) / 1000)
