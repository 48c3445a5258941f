"""Production entry points: ``gunicorn 'core_server.wsgi:create()'`` and ``serve --workers N``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from core_server import metrics
from core_server.httplimits import GUNICORN_LIMITS
from core_server.app import create_app


def create() -> Flask:
    """The app, configured from ``CORE_SERVER_CONFIG`` and ``CORE_SERVER__*`` env vars."""
    return create_app()


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


#: the worker heartbeat file on tmpfs where there is one (as deploy/gunicorn.conf.py)
_HEARTBEAT_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None
#: threads per worker of ``serve --workers N`` (bench/README.md has the measurements)
DEFAULT_THREADS = 4
#: gunicorn's gthread worker, serving a kept-alive client's next request in place
THREAD_WORKER = "core_server.gunicorn_worker.ThreadWorker"
#: seconds an idle client connection stays open (gunicorn's default)
DEFAULT_KEEPALIVE = 2


def run_gunicorn(app: Flask, *, host: str, port: int, workers: int,
                 threads: int = DEFAULT_THREADS, keepalive: int = DEFAULT_KEEPALIVE) -> None:
    """Serve ``app`` with gunicorn (pre-fork: the app is built once, workers share nothing else).

    ``threads`` 1 gives gunicorn's sync workers, more its gthread workers with that many threads.
    """
    worker = {"worker_class": "sync"} if threads == 1 else {"worker_class": THREAD_WORKER,
                                                           "threads": threads}
    _Gunicorn(app, {"bind": f"{host}:{port}", "workers": workers, **worker, "accesslog": None,
                    "keepalive": keepalive, "timeout": 120, "worker_tmp_dir": _HEARTBEAT_DIR,
                    "child_exit": metrics.child_exit, **GUNICORN_LIMITS}).run()
