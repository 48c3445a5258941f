"""``tdp_core.security``: the user model, ``current_user`` and ``login_required``.

Stores extend :class:`~tdp_core.security.store.base_store.BaseStore`; the request's user comes
from core_server's authentication (session, token, or a store via ``load_from_key`` /
``load_from_request``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from core_server import security
from core_server.errors import Forbidden
from core_server.errors import Unauthorized
from tdp_core.security.model import ANONYMOUS_USER
from tdp_core.security.model import User

__all__ = ["ANONYMOUS_USER", "User", "current_user", "current_username", "is_logged_in",
           "login_required", "tdp_login_required"]


def current_user() -> User:
    """The user of the current request as a :class:`User` (``ANONYMOUS_USER`` if none)."""
    user = security.current_user()
    return ANONYMOUS_USER if user.is_anonymous else User(id=user.name, roles=sorted(user.roles))


def current_username() -> str:
    """The current user's name (``"anonymous"`` if nobody is logged in)."""
    return current_user().name


def is_logged_in() -> bool:
    """Whether the current request is authenticated."""
    return not security.current_user().is_anonymous


def login_required(f: Callable[..., Any] | None = None, *, users: Iterable[str] = (),
                   roles: Iterable[str] = ()) -> Any:
    """``@login_required``, ``@login_required(users=[...])`` or ``@login_required(roles=[...])``.

    Anonymous requests get 401, logged-in users outside ``users`` / without one of ``roles``
    get 403 (JSON error envelope).
    """
    allowed_users, allowed_roles = set(users), set(roles)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def decorated(*args: Any, **kwargs: Any) -> Any:
            user = security.current_user()
            if user.is_anonymous:
                raise Unauthorized(f"log in to access {fn.__name__}", hint="POST /api/login")
            if (allowed_users and user.name not in allowed_users) or (
                    allowed_roles and not allowed_roles & set(user.roles)):
                raise Forbidden(f"user {user.name!r} may not access {fn.__name__}")
            return fn(*args, **kwargs)

        return decorated

    return wrap(f) if f is not None else wrap


#: tdp_core <= 14 name of the same decorator
tdp_login_required = login_required
