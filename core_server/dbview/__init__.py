"""SQL views (shared/specs/dbview.md): the TDP builder API and the ``/api/db`` routes.

Plugins import the builder API from here (or from the ``tdp_core.dbview`` shim). The second
group of names is what the packages above dbview build on: ``core_server.idtypes`` (score views
reuse the view pipeline and the id tables), ``demo``, ``tdp`` and ``browse``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

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
from core_server.dbview.backends import Backend
from core_server.dbview.backends import backend_for
from core_server.dbview.engines import sqlite_file
from core_server.dbview.execute import db_errors
from core_server.dbview.handlers import fetch_all
from core_server.dbview.handlers import open_view
from core_server.dbview.handlers import query_info
from core_server.dbview.handlers import warnings
from core_server.dbview.idmapping import MAX_ID
from core_server.dbview.idmapping import NAME_LENGTH
from core_server.dbview.idmapping import IdMapper
from core_server.dbview.output import MIMETYPES
from core_server.dbview.output import encode_body
from core_server.dbview.params import ViewRequest
from core_server.dbview.params import parse_sort
from core_server.dbview.docs import view_parameters
from core_server.dbview.forms import view_inputs
from core_server.dbview.routes import blueprint
from core_server.dbview.service import DBVIEWS
from core_server.dbview.service import ConnectorEntry
from core_server.dbview.service import DBViews
from core_server.dbview.service import TargetHandler
from core_server.dbview.service import dbviews_of
from core_server.dbview.summary import blueprint as summary_blueprint
from core_server.dbview.summary import openapi_fragment as summary_openapi
from core_server.state import state_of

__all__ = [
    # the builder API of plugins
    "DBConnector", "DBMapping", "DBView", "DBViewBuilder", "add_common_queries",
    "default_agg_score", "inject_where", "inject_where_clause", "limit_offset",
    # the app
    "init_app", "register_namedset_resolver", "register_target_handler", "dbviews_of",
    "DBViews", "ConnectorEntry", "TargetHandler",
    # the pipeline and id tables, for the packages above dbview
    "Backend", "IdMapper", "MAX_ID", "MIMETYPES", "NAME_LENGTH", "ViewRequest", "backend_for",
    "db_errors", "encode_body", "fetch_all", "open_view", "parse_sort", "query_info",
    "sqlite_file", "view_inputs", "view_parameters", "warnings",
]


def init_app(app: Flask) -> None:
    """Create every connector (no database access), mount the routes, add docs and health checks."""
    state = state_of(app)
    dbv = DBViews(state.config)
    state.put(DBVIEWS, dbv)
    with app.app_context():  # TDP modules may read phovea_server.config.view() at import
        dbv.load(state.registry)
    app.register_blueprint(blueprint, url_prefix="/api/db")
    app.register_blueprint(blueprint, url_prefix="/api/tdp/db", name="tdp_db")
    app.register_blueprint(summary_blueprint, url_prefix="/api/db")
    app.register_blueprint(summary_blueprint, url_prefix="/api/tdp/db", name="tdp_db_summary")
    state.openapi.append(docs.contributor(dbv))
    state.openapi.append(summary_openapi)
    for name in dbv.connectors:
        state.health_checks[f"db:{name}"] = partial(dbv.ping, name)


def register_target_handler(app: Flask, handler: TargetHandler) -> None:
    """Let ``handler`` answer rows requests with ``?target=<idtype>`` (``core_server.idtypes``).

    Call it after :func:`init_app`; views that use ``target`` themselves keep it.
    """
    dbviews_of(app).register_target_handler(handler)


def register_namedset_resolver(app: Flask, resolve: Callable[[str], list[Any]]) -> None:
    """Let ``filter_namedset4<key>=<set id>`` of every view filter by a named set's ids.

    ``resolve(set_id) -> ids`` (``core_server.tdp`` registers its storage) raises the JSON errors
    of a missing or unreadable set. Call it after :func:`init_app`.
    """
    dbviews_of(app).register_namedset_resolver(resolve)
