"""Login throttling with Flask-Limiter: failed logins per user name and per client address.

Two fixed-window limits guard ``POST /api/login``: at most
``core_server.security.login_failures_per_name`` failed logins (401) per user name and
``login_failures_per_address`` per client address in ``login_window`` seconds. Only failures
count, and a success resets nothing: an attacker who also owns an account cannot clear a
counter by logging in. A name's counter does not stop other names; an address's counter does
not stop the same user from another address. Past a limit the answer is 429
``too_many_login_attempts`` with ``Retry-After`` (seconds until the window ends), before any
password is checked.

The counters live where ``core_server.security.login_limit_storage`` says: ``server_db`` (the
default: the table ``core_server_login_counters`` in ``core_server.server_db``, shared by every
worker and host using that database, through :class:`ServerDbStorage`), or any storage URI of
the ``limits`` library: ``memory://`` (one process only) or ``redis://host:6379/0``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import cast

import sqlalchemy as sa
from flask import Flask
from flask import Response
from flask import request
from flask_limiter import Limiter
from flask_limiter import RateLimitExceeded
from limits.errors import ConfigurationError
from limits.errors import StorageError
from limits.storage import Storage

from core_server.config import ConfigError
from core_server.errors import ApiError
from core_server.errors import ServiceUnavailable
from core_server.errors import error_response
from core_server.security._serverdb import ServerDb

SERVER_DB = "server_db"
TABLE_NAME = "core_server_login_counters"
#: The ``limits`` storage scheme of :class:`ServerDbStorage` (used only through our own setup).
SCHEME = "core-server-db"
#: Scopes of the two limits (part of their counter keys, and of the 429 message).
NAME_SCOPE, ADDRESS_SCOPE = "name", "address"
#: The endpoint the limits guard.
LOGIN_ENDPOINT = "auth.login"
#: Retries of a counter increment that lost an insert race to another process.
_INSERT_RETRIES = 3

View = Callable[..., Any]


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE_NAME, metadata,
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False, index=True),  # epoch milliseconds
    )


class ServerDbStorage(Storage):
    """Fixed-window counters of ``limits`` in a table of the server database (bound SQL only).

    One row per counter key: ``count`` within the window that ends at ``expires``. An increment
    is one ``UPDATE`` in the common case; a new or expired window resets or inserts the row,
    retrying when another process inserted it first.

    :param db: the server database (passed by :func:`install`, not by URI).
    """

    # Registering the scheme is how ``limits`` finds a storage class for a URI; the class is
    # only ever built by ``install`` with the app's server database.
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 db: ServerDb | None = None, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        if db is None:
            raise ConfigurationError(f"{SCHEME}:// needs the server database (db=...)")
        self.db = db
        self.table = _table(db.metadata)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1, **_: Any) -> int:
        """Add ``amount`` to ``key`` in its window (a new window of ``expiry`` s if none)."""
        table = self.table
        for _attempt in range(_INSERT_RETRIES):
            now = _now_ms()
            with self.db.begin() as conn:
                live = table.c.key == key
                if conn.execute(table.update().where(live, table.c.expires > now)
                                .values(count=table.c.count + amount)).rowcount:
                    return int(conn.execute(sa.select(table.c.count).where(live)).scalar_one())
                end = now + int(expiry * 1000)
                if conn.execute(table.update().where(live, table.c.expires <= now)
                                .values(count=amount, expires=end)).rowcount:
                    return amount
            try:
                with self.db.begin() as conn:
                    conn.execute(table.delete().where(table.c.expires <= now))  # old windows
                    conn.execute(table.insert().values(key=key, count=amount, expires=end))
                return amount
            except sa.exc.IntegrityError:  # another process started this window: add to it
                continue
        raise ServiceUnavailable("db_unavailable", "the login counters are busy; try again")

    def get(self, key: str) -> int:
        """The count of ``key`` in its current window (0 when none)."""
        query = sa.select(self.table.c.count).where(self.table.c.key == key,
                                                    self.table.c.expires > _now_ms())
        with self.db.begin() as conn:
            return int(conn.execute(query).scalar() or 0)

    def get_expiry(self, key: str) -> float:
        """When the window of ``key`` ends (epoch seconds; now when there is none)."""
        query = sa.select(self.table.c.expires).where(self.table.c.key == key)
        with self.db.begin() as conn:
            expires = conn.execute(query).scalar()
        return time.time() if expires is None else int(expires) / 1000

    def check(self) -> bool:
        """Whether the server database answers."""
        try:
            self.db.ping()
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Delete every counter."""
        with self.db.begin() as conn:
            return int(conn.execute(self.table.delete()).rowcount)

    def clear(self, key: str) -> None:
        """Delete the counter ``key``."""
        with self.db.begin() as conn:
            conn.execute(self.table.delete().where(self.table.c.key == key))


def _now_ms() -> int:
    return int(time.time() * 1000)


def name_key() -> str:
    """The counter key of the login's user name (case-folded, hashed: any length, any text)."""
    body = request.get_json(silent=True) if request.is_json else request.form
    name = body.get("username") if isinstance(body, Mapping) else None
    text = name.strip().casefold() if isinstance(name, str) else ""
    return NAME_SCOPE + ":" + hashlib.sha256(text.encode()).hexdigest()[:32]


def address_key() -> str:
    """The counter key of the client address; IPv6 clients count per /64 network.

    The address is ``request.remote_addr``: behind a reverse proxy set ``core_server.proxy_fix``
    (``x_for``), or every client counts as the proxy.
    """
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"{ADDRESS_SCOPE}:{address[:64]}"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return f"{ADDRESS_SCOPE}:{parsed.ipv4_mapped}"
        return f"{ADDRESS_SCOPE}:{ipaddress.IPv6Network((parsed, 64), strict=False)}"
    return f"{ADDRESS_SCOPE}:{parsed}"


def _failed(response: Response) -> bool:
    return response.status_code == 401


class LoginThrottle:
    """The app's Flask-Limiter and the two login limits (see the module docs).

    :param per_name: failed logins per user name in a window (0: no limit).
    :param per_address: failed logins per client address in a window (0: no limit).
    :param window: the window in seconds.
    """

    def __init__(self, limiter: Limiter, per_name: int, per_address: int, window: int) -> None:
        self.limiter = limiter
        self.limits = [(count, key, scope) for count, key, scope in (
            (per_address, address_key, ADDRESS_SCOPE), (per_name, name_key, NAME_SCOPE))
            if count > 0]
        self.window = window

    def guard(self, view: View) -> View:
        """``view`` behind the limits (the login route)."""
        for count, key, scope in self.limits:
            view = self.limiter.limit(f"{count} per {self.window} second", key_func=key,
                                      scope=scope, deduct_when=_failed)(view)
        return view

    def too_many(self, exc: RateLimitExceeded) -> Response:
        """The 429 answer, with ``Retry-After`` in seconds."""
        current = self.limiter.current_limit
        ends = current.window[0] if current is not None else time.time() + self.window
        wait = max(1, math.ceil(ends - time.time()))  # never earlier than the window ends
        what = "for this user name" if exc.limit.scope == NAME_SCOPE else "from this address"
        return error_response(ApiError(
            429, "too_many_login_attempts", f"too many failed logins {what}",
            hint=f"try again in {wait} s", headers={"Retry-After": str(wait)}))


def storage_unavailable(exc: StorageError) -> Response:
    """503 when the counters cannot be read (logins are refused, not let through unthrottled)."""
    return error_response(ServiceUnavailable(
        "throttle_unavailable", "the login counters cannot be reached",
        hint="check core_server.security.login_limit_storage"))


def install(app: Flask, db: ServerDb, storage: str, per_name: int, per_address: int,
            window: int) -> LoginThrottle:
    """Set up Flask-Limiter on ``app`` with the counters in ``storage`` (see the module docs).

    :raises ConfigError: for a storage URI that ``limits`` does not know or cannot use.
    """
    uri, options = (f"{SCHEME}://", {"db": db}) if storage == SERVER_DB else (storage, {})
    # the server database travels as an option: limits passes options to the storage class
    storage_options = cast(dict[str, Any], {**options, "wrap_exceptions": True})
    limiter = Limiter(address_key, storage_uri=uri, storage_options=storage_options,
                      strategy="fixed-window", key_prefix="core_server", headers_enabled=False,
                      swallow_errors=False)
    try:
        limiter.init_app(app)
    except ConfigurationError as exc:
        raise ConfigError(f"core_server.security.login_limit_storage: {storage!r}: {exc}; "
                          f"use {SERVER_DB!r}, 'memory://' or 'redis://host:6379'") from None
    _hooks_for_login_only(app, limiter)
    throttle = LoginThrottle(limiter, per_name, per_address, window)
    app.register_error_handler(RateLimitExceeded, throttle.too_many)
    app.register_error_handler(StorageError, storage_unavailable)
    return throttle


def _hooks_for_login_only(app: Flask, limiter: Limiter) -> None:
    """Run Flask-Limiter's per-request hooks for the login route only.

    Its ``before_request`` looks for default and application limits on every request (about
    60 µs each, measured); this server sets none, and the login's decorator checks the login's
    own limits itself. The ``after_request`` (counting failures) and teardown hooks matter for
    the login only. ``init_app`` has just appended the three.
    """
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    after, teardown = app.after_request_funcs[None], app.teardown_request_funcs[None]
    # as hooks of the login's blueprint: Flask runs them for that blueprint's requests only,
    # so the other requests do not even pay for the endpoint check
    blueprint = LOGIN_ENDPOINT.partition(".")[0]
    app.after_request_funcs.setdefault(blueprint, []).append(
        _for_login(after.pop(), passthrough=True))
    app.teardown_request_funcs.setdefault(blueprint, []).append(
        _for_login(teardown.pop(), passthrough=False))


def _for_login(hook: Callable[[Any], Any], passthrough: bool) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if request.endpoint == LOGIN_ENDPOINT:
            return hook(value)
        return value if passthrough else None

    return run
