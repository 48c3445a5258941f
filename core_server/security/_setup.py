"""``init_app``: read the security settings once and wire sessions, tokens, CSRF and routes."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask

from core_server.security._auth import SESSION_COOKIE
from core_server.security._auth import CookieSessions
from core_server.security._auth import authenticate
from core_server.security._routes import blueprint
from core_server.security._routes import openapi_fragment
from core_server.security._rules import ResolvedRules
from core_server.security._rules import validate_rules
from core_server.security._state import SecurityState
from core_server.security._tokens import TokenStore
from core_server.security._users import load_providers
from core_server.state import ServerState
from core_server.state import state_of

log = logging.getLogger("core_server.security")


def init_app(app: Flask) -> None:
    """Load the user stores, open the token store, install the hook and the routes.

    The config rules and anonymous defaults are resolved here, once: requests never read the
    ``core_server.security`` settings again.
    """
    state = state_of(app)
    security = state.config.view("core_server").get("security", {})
    validate_rules(security.get("rules") or {})
    with app.app_context():
        providers = load_providers(security.get("users") or [], state.registry)
    tokens = _open_tokens(app, state, security)
    origins = frozenset(o.rstrip("/").lower() for o in security.get("trusted_origins") or [])
    resolved = ResolvedRules(security.get("rules") or {}, bool(security.get("anonymous_read")),
                             bool(security.get("anonymous_write")))
    state.security = SecurityState(providers, tokens, origins, resolved)
    if providers and not state.config.get_path("core_server.secret_key"):
        log.warning("core_server.secret_key is not set: sessions and API tokens end with this "
                    "process")
    _configure_sessions(app, security)
    app.before_request(authenticate)
    app.register_blueprint(blueprint)
    state.openapi.append(openapi_fragment)
    state.health_checks["server_db"] = tokens.ping


def _open_tokens(app: Flask, state: ServerState, security: Mapping[str, Any]) -> TokenStore:
    tokens = TokenStore(state.config.get_path("core_server.server_db"), app.config["SECRET_KEY"],
                        security.get("token_max_age") or 30 * 24 * 3600)
    try:
        tokens.create_table()
    except sa.exc.SQLAlchemyError as exc:  # the server starts; tokens answer 503 until the DB is up
        log.warning("cannot create the token table in core_server.server_db: %s", exc)
    return tokens


def _configure_sessions(app: Flask, security: Mapping[str, Any]) -> None:
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(security.get("cookie_secure")),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=int(security.get("session_max_age")
                                                             or 86400)))
    app.session_interface = CookieSessions()
