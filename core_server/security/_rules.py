"""Who is asking and what they may do: users, roles and allow-rules.

THE function to guard a resource is :func:`check` (``security.check("db:mydb/mytable", "read",
rule=view.security)``). Logins, sessions and API tokens live in :mod:`core_server.auth`,
:mod:`core_server.userstore` and :mod:`core_server.tokens`; this module only decides.

Resource names: ``db:<connector>/<view>``, ``store:<collection>``, ``store:<collection>.<field>``,
``endpoint:<id>`` and ``server:config`` / ``server:plugins``. Actions: ``read``, ``create``,
``update``, ``delete``, ``execute`` (``write`` in a rule stands for create, update and delete).
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import g
from flask import has_request_context
from flask import request


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

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "roles"}`` as ``/api/login`` and ``/api/loggedinas`` answer."""
        return {"name": self.name, "roles": sorted(self.roles)}


ANONYMOUS_NAME = "anonymous"
ANONYMOUS = User(ANONYMOUS_NAME, frozenset({"anonymous"}))
ADMIN_ROLE = "admin"

READ = "read"
WRITE = "write"
#: Actions that ``write`` stands for in a rule.
WRITE_ACTIONS = frozenset({"create", "update", "delete"})
ACTIONS = frozenset({READ, "execute", WRITE, "*"}) | WRITE_ACTIONS
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: What an access rule may be: ``None``/``"any"``/``True`` (everyone), ``False`` (TDP: public),
#: ``"authenticated"``, a role name, a list of role names, ``{"roles": [...], "users": [...]}``
#: (either matches), ``fn(user)`` or ``fn(user, resource)`` returning a bool, or - in
#: :func:`check` - a mapping from action to one of these, e.g.
#: ``{"read": "any", "write": "admin"}``.
Rule = Any


def current_user() -> User:
    """The user of the current request (anonymous until authentication sets ``g.user``)."""
    user = g.get("user") if has_request_context() else None
    return user if isinstance(user, User) else ANONYMOUS


def user_from(name: str, roles: Iterable[str] = ()) -> User:
    """A :class:`User` named ``name`` with ``roles`` (strings)."""
    return User(str(name), frozenset(str(r) for r in roles))


def allowed(user: User, rule: Rule, resource: str | None = None) -> bool:
    """Whether ``user`` passes ``rule`` (see :data:`Rule`).

    :param resource: passed to two-argument callables (``can_access(user, resource)``).
    """
    if rule is None or rule is True or rule is False or rule == "any":
        return True
    if callable(rule):
        return bool(rule(user, resource) if _takes_two(rule) else rule(user))
    if rule == "authenticated":
        return not user.is_anonymous
    if isinstance(rule, str):
        return user.has_role(rule)
    if isinstance(rule, Mapping) and not is_action_map(rule):
        return _allowed_by_principals(user, rule)
    if isinstance(rule, (list, tuple, set, frozenset)):
        return any(allowed(user, r, resource) for r in rule)
    raise TypeError(f"unsupported access rule {rule!r}")


def require(rule: Rule, what: str, user: User | None = None) -> User:
    """Raise 401 (anonymous) or 403 (known user) unless the current user passes ``rule``.

    :param what: the resource, for the message, e.g. ``"view mydb/mytable"``.
    :return: the user, for convenience.
    """
    user = user or current_user()
    if allowed(user, rule, what):
        return user
    raise denial(user, what)


def denial(user: User, what: str) -> Exception:
    """The 401 (anonymous ``user``) or 403 error for refusing ``what``."""
    from core_server.errors import Forbidden
    from core_server.errors import Unauthorized

    if user.is_anonymous:
        return Unauthorized(f"log in to access {what}",
                            hint="POST /api/login, or send Authorization: Bearer <token>")
    return Forbidden(f"user {user.name!r} may not access {what}",
                     hint="ask an administrator for a role that grants it")


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
    decisive = decisive_rule(resource, action, rule)
    if allowed(user, decisive, resource):
        return user
    raise denial(user, f"{resource} ({action})")


#: ``fallback`` of :func:`can` / :func:`decisive_rule`: the server's anonymous_read/write default.
SERVER_DEFAULT: Any = object()


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


def decisive_rule(resource: str, action: str, rule: Rule = None,
                  fallback: Rule = SERVER_DEFAULT) -> Rule:
    """The rule :func:`check` applies to ``action`` on ``resource`` (config > own > default)."""
    configured = _for_action(_configured_rule(resource), action)
    if configured is not None:
        return configured
    own = _for_action(rule, action)
    if own is not None:
        return own
    return _default_rule(action) if fallback is SERVER_DEFAULT else fallback


def _for_action(rule: Rule, action: str) -> Rule:
    if rule is None:  # the common case (no config rule, no own rule): skip the ABC check
        return None
    if not (isinstance(rule, Mapping) and is_action_map(rule)):
        return rule
    for key in (action, WRITE if action in WRITE_ACTIONS else None, "*"):
        if key is not None and key in rule:
            return rule[key]
    return None


def is_action_map(rule: Mapping[str, Any]) -> bool:
    """Whether ``rule`` maps actions to rules (``{"read": ..., "write": ...}``)."""
    return bool(rule) and all(key in ACTIONS for key in rule)


def _allowed_by_principals(user: User, rule: Mapping[str, Any]) -> bool:
    unknown = set(rule) - {"roles", "users", "authenticated"}
    if unknown:
        raise TypeError(f"unsupported access rule keys {sorted(unknown)} in {rule!r}")
    if rule.get("authenticated") and not user.is_anonymous:
        return True
    roles = _as_list(rule.get("roles"))
    users = _as_list(rule.get("users"))
    return any(user.has_role(r) for r in roles) or (not user.is_anonymous and user.name in users)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _takes_two(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature get the user only
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def _configured_rule(resource: str) -> Rule:
    from core_server.state import current_state

    state = current_state()
    resolved = getattr(state.security, "resolved", None)
    if resolved is not None:  # rules resolved once at start (auth.init_app)
        return resolved.configured(resource)
    return match_rule(state.config.get_path("core_server.security.rules") or {}, resource)


def match_rule(rules: Mapping[str, Rule], resource: str) -> Rule:
    """The config rule for ``resource``: its exact name, else the longest matching glob."""
    if resource in rules:
        return rules[resource]
    # The most specific (longest) matching pattern wins.
    patterns = sorted((p for p in rules if any(c in p for c in "*?[")), key=len, reverse=True)
    for pattern in patterns:
        if fnmatch.fnmatchcase(resource, pattern):
            return rules[pattern]
    return None


class ResolvedRules:
    """The ``core_server.security`` settings :func:`check` needs, read once at start.

    Saves the dotted config reads and the glob matching per request; the answer per resource
    name is memoised (the config does not change while the server runs).
    """

    _LIMIT = 4096

    def __init__(self, rules: Mapping[str, Rule], anonymous_read: bool,
                 anonymous_write: bool) -> None:
        self.rules = dict(rules)
        self.read_default: Rule = "any" if anonymous_read else "authenticated"
        self.write_default: Rule = "any" if anonymous_write else "authenticated"
        self._memo: dict[str, Rule] = {}

    def configured(self, resource: str) -> Rule:
        """The config rule of ``resource`` (None when the config has none)."""
        try:
            return self._memo[resource]
        except KeyError:
            pass
        rule = match_rule(self.rules, resource)
        if len(self._memo) < self._LIMIT:  # resource names come from plugins, not requests
            self._memo[resource] = rule
        return rule


def _default_rule(action: str) -> Rule:
    from core_server.state import current_state

    state = current_state()
    reading = action == READ or (action == "execute" and has_request_context()
                                 and request.method in SAFE_METHODS)
    resolved = getattr(state.security, "resolved", None)
    if resolved is not None:
        return resolved.read_default if reading else resolved.write_default
    key = "anonymous_read" if reading else "anonymous_write"
    return "any" if state.config.get_path(f"core_server.security.{key}") else "authenticated"


def secured() -> bool:
    """Whether this server has users at all (configured or from a ``security-provider``).

    Without users everyone is anonymous, so server details are shown to everyone.
    """
    from core_server.state import current_state

    state = current_state().security
    return bool(state is not None and state.has_users)


def init_app(app: Any) -> None:
    """Wire authentication (sessions, tokens, CSRF) and the security routes into ``app``."""
    from core_server import auth

    auth.init_app(app)
