"""The ``publiclike`` connector (``tdp-sql-database-definition``) over config ``tdpconn``."""
from sqlalchemy.engine import make_url

from phovea_server.config import view
from tdp_core import dbview
from tdpconn.views import build

config = view('tdpconn')
views, agg_score, mappings = build(dbview, make_url(config.get('dburl')).get_backend_name())


def create():
    connector = dbview.DBConnector(views, agg_score, mappings=mappings)
    connector.description = 'a connector written like the large published ones'
    return connector
