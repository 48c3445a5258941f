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

from core_server import browse
from core_server import config as config_mod
from core_server import dbview
from core_server import docstore
from core_server import encoding
from core_server import endpoints
from core_server import errors
from core_server import forwarded
from core_server import httplimits
from core_server import idtypes
from core_server import introspection
from core_server import metrics
from core_server import openapi
from core_server import requestlog
from core_server import security
from core_server import tdp
from core_server import tracing
from core_server.registry import Registry
from core_server.registry import RegistryError
from core_server.registry import discover
from core_server.registry import init_plugin_apps
from core_server.registry import validate_settings
from core_server.settings import SETTINGS_BY_KEY
from core_server.state import ServerState

log = logging.getLogger("core_server")

#: Subsystems in the order they are wired; each has ``init_app(app)``.
SUBSYSTEMS = (encoding, errors, requestlog, httplimits, metrics, security, endpoints, openapi,
              dbview, docstore, idtypes, tdp, browse, tracing)


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
    sources = config_mod.Sources.read(config, config_file=config_file, data_dir=data_dir,
                                      environ=environ)
    dirs, dir_warnings = _plugins_dirs(plugins_dirs, environ, sources)
    registry = discover(dirs, entry_points=entry_points
                        and bool(sources.early("core_server.entry_points")))
    cfg = sources.load({name: p.config} for name, p in registry.plugins.items() if p.config)
    cfg.warnings.extend(dir_warnings)
    validate_settings(registry, cfg)

    app = Flask("core_server")
    app.request_class = errors.ApiRequest
    app.ensure_sync = _memo_ensure_sync(app.ensure_sync)  # type: ignore[method-assign,assignment]
    _configure_flask(app, cfg)
    app.extensions["core_server"] = ServerState(config=cfg, registry=registry)
    for subsystem in SUBSYSTEMS:
        subsystem.init_app(app)
    app.register_blueprint(introspection.blueprint)
    app.register_blueprint(introspection.tdp_blueprint)
    init_plugin_apps(registry, app)
    registry.freeze()
    _report(registry, cfg, strict if strict is not None else cfg.get_bool("core_server.strict"))
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


def _plugins_dirs(explicit: Iterable[str | os.PathLike[str]] | None, environ: Mapping[str, str],
                  sources: config_mod.Sources) -> tuple[list[Path], list[str]]:
    """The plugin folders to search, and a warning for each one that was asked for but is missing.

    The default ``./plugins`` may be absent (an installed server has none); a folder someone
    named is a typo when it does not exist.
    """
    if explicit is not None:
        dirs, origin = [Path(d) for d in explicit], "--plugins-dir"
    elif environ.get("CORE_SERVER_PLUGINS_DIR"):
        dirs = [Path(d) for d in environ["CORE_SERVER_PLUGINS_DIR"].split(os.pathsep) if d]
        origin = "CORE_SERVER_PLUGINS_DIR"
    else:
        configured = sources.early("core_server.plugins_dirs")
        dirs, origin = [Path(d) for d in configured], "core_server.plugins_dirs"
        if configured == SETTINGS_BY_KEY["core_server.plugins_dirs"].default:
            return dirs, []
    return dirs, [f"plugin folder {d} ({origin}) does not exist" for d in dirs if not d.is_dir()]


def _configure_flask(app: Flask, cfg: config_mod.Config) -> None:
    app.config["MAX_CONTENT_LENGTH"] = cfg.get_int("core_server.max_content_length")
    # Without a configured key, sessions and tokens only live as long as this process.
    app.config["SECRET_KEY"] = cfg.get_optional_str("core_server.secret_key") or secrets.token_hex(32)
    app.config["CORE_SERVER_ACCESS_LOG"] = cfg.get_bool("core_server.access_log")
    app.config["CORE_SERVER_MAX_REQUEST_LINE"] = cfg.get_int("core_server.max_request_line")
    app.config["CORE_SERVER_MAX_HEADER_SIZE"] = cfg.get_int("core_server.max_header_size")
    app.config["JSON_SORT_KEYS"] = False
    proxies = {k: v for k, v in cfg.get_dict("core_server.proxy_fix").items() if v > 0}
    if proxies:
        app.wsgi_app = forwarded.TrustedProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, cfg.get_list("core_server.trusted_proxies"), **proxies)
    Path(cfg.get_str("core_server.absoluteDataDir")).mkdir(parents=True, exist_ok=True)


def _report(registry: Registry, cfg: config_mod.Config, strict: bool) -> None:
    for warning in cfg.warnings:
        log.warning("config: %s", warning)
    for plugin in registry.failed:
        log.error("plugin %s failed: %s", plugin.name, "; ".join(plugin.errors))
    if strict and registry.failed:
        names = ", ".join(f"{p.name} ({'; '.join(p.errors)})" for p in registry.failed)
        raise RegistryError(f"plugins failed to load: {names}")
