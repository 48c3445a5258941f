"""``state.security``: what :func:`~core_server.security.init_app` set up for one app."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import request

from core_server.security._rules import ResolvedRules
from core_server.security._sessions import SessionInfo
from core_server.security._sessions import SessionStore
from core_server.security._tokens import TokenStore
from core_server.security._users import User
from core_server.security._users import as_user
from core_server.state import StateKey


@dataclass
class SecurityState:
    """The user stores, the token and session stores, the CSRF settings and the resolved rules."""

    providers: list[Any]
    tokens: TokenStore
    sessions: SessionStore
    trusted_origins: frozenset[str]
    #: config rules and anonymous defaults, resolved once (``check`` and ``can`` read them)
    rules: ResolvedRules
    #: answers of :func:`~core_server.security._access.denied` that no callable rule decides
    denials: dict[Any, frozenset[str]] = field(default_factory=dict)

    @property
    def has_users(self) -> bool:
        """Whether anyone can log in at all."""
        return bool(self.providers)

    def login(self, name: str, password: str) -> User | None:
        """The user whose password matches, asking each store in order."""
        for provider in self.providers:
            user = as_user(provider.login(name, password))
            if user is not None:
                return user
        return None

    def load(self, name: str) -> User | None:
        """The user ``name`` with current roles, from the first store that knows them."""
        for provider in self.providers:
            user = as_user(provider.load(name))
            if user is not None:
                return user
        return None

    def from_request(self) -> User | None:
        """A user vouched for by the request itself (providers with ``load_from_request``)."""
        for provider in self.providers:
            loader = getattr(provider, "load_from_request", None)
            user = as_user(loader(request)) if callable(loader) else None
            if user is not None:
                return user
        return None

    def credential(self, name: str) -> str | None:
        """The credential fingerprint of user ``name`` from the first store that knows them.

        None when that store tells none (its users' sessions end by logout and removal only).
        """
        for provider in self.providers:
            if as_user(provider.load(name)) is not None:
                credential = getattr(provider, "credential", None)
                return str(credential(name)) if callable(credential) else None
        return None

    def session_user(self, session_id: str, name: str) -> User | None:
        """The user of the live session ``session_id`` of ``name``, with current roles.

        None when the session was ended (logout, elsewhere too), expired, belongs to another
        name, its user is gone or their credential changed since the login.
        """
        info = self.sessions.find(session_id, valid=self._still_valid)
        if info is None or info.user != name:
            return None
        return self.load(name)

    def _still_valid(self, info: SessionInfo) -> bool:
        return self.load(info.user) is not None and self.credential(info.user) == info.credential


#: Where :func:`~core_server.security.init_app` keeps the :class:`SecurityState`.
SECURITY: StateKey[SecurityState] = StateKey("security")
