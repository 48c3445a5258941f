"""API tokens: signed with itsdangerous, listed and revoked in the server database.

A token is ``URLSafeSerializer(secret_key).dumps([id, user, expires])``; the signature proves that
this server issued it, ``expires`` (epoch seconds) bounds its life and the row ``id`` in the table
``core_server_api_tokens`` of ``core_server.server_db`` says whether it was revoked. The secret
itself is never stored: a leaked table cannot be turned into tokens.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

from core_server.errors import Unauthorized
from core_server.security._serverdb import ServerDb

SALT = "core_server.api-token"
TABLE_NAME = "core_server_api_tokens"


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE_NAME, metadata,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_name", sa.String(255), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
        sa.Column("revoked", sa.BigInteger, nullable=True),
    )


def iso(epoch: int | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC timestamp."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class TokenInfo:
    """What the server knows about one token (never the token itself)."""

    id: str
    user: str
    name: str | None
    created: int
    expires: int
    revoked: int | None

    def to_dict(self, now: float) -> dict[str, Any]:
        """JSON for ``GET /api/tokens``."""
        return {"id": self.id, "name": self.name, "created": iso(self.created),
                "expires": iso(self.expires), "expired": self.expires <= now}


class TokenStore:
    """Issue, verify, list and revoke API tokens.

    :param db: the server database (``core_server.server_db``).
    :param secret_key: the app's secret key (tokens die with it).
    :param max_age: the longest lifetime in seconds (``core_server.security.token_max_age``).
    """

    def __init__(self, db: ServerDb, secret_key: str, max_age: int) -> None:
        self.db = db
        self.table = _table(db.metadata)
        self.max_age = int(max_age)
        self.clock: Callable[[], float] = time.time  # tests move time forward instead of sleeping
        self._serializer = URLSafeSerializer(secret_key, salt=SALT)

    def dispose(self) -> None:
        """Close the pooled connections of the server database."""
        self.db.dispose()

    def issue(self, user: str, name: str | None = None,
              expires_in: int | None = None) -> tuple[str, TokenInfo]:
        """A new token for ``user``; ``expires_in`` (seconds) is capped at ``max_age``."""
        now = int(self.clock())
        life = self.max_age if expires_in is None else min(int(expires_in), self.max_age)
        info = TokenInfo(secrets.token_hex(16), user, name, now, now + life, None)
        with self.db.begin() as conn:
            conn.execute(self.table.insert().values(
                id=info.id, user_name=user, name=name, created=info.created,
                expires=info.expires, revoked=None))
        return self._serializer.dumps([info.id, user, info.expires]), info

    def verify(self, token: str) -> TokenInfo:
        """The token's info, or 401 for a forged, expired, revoked or unknown token."""
        try:
            token_id, user, expires = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise Unauthorized("the API token is invalid",
                               hint="create a new one with POST /api/tokens") from None
        now = self.clock()
        if int(expires) <= now:
            raise Unauthorized("the API token has expired",
                               hint="create a new one with POST /api/tokens")
        info = self._get(str(token_id))
        if info is None or info.user != user:
            raise Unauthorized("the API token is unknown to this server")
        if info.created + self.max_age <= now:  # token_max_age was lowered since the token was made
            raise Unauthorized("the API token has expired",
                               hint="create a new one with POST /api/tokens")
        if info.revoked is not None:
            raise Unauthorized("the API token has been revoked")
        return info

    def of_user(self, user: str) -> list[TokenInfo]:
        """The tokens of ``user`` that are not revoked, oldest first."""
        query = (sa.select(self.table).where(self.table.c.user_name == user)
                 .where(self.table.c.revoked.is_(None)).order_by(self.table.c.created,
                                                                  self.table.c.id))
        with self.db.begin() as conn:
            return [_info(row) for row in conn.execute(query)]

    def holders(self) -> list[str]:
        """The users that have tokens which are neither revoked nor expired."""
        query = (sa.select(self.table.c.user_name).distinct()
                 .where(self.table.c.revoked.is_(None))
                 .where(self.table.c.expires > int(self.clock())))
        with self.db.begin() as conn:
            return [row.user_name for row in conn.execute(query)]

    def revoke_user(self, user: str) -> int:
        """Revoke every token of ``user`` (removed from the user stores); how many."""
        query = (self.table.update().where(self.table.c.user_name == user)
                 .where(self.table.c.revoked.is_(None)).values(revoked=int(self.clock())))
        with self.db.begin() as conn:
            return int(conn.execute(query).rowcount)

    def revoke(self, token_id: str, user: str | None) -> bool:
        """Revoke token ``token_id`` (of ``user``; any user's when None); False if not found."""
        query = (self.table.update().where(self.table.c.id == token_id)
                 .where(self.table.c.revoked.is_(None)).values(revoked=int(self.clock())))
        if user is not None:
            query = query.where(self.table.c.user_name == user)
        with self.db.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def _get(self, token_id: str) -> TokenInfo | None:
        with self.db.begin() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.id == token_id)).first()
        return _info(row) if row is not None else None


def _info(row: Any) -> TokenInfo:
    return TokenInfo(row.id, row.user_name, row.name, int(row.created), int(row.expires),
                     None if row.revoked is None else int(row.revoked))
