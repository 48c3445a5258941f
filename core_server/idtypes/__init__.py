"""Id types: mapping ids between them (``/api/idtype``) and score views mapped to a target.

Edges of the mapping graph come from the ``DBMapping``s of SQL connectors and from
``mapping-provider`` extensions; assigned integer ids come from the SQL views' id mapper.
"""

from __future__ import annotations

from functools import partial

from flask import Flask

from core_server import dbview
from core_server.idtypes import docs
from core_server.idtypes import routes
from core_server.idtypes import score
from core_server.idtypes.graph import Edge
from core_server.idtypes.graph import MappingGraph
from core_server.idtypes.service import IDTYPES
from core_server.idtypes.service import IdTypes
from core_server.state import state_of

__all__ = ["Edge", "IdTypes", "MappingGraph", "init_app"]


def init_app(app: Flask) -> None:
    """Build the mapping graph (no database access) and mount the routes; after ``dbview``."""
    state = state_of(app)
    idtypes = IdTypes(state.config, dbview.dbviews_of(app))
    idtypes.load(state.registry)
    state.put(IDTYPES, idtypes)
    app.register_blueprint(routes.blueprint, url_prefix="/api/idtype")
    app.register_blueprint(score.blueprint, url_prefix="/api/db")
    app.register_blueprint(score.blueprint, url_prefix="/api/tdp/db", name="tdp_idtypes_score")
    # the rows route of /api/db hands ?target=<idtype> over to the score views
    dbview.register_target_handler(app, partial(score.score_response, idtypes))
    state.openapi.append(docs.contributor(idtypes))
