"""Layered configuration (DESIGN.md §3).

Layers, later wins: the :data:`SETTINGS` defaults < each plugin's ``config.json`` (nested under the
plugin's name) < the workspace file (``--config`` / ``CORE_SERVER_CONFIG``, JSON or YAML) <
``CORE_SERVER__a__b=value`` environment variables < the mapping given to ``create_app``.
Strings interpolate ``${dotted.key}`` against the merged result; ``{"$env": NAME}`` and
``{"$file": path}`` values are secrets, resolved at load and shown as ``"***"`` by every output.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "CORE_SERVER__"
REDACTED = "***"
#: Keys whose values are shown as ``***`` even when written in plain text (password hashes).
SENSITIVE_KEYS = frozenset({"password", "secret_key"})
_REFERENCE = re.compile(r"\$\{([^}]+)\}")
_MISSING = object()


class ConfigError(Exception):
    """The configuration cannot be loaded; the message names the file or key."""


@dataclass(frozen=True)
class Setting:
    """One core setting: its dotted key, default and a line of help (docs are generated from it)."""

    key: str
    default: Any
    help: str


#: Every core setting, declared once. ``core-server config`` and docs/configuration.rst show them.
SETTINGS: tuple[Setting, ...] = (
    Setting("core_server.dataDir", "./_data", "data directory; relative to the working directory"),
    Setting("core_server.absoluteDataDir", None, "computed: the absolute data directory"),
    Setting("core_server.plugins_dirs", ["./plugins"], "folders searched for plugin packages"),
    Setting("core_server.strict", False, "fail at startup if any plugin fails to load"),
    Setting("core_server.max_content_length", 16 * 1024 * 1024, "largest request body in bytes"),
    Setting("core_server.secret_key", None, "key for sessions and tokens; random per start if unset"),
    Setting("core_server.proxy_fix", {"x_for": 0, "x_proto": 0, "x_host": 0, "x_prefix": 0},
            "how many proxies' X-Forwarded-* headers to trust (werkzeug ProxyFix)"),
    Setting("core_server.trusted_proxies", ["127.0.0.1/8", "::1"],
            "addresses/networks whose X-Forwarded-* headers proxy_fix believes; others' are dropped"),
    Setting("core_server.server_db", "sqlite:///${core_server.absoluteDataDir}/core_server.sqlite",
            "the server's own database (id mapping, token revocations)"),
    Setting("core_server.access_log", True, "write one structured log line per request"),
    Setting("core_server.statement_timeout", 30000, "default SQL statement timeout in milliseconds"),
    Setting("core_server.security.anonymous_read", True,
            "anonymous users may read views and collections (the demo default)"),
    Setting("core_server.security.anonymous_write", False,
            "anonymous users may create, update and delete (off: writes need a login)"),
    Setting("core_server.security.users", [], "users of the default user store"),
    Setting("core_server.security.rules", {},
            "allow-rules: {resource: rule} or {resource: {action: rule}}, e.g. "
            "{'db:mydb/mytable': {'read': ['analyst']}}"),
    Setting("core_server.security.token_max_age", 30 * 24 * 3600, "API token lifetime in seconds"),
    Setting("dbview.strict_filters", True, "unknown filter keys are 400 (false: ignored, as in TDP)"),
    Setting("dbview.max_limit", None, "largest _limit a view request may ask for (None: no cap)"),
    Setting("store.dburl", "sqlite:///${core_server.absoluteDataDir}/store.sqlite",
            "database of the document store"),
    Setting("store.max_limit", 1000, "largest page size of a collection listing"),
    Setting("store.default_limit", 50, "page size of a collection listing without _limit"),
    Setting("store.require_if_match", False, "PUT/PATCH/DELETE without If-Match are 428"),
    # SQL views (core_server/dbview)
    Setting("dbview.batch_size", 1000, "rows fetched and encoded per chunk of a streamed response"),
    Setting("dbview.return_query", "admin",
            "access rule of users who may see a view's SQL with _return_query"),
    Setting("dbview.demo_rows", 1000, "rows of the generated demo tables (core-server demo-data)"),
    # security (users, sessions, tokens, CSRF)
    Setting("core_server.security.session_max_age", 24 * 3600,
            "lifetime of a login session cookie in seconds"),
    Setting("core_server.security.cookie_secure", False,
            "send the session cookie over HTTPS only (set behind TLS)"),
    Setting("core_server.security.trusted_origins", [],
            "other origins (https://host:port) whose pages may write with the session cookie"),
    # scaffold/deploy: a plugin folder must be able to replace an installed plugin of the same name
    Setting("core_server.entry_points", True,
            "discover installed plugins through entry points (false: only the plugin folders)"),
    # document store (docstore branch)
    Setting("store.max_batch_ops", 10000, "most operations in one POST /api/store/_batch"),
    # id types and mapping (core_server/idtypes)
    Setting("idtypes.max_ids", 1_000_000,
            "most ids one /api/idtype request may map, assign or unmap (400 too_many_ids above)"),
)


def defaults() -> dict[str, Any]:
    """The core defaults as a nested dict."""
    tree: dict[str, Any] = {}
    for setting in SETTINGS:
        _set_path(tree, setting.key.split("."), copy.deepcopy(setting.default))
    return tree


class Config(dict[str, Any]):
    """The merged configuration: a nested dict with dotted-key reads and redaction.

    :param data: the merged, interpolated tree.
    :param secrets: dotted paths whose values came from ``$env``/``$file``.
    """

    def __init__(self, data: Mapping[str, Any], secrets: Iterable[str] = ()) -> None:
        super().__init__(data)
        self.secrets = frozenset(secrets)

    def get_path(self, key: str, default: Any = None) -> Any:
        """Read a dotted key, e.g. ``config.get_path('store.dburl')``."""
        node: Any = self
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def view(self, key: str) -> dict[str, Any]:
        """The section at ``key`` (a dotted key), or an empty dict."""
        section = self.get_path(key, {})
        return section if isinstance(section, dict) else {}

    def redacted(self) -> dict[str, Any]:
        """A deep copy with every secret (and every :data:`SENSITIVE_KEYS` value) as ``"***"``."""
        tree = copy.deepcopy(dict(self))
        for path in self.secrets:
            parts = path.split(".")
            if _get_path(tree, parts) is not _MISSING:
                _set_path(tree, parts, REDACTED)
        return _redact_sensitive(tree)  # type: ignore[no-any-return]


def _redact_sensitive(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: REDACTED if k in SENSITIVE_KEYS and v is not None else _redact_sensitive(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_redact_sensitive(v) for v in node]
    return node


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON or YAML config file; a parse error becomes a :class:`ConfigError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
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
    data_dir = Path(base_dir, core["dataDir"]).resolve()
    core["absoluteDataDir"] = str(data_dir)
    # TDP plugins write ${phovea_server.absoluteDataDir}; both names resolve to the same folder.
    tree.setdefault("phovea_server", {})["absoluteDataDir"] = str(data_dir)
    secrets: list[str] = []
    tree = _resolve_secrets(tree, [], secrets, environ, Path(base_dir))
    return Config(_interpolate(tree, tree, []), secrets)


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
        value = _get_path(root, key.split("."))
        if value is _MISSING:
            raise ConfigError(f"config value {node!r} refers to ${{{key}}}, which is not set")
        return str(_interpolate(value, root, [*stack, key]))

    return _REFERENCE.sub(replace, node)


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and ("$env" in value or "$file" in value)


def _casefold_key(tree: Mapping[str, Any], key: str) -> str:
    folded = key.casefold()
    return next((k for k in tree if k.casefold() == folded), key)


def _get_path(tree: Any, parts: list[str]) -> Any:
    node = tree
    for part in parts:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


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
