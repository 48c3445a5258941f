"""``/browse/login``: the login form of the page header (sent to ``POST /api/login``)."""

from __future__ import annotations

from flask import request

from core_server.browse.base import blueprint
from core_server.browse.base import render


def _safe_next(target: str) -> str:
    # only a path of this site: never send the user on to another host after logging in
    return target if target.startswith("/") and not target.startswith("//") else ""


@blueprint.get("/login")
def login_page() -> tuple[str, int]:
    """The login form; after logging in the script goes back to ``?next=``."""
    return render("login.html", next=_safe_next(request.args.get("next", "")))
