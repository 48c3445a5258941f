"""Eager checks of every extension, for ``core-server check``."""

from __future__ import annotations

from core_server.registry import Registry


def check_extensions(registry: Registry) -> None:
    """Import every extension's module and resolve its factory; failures go on the plugin."""
    for ext in registry.list():
        try:
            ext.load().factory
        except Exception as exc:  # report every broken extension, keep checking the rest
            registry.record_failure(ext.plugin, ext, exc)
