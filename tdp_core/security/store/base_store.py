"""``tdp_core.security.store.base_store.BaseStore``: what a visyn-era user store extends.

A ``user_stores`` extension's ``create()`` returns a store (or None when it is switched off);
core_server asks it in this order: ``load_from_key(key)`` for an ``apiKey`` header or HTTP
Basic credentials, ``load_from_request(request)``, and ``login(username, {"password": ...})``
for ``POST /api/login``.
"""

from __future__ import annotations

from typing import Any

from tdp_core.security.model import LogoutReturnValue
from tdp_core.security.model import User

__all__ = ["BaseStore"]


class BaseStore:
    """A user store that knows nobody; override the methods your store supports."""

    #: id of the login form the client shows for this store (None: none)
    ui: str | None = None

    @property
    def id(self) -> str:
        """The store's id (its class name)."""
        return type(self).__name__

    def init_app(self, app: Any) -> None:
        """Called with the app once (optional)."""

    def load_from_request(self, request: Any) -> User | None:
        """A user the request vouches for (e.g. a header set by a proxy), else None."""
        return None

    def load_from_key(self, key: str) -> User | None:
        """The user of an API key (``user:password`` by convention), else None."""
        return None

    def login(self, username: str, extra_fields: dict[str, Any] | None = None) -> User | None:
        """The user if ``extra_fields["password"]`` is right, else None."""
        return None

    def logout(self, user: User) -> LogoutReturnValue | None:
        """Called on logout; may return data and cookies for the answer."""
        return None

    def user_configuration(self, request: Any) -> dict[str, Any] | None:
        """Store settings the client may read (optional)."""
        return None
