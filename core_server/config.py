"""Layered configuration (DESIGN.md §3).

Layers, later wins: the :data:`SETTINGS` defaults < each plugin's ``config.json`` (nested under the
plugin's name) < the workspace file (``--config`` / ``CORE_SERVER_CONFIG``, JSON or YAML) <
``CORE_SERVER__a__b=value`` environment variables < the mapping given to ``create_app``.
Strings interpolate ``${dotted.key}`` against the merged result; ``{"$env": NAME}`` and
``{"$file": path}`` values are secrets, resolved at load and shown as ``"***"`` by every output.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core_server import plugin_config
from core_server import trees
from core_server.settings import SETTINGS
from core_server.settings import SETTINGS_BY_KEY
from core_server.settings import Setting
from core_server.settings import parse_duration_ms

ENV_PREFIX = "CORE_SERVER__"
REDACTED = "***"
#: Keys whose values are shown as ``***`` even when written in plain text (password hashes).
SENSITIVE_KEYS = frozenset({"password", "secret_key"})
_REFERENCE = re.compile(r"\$\{([^}]+)\}")


__all__ = ["ENV_PREFIX", "REDACTED", "SETTINGS", "Config", "ConfigError", "Setting", "Sources",
           "load", "merge", "parse_duration_ms", "read_file"]


class ConfigError(Exception):
    """The configuration cannot be loaded; the message names the file or key."""


def defaults() -> dict[str, Any]:
    """The core defaults as a nested dict."""
    tree: dict[str, Any] = {}
    for setting in SETTINGS:
        _set_path(tree, setting.key.split("."), copy.deepcopy(setting.default))
    return tree


class Config(dict[str, Any]):
    """The merged configuration: a nested dict with typed setting reads and redaction.

    Core settings are parsed by their :class:`Setting` type at load, so ``get_int("x")`` returns
    an int; a plugin's own section is read with :meth:`view`.

    :param data: the merged, interpolated tree.
    :param secrets: dotted paths whose values came from ``$env``/``$file``.
    :param warnings: problems that do not stop a start (unknown keys, missing plugin folders);
        ``core-server check`` reports them as errors.
    """

    def __init__(self, data: Mapping[str, Any], secrets: Iterable[str] = (),
                 warnings: Iterable[str] = ()) -> None:
        super().__init__(data)
        self.secrets = frozenset(secrets)
        self.warnings = list(warnings)

    def get_path(self, key: str, default: Any = None) -> Any:
        """Read any dotted key, e.g. ``config.get_path('myplugin.dburl')``."""
        return trees.get_path(self, key, default)

    def setting(self, key: str) -> Any:
        """The parsed value of the core setting ``key`` (a key of :data:`SETTINGS`)."""
        if key not in SETTINGS_BY_KEY:
            raise KeyError(f"{key!r} is not a declared setting (core_server.config.SETTINGS)")
        return trees.get_path(self, key, SETTINGS_BY_KEY[key].default)

    def get_bool(self, key: str) -> bool:
        """The core setting ``key`` as a bool."""
        return bool(self.setting(key))

    def get_int(self, key: str) -> int:
        """The core setting ``key`` as an int (durations are in their declared unit)."""
        value = self.setting(key)
        if not isinstance(value, int):
            raise TypeError(f"setting {key} is {value!r}, not an integer")
        return value

    def get_optional_int(self, key: str) -> int | None:
        """The core setting ``key`` as an int, or None when it is null."""
        value = self.setting(key)
        return None if value is None else self.get_int(key)

    def get_str(self, key: str) -> str:
        """The core setting ``key`` as text."""
        return str(self.setting(key))

    def get_optional_str(self, key: str) -> str | None:
        """The core setting ``key`` as text, or None when it is null."""
        value = self.setting(key)
        return None if value is None else str(value)

    def get_list(self, key: str) -> list[Any]:
        """The core setting ``key`` as a list."""
        return list(self.setting(key) or [])

    def get_dict(self, key: str) -> dict[str, Any]:
        """The core setting ``key`` as a dict."""
        return dict(self.setting(key) or {})

    def view(self, key: str) -> dict[str, Any]:
        """The section at ``key`` (a dotted key), or an empty dict."""
        section = self.get_path(key, {})
        return section if isinstance(section, dict) else {}

    def redacted(self) -> dict[str, Any]:
        """A deep copy with every secret (and every :data:`SENSITIVE_KEYS` value) as ``"***"``."""
        tree = copy.deepcopy(dict(self))
        for path in self.secrets:
            parts = path.split(".")
            if trees.get_path(tree, parts) is not trees.MISSING:
                _set_path(tree, parts, REDACTED)
        return _redact_sensitive(tree)  # type: ignore[no-any-return]


def _redact_sensitive(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: REDACTED if k in SENSITIVE_KEYS and v is not None else _redact_sensitive(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_redact_sensitive(v) for v in node]
    return node


@dataclass
class Sources:
    """The config layers known before plugins are discovered, and the one merge of all layers.

    ``create_app`` reads the sources, asks :meth:`early` where the plugins are, discovers them,
    then calls :meth:`load` with the plugins' layers.
    """

    file: dict[str, Any]
    env: dict[str, Any]
    top: dict[str, Any]
    environ: Mapping[str, str]

    @classmethod
    def read(cls, config: Mapping[str, Any] | None = None, *,
             config_file: str | os.PathLike[str] | None = None,
             data_dir: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None) -> Sources:
        """Read the workspace file, the environment and the explicit mapping.

        :param config: the highest layer (tests pass their settings here).
        :param config_file: workspace config (default: ``CORE_SERVER_CONFIG``).
        :param data_dir: overrides ``core_server.dataDir``.
        :param environ: the environment to read (default ``os.environ``).
        """
        environ = os.environ if environ is None else environ
        top: dict[str, Any] = copy.deepcopy(dict(config or {}))
        if data_dir is not None:
            merge(top, {"core_server": {"dataDir": str(data_dir)}})
        path = config_file or environ.get("CORE_SERVER_CONFIG")
        return cls(read_file(path) if path else {}, from_env(environ), top, environ)

    def early(self, key: str) -> Any:
        """The parsed value of core setting ``key`` from these layers alone (no plugins yet).

        Plugin discovery needs ``core_server.plugins_dirs`` and ``core_server.entry_points``
        before any plugin config exists.
        """
        tree = merge(merge(merge(defaults(), self.file), self.env), self.top)
        return _parse_setting(SETTINGS_BY_KEY[key], trees.get_path(tree, key))

    def load(self, plugin_layers: Iterable[Mapping[str, Any]] = (),
             base_dir: str | os.PathLike[str] = ".") -> Config:
        """Merge defaults < plugin layers < file < env < explicit, then type every setting."""
        return load([*plugin_layers, self.file, self.env, self.top], environ=self.environ,
                    base_dir=base_dir)


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON or YAML config file; a parse error becomes a :class:`ConfigError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    try:
        # TDP's workspace config.json carried comments too
        data = plugin_config.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {file} is not valid {file.suffix[1:].upper()}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must contain an object at the top level")
    return data


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``CORE_SERVER__a__b=value`` variables as a nested dict (values JSON-parsed if possible)."""
    tree: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or len(name) == len(ENV_PREFIX):
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        _set_path(tree, name[len(ENV_PREFIX):].split("__"), value)
    return tree


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base`` (in place) and return ``base``.

    Keys match case-insensitively when the exact key is absent, so that ``CORE_SERVER__STORE__DBURL``
    overrides ``store.dburl``.
    """
    for key, value in override.items():
        target = key if key in base else _casefold_key(base, key)
        if isinstance(value, Mapping) and not _is_secret(value) and isinstance(base.get(target), dict):
            merge(base[target], value)
        else:
            base[target] = copy.deepcopy(value)
    return base


def load(
    layers: Iterable[Mapping[str, Any]],
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] = ".",
) -> Config:
    """Merge ``layers`` over the defaults, compute the data dir, resolve secrets and ``${}``.

    :param layers: plugin, file, env and explicit layers, lowest first.
    :param environ: the environment for ``$env`` secrets (default ``os.environ``).
    :param base_dir: what a relative ``dataDir`` is relative to.
    """
    environ = os.environ if environ is None else environ
    tree = defaults()
    for layer in layers:
        merge(tree, layer)
    core = tree["core_server"]
    data_dir = Path(base_dir, _parse_setting(SETTINGS_BY_KEY["core_server.dataDir"],
                                             core["dataDir"])).resolve()
    core["absoluteDataDir"] = str(data_dir)
    # TDP plugins write ${phovea_server.absoluteDataDir}; both names resolve to the same folder.
    tree.setdefault("phovea_server", {})["absoluteDataDir"] = str(data_dir)
    secrets: list[str] = []
    tree = _resolve_secrets(tree, [], secrets, environ, Path(base_dir))
    tree = _interpolate(tree, tree, [])
    for setting in SETTINGS:
        value = trees.get_path(tree, setting.key)
        if value is not trees.MISSING:
            _set_path(tree, setting.key.split("."), _parse_setting(setting, value))
    return Config(tree, secrets, unknown_keys(tree))


def _parse_setting(setting: Setting, value: Any) -> Any:
    if setting.key == "core_server.absoluteDataDir":  # computed, never configured
        return value
    try:
        return setting.value_type.parse(value)
    except ValueError as exc:
        raise ConfigError(f"setting {setting.key}: {exc}") from None


def unknown_keys(tree: Mapping[str, Any]) -> list[str]:
    """Messages for keys in the core's sections that no setting declares (typos, mostly).

    A top-level key that is close to a core section's name is reported too; other top-level
    keys belong to plugins.
    """
    problems: list[str] = []
    sections = sorted({s.key.split(".")[0] for s in SETTINGS})
    for key in tree:
        if key not in sections:
            close = difflib.get_close_matches(key, sections, n=1, cutoff=0.8)
            if close:
                problems.append(f"unknown config section {key!r}: did you mean {close[0]!r}?")
            continue
        _unknown_below(tree[key], [key], problems)
    return problems


def _unknown_below(node: Any, path: list[str], problems: list[str]) -> None:
    if not isinstance(node, Mapping):
        return
    prefix = ".".join(path) + "."
    children = {k[len(prefix):].split(".")[0] for k in SETTINGS_BY_KEY if k.startswith(prefix)}
    for key, value in node.items():
        dotted = prefix + key
        if dotted in SETTINGS_BY_KEY:
            continue
        if key in children:
            _unknown_below(value, [*path, key], problems)
            continue
        close = difflib.get_close_matches(key, sorted(children), n=1, cutoff=0.6)
        hint = f"did you mean {prefix + close[0]!r}? " if close else ""
        problems.append(f"unknown setting {dotted!r} ({hint}core-server config lists them all)")


def _resolve_secrets(node: Any, path: list[str], secrets: list[str], environ: Mapping[str, str],
                     base_dir: Path) -> Any:
    if isinstance(node, dict):
        if _is_secret(node):
            secrets.append(".".join(path))
            return _read_secret(node, ".".join(path), environ, base_dir)
        return {k: _resolve_secrets(v, [*path, k], secrets, environ, base_dir) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_secrets(v, [*path, str(i)], secrets, environ, base_dir)
                for i, v in enumerate(node)]
    return node


def _read_secret(node: Mapping[str, Any], key: str, environ: Mapping[str, str], base_dir: Path) -> str:
    if "$env" in node:
        name = node["$env"]
        if name not in environ:
            raise ConfigError(f"config key {key!r} needs the environment variable {name}, "
                              "which is not set")
        return environ[name]
    file = Path(base_dir, node["$file"])
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"config key {key!r} reads the file {file}: {exc.strerror}") from exc


def _interpolate(node: Any, root: Mapping[str, Any], stack: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, root, stack) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, root, stack) for v in node]
    if not isinstance(node, str) or "${" not in node:
        return node

    def replace(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key in stack:
            raise ConfigError(f"config reference cycle: {' -> '.join([*stack, key])}")
        value = trees.get_path(root, key)
        if value is trees.MISSING:
            raise ConfigError(f"config value {node!r} refers to ${{{key}}}, which is not set")
        return str(_interpolate(value, root, [*stack, key]))

    return _REFERENCE.sub(replace, node)


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and ("$env" in value or "$file" in value)


def _casefold_key(tree: Mapping[str, Any], key: str) -> str:
    folded = key.casefold()
    return next((k for k in tree if k.casefold() == folded), key)


def _set_path(tree: Any, parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
            continue
        key = part if part in node else _casefold_key(node, part)
        child = node.get(key)
        if not isinstance(child, (dict, list)):
            child = node[key] = {}
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last if last in node else _casefold_key(node, last)] = value
