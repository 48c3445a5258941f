"""``tdp_core.security.manager`` and ``tdp_core.manager.security``: the app's user stores."""

from __future__ import annotations

from typing import Any

from tdp_core._current import current_state
from tdp_core.security import current_user
from tdp_core.security import current_username
from tdp_core.security import is_logged_in
from tdp_core.security import login_required
from tdp_core.security.model import User

__all__ = ["SecurityManager", "current_user", "current_username", "is_logged_in",
           "login_required", "security"]


class SecurityManager:
    """TDP's security manager over core_server's authentication."""

    @property
    def current_user(self) -> User | None:
        """The logged-in user of the current request, else None (as TDP answers)."""
        return current_user() if is_logged_in() else None

    @property
    def user_stores(self) -> list[Any]:
        """The TDP/Phovea stores of ``user_stores`` extensions, in the order they are asked."""
        providers = getattr(current_state().security, "providers", [])
        # the adapted TDP stores (core_server.security wraps them, keeping them as .store)
        return [p.store for p in providers if getattr(p, "store", None) is not None]

    def login(self, username: str, extra_fields: dict[str, Any] | None = None) -> User | None:
        """The user whose password (``extra_fields["password"]``) a store or the config accepts.

        Only checks the credentials; ``POST /api/login`` opens the session.
        """
        password = str((extra_fields or {}).get("password", ""))
        state = current_state().security
        found = state.login(username, password) if state is not None else None
        if found is None:
            return None
        return User(id=found.name, roles=sorted(found.roles))


security = SecurityManager()
