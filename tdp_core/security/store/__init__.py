"""``tdp_core.security.store``: the base class of ``user_stores`` extensions."""

from tdp_core.security.store.base_store import BaseStore

__all__ = ["BaseStore"]
