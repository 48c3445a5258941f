"""``visyn_core.security``: re-exports :mod:`tdp_core.security`."""

from tdp_core.security import ANONYMOUS_USER
from tdp_core.security import User
from tdp_core.security import current_user
from tdp_core.security import current_username
from tdp_core.security import is_logged_in
from tdp_core.security import login_required

__all__ = ["ANONYMOUS_USER", "User", "current_user", "current_username", "is_logged_in",
           "login_required"]
