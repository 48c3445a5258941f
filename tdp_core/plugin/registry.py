"""``tdp_core.plugin.registry``: the registered extensions as TDP code reads them."""

from __future__ import annotations

from typing import Any

from tdp_core._current import current_state

__all__ = ["RegistryView", "registry"]


class ExtensionDesc:
    """A registered extension as TDP code reads it: desc keys as attributes."""

    def __init__(self, ext: Any) -> None:
        self._ext = ext

    def __getattr__(self, name: str) -> Any:
        if name in self._ext.desc:
            return self._ext.desc[name]
        return getattr(self._ext, name)


class RegistryView:
    """``manager.registry``: the plugins and extensions of the app."""

    @property
    def plugins(self) -> list[Any]:
        """The discovered plugins."""
        return list(current_state().registry.plugins.values())

    def list(self, plugin_type: Any = None) -> list[Any]:
        """Extensions of a type (any type a plugin registered), or those a predicate accepts."""
        registry = current_state().registry
        if callable(plugin_type):
            return [d for d in map(ExtensionDesc, registry.list()) if plugin_type(d)]
        return [ExtensionDesc(e) for e in registry.list(plugin_type)]

    def __iter__(self) -> Any:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self.list())



registry = RegistryView()
