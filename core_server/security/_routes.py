"""``/api/login``, ``/api/logout``, ``/api/loggedinas`` and ``/api/tokens``."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request
from flask import session

from core_server.encoding import json_response
from core_server.errors import BadRequest
from core_server.errors import Forbidden
from core_server.errors import NotFound
from core_server.errors import Unauthorized
from core_server.openapi import ERROR_RESPONSE
from core_server.openapi import error_responses
from core_server.openapi import json_content
from core_server.openapi import operation
from core_server.security._access import security_state
from core_server.security._auth import CSRF_COOKIE
from core_server.security._auth import session_expiry
from core_server.security._tokens import iso
from core_server.security._users import ADMIN_ROLE
from core_server.security._users import User
from core_server.security._users import current_user

#: TDP's answer of ``loggedinas`` for anonymous users.
NOT_LOGGED_IN = "not_yet_logged_in"
LOGIN_FAILED = "wrong user name or password"

View = Callable[..., Any]


def make_blueprint(guard: Callable[[View], View]) -> Blueprint:
    """The routes of this module; ``guard`` wraps the login (the app's login throttle)."""
    blueprint = Blueprint("auth", __name__, url_prefix="/api")
    blueprint.add_url_rule("/login", view_func=guard(login), methods=["POST"])
    blueprint.add_url_rule("/logout", view_func=logout, methods=["POST"])
    blueprint.add_url_rule("/loggedinas", view_func=loggedinas, methods=["GET", "POST"])
    blueprint.add_url_rule("/tokens", view_func=create_token, methods=["POST"])
    blueprint.add_url_rule("/tokens", view_func=list_tokens, methods=["GET"])
    blueprint.add_url_rule("/tokens/<token_id>", view_func=revoke_token, methods=["DELETE"])
    return blueprint


def login() -> Response:
    """Log in with ``username`` and ``password`` (form or JSON); sets the session cookie."""
    name, password = _credentials()
    security = security_state()
    user = security.login(name, password)
    if user is None:
        # Unknown user and wrong password answer alike (and take alike long, see _users).
        hint = None if security.has_users else "this server has no users configured"
        raise Unauthorized(LOGIN_FAILED, hint=hint)
    session_id = security.sessions.start(user.name, security.credential(user.name))
    _end_session()  # the one this client had before, if any
    session.permanent = True
    session["user"] = user.name
    session["sid"] = session_id
    session["csrf"] = secrets.token_urlsafe(32)
    g.user, g.auth = user, "session"
    response = json_response({**user.to_dict(), "csrf_token": session["csrf"],
                              "expires": session_expiry()})
    _set_csrf_cookie(response, session["csrf"])
    return response


def _credentials() -> tuple[str, str]:
    body = request.json_body() if request.is_json else request.form  # type: ignore[attr-defined]
    if not hasattr(body, "get"):
        raise BadRequest("invalid_value", "the login body must be an object")
    name, password = body.get("username"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        raise BadRequest("invalid_value", "username and password are required",
                         hint='send {"username": ..., "password": ...} as JSON or a form')
    return name, password


def _set_csrf_cookie(response: Response, value: str) -> None:
    response.set_cookie(CSRF_COOKIE, value, samesite="Lax", httponly=False,
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
                        max_age=int(current_app.permanent_session_lifetime.total_seconds()))


def logout() -> Response:
    """End the session in every worker and host (API tokens stay valid until revoked)."""
    _end_session()
    response = json_response({"message": "logged out"})
    response.delete_cookie(CSRF_COOKIE)
    return response


def _end_session() -> None:
    session_id = session.get("sid")
    if isinstance(session_id, str):
        security_state().sessions.end(session_id)
    session.clear()


def loggedinas() -> Response:
    """The current user's name and roles, or ``"not_yet_logged_in"`` (as TDP answers)."""
    user = current_user()
    if user.is_anonymous:
        return json_response(NOT_LOGGED_IN)
    body: dict[str, Any] = {**user.to_dict(), "auth": g.get("auth")}
    if g.get("auth") == "session":
        body["csrf_token"] = session.get("csrf")
    return json_response(body)


def create_token() -> Response:
    """A new API token for the logged-in user: ``{"token", "id", "expires", "name"}``."""
    user = _logged_in()
    if g.get("auth") == "token":
        raise Forbidden("API tokens can only be created from a login session",
                        hint="POST /api/login first")
    name, expires_in = _token_options(request.json_body())  # type: ignore[attr-defined]
    token, info = security_state().tokens.issue(user.name, name, expires_in)
    return json_response({"token": token, "id": info.id, "name": info.name,
                          "expires": iso(info.expires)}, status=201)


def _token_options(body: Any) -> tuple[str | None, int | None]:
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise BadRequest("invalid_value", "the body must be an object: {name?, expires_in?}")
    name, expires_in = body.get("name"), body.get("expires_in")
    if name is not None and (not isinstance(name, str) or len(name) > 255 or "\x00" in name):
        raise BadRequest("invalid_value", "name must be a string of at most 255 characters "
                         "(without NUL)")
    if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int)
                                   or expires_in <= 0):
        raise BadRequest("invalid_value", "expires_in must be a positive number of seconds",
                         hint=f"at most {security_state().tokens.max_age}")
    return name, expires_in


def list_tokens() -> Response:
    """The current user's tokens that are not revoked (never the token strings)."""
    user = _logged_in()
    store = security_state().tokens
    now = store.clock()
    return json_response([info.to_dict(now) for info in store.of_user(user.name)])


def revoke_token(token_id: str) -> Response:
    """Revoke one of your tokens (admins: anyone's); 204, or 404 if there is no such token."""
    user = _logged_in()
    owner = None if user.has_role(ADMIN_ROLE) else user.name
    if not security_state().tokens.revoke(token_id, owner):
        raise NotFound(f"no active API token {token_id!r} of user {user.name!r}",
                       hint="GET /api/tokens lists yours")
    return Response(status=204)


def _logged_in() -> User:
    user = current_user()
    if user.is_anonymous:
        raise Unauthorized("log in to manage API tokens", hint="POST /api/login")
    return user


def openapi_fragment() -> dict[str, Any]:
    """OpenAPI paths of the security routes and the two security schemes."""
    tag = "security"
    names = {"type": "array", "items": {"type": "string"}}
    user = {"type": "object", "properties": {"name": {"type": "string"}, "roles": names}}
    text = {"type": "string", "minLength": 1}
    creds = {"type": "object", "required": ["username", "password"],
             "properties": {"username": text, "password": text}}
    token_body = {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 255, "pattern": "^[^\\u0000]*$"},
        "expires_in": {"type": "integer", "minimum": 1, "description": "seconds"}}}
    token_id = [{"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    login_op = operation(
        "log in; sets the session cookie (429 after too many failed logins)", user, tag=tag,
        errors=(400, 401, 403, 429, 503),
        requestBody={"content": {**json_content(creds),
                                 "application/x-www-form-urlencoded": {"schema": creds}}})
    login_op["responses"]["429"] = {**ERROR_RESPONSE, "headers": {"Retry-After": {
        "description": "seconds until the login window ends", "schema": {"type": "integer"}}}}
    return {
        "paths": {
            "/api/login": {"post": login_op},
            # 503: the server database (sessions, tokens) cannot be reached
            "/api/logout": {"post": operation("end the session everywhere", tag=tag,
                                              errors=(403, 503))},
            "/api/loggedinas": {method: operation(
                "the current user, or \"not_yet_logged_in\" (GET or POST, as TDP)",
                {"oneOf": [user, {"type": "string"}]}, tag=tag, errors=(503,))
                for method in ("get", "post")},
            "/api/tokens": {
                "get": operation("your API tokens (without secrets)", {"type": "array"},
                                 tag=tag, errors=(401, 503)),
                "post": operation("create an API token", tag=tag, status=201,
                                  errors=(400, 401, 403, 503),
                                  requestBody={"required": False,
                                               "content": json_content(token_body)})},
            "/api/tokens/{token_id}": {"delete": {
                "summary": "revoke an API token", "tags": [tag], "parameters": token_id,
                "responses": {"204": {"description": "revoked"},
                              **error_responses(401, 403, 404, 503)}}},
        },
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "POST /api/tokens"},
            "session": {"type": "apiKey", "in": "cookie", "name": "core_server_session"}}},
        "tags": [{"name": tag}],
    }
