"""Plugin routes: ``namespace`` extensions (blueprints or whole Flask apps) under ``/api``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from core_server import errors
from core_server.registry import NAMESPACE
from core_server.registry import RegistryError
from core_server.security import authenticate
from core_server.state import state_of


def mount_namespaces(app: Flask) -> None:
    """Mount every ``namespace`` extension; a failing one is recorded on its plugin."""
    state = state_of(app)
    mounted_apps: dict[str, Any] = {}
    for ext in state.registry.list(NAMESPACE):
        try:
            prefix = "/" + str(ext.desc.get("namespace", f"/api/{ext.id}")).strip("/")
            target = ext.create()
            if isinstance(target, Blueprint):
                app.register_blueprint(target, url_prefix=prefix)
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
