"""``visyn_core.plugin.model``: re-exports :mod:`tdp_core.plugin.model`."""

from tdp_core.plugin.model import AVisynPlugin
from tdp_core.plugin.model import RegHelper

__all__ = ["AVisynPlugin", "RegHelper"]
