"""TDP's routes beside ``/api/tdp/db``: named sets, proxy, safe config keys and migrations.

``init_app`` reads the ``tdp_proxy``, ``tdp-config-safe-keys`` and ``tdp-sql-database-migration``
extensions (a broken one fails its plugin, not the server), mounts ``/api/tdp/storage``,
``/api/tdp/proxy``, ``/api/tdp/config`` and ``/api/tdp/db-migration`` and upgrades the migrations
that ask for it. Run it after ``dbview`` (migrations use the connectors' databases) and
``docstore``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from core_server import dbview
from core_server.dblimits import DbLimits
from core_server.dbview import DBViews
from core_server.dbview import dbviews_of
from core_server.docstore import Store
from core_server.registry import DOC_COLLECTION
from core_server.registry import TDP_CONFIG_SAFE_KEYS
from core_server.registry import TDP_DB_MIGRATION
from core_server.registry import TDP_PROXY
from core_server.registry import Extension
from core_server.state import ServerState
from core_server.state import state_of
from core_server.tdp import docs
from core_server.tdp import routes
from core_server.tdp import storage_routes
from core_server.tdp.config_keys import SafeKeys
from core_server.tdp.migration_env import run_migrations_online
from core_server.tdp.migrations import Limits
from core_server.tdp.migrations import Migration
from core_server.tdp.migrations import MigrationError
from core_server.tdp.migrations import Migrations
from core_server.tdp.migrations import migration_of
from core_server.tdp.proxy import Upstream
from core_server.tdp.proxy import sites_of
from core_server.tdp.service import TDP
from core_server.tdp.service import TdpState
from core_server.tdp.service import tdp_of
from core_server.tdp.storage import TdpStorage
from core_server.tdp.storage import collections

__all__ = ["Migration", "MigrationError", "Migrations", "TdpState", "init_app", "migrations_of",
           "namedset_ids", "run_migrations_online", "tdp_of"]

log = logging.getLogger("core_server.tdp")


def init_app(app: Flask) -> None:
    """Build :class:`TdpState` on ``state.tdp``, mount the routes, run automatic upgrades."""
    state = state_of(app)
    config, registry = state.config, state.registry

    def record(ext: Extension, exc: Exception) -> None:
        log.error("%s %s of plugin %s: %s", ext.type, ext.id, ext.plugin, exc)
        registry.record_failure(ext.plugin, ext, exc)

    store = Store(config.get_str("tdp.storage.dburl"), collections(),
                  limits=DbLimits.from_config(config, config.get_int("store.statement_timeout")))
    _refuse_shadowed(state, store)
    upstream = Upstream(config.get_int("tdp.proxy.timeout") / 1000,
                        config.get_int("tdp.proxy.connect_timeout") / 1000,
                        config.get_int("tdp.proxy.max_bytes"))
    tdp = TdpState(storage=TdpStorage(store), sites=sites_of(registry.list(TDP_PROXY), record),
                   upstream=upstream,
                   safe_keys=SafeKeys(config, registry.list(TDP_CONFIG_SAFE_KEYS), record),
                   migrations=_migrations(state, dbviews_of(app), record))
    state.put(TDP, tdp)
    # filter_namedset4<col>=<id> on every view reads the set's ids, as the current user
    dbview.register_namedset_resolver(app, lambda set_id: tdp.storage.namedset_ids(set_id)[1])
    app.register_blueprint(storage_routes.blueprint)
    app.register_blueprint(routes.blueprint)
    state.openapi.append(lambda: docs.paths(tdp))
    if config.get_bool("tdp.migrations.upgrade_at_start"):
        _auto_upgrade(state, tdp.migrations)


def _refuse_shadowed(state: ServerState, store: Store) -> None:
    # a plugin collection of the same name would share the tables of the named sets
    for name in store.collections:
        ext = state.registry.get(DOC_COLLECTION, name)
        if ext is not None:
            state.registry.record_failure(ext.plugin, ext, ValueError(
                f"collection name {name!r} is reserved for TDP's storage"))


def _migrations(state: ServerState, dbviews: DBViews, record: Any) -> Migrations:
    config = state.config
    legacy = config.get_path("tdp_core.migrations.autoUpgrade")
    auto = legacy if isinstance(legacy, bool) else config.get_bool("tdp.migrations.auto_upgrade")
    items: dict[str, Migration] = {}
    for ext in state.registry.list(TDP_DB_MIGRATION):
        try:
            migration = migration_of(ext, config, state.registry, dbviews.connectors, auto)
            if migration.id in items:
                raise MigrationError(f"migration id {migration.id!r} is used twice")
            items[migration.id] = migration
        except MigrationError as exc:
            record(ext, exc)
    limits = Limits(lock=config.get_int("tdp.migrations.lock_timeout") / 1000,
                    statement=config.get_int("tdp.migrations.statement_timeout") / 1000)
    return Migrations(items, lambda key: str(dbviews.engine(dbviews.entry(key)).url), limits)


def _auto_upgrade(state: ServerState, migrations: Migrations) -> None:
    for migration_id, error in migrations.auto_upgrade(
            lambda line: log.info("migration: %s", line)).items():
        if error is None:
            log.info("migration %s is at head", migration_id)
            continue
        migration = migrations.items[migration_id]
        ext = next((e for e in state.registry.list(TDP_DB_MIGRATION)
                    if e.plugin == migration.plugin), None)
        log.error("automatic upgrade failed: %s", error)
        state.registry.record_failure(migration.plugin, ext, MigrationError(error))


def migrations_of(app: Flask) -> Migrations:
    """The :class:`Migrations` of ``app`` (``core-server db`` commands use it)."""
    return tdp_of(app).migrations


def namedset_ids(target: Flask | ServerState, set_id: str) -> tuple[str, list[str]]:
    """``(idType, ids)`` of named set ``set_id``, if the current user may read it.

    For ``filter_namedset4<col>=<id>`` of SQL views; raises the JSON errors 404 (no such set)
    and 401/403 (not readable), as the named-set routes do.
    """
    state = target if isinstance(target, ServerState) else state_of(target)
    return state.get(TDP).storage.namedset_ids(set_id)
