"""The decision: :func:`check` (raise 401/403) and :func:`can` (answer) for the current request."""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask import request

from core_server.errors import Forbidden
from core_server.errors import Unauthorized
from core_server.security._rules import READ
from core_server.security._rules import SAFE_METHODS
from core_server.security._rules import Rule
from core_server.security._rules import allowed
from core_server.security._rules import for_action
from core_server.security._state import SECURITY
from core_server.security._state import SecurityState
from core_server.security._users import ADMIN_ROLE
from core_server.security._users import User
from core_server.security._users import current_user
from core_server.state import current_state

#: ``fallback`` of :func:`can` / :func:`decisive_rule`: the server's anonymous_read/write default.
SERVER_DEFAULT: Any = object()


def security_state() -> SecurityState:
    """``state.security`` of the current app.

    :raises LookupError: before :func:`~core_server.security.init_app` ran.
    """
    return current_state().get(SECURITY)


def check(resource: str, action: str = READ, rule: Rule = None) -> User:
    """Allow the current user to do ``action`` on ``resource`` or raise 401/403.

    The rule that decides is, first match wins: a config rule
    ``core_server.security.rules[resource][action]`` (or ``[resource]`` for every action; glob
    patterns such as ``db:mydb/*`` match too, the exact name first), the ``rule`` the resource
    declares itself (builder ``security()``, schema ``rights``, extension desc), else the server
    default (``anonymous_read`` for reads and for ``execute`` on GET/HEAD, ``anonymous_write``
    otherwise; when off, any logged-in user). Users with the ``admin`` role pass every check.

    :return: the user.
    """
    user = current_user()
    if user.has_role(ADMIN_ROLE):
        return user
    # the same decision as can(), remembered per user unless a callable rule decides
    if not denied(((resource, rule),), action, user):
        return user
    raise denial(user, f"{resource} ({action})")


def can(resource: str, action: str = READ, rule: Rule = None, user: User | None = None, *,
        fallback: Rule = SERVER_DEFAULT) -> bool:
    """Like :func:`check`, but answer instead of raising (e.g. to hide fields from reads).

    :param fallback: the rule when neither config nor ``rule`` decide; fields use ``True``
        (a field without rights is as open as its collection):
        ``can(f"store:{c}.{field}", "read", field_rule, fallback=True)``.
    """
    user = user or current_user()
    if user.has_role(ADMIN_ROLE):
        return True
    return allowed(user, decisive_rule(resource, action, rule, fallback), resource)


#: remembered :func:`denied` answers per app; past it the memo starts over
DENIALS_LIMIT = 4096


def denied(resources: tuple[tuple[str, Rule], ...], action: str, user: User, *,
           fallback: Rule = SERVER_DEFAULT) -> frozenset[str]:
    """The resources of ``(resource, rule)`` pairs that :func:`can` refuses ``user``.

    Remembered per (resources, action, user) unless a callable rule decides one of them (a
    callable may answer differently each time): the document store asks this for every field
    of a collection on every write and read.
    """
    memo = security_state().denials
    key = (resources, action, user, fallback)
    try:
        found = memo.get(key)
    except TypeError:  # an unhashable rule (a list or mapping): answer without the memo
        return frozenset(r for r, rule in resources
                         if not can(r, action, rule, user, fallback=fallback))
    if found is not None:
        return found
    if user.has_role(ADMIN_ROLE):
        found = frozenset()
    else:
        rules = [(r, decisive_rule(r, action, rule, fallback)) for r, rule in resources]
        found = frozenset(r for r, rule in rules if not allowed(user, rule, r))
        # a callable may answer differently each time; "execute" defaults depend on the method
        if any(callable(rule) for _, rule in rules) \
                or action == "execute" and fallback is SERVER_DEFAULT:
            return found
    if len(memo) >= DENIALS_LIMIT:
        memo.clear()
    memo[key] = found
    return found


def decisive_rule(resource: str, action: str, rule: Rule = None,
                  fallback: Rule = SERVER_DEFAULT) -> Rule:
    """The rule :func:`check` applies to ``action`` on ``resource`` (config > own > default)."""
    rules = security_state().rules
    configured = for_action(rules.configured(resource), action)
    if configured is not None:
        return configured
    own = for_action(rule, action)
    if own is not None:
        return own
    return rules.default(_reading(action)) if fallback is SERVER_DEFAULT else fallback


def _reading(action: str) -> bool:
    # ``execute`` with a safe method (GET/HEAD/OPTIONS) reads; other actions but read write.
    return action == READ or (action == "execute" and has_request_context()
                              and request.method in SAFE_METHODS)


def denial(user: User, what: str) -> Exception:
    """The 401 (anonymous ``user``) or 403 error for refusing ``what``."""
    if user.is_anonymous:
        return Unauthorized(f"log in to access {what}",
                            hint="POST /api/login, or send Authorization: Bearer <token>")
    return Forbidden(f"user {user.name!r} may not access {what}",
                     hint="ask an administrator for a role that grants it")


def secured() -> bool:
    """Whether this server has users at all (configured or from a ``security-provider``).

    Without users everyone is anonymous, so server details are shown to everyone.
    """
    return security_state().has_users
