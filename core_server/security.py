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


READ = "read"
WRITE_ACTIONS = frozenset({"create", "update", "delete", "write", "execute"})


def check(resource: str, action: str = READ, rule: Rule = None) -> User:
    """Allow the current user to do ``action`` on ``resource`` or raise 401/403.

    Resource names: ``db:<connector>/<view>``, ``store:<collection>``,
    ``store:<collection>.<field>``, ``endpoint:<id>``. The rule that decides is, first match wins:
    a config rule ``core_server.security.rules[resource][action]`` (or ``[resource]`` for every
    action), the ``rule`` the resource declares itself (builder ``security()``, schema ``rights``,
    extension desc), else the server default (``anonymous_read`` for reads, ``anonymous_write``
    for writes; otherwise a logged-in user). Users with the ``admin`` role pass every check.
    """
    user = current_user()
    if user.has_role("admin"):
        return user
    decisive = _configured_rule(resource, action)
    if decisive is None:
        decisive = rule
    if decisive is None:
        decisive = _default_rule(action)
    return require(decisive, f"{resource} ({action})", user)


def _configured_rule(resource: str, action: str) -> Rule:
    from core_server.state import current_state

    rules = current_state().config.get_path("core_server.security.rules") or {}
    entry = rules.get(resource)
    if isinstance(entry, dict):
        return entry.get(action, entry.get("*"))
    return entry


def _default_rule(action: str) -> Rule:
    from core_server.state import current_state

    config = current_state().config
    key = "anonymous_read" if action == READ else "anonymous_write"
    return "any" if config.get_path(f"core_server.security.{key}") else "authenticated"
