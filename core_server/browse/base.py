"""The ``/browse`` blueprint, page rendering and HTML error pages.

Pages are Jinja2 templates of this package (``templates/browse``), styled by one CSS file and
enhanced by one small script (``static``); every table is plain HTML, readable without JS.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Blueprint
from flask import g
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

from core_server import security
from core_server.browse import links
from core_server.browse.client import Answer
from core_server.errors import ApiError
from core_server.version import version

log = logging.getLogger("core_server.browse")

blueprint = Blueprint("browse", __name__, url_prefix="/browse", template_folder="templates",
                      static_folder="static", static_url_path="/static")

#: Rows per page when the request does not say ``_limit``.
PAGE_SIZE = 50


class PageError(Exception):
    """A failed API call shown as a page (status, message, hint) instead of JSON."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.error = error


def must(answer: Answer) -> Any:
    """The JSON of a successful ``answer``; otherwise raise :class:`PageError`."""
    if not answer.ok:
        raise PageError(answer.error)
    return answer.json()


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render ``browse/<template>`` with the context every page shares."""
    user = security.current_user()
    return render_template(f"browse/{template}", user=user, version=version(), links=links,
                           root=request.script_root, **context), status


def fragment_wanted() -> bool:
    """True when a page is asked for as a fragment to insert into another page (JS)."""
    return request.headers.get("X-Fragment") == "1"


@blueprint.app_template_filter("cell")
def cell(value: Any) -> str:
    """A table cell: ``None`` as an empty cell, lists and dicts as short JSON-ish text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        text = orjson.dumps(value).decode()
        return text if len(text) <= 200 else text[:199] + "…"
    return str(value)


@blueprint.errorhandler(PageError)
def page_error(exc: PageError) -> tuple[str, int]:
    """An API error on a page: its message and hint, and a login form for a 401."""
    status = int(exc.error.get("status") or 500)
    return render("error.html", status=status, error=exc.error)


@blueprint.errorhandler(ApiError)
def api_error(exc: ApiError) -> tuple[str, int]:
    """An error raised by a page itself, shown as HTML (``/api`` stays JSON)."""
    return page_error(PageError(exc.to_dict()["error"]))


@blueprint.errorhandler(Exception)
def unexpected(exc: Exception) -> Any:
    """A bug behind a page: an HTML 500 with the request id (the traceback goes to the log)."""
    if isinstance(exc, HTTPException):
        return exc
    log.exception("unhandled error in %s %s (request %s)", request.method, request.path,
                  g.get("request_id"))
    return page_error(PageError({"status": 500, "code": "internal",
                                 "message": "internal server error",
                                 "hint": f"quote the request id {g.get('request_id')} when "
                                         "reporting this"}))
