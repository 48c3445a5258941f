"""``state.idtypes``: the known id types, the mapping graph and the id assignment reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core_server import security
from core_server.config import Config
from core_server.dbview import DBViews
from core_server.errors import ApiError
from core_server.errors import BadRequest
from core_server.errors import NotFound
from core_server.idtypes.assigned import AssignedIds
from core_server.idtypes.graph import MappingGraph
from core_server.idtypes.sources import connector_edges
from core_server.idtypes.sources import provider_edges
from core_server.registry import Registry
from core_server.state import StateKey


class IdTypes:
    """Id types of the views, mappings and assigned ids of one app.

    :param dbv: the SQL connectors (their views' id types, their ``DBMapping``s, the id mapper).
    """

    def __init__(self, config: Config, dbv: DBViews) -> None:
        self.dbv = dbv
        self.graph = MappingGraph()
        self.max_ids = config.get_int("idtypes.max_ids")
        self._assigned: AssignedIds | None = None

    def load(self, registry: Registry) -> None:
        """Collect the edges of every connector and ``mapping-provider``."""
        for edge in connector_edges(self.dbv):
            self.graph.add(edge)
        for edge in provider_edges(registry):
            self.graph.add(edge)

    @property
    def assigned(self) -> AssignedIds:
        """Reads of the id assignment table (its engine is created on first use)."""
        if self._assigned is None:
            self._assigned = AssignedIds(self.dbv.ids)
        return self._assigned

    # -- which id types exist ----------------------------------------------------------------------

    def declared(self) -> set[str]:
        """Id types of public views and of mapping edges (no database access)."""
        found = self.graph.nodes()
        for entry in self.dbv.connectors.values():
            found.update(v.idtype for v in entry.connector.views.values()
                         if v.idtype and not v.is_private)
        return found

    def known(self) -> list[str]:
        """Every id type: declared ones and those with assigned ids."""
        return sorted(self.declared() | set(self.assigned.idtypes()))

    def require(self, idtype: str) -> None:
        """404 (naming the known id types) unless ``idtype`` exists; then the read check."""
        if idtype not in self.declared() and idtype not in self.assigned.idtypes():
            raise NotFound(f"no id type {idtype!r}",
                           hint="id types: " + ", ".join(self.visible()))
        security.check(f"idtype:{idtype}", "read")

    def visible(self) -> list[str]:
        """The known id types the current user may read."""
        result = []
        for name in self.known():
            try:
                security.check(f"idtype:{name}", "read")
            except ApiError:
                continue
            result.append(name)
        return result

    # -- mapping -----------------------------------------------------------------------------------

    def check_size(self, ids: Sequence[Any]) -> None:
        """400 ``too_many_ids`` above config ``idtypes.max_ids``."""
        if len(ids) > self.max_ids:
            raise BadRequest("too_many_ids", f"{len(ids)} ids in one request, at most "
                             f"{self.max_ids}", hint="send fewer ids per request "
                             "(config idtypes.max_ids)")

    def path(self, source: str, target: str) -> list[str]:
        """The id types from ``source`` to ``target``; 400 ``unmappable`` without a path."""
        found = self.graph.path(source, target)
        if found is None:
            reachable = self.graph.reachable(source)
            raise BadRequest("unmappable", f"no mapping from {source} to {target}",
                             hint=f"{source} maps to: " + (", ".join(reachable) or "nothing"))
        return found

    def map(self, source: str, target: str, ids: Sequence[Any]) -> list[list[Any]]:
        """The ``target`` ids of each of ``ids`` (``[]`` for unknown ids), in input order."""
        self.check_size(ids)
        return self.graph.map(self.path(source, target), ids)

    def search(self, source: str, target: str, query: str, limit: int) -> list[dict[str, Any]]:
        """``[{"match": source id, "to": [target ids]}]`` for source ids starting with ``query``.

        The first mapping on the path that can search answers; otherwise the assigned names
        of ``source`` are searched.
        """
        path = self.path(source, target)
        if len(path) == 1:
            return [{"match": r["name"], "to": [r["name"]]}
                    for r in self.assigned.search(source, query, limit)]
        searching = [e for e in self.graph.edges[path[0]][path[1]] if e.search is not None]
        if not searching:
            names = [r["name"] for r in self.assigned.search(source, query, limit)]
            return [{"match": n, "to": t} for n, t in zip(names, self.graph.map(path, names))]
        pairs: dict[str, list[Any]] = {}
        for edge in searching:
            assert edge.search is not None
            for f, t in edge.search(query, limit):
                pairs.setdefault(str(f), []).append(t)
        matches = list(pairs)[:limit]  # in the order the search answered
        rest = path[1:]
        result = []
        for match in matches:
            targets = self.graph.map(rest, pairs[match]) if len(rest) > 1 else [pairs[match]]
            merged = list(dict.fromkeys(t for group in targets for t in group))
            result.append({"match": match, "to": merged})
        return result


#: Where :func:`core_server.idtypes.init_app` keeps the :class:`IdTypes`.
IDTYPES: StateKey[IdTypes] = StateKey("idtypes")
