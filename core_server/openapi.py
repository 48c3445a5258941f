"""``GET /api/openapi.json``: OpenAPI 3.1 built from the core routes and each subsystem.

Subsystems append contributors to ``ServerState.openapi``: functions returning
``{"paths": {...}, "components": {"schemas": {...}}, "tags": [...]}`` fragments that are merged here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import request

from core_server.encoding import json_response
from core_server.state import current_state
from core_server.version import version

blueprint = Blueprint("openapi", __name__, url_prefix="/api")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["status", "code", "message"],
        "properties": {
            "status": {"type": "integer"}, "code": {"type": "string"},
            "message": {"type": "string"}, "hint": {"type": "string"},
            "details": {"type": "array"}, "request_id": {"type": "string"},
        },
    }},
}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"application/json": {"schema": schema}}``."""
    return {"application/json": {"schema": schema}}


#: The error response of every status (inline: Swagger UI stops rendering at response refs).
ERROR_RESPONSE: dict[str, Any] = {"description": "error (the JSON envelope)",
                                  "content": json_content({"$ref": "#/components/schemas/Error"})}


def error_responses(*statuses: int) -> dict[str, Any]:
    """Response objects for the given error statuses, all using the error envelope."""
    return {str(s): dict(ERROR_RESPONSE) for s in statuses}


def operation(summary: str, schema: dict[str, Any] | None = None, *, tag: str,
              parameters: list[dict[str, Any]] | None = None, errors: tuple[int, ...] = (),
              status: int = 200, **extra: Any) -> dict[str, Any]:
    """A small OpenAPI operation object with a JSON success response and error responses."""
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {
        str(status): {"description": "success",
                      "content": json_content(schema or {})}}}
    op["responses"].update(error_responses(*errors))
    if parameters:
        op["parameters"] = parameters
    op.update(extra)
    return op


#: Statuses any /api request can get: a bad or repeated parameter, a request line or header
#: over the limits (core_server.httplimits), an internal error (always the JSON envelope).
_EVERY_STATUS = (400, 414, 431, 500)
_BODY_METHODS = ("post", "put", "patch")
#: Paths that no access rule guards (liveness, this document, the login itself).
_OPEN_PATHS = ("/api/_health", "/api/openapi.json", "/api/login", "/api/logout")
_DATABASE_PREFIXES = ("/api/db/", "/api/store/", "/api/idtype/", "/api/tdp/")
#: JSON Schema for "text without NUL", which no route accepts (core_server.values.text).
NO_NUL = "^[^\\u0000]*$"


def _statuses(path: str, method: str, op: dict[str, Any]) -> set[int]:
    statuses = set(_EVERY_STATUS)
    if method in _BODY_METHODS or "requestBody" in op:
        statuses |= {413, 415}
    if path not in _OPEN_PATHS:
        statuses |= {401, 403}  # access rules (core_server.security.rules) may guard any route
    if "{" in path:
        statuses.add(404)
    if path.startswith(_DATABASE_PREFIXES):
        statuses |= {503, 504}  # the database is down or a statement ran past its timeout
    if path == "/api/login":
        statuses.add(429)
    return statuses


def or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or the empty text: a query parameter sent empty is read as not sent."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def _no_nul(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema):
        schema["pattern"] = NO_NUL
    elif schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        _no_nul(schema["items"])


def _shared_error() -> dict[str, Any]:
    return {"description": "error (the JSON envelope)"}


def complete(spec: dict[str, Any]) -> dict[str, Any]:
    """Make every operation of ``spec`` say what the server does around it.

    Each subsystem documents its own statuses; added here are those every route shares
    (:func:`_statuses`) and, for every text parameter, that it cannot hold a NUL character.
    """
    for path, item in spec["paths"].items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            for status in sorted(_statuses(path, method, op)):
                # the shared statuses without a body schema: Swagger UI renders a document
                # with hundreds of response schemas more too slowly for its own page
                responses.setdefault(str(status), _shared_error())
            for param in op.get("parameters", ()):
                if param.get("in") in ("query", "path") and isinstance(param.get("schema"), dict):
                    _no_nul(param["schema"])
    return spec


def _core_paths() -> dict[str, Any]:
    tag = "core"
    return {
        "/api/_health": {"get": operation("liveness; ?deep=1 pings every database", tag=tag,
                                          parameters=[{"name": "deep", "in": "query", "schema": {
                                              "type": "string", "pattern": "^[\\s\\S]*$",
                                              "description": "1, true or yes: ping the "
                                              "databases; any other value: do not"}}],
                                          errors=(503,))},
        "/api/_version": {"get": operation("core and plugin versions", tag=tag)},
        "/api/_plugins": {"get": operation("plugins, extensions, status and errors", tag=tag,
                                           schema={"type": "array", "items": {"type": "object"}})},
        "/api/_config": {"get": operation("merged configuration, secrets redacted", tag=tag)},
        "/api/openapi.json": {"get": operation("this document", tag=tag)},
    }


def build_spec(app: Flask, server_url: str = "/") -> dict[str, Any]:
    """The full OpenAPI document of ``app``."""
    state = app.extensions["core_server"]
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "core_server", "version": version(),
                 "description": "Plugin views, collections and endpoints of this server."},
        "servers": [{"url": server_url}],
        "paths": _core_paths(),
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
        "tags": [{"name": "core"}],
    }
    for contribute in state.openapi:
        fragment = contribute()
        spec["paths"].update(fragment.get("paths", {}))
        for section, entries in fragment.get("components", {}).items():
            spec["components"].setdefault(section, {}).update(entries)
        spec["tags"].extend(t for t in fragment.get("tags", []) if t not in spec["tags"])
    return complete(spec)


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    """Serve the document; ``servers`` uses the public URL (honours X-Forwarded-Prefix)."""
    from flask import current_app

    current_state()  # fails loudly outside a core_server app
    return json_response(build_spec(current_app, request.script_root + "/"))


def init_app(app: Flask) -> None:
    """Register the route."""
    app.register_blueprint(blueprint)
