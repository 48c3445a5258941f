"""Users and who is asking. (Login, tokens and allow-rules arrive with the security issue.)"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

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


#: What an access rule may be: ``None``/``"any"``/``True`` (everyone), ``False`` (TDP: public),
#: ``"authenticated"``, a role name, a list of role names, or ``fn(user) -> bool``.
Rule = Any


def allowed(user: User, rule: Rule) -> bool:
    """Whether ``user`` passes ``rule`` (see :data:`Rule`)."""
    if rule is None or rule is True or rule is False or rule == "any":
        return True
    if callable(rule):
        return bool(rule(user))
    if rule == "authenticated":
        return not user.is_anonymous
    if isinstance(rule, str):
        return user.has_role(rule)
    if isinstance(rule, (list, tuple, set, frozenset)):
        return any(allowed(user, r) for r in rule)
    raise TypeError(f"unsupported access rule {rule!r}")


def require(rule: Rule, what: str, user: User | None = None) -> User:
    """Raise 401 (anonymous) or 403 (known user) unless the current user passes ``rule``.

    :param what: the resource, for the message, e.g. ``"view mydb/mytable"``.
    :return: the user, for convenience.
    """
    from core_server.errors import Forbidden
    from core_server.errors import Unauthorized

    user = user or current_user()
    if allowed(user, rule):
        return user
    if user.is_anonymous:
        raise Unauthorized(f"log in to access {what}", hint="POST /api/login or send a Bearer token")
    raise Forbidden(f"user {user.name!r} may not access {what}")
