"""``phovea_server.config.view(key)`` for TDP plugins.

Inside an app (a request, or while core_server creates the plugin's extensions) it returns the
section ``key`` of that app's merged configuration. Outside any app it loads the configuration
the way the server would without plugins: core defaults, the ``CORE_SERVER_CONFIG`` file and
``CORE_SERVER__*`` environment variables (plugin ``config.json`` defaults are not included there).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask import has_app_context

from core_server import config as config_mod
from core_server import trees


class ConfigView(dict[str, Any]):
    """A config section: ``.get(key, default)`` with dotted keys, and attribute access."""

    def get(self, key: str, default: Any = None) -> Any:
        return trees.get_path(self, str(key), default)

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return ConfigView(value) if isinstance(value, dict) else value


def _standalone() -> config_mod.Config:
    return config_mod.Sources.read().load()


def view(key: str) -> ConfigView:
    """The config section ``key`` (dotted), e.g. ``view('myplugin').get('dburl')``."""
    if has_app_context():
        config = current_app.extensions["core_server"].config
    else:
        config = _standalone()
    return ConfigView(config.view(key))


def get(key: str, default: Any = None) -> Any:
    """One config value by dotted key (TDP's ``phovea_server.config.get``)."""
    section, _, name = str(key).rpartition(".")
    return view(section).get(name, default) if section else view(key) or default
