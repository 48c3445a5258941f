"""``tdp-config-safe-keys``: the config values a TDP web client may read.

``registry.append('tdp-config-safe-keys', 'matomo', '', {'configKey': 'tdp_core.matomo'})``
whitelists ``GET /api/tdp/config/matomo`` (and ``/api/tdp/config/matomo/url`` for one key below
it). Other keys are 404. A whitelisted value is never a secret: values written as ``$env`` or
``$file`` and password-like keys are refused (403 ``config_secret``) or, inside a section, shown
as ``***``, and the password of a URL (``postgresql://user:pw@host``) is masked.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from core_server.config import REDACTED
from core_server.config import Config
from core_server.errors import ApiError
from core_server.errors import NotFound
from core_server.registry import Extension

#: Keys TDP itself whitelists, with its defaults (the web client asks for ``matomo`` at start).
BUILTIN: dict[str, tuple[str, dict[str, Any]]] = {
    "matomo": ("tdp_core.matomo", {"url": "", "site": "1", "encryptUserName": False}),
}
_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*):[^/@?#]*@")
_MISSING = object()


def _mask(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _mask(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask(v) for v in node]
    if isinstance(node, str):
        return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", node)
    return node


def _walk(tree: Any, parts: list[str]) -> Any:
    node = tree
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


class SafeKeys:
    """The whitelist of one app and the redacted config it reads from.

    :param record: ``record(ext, error)`` for an extension without ``configKey``.
    """

    def __init__(self, config: Config, extensions: Iterable[Extension],
                 record: Callable[[Extension, Exception], None]) -> None:
        self.keys: dict[str, str] = {key: path for key, (path, _) in BUILTIN.items()}
        for ext in extensions:
            path = ext.desc.get("configKey")
            if not isinstance(path, str) or not path.strip("."):
                record(ext, ValueError(f"tdp-config-safe-keys {ext.id!r} has no configKey"))
                continue
            self.keys[ext.id] = path.strip(".")
        self._secrets = config.secrets
        self._tree = _mask(config.redacted())  # the config does not change while serving

    def value(self, path: str) -> Any:
        """The value at ``<key>[/<sub>/...]``; ``None`` for an unset whitelisted key (as TDP)."""
        key, *rest = [p for p in path.split("/") if p] or [""]
        if key not in self.keys:
            raise NotFound(f"config key {key!r} is not readable by clients",
                           hint="readable: " + ", ".join(sorted(self.keys)) + " (plugins add "
                           "keys with tdp-config-safe-keys extensions)")
        dotted = ".".join([self.keys[key], *rest])
        if any(dotted == s or dotted.startswith(s + ".") for s in self._secrets):
            raise _secret(dotted)
        value = _walk(self._tree, dotted.split("."))
        if value == REDACTED:
            raise _secret(dotted)
        default = _walk(BUILTIN[key][1], rest) if key in BUILTIN else _MISSING
        if isinstance(default, dict) and isinstance(value, dict):
            return {**copy.deepcopy(default), **value}
        if value is _MISSING:
            return None if default is _MISSING else copy.deepcopy(default)
        return value


def _secret(dotted: str) -> ApiError:
    return ApiError(403, "config_secret", f"config key {dotted} holds a secret",
                    hint="secrets ($env, $file, passwords) are never sent to clients")
