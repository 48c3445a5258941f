"""Users: the :class:`User` of a request, and the user stores that know them.

A user store (from config, or a ``security-provider`` extension's ``create()``) is any object with

- ``login(name, password) -> user | None``: check a password (take the same time for unknown
  users and wrong passwords),
- ``load(name) -> user | None``: the user a session or token names, with current roles,
- optionally ``load_from_request(request) -> user | None``: trust something the request carries,
  e.g. a header set by an authenticating reverse proxy,
- optionally ``credential(name) -> str | None``: a short text that changes when the user's
  password does (a hash of the hash, a "password changed at" stamp); when it differs from the one
  at login, the user's sessions end (see :mod:`~core_server.security._sessions`).

A returned user is a :class:`User`, or anything with ``name`` and ``roles`` (attributes or mapping
keys).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from flask import g
from flask import has_request_context
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from core_server.config import ConfigError
from core_server.registry import SECURITY_PROVIDER
from core_server.registry import USER_STORES
from core_server.registry import Registry
from core_server.security._tdpstores import TDPStore

log = logging.getLogger("core_server.security")

#: Prefixes of werkzeug password hashes (``method$salt$hash``).
HASH_METHODS = ("scrypt", "pbkdf2")


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


def current_user() -> User:
    """The user of the current request (anonymous until authentication sets ``g.user``)."""
    user = g._get_current_object().get("user") if has_request_context() else None
    return user if isinstance(user, User) else ANONYMOUS


def user_from(name: str, roles: Iterable[str] = ()) -> User:
    """A :class:`User` named ``name`` with ``roles`` (strings)."""
    return User(str(name), frozenset(str(r) for r in roles))


class UserStore(Protocol):
    """What a ``security-provider``'s ``create()`` returns (``load_from_request`` is optional)."""

    def login(self, name: str, password: str) -> Any:
        """The user if ``password`` is right, else None."""

    def load(self, name: str) -> Any:
        """The user named ``name``, or None."""


def hash_password(password: str, method: str = "scrypt") -> str:
    """A werkzeug hash of ``password`` for ``core_server.security.users``."""
    return generate_password_hash(password, method=method)


def is_password_hash(value: Any) -> bool:
    """Whether ``value`` looks like a werkzeug password hash."""
    return isinstance(value, str) and value.count("$") >= 2 and value.startswith(HASH_METHODS)


class ConfigUserStore:
    """The users of ``core_server.security.users``: ``[{"name", "password" (hash), "roles"}]``.

    :raises ConfigError: a user without a name, a duplicate, or a password that is not a hash.
    """

    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self._users: dict[str, tuple[User, str]] = {}
        for index, entry in enumerate(entries):
            user, password_hash = _parse_user(index, entry)
            if user.name in self._users:
                raise ConfigError(f"core_server.security.users: user {user.name!r} appears twice")
            self._users[user.name] = (user, password_hash)
        self._dummy: str | None = None
        if self._users:  # now, so that the first unknown user is not slower than the rest
            self._dummy_hash()

    def __len__(self) -> int:
        return len(self._users)

    def login(self, name: str, password: str) -> User | None:
        """The user if the password matches; unknown users cost one hash check too."""
        found = self._users.get(name)
        # Verify against a dummy hash of the same method for unknown users, so that the response
        # time does not tell which user names exist.
        password_hash = found[1] if found else self._dummy_hash()
        matches = check_password_hash(password_hash, password)
        return found[0] if found and matches else None

    def load(self, name: str) -> User | None:
        """The configured user ``name``."""
        found = self._users.get(name)
        return found[0] if found else None

    def credential(self, name: str) -> str | None:
        """A fingerprint of the user's password hash: it changes with the password."""
        found = self._users.get(name)
        return hashlib.sha256(found[1].encode()).hexdigest() if found else None

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            methods = Counter(h.split("$", 1)[0] for _, h in self._users.values())
            method = methods.most_common(1)[0][0] if methods else "scrypt"
            self._dummy = generate_password_hash(secrets.token_hex(16), method=method)
        return self._dummy


def _parse_user(index: int, entry: Mapping[str, Any]) -> tuple[User, str]:
    where = f"core_server.security.users[{index}]"
    name = entry.get("name") if isinstance(entry, Mapping) else None
    if not name or not isinstance(name, str):
        raise ConfigError(f"{where} needs a 'name' (and 'password', 'roles')")
    if name == ANONYMOUS_NAME:
        raise ConfigError(f"{where}: {ANONYMOUS_NAME!r} is reserved for the anonymous user")
    password = entry.get("password")
    if not is_password_hash(password):
        raise ConfigError(f"{where} ({name}): 'password' must be a werkzeug password hash, "
                          "not the password; create one with `core-server hash-password`")
    roles = entry.get("roles") or []
    if isinstance(roles, str) or not all(isinstance(r, str) for r in roles):
        raise ConfigError(f"{where} ({name}): 'roles' must be a list of role names")
    return user_from(name, roles), str(password)


def as_user(found: Any) -> User | None:
    """Normalise what a provider returned into a :class:`User` (None stays None)."""
    if found is None or isinstance(found, User):
        return found
    if isinstance(found, Mapping):
        return user_from(found["name"], found.get("roles") or ())
    return user_from(found.name, getattr(found, "roles", None) or ())


def load_providers(config_users: Iterable[Mapping[str, Any]], registry: Registry) -> list[Any]:
    """The config store (if it has users) followed by every ``security-provider`` extension.

    A provider whose ``create()`` fails is recorded on its plugin; the others still work.
    """
    providers: list[Any] = []
    store = ConfigUserStore(config_users)
    if len(store):
        providers.append(store)
    for ext in registry.list(SECURITY_PROVIDER):
        try:
            provider = ext.create()
            if ext.alias == USER_STORES:  # a TDP store; None when switched off in its config
                if provider is not None:
                    providers.append(TDPStore(provider, ext.id))
                continue
            for method in ("login", "load"):
                if not callable(getattr(provider, method, None)):
                    raise TypeError(f"create() returned {type(provider).__name__} "
                                    f"without {method}()")
            providers.append(provider)
        except Exception as exc:  # a broken provider is reported, the server still starts
            registry.record_failure(ext.plugin, ext, exc)
    return providers
