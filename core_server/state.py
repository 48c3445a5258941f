"""The per-app state object kept in ``app.extensions['core_server']`` (no module globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from flask import current_app

from core_server.config import Config
from core_server.registry import Registry

if TYPE_CHECKING:  # only for the annotation: security imports this module
    from core_server.security._state import SecurityState

#: A function that returns OpenAPI ``paths`` (and optionally ``components``) for one subsystem.
OpenApiContributor = Callable[[], dict[str, Any]]


@dataclass
class ServerState:
    """Everything one app instance owns: config, registry and each subsystem's state.

    Subsystems set their attribute in their ``init_app`` (``store``, ``dbviews``, ``security``...),
    add OpenAPI contributors to ``openapi`` and deep health checks (raise when unhealthy) to
    ``health_checks``.
    """

    config: Config
    registry: Registry
    openapi: list[OpenApiContributor] = field(default_factory=list)
    health_checks: dict[str, Callable[[], None]] = field(default_factory=dict)
    store: Any = None
    dbviews: Any = None
    security: SecurityState | None = None
    endpoints: Any = None
    idtypes: Any = None


def state_of(app: Flask) -> ServerState:
    """The :class:`ServerState` of ``app``."""
    return app.extensions["core_server"]  # type: ignore[no-any-return]


def current_state() -> ServerState:
    """The :class:`ServerState` of the app handling the current request."""
    return state_of(current_app)
