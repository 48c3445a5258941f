"""``state.tdp``: the named-set storage, proxy sites, safe config keys and migrations of an app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask import current_app

from core_server.state import StateKey
from core_server.state import state_of
from core_server.tdp.config_keys import SafeKeys
from core_server.tdp.migrations import Migrations
from core_server.tdp.proxy import ProxySite
from core_server.tdp.proxy import Upstream
from core_server.tdp.storage import TdpStorage


@dataclass
class TdpState:
    """What the TDP routes of one app serve."""

    storage: TdpStorage
    sites: dict[str, ProxySite]
    upstream: Upstream
    safe_keys: SafeKeys
    migrations: Migrations

    def dispose(self) -> None:
        """Close the storage pool and the proxy's connections (tests, shutdown)."""
        self.storage.store.dispose()
        self.upstream.close()


#: The key of :class:`TdpState` on the app's ``ServerState``.
TDP: StateKey[TdpState] = StateKey("tdp")


def tdp_of(app: Flask) -> TdpState:
    """The :class:`TdpState` of ``app``."""
    return state_of(app).get(TDP)


def current_tdp() -> TdpState:
    """The :class:`TdpState` of the app handling the current request."""
    return tdp_of(current_app)
