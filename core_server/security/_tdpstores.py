"""TDP and Phovea ``user_stores`` as core_server user-store providers.

Such a store has ``login(username, extra_fields)``, ``load_from_key(key)``, optionally
``load_from_request(request)`` and (Phovea era) ``load(id)``. :class:`TDPStore` gives it the
provider contract of :mod:`core_server.userstore`: ``login(name, password)``, ``load(name)``
and ``load_from_request(request)``, which tries an ``apiKey`` header or HTTP Basic credentials
with ``load_from_key`` first, as TDP did. Users are returned as the store made them; the
security module turns them into its ``User`` (they have ``name`` and ``roles``).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import OrderedDict
from typing import Any

log = logging.getLogger("core_server.security")

#: Users a store without ``load`` logged in, remembered per process for session reloads.
KNOWN_USERS_MAX = 10_000


class TDPStore:
    """A TDP/Phovea user store behind the provider contract.

    :param store: what the ``user_stores`` extension's ``create()`` returned.
    :param name: the extension id, for log messages.
    """

    def __init__(self, store: Any, name: str) -> None:
        self.store = store
        self.name = name
        self._known: OrderedDict[str, Any] = OrderedDict()

    def login(self, name: str, password: str) -> Any:
        """The store's ``login(name, {"username", "password"})``."""
        return self._remember(self._ask("login", name, {"username": name, "password": password}))

    def load(self, name: str) -> Any:
        """The user of a session or token: the store's ``load(id)``, else whom it logged in."""
        known = self._known.get(name)
        if callable(getattr(self.store, "load", None)):
            user = self._ask("load", getattr(known, "id", None) or name)
            if user is not None:
                return self._remember(user)
        return known

    def load_from_request(self, request: Any) -> Any:
        """The user of an API key (``apiKey`` header or HTTP Basic), else of the request."""
        key = api_key(request.headers)
        user = self._ask("load_from_key", key) if key else None
        if user is None:
            user = self._ask("load_from_request", request)
        return self._remember(user)

    def _ask(self, method: str, *args: Any) -> Any:
        function = getattr(self.store, method, None)
        if not callable(function):
            return None
        try:
            return function(*args)
        except Exception:  # as TDP: a failing store is logged and counts as "no user"
            log.exception("user store %s: %s() failed", self.name, method)
            return None

    def _remember(self, user: Any) -> Any:
        name = getattr(user, "name", None) if user is not None else None
        if isinstance(name, str) and name:
            self._known[name] = user
            self._known.move_to_end(name)
            while len(self._known) > KNOWN_USERS_MAX:
                self._known.popitem(last=False)
        return user


def api_key(headers: Any) -> str | None:
    """``user:password`` style keys: the ``apiKey`` header, else the Authorization credentials.

    ``Authorization: Basic <base64>`` is decoded; a value without a scheme (TDP clients sent
    ``Authorization: name:password``) is taken as is. Other schemes are not keys.
    """
    key = headers.get("apiKey")
    if key:
        return str(key)
    value = str(headers.get("Authorization") or "").strip()
    scheme, _, credentials = value.partition(" ")
    if not credentials:
        return value or None
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
