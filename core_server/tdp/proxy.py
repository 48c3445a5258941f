"""``tdp_proxy`` sites: fetch a configured URL for the client and stream the answer back.

A site is ``registry.append('tdp_proxy', id, '', {'url': 'https://host/path?q={gene}',
'headers': {...}})``. ``GET /api/tdp/proxy/<id>?gene=X`` formats the request's arguments into the
URL's ``{name}`` placeholders, each value URL-encoded (TDP formats them in raw, which lets a
value add query parameters or path segments). Only configured sites are fetched: a placeholder
may not stand in the scheme or host, and a redirect is followed only on the site's own origin.
Every wait is bounded (connect, read, whole answer), the answer's size is capped, and failures
of the upstream are JSON errors: 502 ``upstream_*``, 504 ``upstream_timeout``.
"""

from __future__ import annotations

import string
import threading
import time
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import quote
from urllib.parse import urljoin
from urllib.parse import urlsplit

import httpx
from flask import Response

from core_server.errors import ApiError
from core_server.errors import BadRequest
from core_server.registry import Extension

#: Answers up to this size are sent whole (with Content-Length); longer ones are streamed.
PREFETCH_BYTES = 64 * 1024
MAX_REDIRECTS = 3
_FORMATTER = string.Formatter()


class ProxyConfigError(ValueError):
    """A ``tdp_proxy`` extension that cannot be served safely; the message says why."""


class UpstreamAborted(Exception):
    """Raised inside a streamed answer that passed its limits: the server drops the connection,
    so the client sees an incomplete answer instead of a silently short one."""


@dataclass(frozen=True)
class ProxySite:
    """One configured site.

    :param url: the template, ``{name}`` placeholders filled from the request's arguments.
    :param placeholders: the names used in ``url``.
    """

    id: str
    url: str
    name: str
    headers: Mapping[str, str] = field(default_factory=dict)
    placeholders: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the site; nothing else is ever fetched for it."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}".lower()


def site_of(ext: Extension) -> ProxySite:
    """The :class:`ProxySite` of a ``tdp_proxy`` extension, or :class:`ProxyConfigError`."""
    url = ext.desc.get("url")
    if not isinstance(url, str) or not url:
        raise ProxyConfigError(f"tdp_proxy {ext.id!r} has no 'url'")
    names = _placeholders(ext.id, url)
    fixed = url.split("{", 1)[0]
    parts = urlsplit(fixed)
    host_is_fixed = "{" not in url or any(c in fixed.split("://", 1)[-1] for c in "/?#")
    if parts.scheme not in ("http", "https") or not parts.netloc or not host_is_fixed:
        raise ProxyConfigError(f"tdp_proxy {ext.id!r}: the url must start with a fixed "
                               "http(s)://host/ (placeholders only in the path and query)")
    headers = ext.desc.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ProxyConfigError(f"tdp_proxy {ext.id!r}: headers must map names to strings")
    return ProxySite(ext.id, url, str(ext.desc.get("name") or ext.id), dict(headers), names)


def _placeholders(site: str, url: str) -> tuple[str, ...]:
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(url))
    except ValueError as exc:
        raise ProxyConfigError(f"tdp_proxy {site!r}: bad url template: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        # {a.b} and {a[0]} would reach into the argument objects; {a!r} and {a:>9} reshape them
        if not name.isidentifier() or spec or conversion:
            raise ProxyConfigError(f"tdp_proxy {site!r}: placeholder {{{name}}} must be a plain "
                                   "name (no attributes, indexes, conversions or formats)")
        names.append(name)
    return tuple(dict.fromkeys(names))


def target_url(site: ProxySite, args: Mapping[str, str]) -> str:
    """The site's URL, each placeholder replaced by its URL-encoded argument (400 if missing)."""
    missing = [name for name in site.placeholders if name not in args]
    if missing:
        raise BadRequest("missing_argument", f"proxy {site.id!r} needs the argument(s) "
                         + ", ".join(missing), hint=f"GET /api/tdp/proxy/{site.id}?"
                         + "&".join(f"{n}=..." for n in site.placeholders))
    return site.url.format(**{name: quote(str(args[name]), safe="") for name in
                              site.placeholders})


class Upstream:
    """The HTTP client of the proxy: one pooled :class:`httpx.Client`, created on first use.

    :param timeout: seconds for the whole answer; connect and each read are bounded by it too.
    :param connect_timeout: seconds to open a connection.
    :param max_bytes: the largest answer passed on.
    """

    def __init__(self, timeout: float, connect_timeout: float, max_bytes: int) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_bytes = max_bytes
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        """The shared client (created lazily: no sockets before a fork)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
                    self._client = httpx.Client(timeout=timeout, follow_redirects=False,
                                                trust_env=False)
        return self._client

    def close(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            self._client.close()

    def fetch(self, site: ProxySite, url: str) -> Response:
        """GET ``url`` for ``site`` and answer with its body and content type."""
        deadline = time.monotonic() + self.timeout
        answer = self._open(site, url, deadline)
        try:
            _check_status(site, answer)
            self._check_length(site, answer)
            chunks = answer.iter_bytes()
            head, done = self._prefetch(site, chunks, deadline)
        except BaseException:
            answer.close()
            raise
        content_type = answer.headers.get("content-type", "application/octet-stream")
        if done:
            answer.close()
            return Response(head, status=200, content_type=content_type)
        body = self._stream(site, answer, chunks, head, deadline)
        return Response(body, status=200, content_type=content_type, direct_passthrough=True)

    def _open(self, site: ProxySite, url: str, deadline: float) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._send(site, url, deadline)
            if not answer.is_redirect:
                return answer
            answer.close()
            url = urljoin(url, answer.headers.get("location", ""))
            if f"{urlsplit(url).scheme}://{urlsplit(url).netloc}".lower() != site.origin:
                raise ApiError(502, "upstream_redirect", f"proxy {site.id!r}: the upstream "
                               "redirects to another site, which is not followed",
                               hint="configure the final URL in the tdp_proxy extension")
        raise ApiError(502, "upstream_redirect", f"proxy {site.id!r}: more than "
                       f"{MAX_REDIRECTS} redirects")

    def _send(self, site: ProxySite, url: str, deadline: float) -> httpx.Response:
        request = self.client.build_request("GET", url, headers=dict(site.headers))
        request.extensions["timeout"] = self._timeouts(deadline)
        try:
            return self.client.send(request, stream=True)
        except httpx.TimeoutException:
            raise _timeout(site) from None
        except httpx.HTTPError as exc:
            raise ApiError(502, "upstream_unavailable", f"proxy {site.id!r}: the upstream "
                           f"cannot be reached ({type(exc).__name__})") from None

    def _timeouts(self, deadline: float) -> dict[str, float]:
        left = max(deadline - time.monotonic(), 0.001)
        return {"connect": min(self.connect_timeout, left), "read": left, "write": left,
                "pool": left}

    def _check_length(self, site: ProxySite, answer: httpx.Response) -> None:
        length = answer.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise _too_large(site, self.max_bytes)

    def _prefetch(self, site: ProxySite, chunks: Iterator[bytes], deadline: float
                  ) -> tuple[bytes, bool]:
        head = bytearray()
        try:
            for chunk in chunks:
                head += chunk
                if len(head) > self.max_bytes:
                    raise _too_large(site, self.max_bytes)
                if time.monotonic() > deadline:
                    raise _timeout(site)
                if len(head) >= PREFETCH_BYTES:
                    return bytes(head), False
        except httpx.TimeoutException:
            raise _timeout(site) from None
        except httpx.HTTPError as exc:
            raise ApiError(502, "upstream_unavailable", f"proxy {site.id!r}: the upstream "
                           f"broke off its answer ({type(exc).__name__})") from None
        return bytes(head), True

    def _stream(self, site: ProxySite, answer: httpx.Response, chunks: Iterator[bytes],
                head: bytes, deadline: float) -> Iterator[bytes]:
        try:
            yield head
            sent = len(head)
            for chunk in chunks:
                sent += len(chunk)
                if sent > self.max_bytes or time.monotonic() > deadline:
                    raise UpstreamAborted(f"proxy {site.id}: the answer passed "
                                          f"{self.max_bytes} bytes or {self.timeout} s")
                yield chunk
        except httpx.HTTPError as exc:
            raise UpstreamAborted(f"proxy {site.id}: the upstream broke off ({exc})") from exc
        finally:
            answer.close()


def _check_status(site: ProxySite, answer: httpx.Response) -> None:
    if answer.status_code >= 400:
        raise ApiError(502, "upstream_error", f"proxy {site.id!r}: the upstream answered "
                       f"{answer.status_code}", details=[{"upstream_status": answer.status_code}])


def _timeout(site: ProxySite) -> ApiError:
    return ApiError(504, "upstream_timeout", f"proxy {site.id!r}: the upstream did not answer "
                    "in time", hint="config tdp.proxy.timeout sets the limit")


def _too_large(site: ProxySite, limit: int) -> ApiError:
    return ApiError(502, "upstream_too_large", f"proxy {site.id!r}: the upstream answer is "
                    f"larger than {limit} bytes", hint="config tdp.proxy.max_bytes sets the limit")


def sites_of(extensions: list[Extension], record: Any) -> dict[str, ProxySite]:
    """The valid sites of ``extensions``; ``record(ext, error)`` gets each invalid one."""
    sites: dict[str, ProxySite] = {}
    for ext in extensions:
        try:
            sites[ext.id] = site_of(ext)
        except ProxyConfigError as exc:
            record(ext, exc)
    return sites
