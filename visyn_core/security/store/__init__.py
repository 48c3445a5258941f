"""``visyn_core.security.store``: re-exports :mod:`tdp_core.security.store`."""

from tdp_core.security.store.base_store import BaseStore

__all__ = ["BaseStore"]
