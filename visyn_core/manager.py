"""``visyn_core.manager``: the same manager objects as :mod:`tdp_core.manager`."""

from tdp_core.manager import db
from tdp_core.manager import id_mapping
from tdp_core.manager import registry
from tdp_core.manager import settings

__all__ = ["db", "id_mapping", "registry", "settings"]
