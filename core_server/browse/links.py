"""URLs of the HTML pages and of the API calls behind them (all under the public prefix).

A browse page takes the same query parameters as the API route it shows (``filter_*``,
``_sort``, ``_limit``, ``_offset``, view arguments; ``field.$op`` and ``_cursor`` for
collections), so the links to JSON, CSV and ``curl`` are the page's own query on the API path.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from urllib.parse import parse_qsl
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlsplit

from flask import request

#: Query parameters as ordered ``(key, value)`` pairs.
Pairs = list[tuple[str, str]]


def pairs() -> Pairs:
    """The current request's query parameters (empty values dropped: an untouched form field)."""
    return [(k, v) for k, v in request.args.items(multi=True) if v != ""]


def with_params(params: Iterable[tuple[str, str]], drop: Iterable[str] = (),
                **changes: str | None) -> Pairs:
    """``params`` without the keys in ``drop`` and ``changes`` (None removes a key)."""
    gone = set(drop) | set(changes)
    out = [(k, v) for k, v in params if k not in gone]
    out += [(k, v) for k, v in changes.items() if v is not None]
    return out


def encode(params: Iterable[tuple[str, str]]) -> str:
    """``?a=1&b=2`` (percent-encoded), or ``""`` without parameters."""
    text = urlencode(list(params))
    return f"?{text}" if text else ""


def api_path(*parts: str) -> str:
    """``/api/<parts...>`` with each part percent-encoded (below the script root)."""
    return "/api/" + "/".join(quote(p, safe="") for p in parts)


def public(path: str) -> str:
    """``path`` under the public prefix (``X-Forwarded-Prefix`` behind a proxy)."""
    return request.script_root + path


def absolute(path: str) -> str:
    """The absolute public URL of ``path`` (for ``curl`` commands)."""
    return request.host_url.rstrip("/") + request.script_root + path


def curl(path: str, params: Iterable[tuple[str, str]]) -> str:
    """A ``curl`` command for ``GET path?params`` that a shell runs as it is."""
    return "curl " + shlex.quote(absolute(path) + encode(params))


def next_params(link_header: str | None) -> Pairs | None:
    """The query of the ``rel="next"`` URL in a ``Link`` header, or None."""
    for part in (link_header or "").split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel.replace(" ", ""):
            return parse_qsl(urlsplit(url.strip().strip("<>")).query, keep_blank_values=True)
    return None


def sort_toggle(params: Pairs, column: str) -> tuple[Pairs, str]:
    """The parameters that sort by ``column`` (descending if it is sorted ascending already)
    and the current direction of ``column`` (``"asc"``, ``"desc"`` or ``""``)."""
    current = dict(params).get("_sort", "")
    state = "asc" if current == column else "desc" if current == f"-{column}" else ""
    target = f"-{column}" if state == "asc" else column
    return with_params(params, drop=("_offset", "_cursor"), _sort=target), state
