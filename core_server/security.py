"""Users and who is asking. (Login, tokens and allow-rules arrive with the security issue.)"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from flask import g


@dataclass(frozen=True)
class User:
    """An authenticated (or the anonymous) user."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_anonymous(self) -> bool:
        """True for the anonymous user."""
        return self.name == ANONYMOUS_NAME

    def has_role(self, role: str) -> bool:
        """True if the user has ``role``."""
        return role in self.roles


ANONYMOUS_NAME = "anonymous"
ANONYMOUS = User(ANONYMOUS_NAME, frozenset({"anonymous"}))


def current_user() -> User:
    """The user of the current request (anonymous until authentication sets ``g.user``)."""
    user = g.get("user")
    return user if isinstance(user, User) else ANONYMOUS
