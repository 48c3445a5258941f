"""The installed core_server version (a leaf module: the wire and the scaffold both need it)."""

from __future__ import annotations

import importlib.metadata


def version() -> str:
    """The installed core_server version."""
    try:
        return importlib.metadata.version("core_server")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0+unknown"
