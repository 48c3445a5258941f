"""core_server: a plugin-registry data server (SQL views, document store, custom endpoints)."""

from core_server.app import create_app
from core_server.errors import ApiError
from core_server.registry import Registry
from core_server.security import User
from core_server.security import current_user
from core_server.state import current_state

__all__ = ["ApiError", "Registry", "User", "create_app", "current_state", "current_user"]
