"""``visyn_core.server.visyn_server``: re-exports ``tdp_core``'s ``create_visyn_server``."""

from tdp_core.server.visyn_server import create_visyn_server

__all__ = ["create_visyn_server"]
