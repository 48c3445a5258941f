"""``tdp_core.plugin`` for visyn-era plugins (tdp_core 15-17): the plugin base class."""

from tdp_core.plugin.model import AVisynPlugin
from tdp_core.plugin.model import RegHelper

__all__ = ["AVisynPlugin", "RegHelper"]
