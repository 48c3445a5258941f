"""``tdp_core.dbview`` for TDP plugins: the builder API of :mod:`core_server.dbview`."""

from core_server.dbview import DBConnector
from core_server.dbview import DBMapping
from core_server.dbview import DBView
from core_server.dbview import DBViewBuilder
from core_server.dbview import add_common_queries
from core_server.dbview import default_agg_score
from core_server.dbview import inject_where
from core_server.dbview import inject_where_clause
from core_server.dbview import limit_offset

__all__ = [
    "DBConnector", "DBMapping", "DBView", "DBViewBuilder", "add_common_queries",
    "default_agg_score", "inject_where", "inject_where_clause", "limit_offset",
]
