"""``tdp_core.security.model`` (tdp_core 15+): the pydantic user model stores return.

Needs pydantic (the ``core_server[tdp]`` extra), as visyn-era plugins do themselves.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["ANONYMOUS", "ANONYMOUS_USER", "LogoutReturnValue", "Token", "User"]

ANONYMOUS = "anonymous"


class Token(BaseModel):
    """An access token answer."""

    access_token: str
    token_type: str


class LogoutReturnValue(BaseModel):
    """What a store's ``logout`` may return: data for the answer and cookies to set."""

    data: dict[Any, Any] | None = {}
    cookies: list[dict[Any, Any]] | None = []


class User(BaseModel):
    """A user: ``id`` (its name), ``roles``; stores subclass it with their own fields."""

    id: str
    roles: list[str] = []
    access_token: str | None = None

    @property
    def name(self) -> str:
        """The user name (the ``id``)."""
        return self.id

    @property
    def is_anonymous(self) -> bool:
        """True for the anonymous user."""
        return self.id == ANONYMOUS

    def has_role(self, role: str) -> bool:
        """Whether the user has ``role``."""
        return role in self.roles


ANONYMOUS_USER = User(id=ANONYMOUS, roles=[])
