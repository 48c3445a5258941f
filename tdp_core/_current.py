"""Which core_server app the TDP managers and helpers mean.

TDP kept one server per process in module globals; core_server keeps state per app. Inside an
app context (a request, an extension's ``create()``, ``init_app``) that app is meant; outside
one, the app most recently built by ``create_visyn_server()`` (a plugin's test suite).
"""

from __future__ import annotations

import weakref
from flask import Flask
from flask import current_app
from flask import has_app_context

from core_server.state import ServerState
from core_server.state import state_of

_last: list[weakref.ref[Flask]] = []


def remember(app: Flask) -> None:
    """Make ``app`` the one meant outside an app context (``create_visyn_server``)."""
    _last[:] = [weakref.ref(app)]


def current_app_or_last() -> Flask:
    """The app of the current context, else the remembered one; RuntimeError without either."""
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
    app = _last[0]() if _last else None
    if app is None:
        raise RuntimeError("tdp_core.manager is only available inside a core_server app: in a "
                           "request, an extension's create() or init_app(), or after "
                           "create_visyn_server()")
    return app


def current_state() -> ServerState:
    """The :class:`~core_server.state.ServerState` of :func:`current_app_or_last`."""
    return state_of(current_app_or_last())

