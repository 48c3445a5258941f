"""``visyn_core.manager``: the same manager objects as :mod:`tdp_core.manager`."""

from typing import Any

from tdp_core import manager as _tdp_manager
from tdp_core.manager import db
from tdp_core.manager import id_mapping
from tdp_core.manager import registry
from tdp_core.manager import settings

__all__ = ["db", "id_mapping", "registry", "security", "settings"]


def __getattr__(name: str) -> Any:
    # ``security`` is imported by tdp_core.manager on first use (it needs pydantic)
    return getattr(_tdp_manager, name)
