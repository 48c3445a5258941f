"""``phovea_server.plugin.list(type)``: the registered extensions of the current app."""

from __future__ import annotations

from typing import Any

from tdp_core.plugin.registry import registry

__all__ = ["list", "plugins"]


def list(plugin_type: Any = None) -> Any:  # noqa: A001 - Phovea's name
    """Extensions of ``plugin_type`` (a type name or a predicate); ``.load().factory()`` works."""
    return registry.list(plugin_type)


def plugins() -> Any:
    """The discovered plugins."""
    return registry.plugins
