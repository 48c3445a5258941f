"""Login sessions that the server can end: one row per session in the server database.

The signed session cookie carries a random session id; the table ``core_server_sessions`` of
``core_server.server_db`` holds its SHA-256 digest (a leaked table cannot be turned into
cookies), the user, a fingerprint of the user's credential at login and the end of the session.
Logout deletes the row, a password change or the removal of a user deletes all of theirs, so the
cookie is dead in every worker and on every host that shares the server database.

Each worker remembers an answer for ``check_interval`` seconds
(``core_server.security.session_check_interval``), so a busy session costs one indexed read per
interval and worker, not one per request; a session ended elsewhere dies here within that time.
Requests without a session cookie never reach this module.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from core_server.security._serverdb import ServerDb

TABLE_NAME = "core_server_sessions"
#: Sessions remembered per worker; beyond that the memory starts over (a flood of forged ids
#: cannot grow it: only ids whose cookie signature is valid get here).
CACHE_LIMIT = 10_000


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE_NAME, metadata,
        sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the session id, hex
        sa.Column("user_name", sa.String(255), nullable=False, index=True),
        sa.Column("credential", sa.String(64), nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False, index=True),
    )


@dataclass(frozen=True)
class SessionInfo:
    """One live session: whose, the credential fingerprint at login, until when (epoch s)."""

    user: str
    credential: str | None
    expires: int


def digest(session_id: str) -> str:
    """The key of a session id in the table."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Start, find (cached per worker), end and list login sessions.

    :param db: the server database.
    :param max_age: a session's life in seconds (``core_server.security.session_max_age``).
    :param check_interval: how long a worker trusts what it read, in seconds.
    """

    def __init__(self, db: ServerDb, max_age: int, check_interval: float) -> None:
        self.db = db
        self.table = _table(db.metadata)
        self.max_age = int(max_age)
        self.check_interval = float(check_interval)
        self.clock: Callable[[], float] = time.time
        self._cache: dict[str, tuple[float, SessionInfo | None]] = {}

    def start(self, user: str, credential: str | None) -> str:
        """A new session of ``user``: its id, for the signed cookie."""
        session_id = secrets.token_urlsafe(32)
        now = int(self.clock())
        with self.db.begin() as conn:
            # Ended sessions leave no rows; expired ones are swept here (indexed, usually none).
            conn.execute(self.table.delete().where(self.table.c.expires <= now))
            conn.execute(self.table.insert().values(
                id=digest(session_id), user_name=user, credential=credential, created=now,
                expires=now + self.max_age))
        return session_id

    def find(self, session_id: str,
             valid: Callable[[SessionInfo], bool] = lambda info: True) -> SessionInfo | None:
        """The live session ``session_id``, or None (ended, expired, unknown or not ``valid``).

        :param valid: asked when the row is read (not on remembered answers), e.g. whether the
            credential is still the one of the login.
        """
        key = digest(session_id)
        now = time.monotonic()
        remembered = self._cache.get(key)
        if remembered is not None and now - remembered[0] < self.check_interval:
            info = remembered[1]
        else:
            info = self._read(key)
            if info is not None and not valid(info):
                info = None
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = (now, info)
        return info if info is not None and info.expires > self.clock() else None

    def end(self, session_id: str) -> None:
        """End one session (logout)."""
        key = digest(session_id)
        self._cache.pop(key, None)
        with self.db.begin() as conn:
            conn.execute(self.table.delete().where(self.table.c.id == key))

    def end_user(self, user: str, credential: str | None = None, *,
                 all_credentials: bool = True) -> int:
        """End the sessions of ``user`` (all of them, or those logged in with ``credential``)."""
        query = self.table.delete().where(self.table.c.user_name == user)
        if not all_credentials:
            column = self.table.c.credential
            query = query.where(column.is_(None) if credential is None else column == credential)
        with self.db.begin() as conn:
            ended = int(conn.execute(query).rowcount)
        self._cache.clear()  # rare (a password change, a removed user): forget everything
        return ended

    def holders(self) -> list[tuple[str, str | None]]:
        """``(user, credential)`` of the live sessions, each pair once."""
        table = self.table
        query = (sa.select(table.c.user_name, table.c.credential).distinct()
                 .where(table.c.expires > int(self.clock())))
        with self.db.begin() as conn:
            return [(row.user_name, row.credential) for row in conn.execute(query)]

    def _read(self, key: str) -> SessionInfo | None:
        table = self.table
        query = sa.select(table.c.user_name, table.c.credential, table.c.expires).where(
            table.c.id == key)
        with self.db.begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else SessionInfo(row.user_name, row.credential,
                                                    int(row.expires))
