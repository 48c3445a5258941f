"""Eager checks of every extension, for ``core-server check``."""

from __future__ import annotations

from core_server.docstore import load_extension
from core_server.registry import DESC_ONLY_TYPES
from core_server.registry import DOC_COLLECTION
from core_server.registry import Registry


def check_extensions(registry: Registry) -> None:
    """Import every extension's module and resolve its factory; failures go on the plugin."""
    for ext in registry.list():
        if ext.type in DESC_ONLY_TYPES:  # checked by the tdp subsystem when the app is built
            continue
        try:
            if ext.type == DOC_COLLECTION:  # a YAML schema has no factory; validate the schema
                load_extension(ext)
                continue
            ext.load().factory
        except Exception as exc:  # report every broken extension, keep checking the rest
            registry.record_failure(ext.plugin, ext, exc)
