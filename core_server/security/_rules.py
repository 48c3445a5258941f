"""The rule language (who passes a rule) and the config rules, resolved once at start.

Resource names: ``db:<connector>/<view>``, ``store:<collection>``, ``store:<collection>.<field>``,
``endpoint:<id>`` and ``server:config`` / ``server:plugins``. Actions: ``read``, ``create``,
``update``, ``delete``, ``execute`` (``write`` in a rule stands for create, update and delete).
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Mapping
from typing import Any

from core_server.config import ConfigError
from core_server.security._users import ANONYMOUS
from core_server.security._users import User

READ = "read"
WRITE = "write"
#: Actions that ``write`` stands for in a rule.
WRITE_ACTIONS = frozenset({"create", "update", "delete"})
ACTIONS = frozenset({READ, "execute", WRITE, "*"}) | WRITE_ACTIONS
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: What an access rule may be: ``None``/``"any"``/``True`` (everyone), ``False`` (TDP: public),
#: ``"authenticated"``, a role name, a list of role names, ``{"roles": [...], "users": [...]}``
#: (either matches), ``fn(user)`` or ``fn(user, resource)`` returning a bool, or - in
#: :func:`~core_server.security.check` - a mapping from action to one of these, e.g.
#: ``{"read": "any", "write": "admin"}``.
Rule = Any


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


def for_action(rule: Rule, action: str) -> Rule:
    """The part of ``rule`` that applies to ``action`` (None when an action map has none)."""
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


def validate_rules(rules: Any) -> None:
    """Raise :class:`ConfigError` for a config rule the rule language does not know.

    A typo in a rule should stop the start, not turn every check into a 500.
    """
    if not isinstance(rules, dict):
        raise ConfigError("core_server.security.rules must map resource names to rules")
    for resource, rule in rules.items():
        entries = rule.values() if isinstance(rule, dict) and is_action_map(rule) else [rule]
        for entry in entries:
            try:
                allowed(ANONYMOUS, entry, resource)
            except TypeError as exc:
                raise ConfigError(f"core_server.security.rules[{resource!r}]: {exc}") from None


class ResolvedRules:
    """The ``core_server.security`` settings a check needs, read once by ``init_app``.

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

    def default(self, reading: bool) -> Rule:
        """The server default: ``anonymous_read`` for reads, ``anonymous_write`` otherwise."""
        return self.read_default if reading else self.write_default
