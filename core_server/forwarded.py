"""``X-Forwarded-*`` headers, believed only when the peer is a trusted proxy.

werkzeug's ProxyFix trusts the last ``n`` hops of whoever connects. Behind nginx that is right
for requests that came through nginx and wrong for a client that reaches an API host directly and
sends its own ``X-Forwarded-For``. :class:`TrustedProxyFix` applies ProxyFix only when
``REMOTE_ADDR`` is in ``core_server.trusted_proxies`` and drops the headers otherwise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from core_server.config import ConfigError

FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
             "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse addresses and CIDRs (``10.0.0.0/8``, ``::1``).

    :raises ConfigError: an entry is neither, naming the setting.
    """
    try:
        return tuple(ipaddress.ip_network(str(entry).strip(), strict=False) for entry in entries)
    except ValueError as exc:
        raise ConfigError(f"core_server.trusted_proxies: {exc}") from exc


class TrustedProxyFix:
    """WSGI middleware: ProxyFix for trusted peers, forwarded headers removed for the rest.

    :param app: the WSGI app.
    :param trusted: addresses or networks of the proxies.
    :param hops: ProxyFix's arguments (``x_for=1``...).
    """

    def __init__(self, app: Any, trusted: Iterable[str], **hops: int) -> None:
        self.app = app
        self.fixed = ProxyFix(app, **hops)
        self.trusted = networks(trusted)

    def is_trusted(self, address: str | None) -> bool:
        """Whether a peer address belongs to a trusted proxy."""
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:  # a unix socket peer has no address: not a proxy we know
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.is_trusted(environ.get("REMOTE_ADDR")):
            return self.fixed(environ, start_response)
        for key in FORWARDED:
            environ.pop(key, None)
        return self.app(environ, start_response)  # type: ignore[no-any-return]
