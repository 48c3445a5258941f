"""``create_visyn_server()``: the core_server app behind an ASGI (FastAPI) face.

Visyn-era plugins test themselves with ``TestClient(create_visyn_server())``. Here the returned
FastAPI app mounts the core_server Flask app (through ``a2wsgi``) at ``/``, so every route —
``/health``, ``/api/buildInfo.json``, ``/api/db/...``, the plugins' namespaces — answers as under
``core-server serve``. Needs the ``core_server[tdp]`` extra (fastapi, a2wsgi).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core_server import create_app
from tdp_core._current import remember

__all__ = ["create_visyn_server"]

log = logging.getLogger("core_server.tdp")


def create_visyn_server(*, fast_api_args: Mapping[str, Any] | None = None,
                        start_cmd: str | None = None,
                        workspace_config: Mapping[str, Any] | None = None) -> Any:
    """Build the core_server app and return it as a FastAPI (ASGI) app.

    :param fast_api_args: keyword arguments of ``FastAPI(...)``.
    :param start_cmd: TDP's alternative start commands are core-server commands here; ignored
        with a warning.
    :param workspace_config: the highest config layer; without it the workspace config file is
        read from ``CORE_SERVER_CONFIG``, else TDP's ``PHOVEA_CONFIG_PATH`` when that file exists.
    """
    try:
        from a2wsgi import WSGIMiddleware
        from fastapi import FastAPI
    except ImportError as exc:  # the optional extra is missing
        raise ImportError("create_visyn_server() needs fastapi and a2wsgi: "
                          "pip install 'core_server[tdp]'") from exc
    if start_cmd:
        log.warning("create_visyn_server(start_cmd=%r) is ignored: run core-server commands",
                    start_cmd)
    flask_app = create_app(workspace_config, config_file=_workspace_file())
    remember(flask_app)
    server = FastAPI(**{"title": "core_server", "docs_url": None, "redoc_url": None,
                        "openapi_url": None, **(fast_api_args or {})})
    server.state.flask_app = flask_app
    server.mount("/", WSGIMiddleware(flask_app))  # type: ignore[arg-type]
    return server


def _workspace_file() -> str | None:
    if os.environ.get("CORE_SERVER_CONFIG"):
        return None  # create_app reads it
    legacy = os.environ.get("PHOVEA_CONFIG_PATH")
    return legacy if legacy and Path(legacy).is_file() else None
