"""Named sets and attachments of TDP clients, kept in the document store.

Two core collections, ``tdp_namedsets`` and ``tdp_attachments``, live in a
:class:`~core_server.docstore.Store` of their own over the store database (setting
``tdp.storage.dburl``), so they work on SQLite, PostgreSQL and MariaDB and every worker sees the
same sets. They are not served under ``/api/store``: their access rules are TDP's per-item
permissions (:mod:`core_server.tdp.permissions`), decided by :func:`core_server.security.check`
with the item's permission as the resource's own rule (admins pass, config rules win).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from core_server import security
from core_server.docstore import Collection
from core_server.docstore import Store
from core_server.docstore import load_schema
from core_server.errors import BadRequest
from core_server.errors import NotFound
from core_server.security import User
from core_server.tdp import permissions as perms

NAMEDSETS = "tdp_namedsets"
ATTACHMENTS = "tdp_attachments"
#: The resource names of :func:`core_server.security.check` (per item: ``tdp:namedset/<id>``).
NAMEDSETS_RESOURCE = "tdp:namedsets"
ATTACHMENTS_RESOURCE = "tdp:attachments"
#: A listing that would pass this many sets is refused instead of cut short.
MAX_LISTED = 100_000
T = TypeVar("T")

_SECURED: dict[str, Any] = {
    "creator": {"type": "string", "required": True, "max_length": 200},
    "permissions": {"type": "int", "min": 0, "max": 7777, "default": perms.DEFAULT_PERMISSION},
    "group": {"type": "string", "nullable": True, "max_length": 200},
    "buddies": {"type": "list", "items": "string", "default": []},
    # precomputed access keys (permissions.access_keys): listings filter on them in SQL
    "readers": {"type": "list", "items": "string", "indexed": True, "default": []},
    "writers": {"type": "list", "items": "string", "default": []},
}
#: The stored fields of a named set; the TDP names, as the web client sends and reads them.
NAMEDSET_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "required": True, "max_length": 1000},
    "description": {"type": "string", "default": ""},
    "idType": {"type": "string", "default": "", "max_length": 200},
    "ids": {"type": "list", "items": "string", "default": []},
    "subTypeKey": {"type": "string", "default": ""},
    "subTypeValue": {"type": "string", "default": ""},
    "subTypeFromSession": {"type": "bool", "default": False},
    "type": {"type": "int", "default": 0},
    **_SECURED,
}
ATTACHMENT_FIELDS: dict[str, Any] = {
    "data": {"type": "string", "required": True},
    "content_type": {"type": "string", "default": "application/json", "max_length": 200},
    **_SECURED,
}
_HIDDEN = frozenset({"readers", "writers"})


def collections() -> dict[str, Collection]:
    """The two collections, validated by the document store's schema loader."""
    admin_only = {"read": "admin", "create": "admin", "update": "admin", "delete": "admin"}
    return {
        NAMEDSETS: load_schema({"fields": NAMEDSET_FIELDS, "rights": admin_only,
                                "indexes": [{"fields": ["idType"]}],
                                "description": "named sets of TDP clients"}, NAMEDSETS),
        ATTACHMENTS: load_schema({"fields": ATTACHMENT_FIELDS, "rights": admin_only,
                                  "description": "attachments of TDP clients"}, ATTACHMENTS),
    }


def _secure(doc: dict[str, Any]) -> dict[str, Any]:
    doc["readers"] = perms.access_keys(doc, perms.READ)
    doc["writers"] = perms.access_keys(doc, perms.WRITE)
    return doc


def _item_rule(doc: dict[str, Any], permission: int) -> Callable[[User], bool]:
    return lambda user: perms.can(doc, permission, user)


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document without the auto fields and access keys (``_id`` kept)."""
    return {k: v for k, v in doc.items() if k == "_id" or not (k.startswith("_") or k in _HIDDEN)}


def as_namedset(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored named set in TDP's shape: ``id`` first, ``group`` only when set."""
    body = _stored(doc)
    out: dict[str, Any] = {"id": body.pop("_id")}
    if not body.get("group"):
        body.pop("group", None)
    out.update(body)
    return out


@dataclass(frozen=True)
class _Kind:
    collection: str
    resource: str  # of the whole collection; one item is f"{item}/<id>"
    item: str
    label: str


_NAMEDSET = _Kind(NAMEDSETS, NAMEDSETS_RESOURCE, "tdp:namedset", "named set")
_ATTACHMENT = _Kind(ATTACHMENTS, ATTACHMENTS_RESOURCE, "tdp:attachment", "attachment")


class TdpStorage:
    """The named sets and attachments of one app.

    :param store: the document store holding :func:`collections`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def _run(self, fn: Callable[[Any], T], write: bool = True) -> T:
        return self.store.run(fn, write=write)

    def _found(self, kind: _Kind, item_id: str, doc: dict[str, Any] | None) -> dict[str, Any]:
        if doc is None:
            raise NotFound(f"{kind.label} {item_id!r} cannot be found",
                           hint="GET /api/tdp/storage/namedsets/ lists the sets you may read"
                           if kind is _NAMEDSET else None)
        return doc

    def _allow(self, kind: _Kind, item_id: str, doc: dict[str, Any], action: str) -> None:
        # the collection first: the server's defaults (anonymous_read, logins for writes) and
        # config rules apply before the item's own TDP permission
        security.check(kind.resource, action)
        permission = perms.READ if action == "read" else perms.WRITE
        security.check(f"{kind.item}/{item_id}", action, rule=_item_rule(doc, permission))

    def _read(self, kind: _Kind, item_id: str) -> dict[str, Any]:
        doc = self._run(lambda tx: tx.get(kind.collection, item_id), write=False)
        self._allow(kind, item_id, self._found(kind, item_id, doc), "read")
        return doc  # type: ignore[no-any-return]

    def _change(self, kind: _Kind, item_id: str, values: dict[str, Any]) -> dict[str, Any]:
        def change(tx: Any) -> dict[str, Any]:
            doc = self._found(kind, item_id, tx.get(kind.collection, item_id, for_update=True))
            self._allow(kind, item_id, doc, "update")
            new = _secure({**_stored(doc), **values})
            new.pop("_id", None)
            return tx.update(kind.collection, item_id, new)  # type: ignore[no-any-return]

        return self._run(change)

    def _delete(self, kind: _Kind, item_id: str) -> int:
        def remove(tx: Any) -> int:
            doc = self._found(kind, item_id, tx.get(kind.collection, item_id, for_update=True))
            self._allow(kind, item_id, doc, "delete")
            return tx.delete(kind.collection, item_id)  # type: ignore[no-any-return]

        return self._run(remove)

    def _create(self, kind: _Kind, doc: dict[str, Any]) -> dict[str, Any]:
        security.check(kind.resource, "create")
        return self._run(lambda tx: tx.create(kind.collection, _secure(doc)))

    # -- named sets ------------------------------------------------------------------------------

    def list_namedsets(self, user: User, id_type: str | None = None) -> list[dict[str, Any]]:
        """The sets ``user`` may read (TDP permissions), optionally of one ``idType``."""
        security.check(NAMEDSETS_RESOURCE, "read")
        query: dict[str, Any] = {"readers": {"$in": perms.keys_of(user)}}
        if id_type is not None:
            query["idType"] = id_type
        return [as_namedset(d) for d in self._select_all(NAMEDSETS, query)]

    def _select_all(self, collection: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self._run(lambda tx: tx.page(collection, query, limit=self.store.max_limit,
                                                cursor=cursor, count=False), write=False)
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if len(items) > MAX_LISTED:
                raise BadRequest("too_many_results", f"more than {MAX_LISTED} named sets match",
                                 hint="filter with ?idType=...")
            if not cursor:
                return items

    def namedset(self, set_id: str) -> dict[str, Any]:
        """The set ``set_id`` in TDP's shape, if the current user may read it (else 401/403/404)."""
        return as_namedset(self._read(_NAMEDSET, set_id))

    def create_namedset(self, values: dict[str, Any], user: User) -> dict[str, Any]:
        """Store a new set created by ``user`` (who is its ``creator``); return it."""
        return as_namedset(self._create(_NAMEDSET, {"name": "NoName", **values,
                                                    "creator": user.name}))

    def update_namedset(self, set_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change the given fields of a set the current user may write; return it."""
        return as_namedset(self._change(_NAMEDSET, set_id, values))

    def delete_namedset(self, set_id: str) -> int:
        """Delete a set the current user may write; return how many were deleted (1)."""
        return self._delete(_NAMEDSET, set_id)

    def namedset_ids(self, set_id: str) -> tuple[str, list[str]]:
        """``(idType, ids)`` of a set the current user may read."""
        found = self.namedset(set_id)
        return str(found.get("idType") or ""), [str(i) for i in found.get("ids") or []]

    # -- attachments -----------------------------------------------------------------------------

    def add_attachment(self, data: str, content_type: str, user: User) -> str:
        """Store an attachment of ``user`` with TDP's default permissions; return its id."""
        doc = {"data": data, "content_type": content_type, "creator": user.name}
        return str(self._create(_ATTACHMENT, doc)["_id"])

    def attachment(self, item_id: str) -> tuple[str, str]:
        """``(data, content_type)`` of an attachment the current user may read."""
        doc = self._read(_ATTACHMENT, item_id)
        return str(doc["data"]), str(doc.get("content_type") or "application/json")

    def replace_attachment(self, item_id: str, data: str, content_type: str) -> str:
        """Replace the data of an attachment the current user may write; return its id."""
        self._change(_ATTACHMENT, item_id, {"data": data, "content_type": content_type})
        return item_id

    def delete_attachment(self, item_id: str) -> int:
        """Delete an attachment the current user may write; return 1."""
        return self._delete(_ATTACHMENT, item_id)
