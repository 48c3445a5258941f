"""``visyn_core.dbview``: re-exports :mod:`tdp_core.dbview` (the builder API)."""

from tdp_core.dbview import DBConnector
from tdp_core.dbview import DBMapping
from tdp_core.dbview import DBView
from tdp_core.dbview import DBViewBuilder
from tdp_core.dbview import add_common_queries
from tdp_core.dbview import default_agg_score
from tdp_core.dbview import inject_where
from tdp_core.dbview import inject_where_clause
from tdp_core.dbview import limit_offset

__all__ = [
    "DBConnector", "DBMapping", "DBView", "DBViewBuilder", "add_common_queries",
    "default_agg_score", "inject_where", "inject_where_clause", "limit_offset",
]
