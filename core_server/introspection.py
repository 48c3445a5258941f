"""``/api/_health``, ``/api/_version``, ``/api/_plugins`` and ``/api/_config``.

Also TDP 15+'s ``/health`` (``"ok"``) and ``/api/buildInfo.json``, which TDP clients and plugin
test suites ask.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import request

from core_server import security
from core_server.encoding import json_response
from core_server.state import NotCreated
from core_server.state import current_state
from core_server.version import version

blueprint = Blueprint("introspection", __name__, url_prefix="/api")
#: TDP's liveness route outside ``/api``.
tdp_blueprint = Blueprint("tdp_health", __name__)


@blueprint.get("/_health")
def health() -> Response:
    """Liveness (no database is touched); ``?deep=1`` asks every database in parallel.

    Each check (``db:<connector>``, ``server_db``, ``store``...) gets
    ``core_server.db.health_timeout``; 503 when one is down, naming them in ``down``. A
    database that does not exist yet (a SQLite file not written) is reported, not down.
    """
    if request.args.get("deep") not in ("1", "true", "yes"):
        return json_response({"status": "ok"})
    state = current_state()
    timeout = state.config.get_int("core_server.db.health_timeout") / 1000
    probes = state.parts.setdefault("health_probes", _Probes())
    runs = {name: probes.start(name, check, current_app._get_current_object())  # type: ignore[attr-defined]
            for name, check in state.health_checks.items()}
    deadline = time.monotonic() + timeout
    checks: dict[str, str] = {}
    down: list[str] = []
    for name, run in runs.items():
        answer, is_down = run.answer(deadline, timeout)
        checks[name] = answer
        if is_down:
            down.append(name)
    body: dict[str, Any] = {"status": "unavailable" if down else "ok", "checks": checks}
    if down:
        body["down"] = down
    return json_response(body, status=503 if down else 200)


class _Run:
    """One check running in a thread of its own; its answer once done."""

    def __init__(self, check: Callable[[], None], app: Flask) -> None:
        self.done = threading.Event()
        self.text = "ok"
        self.down = False
        self._check = check
        self._app = app
        threading.Thread(target=self._run, daemon=True, name="core_server-health").start()

    def _run(self) -> None:
        try:
            with self._app.app_context():
                self._check()
        except NotCreated as exc:
            self.text = f"not created: {exc}"
        except Exception as exc:  # any failure of a check means unhealthy, with its reason
            self.text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            self.down = True
        finally:
            self.done.set()

    def answer(self, deadline: float, timeout: float) -> tuple[str, bool]:
        if not self.done.wait(max(0.0, deadline - time.monotonic())):
            return f"timeout: no answer within {timeout:g} s", True
        return self.text, self.down


class _Probes:
    """The running checks per name: a check still waiting (on a stuck database) is not started
    again, so repeated deep health calls hold at most one thread per database."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def start(self, name: str, check: Callable[[], None], app: Flask) -> _Run:
        with self._lock:
            run = self._runs.get(name)
            if run is None or run.done.is_set():
                run = self._runs[name] = _Run(check, app)
            return run


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
