"""``tdp_core.plugin.model``: what a ``visyn.plugin`` entry point's class extends.

core_server discovers the class (:mod:`core_server.registry`), calls ``register(registry)`` with
its own registrar (``RegHelper`` here), ``init_app(app)`` with the core_server Flask app once the
app is built, and reads ``setting_class`` for the plugin's config defaults.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from typing import Any

from core_server.registry import PluginRegistrar as RegHelper

__all__ = ["AVisynPlugin", "RegHelper"]


class AVisynPlugin(ABC):
    """A visyn-era plugin: override :meth:`register`, optionally the other two."""

    @abstractmethod
    def register(self, registry: RegHelper) -> None:
        """Append the plugin's extensions: ``registry.append(type, id, module, desc)``."""

    def init_app(self, app: Any) -> None:  # noqa: B027 - optional hook, empty by default
        """Called with the core_server Flask app after every subsystem is wired."""

    @property
    def setting_class(self) -> Any:
        """A pydantic model whose defaults are the plugin's config (``None``: no settings)."""
        return None
