"""Id types: mapping ids between them (``/api/idtype``) and score views mapped to a target.

Edges of the mapping graph come from the ``DBMapping``s of SQL connectors and from
``mapping-provider`` extensions; assigned integer ids come from the SQL views' id mapper.
"""

from __future__ import annotations

from flask import Flask

from core_server.idtypes.graph import Edge
from core_server.idtypes.graph import MappingGraph
from core_server.idtypes.service import IdTypes

__all__ = ["Edge", "IdTypes", "MappingGraph", "init_app"]


def init_app(app: Flask) -> None:
    """Build the mapping graph (no database access) and mount the routes; after ``dbview``."""
    from core_server.idtypes import docs
    from core_server.idtypes import routes
    from core_server.idtypes import score
    from core_server.state import state_of

    state = state_of(app)
    idtypes = IdTypes(state.config, state.dbviews)
    idtypes.load(state.registry)
    state.idtypes = idtypes
    app.register_blueprint(routes.blueprint, url_prefix="/api/idtype")
    app.register_blueprint(score.blueprint, url_prefix="/api/db")
    app.register_blueprint(score.blueprint, url_prefix="/api/tdp/db", name="tdp_idtypes_score")
    state.openapi.append(docs.contributor(idtypes))
