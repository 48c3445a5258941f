"""HTML for people: the landing page ``/``, ``/api/docs`` (Swagger UI) and ``/browse/``.

Server-rendered pages (Jinja2 templates, one CSS file and one small script as package data, no
build step) over the server's own JSON API (:mod:`core_server.browse.client`): connectors,
views with filters, sorting, paging, exports and column summaries, id types, and document
collections with forms for users who may write.
"""

from __future__ import annotations

from flask import Flask

from core_server.browse import account
from core_server.browse import db
from core_server.browse import ids
from core_server.browse import site
from core_server.browse import store
from core_server.browse.base import blueprint

__all__ = ["init_app"]

#: The modules that add their pages to the ``browse`` blueprint when imported.
PAGES = (account, db, ids, store)


def init_app(app: Flask) -> None:
    """Register the landing page, the API docs and the ``/browse`` pages."""
    app.register_blueprint(site.blueprint)
    app.register_blueprint(blueprint)
