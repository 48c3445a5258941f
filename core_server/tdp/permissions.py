"""TDP's numeric permission model of stored items (named sets, attachments).

An item carries ``creator``, an optional ``group``, ``buddies`` (user names) and ``permissions``,
a number of up to four octal-like digits ``[buddies]owner group others``: each digit is the sum
of read (4), write (2) and execute (1). ``744`` (TDP's default) lets the creator do everything
and everybody read; ``7740`` also lets the buddies do everything. Names and roles compare
case-insensitively, as in TDP.

For listings the decision is precomputed at write time as *access keys* (``*`` for everybody,
``u:<name>``, ``g:<role>``) stored in an indexed list of the document, so that "the sets this
user may read" is one SQL query instead of a filter over every document in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core_server.security import User

READ = 4
WRITE = 2
EXECUTE = 1
#: What TDP gives an item that does not say: owner everything, group and others read.
DEFAULT_PERMISSION = 744
EVERYBODY = "*"
_MAX_PERMISSION = 7777


@dataclass(frozen=True)
class Permissions:
    """One decoded ``permissions`` number: the digit of each kind of principal."""

    owner: int
    group: int
    others: int
    buddies: int

    def allows(self, digit: int, permission: int) -> bool:
        """Whether a principal with ``digit`` has ``permission`` (4, 2 or 1)."""
        return bool(digit & permission)


def decode(permissions: int) -> Permissions:
    """The four digits of ``permissions`` (``7744`` -> buddies 7, owner 7, group 4, others 4)."""
    return Permissions(owner=(permissions // 100) % 10, group=(permissions // 10) % 10,
                       others=permissions % 10, buddies=(permissions // 1000) % 10)


_OCTAL = re.compile(r"[0-7]{1,4}")


def parse(value: Any) -> int:
    """A ``permissions`` value from a form or JSON body, or :class:`ValueError`.

    Each of the at most four digits must be 0..7 (``740``, ``"7744"``).
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON 744.0 is the number 744
    text = str(value).strip() if not isinstance(value, bool) else ""
    # ASCII octal digits only: str.isdigit() also accepts "²", which int() refuses
    if _OCTAL.fullmatch(text) is None or int(text) > _MAX_PERMISSION:
        raise ValueError(f"permissions must be up to four digits 0-7 (e.g. 744), got {value!r}")
    return int(text)


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


def can(item: Mapping[str, Any], permission: int, user: User) -> bool:
    """TDP's decision: may ``user`` do ``permission`` (:data:`READ`, ...) on ``item``?"""
    digits = decode(int(item.get("permissions", DEFAULT_PERMISSION)))
    if _same(user.name, item.get("creator")) and digits.allows(digits.owner, permission):
        return True
    buddies = item.get("buddies") or []
    if any(_same(user.name, b) for b in buddies) and digits.allows(digits.buddies, permission):
        return True
    group = item.get("group")
    if group and any(_same(role, group) for role in user.roles) \
            and digits.allows(digits.group, permission):
        return True
    return digits.allows(digits.others, permission)


def access_keys(item: Mapping[str, Any], permission: int) -> list[str]:
    """The principals that :func:`can` lets do ``permission`` on ``item``, as access keys."""
    digits = decode(int(item.get("permissions", DEFAULT_PERMISSION)))
    keys: list[str] = []
    if digits.allows(digits.others, permission):
        keys.append(EVERYBODY)
    if item.get("creator") and digits.allows(digits.owner, permission):
        keys.append(f"u:{str(item['creator']).lower()}")
    if digits.allows(digits.buddies, permission):
        keys.extend(f"u:{str(b).lower()}" for b in item.get("buddies") or [])
    if item.get("group") and digits.allows(digits.group, permission):
        keys.append(f"g:{str(item['group']).lower()}")
    return sorted(set(keys))


def keys_of(user: User) -> list[str]:
    """The access keys that stand for ``user`` (everybody, the name, each role)."""
    return [EVERYBODY, f"u:{user.name.lower()}", *(f"g:{r.lower()}" for r in sorted(user.roles))]


def names(values: Iterable[Any]) -> list[str]:
    """Buddy names: stripped, non-empty, unique, in order."""
    seen: dict[str, None] = {}
    for value in values:
        text = str(value).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)
