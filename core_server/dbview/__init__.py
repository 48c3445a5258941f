"""SQL views (shared/specs/dbview.md): the TDP builder API and the ``/api/db`` routes.

Plugins import the builder API from here (or from the ``tdp_core.dbview`` shim).
"""

from __future__ import annotations

from functools import partial

from flask import Flask

from core_server.dbview import docs
from core_server.dbview.builder import DBView
from core_server.dbview.builder import DBViewBuilder
from core_server.dbview.common import add_common_queries
from core_server.dbview.common import inject_where
from core_server.dbview.common import inject_where_clause
from core_server.dbview.common import limit_offset
from core_server.dbview.connector import DBConnector
from core_server.dbview.connector import DBMapping
from core_server.dbview.connector import default_agg_score
from core_server.dbview.routes import blueprint
from core_server.dbview.service import DBViews
from core_server.dbview.service import TargetHandler
from core_server.dbview.service import dbviews_of
from core_server.state import state_of

__all__ = [
    "DBConnector", "DBMapping", "DBView", "DBViewBuilder", "TargetHandler", "add_common_queries",
    "default_agg_score", "init_app", "inject_where", "inject_where_clause", "limit_offset",
    "register_target_handler",
]


def init_app(app: Flask) -> None:
    """Create every connector (no database access), mount the routes, add docs and health checks."""
    state = state_of(app)
    dbv = DBViews(state.config)
    state.dbviews = dbv
    with app.app_context():  # TDP modules may read phovea_server.config.view() at import
        dbv.load(state.registry)
    app.register_blueprint(blueprint, url_prefix="/api/db")
    app.register_blueprint(blueprint, url_prefix="/api/tdp/db", name="tdp_db")
    state.openapi.append(docs.contributor(dbv))
    for name in dbv.connectors:
        state.health_checks[f"db:{name}"] = partial(dbv.ping, name)


def register_target_handler(app: Flask, handler: TargetHandler) -> None:
    """Let ``handler`` answer rows requests with ``?target=<idtype>`` (``core_server.idtypes``).

    Call it after :func:`init_app`; views that use ``target`` themselves keep it.
    """
    dbviews_of(app).register_target_handler(handler)
