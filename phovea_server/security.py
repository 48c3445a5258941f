"""``phovea_server.security`` for Phovea-era plugins and their user stores.

``User`` is the base class such stores extend (``User(id)``, then ``name`` and ``roles`` set);
core_server wraps a ``user_stores`` extension's store so that it answers ``/api/login`` (see
:mod:`core_server.security`). ``current_user()`` and ``login_required`` read core_server's
authentication of the current request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from core_server import security
from core_server.errors import Unauthorized

__all__ = ["ANONYMOUS", "ANONYMOUS_USER", "User", "current_user", "current_username",
           "is_logged_in", "login_required"]

ANONYMOUS = "anonymous"


class User:
    """A Phovea user: ``id``, ``name`` and ``roles`` (anonymous until a store sets them)."""

    def __init__(self, id: Any) -> None:  # noqa: A002 - Phovea's signature
        self.id = id
        self.name = ANONYMOUS
        self.roles = [ANONYMOUS]

    def get_id(self) -> str:
        """The id as a string (what flask-login kept in the session)."""
        return str(self.id)

    @property
    def is_authenticated(self) -> bool:
        """False here; stores' users override it."""
        return False

    @property
    def is_active(self) -> bool:
        """False here; stores' users override it."""
        return False

    @property
    def is_anonymous(self) -> bool:
        """True for the anonymous user."""
        return self.name == ANONYMOUS

    def has_role(self, role: str) -> bool:
        """Whether the user has ``role``."""
        return role in self.roles

    def __eq__(self, other: object) -> bool:
        return self.get_id() == other.get_id() if isinstance(other, User) else NotImplemented

    __hash__ = object.__hash__


ANONYMOUS_USER = User(ANONYMOUS)


def current_user() -> User:
    """The user of the current request as a Phovea :class:`User` (``ANONYMOUS_USER`` if none)."""
    user = security.current_user()
    if user.is_anonymous:
        return ANONYMOUS_USER
    found = User(user.name)
    found.name, found.roles = user.name, sorted(user.roles)
    return found


def current_username() -> str:
    """The current user's name (``"anonymous"`` if nobody is logged in)."""
    return current_user().name


def is_logged_in() -> bool:
    """Whether the current request is authenticated."""
    return not security.current_user().is_anonymous


def login_required(f: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse anonymous requests to the decorated view with 401 (the JSON error envelope)."""

    @functools.wraps(f)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        if security.current_user().is_anonymous:
            raise Unauthorized(f"log in to access {f.__name__}", hint="POST /api/login")
        return f(*args, **kwargs)

    return decorated
