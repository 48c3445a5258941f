"""``visyn_core.security.store.base_store``: re-exports the TDP ``BaseStore``."""

from tdp_core.security.store.base_store import BaseStore

__all__ = ["BaseStore"]
