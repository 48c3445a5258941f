"""``visyn_core.security.model``: re-exports :mod:`tdp_core.security.model`."""

from tdp_core.security.model import ANONYMOUS
from tdp_core.security.model import ANONYMOUS_USER
from tdp_core.security.model import LogoutReturnValue
from tdp_core.security.model import Token
from tdp_core.security.model import User

__all__ = ["ANONYMOUS", "ANONYMOUS_USER", "LogoutReturnValue", "Token", "User"]
