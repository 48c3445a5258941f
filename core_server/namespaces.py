"""Plugin routes: ``namespace`` extensions (blueprints or whole Flask apps) under ``/api``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from core_server import errors
from core_server.registry import NAMESPACE
from core_server.registry import RegistryError
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
                errors.init_app(target)
                mounted_apps[prefix] = target
            else:
                raise RegistryError(f"create() returned {type(target).__name__}, "
                                    "expected a flask.Blueprint or flask.Flask")
        except Exception as exc:  # a failing namespace is reported, the server still starts
            state.registry.record_failure(ext.plugin, ext, exc)
    if mounted_apps:
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, mounted_apps)  # type: ignore[method-assign]
