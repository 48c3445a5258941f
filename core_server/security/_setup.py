"""``init_app``: read the security settings once and wire sessions, tokens, CSRF and routes."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask

from core_server.config import Config
from core_server.dblimits import DbLimits
from core_server.registry import SECURITY_PROVIDER
from core_server.registry import Registry
from core_server.security._auth import SESSION_COOKIE
from core_server.security._auth import CookieSessions
from core_server.security._auth import authenticate
from core_server.security._routes import make_blueprint
from core_server.security._routes import openapi_fragment
from core_server.security._rules import ResolvedRules
from core_server.security._rules import validate_rules
from core_server.security._serverdb import ServerDb
from core_server.security._sessions import SessionStore
from core_server.security._state import SECURITY
from core_server.security._state import SecurityState
from core_server.security._throttle import install as install_throttle
from core_server.security._tokens import TokenStore
from core_server.security._users import load_providers
from core_server.state import state_of

log = logging.getLogger("core_server.security")
_KEY = "core_server.security."


def init_app(app: Flask) -> None:
    """Load the user stores, open the token and session stores, install the hook and the routes.

    The config rules and anonymous defaults are resolved here, once: requests never read the
    ``core_server.security`` settings again.
    """
    state = state_of(app)
    config = state.config
    rules = config.get_dict(_KEY + "rules")
    validate_rules(rules)
    users = config.get_list(_KEY + "users")
    with app.app_context():
        providers = load_providers(users, state.registry)
    db = ServerDb(config.get_str("core_server.server_db"), DbLimits.from_config(
        config, config.get_int("core_server.server_db_statement_timeout")))
    tokens = TokenStore(db, app.config["SECRET_KEY"], config.get_int(_KEY + "token_max_age"))
    sessions = SessionStore(db, config.get_int(_KEY + "session_max_age"),
                            config.get_int(_KEY + "session_check_interval") / 1000)
    throttle = install_throttle(app, db, config.get_str(_KEY + "login_limit_storage"),
                                config.get_int(_KEY + "login_failures_per_name"),
                                config.get_int(_KEY + "login_failures_per_address"),
                                config.get_int(_KEY + "login_window"))
    origins = frozenset(o.rstrip("/").lower() for o in config.get_list(_KEY + "trusted_origins"))
    resolved = ResolvedRules(rules, config.get_bool(_KEY + "anonymous_read"),
                             config.get_bool(_KEY + "anonymous_write"))
    security = SecurityState(providers, tokens, sessions, origins, resolved)
    state.put(SECURITY, security)
    if providers and not config.get_optional_str("core_server.secret_key"):
        log.warning("core_server.secret_key is not set: sessions and API tokens end with this "
                    "process")
    _open(db, security, _all_providers_loaded(state.registry, providers, users))
    _configure_sessions(app, config)
    app.before_request(authenticate)
    app.register_blueprint(make_blueprint(throttle.guard))
    state.openapi.append(openapi_fragment)
    state.health_checks["server_db"] = db.ping


def _all_providers_loaded(registry: Registry, providers: list[Any], users: list[Any]) -> bool:
    expected = len(registry.list(SECURITY_PROVIDER)) + (1 if users else 0)
    return len(providers) == expected


def _open(db: ServerDb, security: SecurityState, complete: bool) -> None:
    try:
        db.create_tables()
        if complete and security.has_users:
            end_stale_logins(security)
    except sa.exc.SQLAlchemyError as exc:  # the server starts; logins answer 503 until the DB is up
        log.warning("cannot prepare the security tables in core_server.server_db: %s", exc)
    except Exception:  # a provider's load() failed: keep every session rather than guess
        log.exception("could not check the live sessions against the user stores")
    finally:
        db.dispose()  # no connection crosses a fork


def end_stale_logins(security: SecurityState) -> tuple[int, int]:
    """End what the user stores no longer back: run at start, on every host.

    Sessions of users that no store knows and their API tokens end, and so do sessions logged
    in with a credential (password hash) that has changed since. This is how a password change
    or a removed user in one host's config ends the sessions in every host on the same server
    database. Not run when no user is configured or a ``security-provider`` failed to load
    (their users would look removed).

    :return: how many sessions ended and how many tokens were revoked.
    """
    ended = revoked = 0
    removed: set[str] = set()
    for name, credential in security.sessions.holders():
        if security.load(name) is None:
            removed.add(name)
            ended += security.sessions.end_user(name)
        elif security.credential(name) != credential:
            ended += security.sessions.end_user(name, credential, all_credentials=False)
    for name in security.tokens.holders():
        if name in removed or security.load(name) is None:
            revoked += security.tokens.revoke_user(name)
    if ended or revoked:
        log.warning("ended %d sessions and revoked %d API tokens of removed users or changed "
                    "passwords", ended, revoked)
    return ended, revoked


def _configure_sessions(app: Flask, config: Config) -> None:
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.get_bool(_KEY + "cookie_secure"),
        # A session ends when its row says (the login's "expires"): no sliding cookie.
        SESSION_REFRESH_EACH_REQUEST=False,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=config.get_int(_KEY + "session_max_age")))
    app.session_interface = CookieSessions()
