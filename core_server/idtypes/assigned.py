"""Reads of the id assignment table (``/api/idtype/<t>/unmap`` and ``/search``).

The table and the assignment itself belong to :class:`core_server.dbview.idmapping.IdMapper`;
this module only reads it: integer ids back to names, names by prefix, the assigned id types.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from core_server.dbview import IdMapper
from core_server.dbview import backend_for
from core_server.dbview import db_errors


class AssignedIds:
    """Queries over the id assignment table of ``mapper``."""

    def __init__(self, mapper: IdMapper) -> None:
        self.mapper = mapper
        self.table = mapper.table
        self._ready = False
        self.backend = backend_for(mapper.engine.url)
        self._chunk = max(1, self.backend.max_binds - 10)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Database errors of the server database as 503/504/500 JSON errors."""
        with db_errors(self.backend, "the server database (id assignment)"):
            yield

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        with self.guard():
            if not self._ready:
                self.table.metadata.create_all(self.mapper.engine, checkfirst=True)
                self._ready = True
            with self.mapper.engine.connect() as conn:
                yield conn

    def idtypes(self) -> list[str]:
        """Every id type that has assigned ids."""
        with self._connect() as conn:
            return sorted(conn.execute(sa.select(self.table.c.idtype).distinct()).scalars())

    def unmap(self, ids: Sequence[int], idtype: str) -> list[str | None]:
        """The names of integer ``ids`` (None for ids never assigned)."""
        t = self.table
        wanted = list(dict.fromkeys(ids))
        names: dict[int, str] = {}
        with self._connect() as conn:
            for start in range(0, len(wanted), self._chunk):
                chunk = wanted[start:start + self._chunk]
                query = sa.select(t.c.id, t.c.name).where(t.c.idtype == idtype, t.c.id.in_(chunk))
                names.update({i: n for i, n in conn.execute(query)})
        return [names.get(i) for i in ids]

    def search(self, idtype: str, query: str, limit: int) -> list[dict[str, Any]]:
        """``[{"id", "name"}]`` of names starting with ``query`` (case-insensitive), by name."""
        t = self.table
        pattern = _escape(query.lower()) + "%"
        select = (sa.select(t.c.id, t.c.name)
                  .where(t.c.idtype == idtype, sa.func.lower(t.c.name).like(pattern, escape="\\"))
                  .order_by(t.c.name).limit(limit))
        with self._connect() as conn:
            return [{"id": i, "name": n} for i, n in conn.execute(select)]


def _escape(text: str) -> str:
    # a user's % or _ is a character to find, not a wildcard
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
