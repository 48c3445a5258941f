"""Authentication of each request (session cookie or Bearer token) and the CSRF check.

The session cookie is signed and names a server-side session (``sid``), which must still be live
in the server database (:mod:`~core_server.security._sessions`). A ``before_request`` hook sets
``g.user`` (a :class:`~core_server.security.User`) and ``g.auth``
(``"session"``, ``"token"``, ``"request"`` or None for anonymous). Cookie-authenticated writes under
``/api`` must prove they come from this site: an ``X-CSRF-Token`` header equal to the token of the
session (returned by ``/api/login`` and ``/api/loggedinas``, and readable by scripts in the
``core_server_csrf`` cookie), or an ``Origin`` (else ``Referer``) equal to the server's own
origin or one of ``core_server.security.trusted_origins``. Bearer-token requests need neither:
browsers never attach tokens on their own.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask import Request
from flask import current_app
from flask import g
from flask import request
from flask import session
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface

from core_server.errors import ApiError
from core_server.errors import Unauthorized
from core_server.errors import is_api_request
from core_server.security._access import security_state
from core_server.security._rules import SAFE_METHODS
from core_server.security._state import SecurityState
from core_server.security._users import ANONYMOUS
from core_server.security._users import User

SESSION_COOKIE = "core_server_session"
CSRF_COOKIE = "core_server_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: Endpoints that are writes by method only (TDP clients POST to loggedinas).
CSRF_EXEMPT = frozenset({"auth.loggedinas"})


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the signer setup for requests without the cookie.

    Most API requests (anonymous, Bearer token) carry no session cookie; Flask would still build
    the itsdangerous serializer to find that out. The answer is the same empty session.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        """An empty session when the cookie is absent, else Flask's verified one."""
        if app.secret_key and ("HTTP_COOKIE" not in request.environ  # no cookies to parse
                               or self.get_cookie_name(app) not in request.cookies):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        """Flask's, with the common case (empty, unchanged session, no Vary yet) done directly."""
        # Headers' "in" raises and catches a KeyError subclass per miss: scan the few names
        if not session and not session.modified:
            headers = response.headers
            for key, _ in headers:
                if key.lower() == "vary":
                    break
            else:
                if session.accessed:  # what Flask adds here, without parsing a HeaderSet
                    headers.add("Vary", "Cookie")  # none there: no scan to replace one
                return
        super().save_session(app, session, response)


def authenticate() -> None:
    """Set ``g.user``/``g.auth`` from the Bearer token or the session; then check CSRF."""
    security = security_state()
    # each context object looked up once: a LocalProxy lookup costs as much as the rest of an
    # attribute access (this runs on every request)
    ctx = g._get_current_object()
    req = request._get_current_object()  # type: ignore[attr-defined]
    ctx.user, ctx.auth = ANONYMOUS, None
    # the environ directly: what request.headers.get("Authorization") reads, less machinery
    header = req.environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    # Other schemes (e.g. Basic from an authenticating proxy) are not ours to judge.
    if scheme.lower() == "bearer":
        ctx.user, ctx.auth = _token_user(security, credentials.strip()), "token"
    elif session.get("user"):
        user = _session_user(security)
        if user is None:  # ended (logout, password change, removed user) or expired
            session.clear()
        else:
            ctx.user, ctx.auth = user, "session"
    elif security.providers:
        user = security.from_request()
        if user is not None:
            ctx.user, ctx.auth = user, "request"
    check_csrf(req, ctx.auth)


def _session_user(security: SecurityState) -> User | None:
    session_id = session.get("sid")
    if not isinstance(session_id, str):  # a cookie from before server-side sessions
        return None
    return security.session_user(session_id, str(session["user"]))


def _token_user(security: SecurityState, token: str) -> User:
    if not token:
        raise Unauthorized("the Authorization header has no token",
                           hint="send Authorization: Bearer <token>")
    info = security.tokens.verify(token)
    user = security.load(info.user)
    if user is None:
        raise Unauthorized(f"the user of this API token ({info.user!r}) no longer exists")
    g.token_id = info.id
    return user


def check_csrf(req: Request, auth: str | None) -> None:
    """Refuse a cookie-authenticated write (or a login) that may come from another site.

    ``req`` and ``auth`` (``g.auth``) are passed in: this runs on every request, and reads and
    writes without a cookie session (tokens, anonymous) return after two comparisons.
    """
    if req.method in SAFE_METHODS:
        return
    logging_in = req.endpoint == "auth.login"
    if auth != "session" and not logging_in:  # only a cookie session can be forged cross-site
        return
    if req.endpoint in CSRF_EXEMPT or not is_api_request():
        return
    sent = req.headers.get(CSRF_HEADER)
    expected = session.get("csrf")
    if sent and expected and hmac.compare_digest(sent.encode(), expected.encode()):
        return
    origin = req.headers.get("Origin") or _origin_of(req.headers.get("Referer"))
    if origin is None and logging_in:
        return  # a client without a session logs in; only a foreign page is refused
    if origin is not None and origin.lower() in _own_origins():
        return
    hint = (f"send the {CSRF_HEADER} header from /api/login (or the {CSRF_COOKIE} cookie), "
            "or use Authorization: Bearer <token>")
    if origin is not None:  # often a TLS proxy in front that the server does not know about
        hint += (f"; the page's origin {origin} is not {req.scheme}://{req.host}: behind "
                 "a proxy set core_server.proxy_fix, or list it in "
                 "core_server.security.trusted_origins")
    raise ApiError(403, "csrf_failed",
                   f"cross-site request refused for {req.method} {req.path}", hint=hint)


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _own_origins() -> set[str]:
    return {f"{request.scheme}://{request.host}".lower(), *security_state().trusted_origins}


def session_expiry() -> str:
    """When a session started now ends (ISO-8601), for the login answer."""
    end = dt.datetime.now(dt.UTC) + current_app.permanent_session_lifetime
    return end.replace(microsecond=0).isoformat().replace("+00:00", "Z")
