"""The application factory: read config, discover plugins, wire every subsystem."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from core_server import config as config_mod
from core_server import dbview
from core_server import docstore
from core_server import encoding
from core_server import endpoints
from core_server import errors
from core_server import forwarded
from core_server import idtypes
from core_server import introspection
from core_server import openapi
from core_server import requestlog
from core_server import security
from core_server.registry import Registry
from core_server.registry import RegistryError
from core_server.registry import discover
from core_server.state import ServerState

log = logging.getLogger("core_server")

#: Subsystems in the order they are wired; each has ``init_app(app)``.
SUBSYSTEMS = (encoding, errors, requestlog, security, endpoints, openapi, dbview, docstore,
              idtypes)


def create_app(
    config: Mapping[str, Any] | None = None,
    plugins_dirs: Iterable[str | os.PathLike[str]] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    strict: bool | None = None,
    environ: Mapping[str, str] | None = None,
    entry_points: bool = True,
) -> Flask:
    """Build a core_server Flask app.

    :param config: the highest config layer (tests pass their settings here).
    :param plugins_dirs: folders searched for plugins (default: config ``core_server.plugins_dirs``,
        or ``CORE_SERVER_PLUGINS_DIR`` as an ``os.pathsep`` list).
    :param config_file: workspace config (default: ``CORE_SERVER_CONFIG``).
    :param data_dir: overrides ``core_server.dataDir``.
    :param strict: fail with :class:`RegistryError` if any plugin failed.
    :param environ: the environment to read (default ``os.environ``).
    :param entry_points: also discover installed plugins (tests may switch this off).
    """
    environ = os.environ if environ is None else environ
    top: dict[str, Any] = dict(config or {})
    if data_dir is not None:
        config_mod.merge(top, {"core_server": {"dataDir": str(data_dir)}})
    file_layer = _file_layer(config_file or environ.get("CORE_SERVER_CONFIG"))
    env_layer = config_mod.from_env(environ)
    # Plugin discovery needs the plugin dirs before plugin config exists; read them from the
    # layers that can set them.
    pre = config_mod.merge(config_mod.merge(config_mod.merge(config_mod.defaults(), file_layer),
                                            env_layer), top)
    dirs = _plugins_dirs(plugins_dirs, environ, pre)
    registry = discover(dirs, entry_points=entry_points and bool(pre["core_server"]["entry_points"]))
    plugin_layers = [{name: p.config} for name, p in registry.plugins.items() if p.config]
    cfg = config_mod.load([*plugin_layers, file_layer, env_layer, top], environ=environ)

    app = Flask("core_server")
    app.request_class = errors.ApiRequest
    app.ensure_sync = _memo_ensure_sync(app.ensure_sync)  # type: ignore[method-assign,assignment]
    _configure_flask(app, cfg)
    app.extensions["core_server"] = ServerState(config=cfg, registry=registry)
    for subsystem in SUBSYSTEMS:
        subsystem.init_app(app)
    app.register_blueprint(introspection.blueprint)
    registry.freeze()
    _report(registry, strict if strict is not None else bool(cfg.get_path("core_server.strict")))
    return app


def _memo_ensure_sync(ensure_sync: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # Flask asks inspect.iscoroutinefunction() of every hook and view on every request (4+
    # times per request here); whether a function is async does not change, so ask once each
    # (only sync ones are remembered; async views get Flask's fresh wrapper as before)
    sync: set[Any] = set()

    def memo(func: Any) -> Any:
        try:
            if func in sync:
                return func
        except TypeError:  # an unhashable callable
            return ensure_sync(func)
        result = ensure_sync(func)
        if result is func:
            sync.add(func)
        return result

    return memo


def _file_layer(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    return config_mod.read_file(path) if path else {}


def _plugins_dirs(explicit: Iterable[str | os.PathLike[str]] | None, environ: Mapping[str, str],
                  pre: Mapping[str, Any]) -> list[Path]:
    if explicit is not None:
        return [Path(d) for d in explicit]
    if environ.get("CORE_SERVER_PLUGINS_DIR"):
        return [Path(d) for d in environ["CORE_SERVER_PLUGINS_DIR"].split(os.pathsep) if d]
    return [Path(d) for d in pre["core_server"]["plugins_dirs"]]


def _configure_flask(app: Flask, cfg: config_mod.Config) -> None:
    core = cfg["core_server"]
    app.config["MAX_CONTENT_LENGTH"] = core["max_content_length"]
    # Without a configured key, sessions and tokens only live as long as this process.
    app.config["SECRET_KEY"] = core.get("secret_key") or secrets.token_hex(32)
    app.config["CORE_SERVER_ACCESS_LOG"] = core["access_log"]
    app.config["JSON_SORT_KEYS"] = False
    proxies = {k: int(v) for k, v in (core.get("proxy_fix") or {}).items() if int(v or 0) > 0}
    if proxies:
        app.wsgi_app = forwarded.TrustedProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, core["trusted_proxies"], **proxies)
    Path(core["absoluteDataDir"]).mkdir(parents=True, exist_ok=True)


def _report(registry: Registry, strict: bool) -> None:
    for plugin in registry.failed:
        log.error("plugin %s failed: %s", plugin.name, "; ".join(plugin.errors))
    if strict and registry.failed:
        names = ", ".join(f"{p.name} ({'; '.join(p.errors)})" for p in registry.failed)
        raise RegistryError(f"plugins failed to load: {names}")
