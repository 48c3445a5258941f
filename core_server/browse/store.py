"""``/browse/store/...``: collections as tables, documents with their version and references.

Reads go through the JSON API; the create, edit and delete forms (shown only to users with
that right) are sent by the page's script straight to ``/api/store`` with the CSRF token and
``If-Match``, so the API's validation errors reach the user unchanged.
"""

from __future__ import annotations

from typing import Any

from flask import request

from core_server import docstore
from core_server import security
from core_server.browse import client
from core_server.browse import links
from core_server.browse.base import PAGE_SIZE
from core_server.browse.base import PageError
from core_server.browse.base import blueprint
from core_server.browse.base import must
from core_server.browse.base import render

ACTIONS = ("create", "update", "delete")


def rights(collection: str) -> dict[str, bool]:
    """What the current user may do with ``collection`` (the API decides again on each write)."""
    schema = docstore.current_store().collections.get(collection)
    own = schema.rights if schema is not None else {}
    return {action: security.can(f"store:{collection}", action, rule=own.get(action))
            for action in ("read", *ACTIONS)}


def readable_collections() -> list[str]:
    """The collections the current user may read."""
    return [name for name in sorted(docstore.current_store().collections)
            if rights(name)["read"]]


def _meta(collection: str) -> dict[str, Any]:
    meta: dict[str, Any] = must(client.get(links.api_path("store", collection, "_meta")))
    return meta


def fields_of(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema's fields for tables and forms: name, JSON type, required, ref target."""
    schema = meta["json_schema"]
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type", "string")
        kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
        out.append({"name": name, "type": kind, "required": name in required,
                    "ref": meta["refs"].get(name, {}).get("collection"),
                    "enum": prop.get("enum")})
    return out


def indexed_fields(meta: dict[str, Any]) -> list[str]:
    """The fields that filters run on efficiently (first fields of the indexes, list fields)."""
    found: list[str] = []
    for index in meta["indexes"]:
        for spec in index["fields"]:
            name = spec.split(":")[0]
            if name not in found:
                found.append(name)
    return found


@blueprint.get("/store/")
def collections_page() -> tuple[str, int]:
    """The collections the user may read."""
    return render("collections.html", collections=readable_collections())


@blueprint.get("/store/<collection>")
def collection_page(collection: str) -> tuple[str, int]:
    """One page of a collection's documents, with filters on its indexed fields."""
    meta = _meta(collection)
    params = links.pairs()
    query = params if any(k == "_limit" for k, _ in params) else \
        [*params, ("_limit", str(PAGE_SIZE))]
    answer = client.get(links.api_path("store", collection), query)
    page = answer.json() if answer.ok else {"items": [], "total": None}
    nxt = links.with_params(params, drop=("_offset",), _cursor=page.get("next_cursor")) \
        if page.get("next_cursor") else None
    return render("collection.html", collection=collection, meta=meta, fields=fields_of(meta),
                  indexed=indexed_fields(meta), params=params, page=page, next=nxt,
                  current=request.args.to_dict(flat=False),
                  error=None if answer.ok else answer.error, may=rights(collection),
                  path=links.api_path("store", collection))


@blueprint.get("/store/<collection>/<doc_id>")
def document_page(collection: str, doc_id: str) -> tuple[str, int]:
    """One document: its fields, version and references; the edit form if the user may."""
    meta = _meta(collection)
    path = links.api_path("store", collection, doc_id)
    answer = client.get(path)
    if not answer.ok:
        raise PageError(answer.error)
    return render("document.html", collection=collection, meta=meta, fields=fields_of(meta),
                  doc=answer.json(), may=rights(collection), path=path)
