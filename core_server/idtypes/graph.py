"""The id mapping graph: id types are nodes, mapping functions are edges.

Mapping between two id types follows the shortest path (breadth-first search over the edges).
Each hop sends the distinct ids of the previous hop once to every edge between the two types;
several edges (and 1:n mappings) are merged per id without duplicates, in first-seen order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from flask import g

from core_server.errors import ApiError

log = logging.getLogger("core_server.idtypes")

#: ``fn(ids) -> [[targets of ids[0]], [targets of ids[1]], ...]``
MapFunction = Callable[[list[Any]], Sequence[Sequence[Any]]]
#: ``fn(query, limit) -> [(source id, target id), ...]`` for source ids starting with ``query``
SearchFunction = Callable[[str, int], list[tuple[Any, Any]]]


@dataclass
class Edge:
    """One way to map ids of ``source`` to ids of ``target``.

    :param origin: who provides it (``mydb`` connector, ``plugin:extension``), for errors.
    """

    source: str
    target: str
    fn: MapFunction
    origin: str
    search: SearchFunction | None = None


def key(value: Any) -> str:
    """Ids are compared as strings: ``1`` from a database equals ``"1"`` from a URL."""
    return value if isinstance(value, str) else str(value)


class MappingGraph:
    """Every edge between id types, with shortest-path mapping."""

    def __init__(self) -> None:
        self.edges: dict[str, dict[str, list[Edge]]] = {}

    def add(self, edge: Edge) -> None:
        """Add an edge (several edges between the same two types are merged when mapping)."""
        self.edges.setdefault(edge.source, {}).setdefault(edge.target, []).append(edge)

    def nodes(self) -> set[str]:
        """Every id type that appears in an edge."""
        found = set(self.edges)
        for targets in self.edges.values():
            found.update(targets)
        return found

    def reachable(self, source: str) -> list[str]:
        """The id types ``source`` maps to, nearest first (then by name)."""
        distance = self._distances(source)
        distance.pop(source, None)
        return sorted(distance, key=lambda t: (distance[t], t))

    def _distances(self, source: str) -> dict[str, int]:
        distance = {source: 0}
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for target in sorted(self.edges.get(node, {})):
                if target not in distance:
                    distance[target] = distance[node] + 1
                    queue.append(target)
        return distance

    def path(self, source: str, target: str) -> list[str] | None:
        """The shortest list of id types from ``source`` to ``target`` (None: no path)."""
        if source == target:
            return [source]
        previous: dict[str, str] = {}
        queue = deque([source])
        seen = {source}
        while queue:
            node = queue.popleft()
            for nxt in sorted(self.edges.get(node, {})):
                if nxt in seen:
                    continue
                previous[nxt] = node
                if nxt == target:
                    return _walk_back(previous, source, target)
                seen.add(nxt)
                queue.append(nxt)
        return None

    def map(self, path: list[str], ids: Sequence[Any]) -> list[list[Any]]:
        """The targets of each id along ``path``, in input order (``[]`` for unknown ids).

        Ids that repeat share one result list (encode it, do not mutate it).
        """
        if len(path) < 2:
            return [[i] for i in ids]
        keys = list(map(key, ids))
        distinct = list(dict(zip(keys, ids)).values())
        table = self._hop(path[0], path[1], distinct) if distinct else {}
        empty: list[Any] = []
        current = [table.get(k, empty) for k in keys]
        for source, target in pairwise(path[1:]):
            distinct = list({key(i): i for row in current for i in row}.values())
            table = self._hop(source, target, distinct) if distinct else {}
            current = [_merge(table.get(key(i), ()) for i in row) for row in current]
        return current

    def _hop(self, source: str, target: str, ids: list[Any]) -> dict[str, list[Any]]:
        edges = self.edges[source][target]
        if len(edges) == 1:  # the usual case: no merging across providers
            result = call(edges[0], ids)
            return {key(i): (list(t) if len(t) < 2 else _merge([t]))
                    for i, t in zip(ids, result) if t}
        table: dict[str, list[Any]] = {}
        for edge in edges:
            for i, targets in zip(ids, call(edge, ids)):
                if targets:
                    table.setdefault(key(i), []).extend(targets)
        return {k: _merge([v]) for k, v in table.items()}


def _walk_back(previous: dict[str, str], source: str, target: str) -> list[str]:
    path = [target]
    while path[-1] != source:
        path.append(previous[path[-1]])
    return path[::-1]


def _merge(groups: Any) -> list[Any]:
    merged: dict[str, Any] = {}
    for group in groups:
        for value in group:
            merged.setdefault(key(value), value)
    return list(merged.values())


def call(edge: Edge, ids: list[Any]) -> Sequence[Sequence[Any]]:
    """Run one edge; a provider that fails or answers the wrong length is a 500 naming it."""
    try:
        result = edge.fn(ids)
    except ApiError:
        raise
    except Exception as exc:
        log.error("mapping %s -> %s of %s failed (request %s)", edge.source, edge.target,
                  edge.origin, g.get("request_id"), exc_info=exc)
        raise ApiError(500, "mapping_failed", f"the mapping {edge.source} -> {edge.target} of "
                       f"{edge.origin} failed ({type(exc).__name__})",
                       hint="the server log has the details; quote the request_id") from None
    result = list(result)
    if len(result) != len(ids):
        raise ApiError(500, "mapping_failed", f"the mapping {edge.source} -> {edge.target} of "
                       f"{edge.origin} answered {len(result)} lists for {len(ids)} ids",
                       hint="a mapping function returns one list of targets per id, in order")
    return result
