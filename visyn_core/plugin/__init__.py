"""``visyn_core.plugin``: the plugin base class (same objects as ``tdp_core.plugin``)."""

from tdp_core.plugin.model import AVisynPlugin
from tdp_core.plugin.model import RegHelper

__all__ = ["AVisynPlugin", "RegHelper"]
