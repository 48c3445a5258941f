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
from core_server.security._state import SECURITY
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
    config = state.config
    rules = config.get_dict("core_server.security.rules")
    validate_rules(rules)
    with app.app_context():
        providers = load_providers(config.get_list("core_server.security.users"), state.registry)
    tokens = _open_tokens(app, state)
    origins = frozenset(o.rstrip("/").lower()
                        for o in config.get_list("core_server.security.trusted_origins"))
    resolved = ResolvedRules(rules, config.get_bool("core_server.security.anonymous_read"),
                             config.get_bool("core_server.security.anonymous_write"))
    state.put(SECURITY, SecurityState(providers, tokens, origins, resolved))
    if providers and not config.get_optional_str("core_server.secret_key"):
        log.warning("core_server.secret_key is not set: sessions and API tokens end with this "
                    "process")
    _configure_sessions(app, state)
    app.before_request(authenticate)
    app.register_blueprint(blueprint)
    state.openapi.append(openapi_fragment)
    state.health_checks["server_db"] = tokens.ping


def _open_tokens(app: Flask, state: ServerState) -> TokenStore:
    tokens = TokenStore(state.config.get_str("core_server.server_db"), app.config["SECRET_KEY"],
                        state.config.get_int("core_server.security.token_max_age"))
    try:
        tokens.create_table()
    except sa.exc.SQLAlchemyError as exc:  # the server starts; tokens answer 503 until the DB is up
        log.warning("cannot create the token table in core_server.server_db: %s", exc)
    return tokens


def _configure_sessions(app: Flask, state: ServerState) -> None:
    config = state.config
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.get_bool("core_server.security.cookie_secure"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(
            seconds=config.get_int("core_server.security.session_max_age")))
    app.session_interface = CookieSessions()
