"""The per-app state object kept in ``app.extensions['core_server']`` (no module globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Generic
from typing import TypeVar
from typing import cast

from flask import Flask
from flask import current_app

from core_server.config import Config
from core_server.registry import Registry

class NotCreated(Exception):
    """Raised by a deep health check whose database does not exist yet (a SQLite file that
    ``core-server demo-data`` or the operator still has to write): reported, not counted as down.
    """


#: A function that returns OpenAPI ``paths`` (and optionally ``components``) for one subsystem.
OpenApiContributor = Callable[[], dict[str, Any]]
T = TypeVar("T")


class StateKey(Generic[T]):
    """The typed key of one subsystem's state on :class:`ServerState`.

    Each subsystem declares its key beside its state class, e.g.
    ``DBVIEWS: StateKey[DBViews] = StateKey("dbviews")``, and reads ``state.get(DBVIEWS)`` as a
    ``DBViews``. The key lives with the subsystem so that this module needs no import of any
    subsystem (they all import this one); aiohttp's ``AppKey`` solves the same problem.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StateKey({self.name!r})"


@dataclass
class ServerState:
    """Everything one app instance owns: config, registry and each subsystem's state.

    Subsystems :meth:`put` their state in their ``init_app`` under their :class:`StateKey`, add
    OpenAPI contributors to ``openapi`` and deep health checks (raise when unhealthy,
    :class:`NotCreated` when the database does not exist yet) to ``health_checks``. ``state.store``, ``state.dbviews``... (the key's name as an attribute)
    read the same values for plugins and tests, untyped.
    """

    config: Config
    registry: Registry
    openapi: list[OpenApiContributor] = field(default_factory=list)
    health_checks: dict[str, Callable[[], None]] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict, repr=False)

    def put(self, key: StateKey[T], value: T) -> None:
        """Keep ``value`` as the state of ``key``'s subsystem."""
        self.parts[key.name] = value

    def get(self, key: StateKey[T]) -> T:
        """The state of ``key``'s subsystem; :class:`LookupError` before its ``init_app``."""
        try:
            return cast(T, self.parts[key.name])
        except KeyError:
            raise LookupError(f"{key.name} is not set up on this app (init_app not run)") from None

    def __getattr__(self, name: str) -> Any:
        # only reached for names that are not fields: the subsystems' parts by name
        try:
            return self.__dict__["parts"][name]
        except KeyError:
            raise AttributeError(f"ServerState has no {name!r}") from None


def state_of(app: Flask) -> ServerState:
    """The :class:`ServerState` of ``app``."""
    return cast(ServerState, app.extensions["core_server"])


def current_state() -> ServerState:
    """The :class:`ServerState` of the app handling the current request."""
    # the app object itself: an attribute through the LocalProxy costs a context lookup each
    # (this runs several times per request: store, security state, rules)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return cast(ServerState, app.extensions["core_server"])
