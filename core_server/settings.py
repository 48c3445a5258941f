"""Every core setting (:data:`SETTINGS`) and the types its values are parsed with, strictly.

Each setting has one of the types below. Values come from JSON,
YAML and environment variables, so the same setting may arrive as ``false``, ``"false"`` or
``"no"``; each type accepts the forms listed in its :attr:`SettingType.forms` and refuses the rest
with a :class:`ValueError` whose message the config loader puts next to the key and the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_INTEGER = re.compile(r"[+-]?[0-9]+")
# PostgreSQL interval-like text as TDP writes statement_timeout: 500, "30s", "'5min'", "1.5 h"
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)")
_SECONDS_PER_UNIT = {
    "ms": 0.001, "msec": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}
_BYTES = re.compile(r"([0-9]+)\s*([kmgt]?i?b?)", re.IGNORECASE)
_BYTES_PER_UNIT = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
                   "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}


class SettingType:
    """Base of all setting types: :meth:`parse` a raw value or raise :class:`ValueError`."""

    _forms = "any value"

    @property
    def forms(self) -> str:
        """The accepted forms, for error messages and the configuration reference."""
        return self._forms

    def parse(self, value: Any) -> Any:
        """The typed value of ``value``; raises :class:`ValueError` naming the accepted forms."""
        return value

    def _refuse(self, value: Any) -> ValueError:
        return ValueError(f"{value!r} is not accepted; accepted: {self.forms}")


class Bool(SettingType):
    """``true``/``false``; also ``yes/no``, ``on/off``, ``1/0`` as text (env vars, YAML)."""

    _forms = "true/false, yes/no, on/off, 1/0"

    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().casefold()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        raise self._refuse(value)


@dataclass(frozen=True)
class Int(SettingType):
    """A whole number within ``[minimum, maximum]``; ``optional`` also accepts null."""

    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False

    @property
    def forms(self) -> str:
        bounds = _bounds(self.minimum, self.maximum)
        return f"an integer{bounds}" + (", or null" if self.optional else "")

    def parse(self, value: Any) -> int | None:
        if value is None and self.optional:
            return None
        number = _as_int(value)
        if number is None:
            raise self._refuse(value)
        return self._bounded(number, value)

    def _bounded(self, number: int, value: Any) -> int:
        if (self.minimum is not None and number < self.minimum) or \
                (self.maximum is not None and number > self.maximum):
            raise self._refuse(value)
        return number


@dataclass(frozen=True)
class Duration(Int):
    """A duration as a number of ``unit`` (``"ms"`` or ``"s"``), or text with a unit.

    Text forms follow PostgreSQL's intervals as TDP configures ``statement_timeout``:
    ``"30s"``, ``"'5min'"``, ``"1.5 h"``, ``"250ms"``; a bare number is in ``unit``.
    """

    unit: str = "ms"

    @property
    def forms(self) -> str:
        bounds = _bounds(self.minimum, self.maximum)
        return (f"a number of {'milliseconds' if self.unit == 'ms' else 'seconds'}{bounds}, or "
                "text with a unit such as '30s', '5min', '2h', '1d', '250ms'"
                + (", or null" if self.optional else ""))

    def parse(self, value: Any) -> int | None:
        if value is None and self.optional:
            return None
        number = _as_int(value)
        if number is None:
            number = self._from_text(value)
        return self._bounded(number, value)

    def _from_text(self, value: Any) -> int:
        text = value.strip().strip("'\"").strip().casefold() if isinstance(value, str) else None
        match = _DURATION.fullmatch(text) if text else None
        if match is None or (match.group(2) and match.group(2) not in _SECONDS_PER_UNIT):
            raise self._refuse(value)
        amount = float(match.group(1))
        seconds = amount * _SECONDS_PER_UNIT[match.group(2)] if match.group(2) else None
        if seconds is None:  # a bare number in quotes: the setting's own unit
            return round(amount)
        return round(seconds * 1000) if self.unit == "ms" else round(seconds)


@dataclass(frozen=True)
class ByteSize(Int):
    """A size in bytes: a number, or text such as ``"16MB"``, ``"512 KiB"`` (powers of 1024)."""

    @property
    def forms(self) -> str:
        return f"a number of bytes{_bounds(self.minimum, self.maximum)}, or text such as '16MB'"

    def parse(self, value: Any) -> int | None:
        if value is None and self.optional:
            return None
        number = _as_int(value)
        if number is None and isinstance(value, str):
            match = _BYTES.fullmatch(value.strip())
            unit = match.group(2).casefold() if match else None
            if match and unit in _BYTES_PER_UNIT:
                number = int(match.group(1)) * _BYTES_PER_UNIT[unit]
        if number is None:
            raise self._refuse(value)
        return self._bounded(number, value)


@dataclass(frozen=True)
class Str(SettingType):
    """Text; ``optional`` also accepts null."""

    optional: bool = False

    @property
    def forms(self) -> str:
        return "text" + (", or null" if self.optional else "")

    def parse(self, value: Any) -> str | None:
        if value is None and self.optional:
            return None
        if isinstance(value, str):
            return value
        raise self._refuse(value)


class StrList(SettingType):
    """A list of texts; a single text is a list of one."""

    _forms = "a list of texts (or one text)"

    def parse(self, value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise self._refuse(value)


class ObjectList(SettingType):
    """A list of objects (e.g. the users of the default user store)."""

    _forms = "a list of objects"

    def parse(self, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            return [dict(v) for v in value]
        raise self._refuse(value)


class Object(SettingType):
    """An object (mapping) whose keys the setting's consumer checks itself."""

    _forms = "an object"

    def parse(self, value: Any) -> dict[str, Any]:
        if isinstance(value, Mapping):
            return dict(value)
        raise self._refuse(value)


@dataclass(frozen=True)
class IntMap(SettingType):
    """An object of whole numbers ``>= 0`` with only the given ``keys`` (e.g. proxy_fix)."""

    keys: tuple[str, ...] = ()

    @property
    def forms(self) -> str:
        return f"an object with integer values >= 0 for the keys {', '.join(self.keys)}"

    def parse(self, value: Any) -> dict[str, int]:
        if not isinstance(value, Mapping) or set(value) - set(self.keys):
            raise self._refuse(value)
        parsed = {key: _as_int(item) for key, item in value.items()}
        if any(number is None or number < 0 for number in parsed.values()):
            raise self._refuse(value)
        return {key: number for key, number in parsed.items() if number is not None}


def infer(default: Any) -> SettingType:
    """The type a setting without a declared one gets from its default value."""
    if isinstance(default, bool):
        return Bool()
    if isinstance(default, int):
        return Int()
    if isinstance(default, str):
        return Str()
    if isinstance(default, list):
        return StrList() if all(isinstance(v, str) for v in default) else SettingType()
    if isinstance(default, Mapping):
        return Object()
    return SettingType()


@dataclass(frozen=True)
class Setting:
    """One core setting: its dotted key, default, a line of help (docs are generated from it) and
    the type its values are parsed with (inferred from the default when not given)."""

    key: str
    default: Any
    help: str
    type: SettingType | None = None

    @property
    def value_type(self) -> SettingType:
        """The declared type, else the one the default implies."""
        return self.type if self.type is not None else infer(self.default)


_POSITIVE = Int(minimum=1)
_PROXY_HOPS = IntMap(("x_for", "x_proto", "x_host", "x_port", "x_prefix"))

#: Every core setting, declared once. ``core-server config`` and docs/configuration.rst show them.
SETTINGS: tuple[Setting, ...] = (
    Setting("core_server.dataDir", "./_data", "data directory; relative to the working directory"),
    Setting("core_server.absoluteDataDir", None, "computed: the absolute data directory"),
    Setting("core_server.plugins_dirs", ["./plugins"], "folders searched for plugin packages"),
    Setting("core_server.strict", False, "fail at startup if any plugin fails to load"),
    Setting("core_server.max_content_length", 16 * 1024 * 1024, "largest request body in bytes",
            ByteSize(minimum=1)),
    Setting("core_server.max_request_line", 16 * 1024,
            "longest request line (method, path and query string) in bytes: 414 beyond; 0: no "
            "limit", ByteSize(minimum=0)),
    Setting("core_server.max_header_size", 16 * 1024,
            "longest request header line in bytes: 431 beyond; 0: no limit", ByteSize(minimum=0)),
    Setting("core_server.secret_key", None, "key for sessions and tokens; random per start if unset",
            Str(optional=True)),
    Setting("core_server.proxy_fix", {"x_for": 0, "x_proto": 0, "x_host": 0, "x_prefix": 0},
            "how many proxies' X-Forwarded-* headers to trust (werkzeug ProxyFix)", _PROXY_HOPS),
    Setting("core_server.metrics", True,
            "serve Prometheus metrics at /api/_metrics (the proxy does not forward it)"),
    Setting("core_server.tracing", False,
            "OpenTelemetry spans per request, SQL statement and mapping (pip install "
            "core_server[otel])"),
    Setting("core_server.trusted_proxies", ["127.0.0.1/8", "::1"],
            "addresses/networks whose X-Forwarded-* headers proxy_fix believes; others' are dropped"),
    Setting("core_server.server_db", "sqlite:///${core_server.absoluteDataDir}/core_server.sqlite",
            "the server's own database (id mapping, API tokens, login sessions, login counters)"),
    Setting("core_server.access_log", True, "write one structured log line per request"),
    Setting("core_server.statement_timeout", 30000,
            "default SQL statement timeout in milliseconds (or text: '30s', '5min')",
            Duration(minimum=0)),
    # bounds on every wait for a database (core_server/dblimits.py, docs/deployment.rst)
    Setting("core_server.db.connect_timeout", 5000,
            "milliseconds to open a connection to any database (PostgreSQL counts whole seconds, "
            "at least 2) (or text: '5s')", Duration(minimum=1)),
    Setting("core_server.db.pool_size", 3,
            "connections per database and worker process, the bulkhead: keep it below the threads "
            "per worker so a stuck database leaves threads for /api/_health and other routes "
            "(at least 2: schema creation holds a lock on one)", Int(minimum=2)),
    Setting("core_server.db.pool_timeout", 1000,
            "milliseconds a request waits for a free connection of a full pool before 503 "
            "db_busy (or text: '1s')", Duration(minimum=0)),
    Setting("core_server.db.read_timeout", None,
            "milliseconds to wait for any answer of a PostgreSQL or MariaDB server before the "
            "connection is dropped (503); null: the statement timeout + 5 s (or text: '40s')",
            Duration(minimum=1, optional=True)),
    Setting("core_server.db.health_timeout", 2000,
            "milliseconds each database of /api/_health?deep=1 may take to answer (or text: '2s')",
            Duration(minimum=1, maximum=60000)),
    Setting("core_server.server_db_statement_timeout", 10000,
            "statement timeout of the server database (id assignment, sessions, tokens, login "
            "counters), in milliseconds (or text: '10s')", Duration(minimum=1)),
    Setting("core_server.security.anonymous_read", True,
            "anonymous users may read views and collections (the demo default)"),
    Setting("core_server.security.anonymous_write", False,
            "anonymous users may create, update and delete (off: writes need a login)"),
    Setting("core_server.security.users", [], "users of the default user store", ObjectList()),
    Setting("core_server.security.rules", {},
            "allow-rules: {resource: rule} or {resource: {action: rule}}, e.g. "
            "{'db:mydb/mytable': {'read': ['analyst']}}"),
    Setting("core_server.security.token_max_age", 30 * 24 * 3600,
            "API token lifetime in seconds (or text: '30d', '12h')",
            Duration(minimum=1, unit="s")),
    Setting("dbview.strict_filters", True, "unknown filter keys under /api/db are 400 (false: "
            "dropped; /api/tdp/db always drops them, as TDP, with a Warning header)"),
    Setting("dbview.max_limit", None, "largest _limit a view request may ask for (None: no cap)",
            Int(minimum=1, optional=True)),
    Setting("store.dburl", "sqlite:///${core_server.absoluteDataDir}/store.sqlite",
            "database of the document store"),
    Setting("store.max_limit", 1000, "largest page size of a collection listing", _POSITIVE),
    Setting("store.default_limit", 50, "page size of a collection listing without _limit",
            _POSITIVE),
    Setting("store.require_if_match", False, "PUT/PATCH/DELETE without If-Match are 428"),
    Setting("store.statement_timeout", 30000,
            "statement timeout of the document store's (and named sets') queries in "
            "milliseconds (or text: '30s')", Duration(minimum=1)),
    # SQL views (core_server/dbview)
    Setting("dbview.batch_size", 1000, "rows fetched and encoded per chunk of a streamed response",
            _POSITIVE),
    Setting("dbview.return_query", "admin",
            "access rule of users who may see a view's SQL with _return_query", SettingType()),
    Setting("dbview.demo_rows", 1000, "rows of the generated demo tables (core-server demo-data)",
            _POSITIVE),
    # security (users, sessions, tokens, CSRF)
    Setting("core_server.security.session_max_age", 24 * 3600,
            "lifetime of a login session cookie in seconds (or text: '8h')",
            Duration(minimum=1, unit="s")),
    Setting("core_server.security.cookie_secure", False,
            "send the session cookie over HTTPS only (set behind TLS)"),
    Setting("core_server.security.session_check_interval", 2000,
            "how long a worker trusts that a session is live before asking the server database "
            "again, in milliseconds (or text: '2s'); a logout elsewhere ends it here this late",
            Duration(minimum=0, maximum=30000)),
    Setting("core_server.security.login_failures_per_name", 10,
            "failed logins per user name within login_window before 429 (0: no limit)",
            Int(minimum=0)),
    Setting("core_server.security.login_failures_per_address", 50,
            "failed logins per client address (IPv6: per /64) within login_window before 429 "
            "(0: no limit)", Int(minimum=0)),
    Setting("core_server.security.login_window", 300,
            "the window of the login limits in seconds (or text: '5min')",
            Duration(minimum=1, maximum=86400, unit="s")),
    Setting("core_server.security.login_limit_storage", "server_db",
            "where failed logins are counted: 'server_db' (shared by every worker and host on "
            "core_server.server_db), 'memory://' (one process) or 'redis://host:6379/0'"),
    Setting("core_server.security.trusted_origins", [],
            "other origins (https://host:port) whose pages may write with the session cookie",
            StrList()),
    # scaffold/deploy: a plugin folder must be able to replace an installed plugin of the same name
    Setting("core_server.entry_points", True,
            "discover installed plugins through entry points (false: only the plugin folders)"),
    # document store (docstore branch)
    Setting("store.max_batch_ops", 10000, "most operations in one POST /api/store/_batch",
            _POSITIVE),
    # id types and mapping (core_server/idtypes)
    Setting("idtypes.max_ids", 1_000_000,
            "most ids one /api/idtype request may map, assign or unmap (400 too_many_ids above)",
            _POSITIVE),
    # TDP's routes beside /api/tdp/db (core_server/tdp)
    Setting("tdp.storage.dburl", "${store.dburl}",
            "database of TDP's named sets and attachments (default: the document store's)"),
    Setting("tdp.proxy.timeout", 30000,
            "milliseconds a tdp_proxy answer may take in all, connect and reads included "
            "(or text: '30s')", Duration(minimum=1)),
    Setting("tdp.proxy.connect_timeout", 5000,
            "milliseconds to connect to a tdp_proxy site (or text: '5s')", Duration(minimum=1)),
    Setting("tdp.proxy.max_bytes", 10 * 1024 * 1024,
            "largest tdp_proxy answer passed on (502 upstream_too_large above)",
            ByteSize(minimum=1)),
    Setting("tdp.migrations.auto_upgrade", True,
            "autoUpgrade of migrations that do not set it (TDP's tdp_core.migrations.autoUpgrade)"),
    Setting("tdp.migrations.upgrade_at_start", True,
            "upgrade the autoUpgrade migrations when the app starts (core-server db does not)"),
    Setting("tdp.migrations.lock_timeout", 60000,
            "milliseconds a migration waits for its database lock and for table locks "
            "(or text: '1min')", Duration(minimum=1)),
    Setting("tdp.migrations.statement_timeout", 600000,
            "milliseconds one statement of a migration may run on PostgreSQL and MariaDB "
            "(or text: '10min')", Duration(minimum=1)),
)
#: The declared settings by key.
SETTINGS_BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""


def parse_duration_ms(value: Any) -> int:
    """Milliseconds of a duration as TDP configures them (``500``, ``"30s"``, ``"'5min'"``).

    :raises ValueError: naming the accepted forms.
    """
    parsed = _MILLISECONDS.parse(value)
    assert parsed is not None  # not optional
    return parsed


_MILLISECONDS = Duration(minimum=0)
