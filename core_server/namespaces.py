"""Plugin routes: ``namespace`` extensions (blueprints or whole Flask apps) under ``/api``.

Their routes are listed in ``/api/openapi.json`` from the URL rules they register (a plugin's
namespace declares no schemas, so each operation says only its path, parameters and methods).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import Rule

from core_server import errors
from core_server.openapi import error_responses
from core_server.openapi import json_content
from core_server.registry import NAMESPACE
from core_server.registry import RegistryError
from core_server.security import authenticate
from core_server.state import state_of


def mount_namespaces(app: Flask) -> None:
    """Mount every ``namespace`` extension; a failing one is recorded on its plugin."""
    state = state_of(app)
    mounted_apps: dict[str, Any] = {}
    blueprints: dict[str, str] = {}
    for ext in state.registry.list(NAMESPACE):
        try:
            prefix = "/" + str(ext.desc.get("namespace", f"/api/{ext.id}")).strip("/")
            target = ext.create()
            if isinstance(target, Blueprint):
                app.register_blueprint(target, url_prefix=prefix)
                blueprints[target.name] = ext.id
            elif isinstance(target, Flask):
                # TDP namespaces are whole apps; give them our JSON errors too.
                if _MOUNTED not in target.extensions:  # a module-level app already set up
                    errors.init_app(target)
                    _share_authentication(app, target)
                _adopt(app, target)
                mounted_apps[prefix] = target
            else:
                raise RegistryError(f"create() returned {type(target).__name__}, "
                                    "expected a flask.Blueprint or flask.Flask")
        except Exception as exc:  # a failing namespace is reported, the server still starts
            state.registry.record_failure(ext.plugin, ext, exc)
    if mounted_apps:
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, mounted_apps)  # type: ignore[method-assign]
    state.openapi.append(lambda: openapi_fragment(app, blueprints, mounted_apps))


_CONVERTERS = {"int": "integer", "float": "number"}
_ARGUMENT = re.compile(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")


def _operations(prefix: str, rules: Iterable[Rule], tag: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rule in rules:
        path = prefix + _ARGUMENT.sub(r"{\2}", rule.rule)
        params = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": _CONVERTERS.get(kind, "string")}}
                  for kind, name in _ARGUMENT.findall(rule.rule)]
        item = paths.setdefault(path.rstrip("/") or "/", {})
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "summary": f"namespace {tag}: {rule.endpoint}", "tags": [f"namespace {tag}"],
                "responses": {"200": {"description": "the namespace's answer",
                                      "content": json_content({})},
                              **error_responses(400, 404, 500)}}
            if params:
                op["parameters"] = params
            item[method.lower()] = op
    return paths


def openapi_fragment(app: Flask, blueprints: dict[str, str],
                     mounted: dict[str, Flask]) -> dict[str, Any]:
    """The routes of every namespace: blueprints from ``app``'s rules, whole apps from theirs."""
    paths: dict[str, Any] = {}
    for name, ext_id in blueprints.items():
        rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(name + ".")]
        paths.update(_operations("", rules, ext_id))
    for prefix, target in mounted.items():
        rules = [r for r in target.url_map.iter_rules() if r.endpoint != "static"]
        paths.update(_operations(prefix, rules, prefix.rsplit("/", 1)[-1]))
    tags = sorted({t for item in paths.values() for op in item.values() for t in op["tags"]})
    return {"paths": paths, "tags": [{"name": t} for t in tags]}


#: Flask settings a mounted app needs to read our session cookie.
_SESSION_SETTINGS = ("SECRET_KEY", "SESSION_COOKIE_NAME", "SESSION_COOKIE_SAMESITE",
                     "SESSION_COOKIE_SECURE", "PERMANENT_SESSION_LIFETIME")


#: Marks a mounted Flask app whose hooks are installed (TDP plugins keep their app in a module,
#: so the next app of the same process, e.g. in tests, mounts the same object again).
_MOUNTED = "core_server_mounted"


def _share_authentication(app: Flask, target: Flask) -> None:
    # Requests to a mounted app never pass our hooks; give it our session cookie and
    # authentication so that security.current_user() and check() work inside it too.
    target.before_request(authenticate)
    target.extensions[_MOUNTED] = True


def _adopt(app: Flask, target: Flask) -> None:
    # The state and session settings of the app mounting it (the latest one, if mounted twice).
    target.extensions["core_server"] = app.extensions["core_server"]
    target.config.update({key: app.config.get(key) for key in _SESSION_SETTINGS})
