"""``state.dbviews``: the connectors of all plugins, their lazy engines and the id mapper."""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url
from flask import Response

from core_server.config import Config
from core_server.dblimits import DbLimits
from core_server.dbview.builder import DBView
from core_server.dbview.columns import Columns
from core_server.dbview.columns import derive_columns
from core_server.dbview.connector import DBConnector
from core_server.dbview.engines import ConnectorEngine
from core_server.dbview.engines import EngineRegistry
from core_server.dbview.engines import writer_engine
from core_server.dbview.execute import db_errors
from core_server.dbview.execute import scalar
from core_server.dbview.idmapping import IdMapper
from core_server.errors import NotFound
from core_server.errors import ServiceUnavailable
from core_server.registry import DB_CONNECTOR
from core_server.registry import DB_CONNECTOR_EXTENSION
from core_server.registry import Extension
from core_server.registry import Registry
from core_server.state import NotCreated
from core_server.state import StateKey
from core_server.state import state_of

log = logging.getLogger("core_server.dbview")

#: ``handler(connector, view, values, fmt)``: answers a rows request that names ``?target=``.
TargetHandler = Callable[[str, str, Mapping[str, list[Any]], "str | None"], Response]


@dataclass
class ConnectorEntry:
    """A connector with its id, the connector whose engine it uses and compiled SQL."""

    name: str
    connector: DBConnector
    base: str
    plugin: str
    compiled: dict[Any, Any] = field(default_factory=dict)
    derived: dict[int, Columns] = field(default_factory=dict)


class DBViews:
    """All SQL connectors of an app; engines and id tables are created on first use."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.connectors: dict[str, ConnectorEntry] = {}
        self.engines = EngineRegistry()
        self.strict_filters = config.get_bool("dbview.strict_filters")
        self.max_limit = config.get_optional_int("dbview.max_limit")
        self.batch_size = config.get_int("dbview.batch_size")
        self.statement_timeout = config.get_int("core_server.statement_timeout")
        self.return_query_rule = config.setting("dbview.return_query")
        self._ids: IdMapper | None = None
        self._lock = threading.Lock()
        self.target_handler: TargetHandler | None = None
        #: ``resolve(set_id) -> ids`` for ``filter_namedset4<key>`` (``core_server.tdp``)
        self.namedset_resolver: Callable[[str], list[Any]] | None = None
        #: validated request plans by view and request shape (core_server.dbview.plans)
        self.plans: dict[Any, Any] = {}

    def register_namedset_resolver(self, resolve: Callable[[str], list[Any]]) -> None:
        """Let ``filter_namedset4<key>=<set id>`` filter by the ids of a named set.

        ``resolve`` raises the JSON errors of a missing (404) or unreadable (401/403) set.
        """
        self.namedset_resolver = resolve

    def register_target_handler(self, handler: TargetHandler) -> None:
        """Let ``handler`` answer rows requests with ``?target=<idtype>`` (``core_server.idtypes``).

        Views that use ``target`` as an argument or replacement keep it to themselves.
        """
        self.target_handler = handler

    # -- building --------------------------------------------------------------------------------

    def load(self, registry: Registry) -> None:
        """Create the connectors of every ``db-connector(-extension)``; failures go on the plugin."""
        for ext in registry.list(DB_CONNECTOR):
            self._add(registry, ext, ext.id)
        for ext in registry.list(DB_CONNECTOR_EXTENSION):
            base = str(ext.desc.get("base", ""))
            if base not in self.connectors:
                error = LookupError(f"base connector {base!r} of {ext.id!r} does not exist")
                registry.record_failure(ext.plugin, ext, error)
                continue
            self._add(registry, ext, base)

    def _add(self, registry: Registry, ext: Extension, base: str) -> None:
        try:
            connector = ext.create()
            if not isinstance(connector, DBConnector):
                raise TypeError(f"create() returned {type(connector).__name__}, not a DBConnector")
            key = ext.desc.get("configKey")
            if key:
                connector.configure(self.config.view(str(key)))
            self.connectors[ext.id] = ConnectorEntry(ext.id, connector, base, ext.plugin)
        except Exception as exc:  # noqa: BLE001 - a broken connector is reported, the server starts
            registry.record_failure(ext.plugin, ext, exc)

    # -- lookups ---------------------------------------------------------------------------------

    def entry(self, name: str) -> ConnectorEntry:
        """The connector ``name`` or 404 naming the known ones."""
        entry = self.connectors.get(name)
        if entry is None:
            raise NotFound(f"no SQL connector {name!r}",
                           hint="connectors: " + ", ".join(sorted(self.connectors)))
        return entry

    def view(self, entry: ConnectorEntry, name: str) -> DBView:
        """The public view ``name`` of ``entry`` or 404 listing its views."""
        view = entry.connector.views.get(name)
        if view is None or view.is_private:
            public = [n for n, v in entry.connector.views.items() if not v.is_private]
            raise NotFound(f"no view {name!r} in connector {entry.name!r}",
                           hint=f"views of {entry.name}: " + ", ".join(public))
        return view

    def engine(self, entry: ConnectorEntry) -> ConnectorEngine:
        """The (lazily created) engine of ``entry``'s base connector."""
        base = self.connectors[entry.base].connector
        if not base.dburl:
            raise ServiceUnavailable("db_unavailable", f"connector {entry.base!r} has no dburl",
                                     hint="set dburl in its config section (configKey)")
        ce = self.engines.existing(entry.base)
        if ce is not None:  # the hot path: no limits read from the config for an engine made
            return ce
        timeout = base.statement_timeout
        if timeout is None:
            timeout = self.statement_timeout
        try:
            ce = self.engines.get(entry.base, base.dburl, timeout, base.statement_timeout_query,
                                  base.engine_options, DbLimits.from_config(self.config, timeout))
        except (sa.exc.ArgumentError, ImportError) as exc:  # NoSuchModuleError is an ArgumentError
            log.error("connector %s: dburl cannot be used: %s", entry.base, exc)
            raise ServiceUnavailable("db_unavailable", f"the dburl of connector {entry.base!r} "
                                     f"cannot be used ({type(exc).__name__})",
                                     hint="correct dburl in its config section; `core-server "
                                     "check` names the problem") from None
        if _has_demo_data(self.connectors[entry.base].plugin):
            ce.backend.missing_hint = "run `core-server demo-data` to write the demo database"
        return ce

    def columns(self, entry: ConnectorEntry, view: DBView) -> Columns:
        """The view's columns, derived from its table on first use and cached per connector."""
        if not view.needs_derived_columns():
            return Columns(view.columns)
        key = id(view)
        columns = entry.derived.get(key)
        if columns is None:
            ce = self.engine(entry)
            with self._lock, db_errors(ce.backend, entry.name):
                columns = entry.derived.get(key) or derive_columns(view, ce.engine)
                entry.derived[key] = columns
        return columns

    def known_columns(self, entry: ConnectorEntry, view: DBView) -> Columns:
        """Columns without touching the database (derived ones only once they are cached)."""
        return entry.derived.get(id(view)) or Columns(view.columns)

    @property
    def ids(self) -> IdMapper:
        """The id mapper over ``core_server.server_db`` (created on first use)."""
        if self._ids is None:
            with self._lock:
                if self._ids is None:
                    url = self.config.get_str("core_server.server_db")
                    limits = DbLimits.from_config(
                        self.config, self.config.get_int("core_server.server_db_statement_timeout"))
                    self._ids = IdMapper(writer_engine(url, limits))
        return self._ids

    def ping(self, name: str) -> None:
        """Health check of one connector: ``SELECT 1`` on its engine (raises when down).

        :raises NotCreated: its SQLite file does not exist yet (as ``core-server check`` says).
        """
        ce = self.engine(self.connectors[name])
        missing = ce.backend.missing()
        if missing:
            raise NotCreated(missing)
        scalar(ce, sa.text("SELECT 1"), {}, name)

    def dburl_problems(self) -> list[tuple[str, str, bool]]:
        """What ``core-server check`` says about each base connector's ``dburl``, offline.

        :return: ``(connector, message, fatal)``: an unparseable URL or an unknown database or
            driver is fatal; a SQLite file that does not exist yet is not (``_health?deep=1``
            reports it as "not created" too).
        """
        problems = []
        for name, entry in sorted(self.connectors.items()):
            url = entry.connector.dburl
            if entry.base != name or not url:
                continue
            try:
                make_url(url).get_dialect().import_dbapi()
            except Exception as exc:  # noqa: BLE001 - any failure to load the URL is the finding
                problems.append((name, f"dburl cannot be used: {type(exc).__name__}: {exc}", True))
                continue
            missing = self.engine(entry).backend.missing()
            if missing:
                problems.append((name, missing, False))
        return problems

    def dispose(self) -> None:
        """Close every pool (tests)."""
        self.engines.dispose()
        if self._ids is not None:
            self._ids.engine.dispose()


@functools.cache
def _has_demo_data(plugin: str) -> bool:
    """Whether ``plugin`` ships ``<plugin>.demo_data`` (what ``core-server demo-data`` writes)."""
    try:
        return importlib.util.find_spec(f"{plugin}.demo_data") is not None
    except (ImportError, ValueError):
        return False


#: Where :func:`core_server.dbview.init_app` keeps the :class:`DBViews`.
DBVIEWS: StateKey[DBViews] = StateKey("dbviews")


def dbviews_of(app: Flask) -> DBViews:
    """The :class:`DBViews` of ``app``."""
    return state_of(app).get(DBVIEWS)
