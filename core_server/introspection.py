"""``/api/_health``, ``/api/_version``, ``/api/_plugins`` and ``/api/_config``.

Also TDP 15+'s ``/health`` (``"ok"``) and ``/api/buildInfo.json``, which TDP clients and plugin
test suites ask.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request

from core_server import security
from core_server.encoding import json_response
from core_server.state import current_state
from core_server.version import version

blueprint = Blueprint("introspection", __name__, url_prefix="/api")
#: TDP's liveness route outside ``/api``.
tdp_blueprint = Blueprint("tdp_health", __name__)


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


@tdp_blueprint.get("/health")
def tdp_health() -> Response:
    """TDP's liveness answer: the JSON string ``"ok"`` (never waits on a database)."""
    return json_response("ok")


@blueprint.get("/buildInfo.json")
def build_info() -> Response:
    """TDP's build info: name, version, resolved, plugins and the server's requirements."""
    plugins = [{"name": p.name, "version": p.version, "resolved": p.version}
               for p in current_state().registry.plugins.values()]
    try:
        requirements = [r for r in importlib.metadata.requires("core_server") or []
                        if "extra ==" not in r]
    except importlib.metadata.PackageNotFoundError:
        requirements = []
    return json_response({"name": "core_server", "version": version(), "resolved": version(),
                          "plugins": plugins, "dependencies": requirements})


@blueprint.get("/_plugins")
def plugins() -> Response:
    """Every plugin with its extensions, status and errors.

    On a server with users, only admins (or whom the rule ``server:plugins`` names) see paths,
    descs and error texts; everyone else sees names, versions, status and extension ids.
    """
    registry = current_state().registry
    found = [p.to_dict() for p in registry.plugins.values()]
    if not security.can("server:plugins", rule=_admin_if_secured()):
        found = [_summary(p) for p in found]
    return json_response(found)


def _summary(plugin: dict[str, Any]) -> dict[str, Any]:
    return {"name": plugin["name"], "version": plugin["version"], "status": plugin["status"],
            "generation": plugin["generation"], "errors": len(plugin["errors"]),
            "warnings": len(plugin["warnings"]),
            "extensions": [{"type": e["type"], "id": e["id"]} for e in plugin["extensions"]]}


@blueprint.get("/_config")
def config() -> Response:
    """The merged configuration with secrets shown as ``***``.

    On a server with users it is for admins only (config rule ``server:config`` to change that).
    """
    security.check("server:config", "read", rule=_admin_if_secured())
    return json_response(current_state().config.redacted())


def _admin_if_secured() -> security.Rule:
    # Without users nobody can log in, so the details are everyone's (the local demo).
    return security.ADMIN_ROLE if security.secured() else None
