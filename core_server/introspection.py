"""``/api/_health``, ``/api/_version``, ``/api/_plugins`` and ``/api/_config``."""

from __future__ import annotations

import importlib.metadata

from flask import Blueprint
from flask import Response
from flask import request

from core_server.encoding import json_response
from core_server.state import current_state

blueprint = Blueprint("introspection", __name__, url_prefix="/api")


def version() -> str:
    """The installed core_server version."""
    try:
        return importlib.metadata.version("core_server")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0+unknown"


@blueprint.get("/_health")
def health() -> Response:
    """Liveness; with ``?deep=1`` every configured database is pinged (503 if one is down)."""
    if request.args.get("deep") not in ("1", "true", "yes"):
        return json_response({"status": "ok"})
    checks: dict[str, str] = {}
    for name, check in current_state().health_checks.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure of a check means unhealthy, with its reason
            checks[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    healthy = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if healthy else "unavailable", "checks": checks},
                         status=200 if healthy else 503)


@blueprint.get("/_version")
def version_info() -> Response:
    """The core version and the version of each plugin."""
    plugins = {p.name: p.version for p in current_state().registry.plugins.values()}
    return json_response({"name": "core_server", "version": version(), "plugins": plugins})


@blueprint.get("/_plugins")
def plugins() -> Response:
    """Every plugin with its extensions, status and errors."""
    registry = current_state().registry
    return json_response([p.to_dict() for p in registry.plugins.values()])


@blueprint.get("/_config")
def config() -> Response:
    """The merged configuration with secrets shown as ``***``."""
    return json_response(current_state().config.redacted())
