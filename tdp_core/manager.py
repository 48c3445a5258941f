"""``tdp_core.manager`` (tdp_core 15-17; ``visyn_core.manager`` from 18): the server's managers.

``settings``, ``db``, ``id_mapping``, ``security`` and ``registry`` are thin views of the
core_server app meant at the moment of use (see :mod:`tdp_core._current`), so
``manager.settings.my_plugin`` works in a request, in ``create()`` and in a plugin's tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask import after_this_request
from flask import has_request_context
from sqlalchemy.orm import Session

from core_server.dbview import DBConnector
from phovea_server.config import ConfigView
from tdp_core._current import current_app_or_last
from tdp_core._current import current_state
from tdp_core.plugin.registry import registry

__all__ = ["db", "id_mapping", "registry", "security", "settings"]


class Settings:
    """``manager.settings``: a plugin's typed ``setting_class`` object, or a config section."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        state = current_state()
        plugin = state.registry.plugins.get(name)
        if plugin is not None and plugin.settings is not None:
            return plugin.settings
        if name not in state.config:
            raise AttributeError(f"no settings {name!r} (no plugin or config section of "
                                 "that name)")
        value = state.config[name]
        return ConfigView(value) if isinstance(value, dict) else value

    def get_nested(self, key: str, default: Any = None) -> Any:
        """The value at dotted ``key`` of the merged config, else ``default``."""
        value = current_state().config.get_path(key)
        return default if value is None else value

    @property
    def secret_key(self) -> str:
        """The app's secret key (config ``core_server.secret_key``)."""
        return str(current_app_or_last().config["SECRET_KEY"])

    @property
    def is_development_mode(self) -> bool:
        """True when the app runs in debug mode."""
        return bool(current_app_or_last().debug)


class DBManager:
    """``manager.db``: the SQL connectors of the app and their engines."""

    @property
    def connectors(self) -> dict[str, DBConnector]:
        """Connector id -> :class:`~core_server.dbview.DBConnector`."""
        return {name: e.connector for name, e in current_state().dbviews.connectors.items()}

    def connector(self, item: str) -> DBConnector:
        """The connector ``item`` (404 inside a request when it does not exist)."""
        return current_state().dbviews.entry(item).connector  # type: ignore[no-any-return]

    def engine(self, item: sa.Engine | str) -> sa.Engine:
        """The SQLAlchemy engine of connector ``item`` (created on first use)."""
        if isinstance(item, sa.Engine):
            return item
        dbviews = current_state().dbviews
        return dbviews.engine(dbviews.entry(item)).engine  # type: ignore[no-any-return]

    def connector_and_engine(self, item: str) -> tuple[DBConnector, sa.Engine]:
        """``(connector, engine)`` of ``item``."""
        return self.connector(item), self.engine(item)

    def create_session(self, engine_or_id: sa.Engine | str) -> Session:
        """A new ORM session on the connector's engine; close it yourself."""
        return Session(bind=self.engine(engine_or_id))

    def create_web_session(self, engine_or_id: sa.Engine | str) -> Session:
        """A session closed when the current request's response is built."""
        session = self.create_session(engine_or_id)
        if not has_request_context():
            raise RuntimeError("create_web_session() needs a request; use create_session()")

        @after_this_request
        def close(response: Any) -> Any:
            session.close()
            return response

        return session


class MappingManager:
    """``manager.id_mapping``: the id mapping graph of the app."""

    def known_idtypes(self) -> set[str]:
        """Every id type of the mapping graph, views and assigned ids."""
        return set(current_state().idtypes.known())

    def maps_to(self, from_idtype: str) -> list[str]:
        """The id types ``from_idtype`` can be mapped to."""
        return list(current_state().idtypes.graph.reachable(from_idtype))

    def can_map(self, from_idtype: str, to_idtype: str) -> bool:
        """Whether a mapping path exists."""
        return current_state().idtypes.graph.path(from_idtype, to_idtype) is not None

    def __call__(self, from_idtype: str, to_idtype: str, ids: Sequence[Any]) -> list[list[Any]]:
        """The ``to_idtype`` ids of each of ``ids`` (``[]`` for unknown ones)."""
        mapped = current_state().idtypes.map(from_idtype, to_idtype, list(ids))
        return mapped  # type: ignore[no-any-return]

    def search(self, from_idtype: str, to_idtype: str, query: str,
               max_results: int | None = None) -> list[dict[str, Any]]:
        """Source ids starting with ``query`` and their targets."""
        return current_state().idtypes.search(  # type: ignore[no-any-return]
            from_idtype, to_idtype, query, max_results or 10)


settings = Settings()
db = DBManager()
id_mapping = MappingManager()


def __getattr__(name: str) -> Any:
    # manager.security needs pydantic (its users are tdp_core.security.User): import it only
    # when asked, so that Phovea-era plugins run without the core_server[tdp] extra
    if name == "security":
        from tdp_core.security.manager import security

        return security
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
