"""The ``/api/store`` blueprint: parse the request, call the store, encode the answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import request
from werkzeug.routing import BaseConverter

from core_server import requestlog
from core_server import security
from core_server.docstore import batch
from core_server.docstore import meta
from core_server.docstore import rights
from core_server.docstore.params import ListArgs
from core_server.docstore.params import body_args
from core_server.docstore.params import etag
from core_server.docstore.params import if_match
from core_server.docstore.params import json_body
from core_server.docstore.params import parse_bool
from core_server.docstore.params import parse_fields
from core_server.docstore.params import query_args
from core_server.docstore.store import Store
from core_server.docstore.transaction import project
from core_server.docstore.validate import validate
from core_server.encoding import json_response
from core_server.errors import BadRequest
from core_server.errors import NotFound
from core_server.docstore.store import STORE
from core_server.state import current_state
from core_server.trees import get_path

blueprint = Blueprint("docstore", __name__, url_prefix="/api/store")


class CollectionName(BaseConverter):
    """A collection name starts with a letter (``model.NAME_RE``), so ``/_meta`` and ``/_batch``
    are never read as a collection (and OPTIONS/Allow tell their own methods)."""

    regex = r"[A-Za-z][^/]*"


class DocumentId(BaseConverter):
    """Document ids never start with ``_`` (the store makes hex UUIDs), so ``/_count``,
    ``/_query``, ``/_meta`` and ``/_check`` are never read as a document id."""

    regex = r"[^_/][^/]*"


CONVERTERS = {"collection": CollectionName, "doc_id": DocumentId}


def _store() -> Store:
    return current_state().get(STORE)


def guard(collection: str, action: str, rule: Any = None) -> security.User:
    """:func:`rights.guard` of ``collection`` (404 for unknown names)."""
    return rights.guard(_store().collection(collection), action, rule)


def _doc_response(doc: dict[str, Any], status: int = 200, collection: str = "") -> Response:
    headers = {"ETag": etag(doc["_version"])}
    if status == 201:
        headers["Location"] = f"{request.script_root}/api/store/{collection}/{doc['_id']}"
    return json_response(doc, status, headers)


def _run(fn: Any, user: security.User, write: bool = True, autocommit: bool = False) -> Any:
    """Run ``fn(tx)`` in a store transaction with the user's rights, timed as ``db``.

    ``autocommit``: ``fn`` runs one statement (no BEGIN/COMMIT, see Store.transaction).
    """
    with requestlog.timed("db"):
        return _store().run(fn, write=write, user=user, enforce=True, autocommit=autocommit)


def _page(c: str, args: ListArgs, from_text: bool) -> dict[str, Any]:
    user = guard(c, "read")
    page: dict[str, Any] = _run(lambda tx: tx.page(
        c, args.filter, sort=args.sort, limit=args.limit, offset=args.offset,
        cursor=args.cursor, fields=args.fields, count=args.count, from_text=from_text),
        user, write=False, autocommit=True)  # the page and its total are one statement
    requestlog.set_rows(len(page["items"]))
    return page


def _with_link(page: dict[str, Any]) -> Response:
    response = json_response(page)
    if page.get("next_cursor"):
        args = request.args.to_dict(flat=False)
        args["_cursor"] = [page["next_cursor"]]
        args.pop("_offset", None)
        args.pop("_skip", None)
        link = f"{request.script_root}{request.path}?{urlencode(args, doseq=True)}"
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response


@blueprint.get("/")
@blueprint.get("/_meta")
def store_meta() -> Response:
    """Every collection with its schema, indexes, refs, operators and limits."""
    return json_response(meta.store_meta(_store()))


@blueprint.post("/_batch")
def run_batch() -> Response:
    """All-or-nothing list of insert/update/patch/delete operations."""
    body = json_body(request)
    with requestlog.timed("db"):
        results = batch.run(_store(), body)
    return json_response({"results": results})


@blueprint.get("/<collection:c>")
def list_docs(c: str) -> Response:
    """List with query-string filters."""
    return _with_link(_page(c, query_args(request.args), from_text=True))


@blueprint.post("/<collection:c>/_query")
def query_docs(c: str) -> Response:
    """List with a JSON query body."""
    return json_response(_page(c, body_args(json_body(request)), from_text=False))


@blueprint.get("/<collection:c>/_count")
def count_docs(c: str) -> Response:
    """Count with the same filters."""
    user = guard(c, "read")
    args = query_args(request.args, frozenset())
    count = _run(lambda tx: tx.count(c, args.filter, from_text=True), user, write=False,
                 autocommit=True)
    return json_response({"count": count})


@blueprint.post("/<collection:c>")
def create_doc(c: str) -> Response:
    """Create one document."""
    user = guard(c, "create")
    body = json_body(request)
    # a create that is one INSERT needs no BEGIN and COMMIT (on PostgreSQL 1 round trip, not 3)
    doc = _run(lambda tx: tx.create(c, body), user,
               autocommit=_store().creates_in_one_statement(c))
    return _doc_response(doc, 201, c)


@blueprint.get("/<collection:c>/<doc_id:doc_id>")
def get_doc(c: str, doc_id: str) -> Response:
    """One document; 304 when ``If-None-Match`` names its version."""
    user = guard(c, "read")
    fields = parse_fields(request.args.get("fields") or request.args.get("_fields"))
    unknown = set(request.args) - {"fields", "_fields", "_reverse"}
    if unknown:
        raise BadRequest("unknown_parameter", f"unknown query parameters {sorted(unknown)}")
    reverse = request.args.get("_reverse")

    def read(tx: Any) -> Any:
        doc = tx.get(c, doc_id)
        if doc is not None and reverse:
            doc["_reverse"] = meta.reverse(tx, c, doc_id, reverse.split(","), user)
        return doc

    for path in fields or ():
        _store().compiler(c).resolve(path)
    doc = _run(read, user, write=False)
    if doc is None:
        raise NotFound(f"no document {doc_id!r} in collection {c}")
    tag = etag(doc["_version"])
    if tag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": tag})
    return json_response(project(doc, fields) if fields else doc, headers={"ETag": tag})


@blueprint.put("/<collection:c>/<doc_id:doc_id>")
def replace_doc(c: str, doc_id: str) -> Response:
    """Full replace with compare-and-set."""
    user = guard(c, "update")
    version = if_match(request, _store().require_if_match)
    body = json_body(request)
    doc = _run(lambda tx: tx.update(c, doc_id, body, if_version=version), user)
    return _doc_response(doc)


@blueprint.patch("/<collection:c>/<doc_id:doc_id>")
def patch_doc(c: str, doc_id: str) -> Response:
    """Merge patch (RFC 7396) or JSON patch (RFC 6902), chosen by Content-Type."""
    user = guard(c, "update")
    version = if_match(request, _store().require_if_match)
    body = json_body(request, (dict, list))
    kind = "json" if request.mimetype == "application/json-patch+json" or isinstance(body, list) \
        else "merge"
    doc = _run(lambda tx: tx.patch(c, doc_id, body, if_version=version, kind=kind), user)
    return _doc_response(doc)


@blueprint.delete("/<collection:c>/<doc_id:doc_id>")
def delete_doc(c: str, doc_id: str) -> Response:
    """Delete one document applying the reference strategies."""
    user = guard(c, "delete")
    version = if_match(request, _store().require_if_match)
    _run(lambda tx: tx.delete(c, doc_id, if_version=version), user)
    return Response(status=204)


@blueprint.delete("/<collection:c>")
def delete_docs(c: str) -> Response:
    """Delete by filter; no filter needs ``_all=true``."""
    user = guard(c, "delete")
    args = query_args(request.args, frozenset({"_all"}))
    everything = parse_bool(request.args.get("_all", "false"), "_all")
    if not args.filter and not everything:
        raise BadRequest("filter_required", f"refusing to delete every document of {c}",
                         hint="add a filter, or _all=true to delete everything")
    deleted = _run(lambda tx: tx.delete_where(c, args.filter, from_text=True), user)
    return json_response({"deleted": deleted})


@blueprint.post("/<collection:c>/_check")
def check_doc(c: str) -> Response:
    """Validate an item (optionally one path of it) without storing anything."""
    guard(c, "read")
    body = json_body(request)
    mode = body.get("mode", "create")
    path = body.get("path")
    if mode not in ("create", "update") or not isinstance(body.get("item"), dict) or (
            path is not None and (not isinstance(path, str) or "\x00" in path)):
        raise BadRequest("invalid_value", 'expected {"item": {...}, "path"?: "$.f", '
                         '"mode"?: "create"|"update"}')
    _, errors = validate(_store().collection(c), body["item"], partial=mode == "update")
    if path:
        prefix = path if path.startswith("$") else "$." + path
        errors = [e for e in errors if e["path"] == prefix or e["path"].startswith(prefix + ".")
                  or e["path"].startswith(prefix + "[")]
    return json_response({"valid": not errors, "errors": errors})


@blueprint.get("/<collection:c>/_meta")
def collection_meta(c: str) -> Response:
    """The schema of one collection."""
    guard(c, "read")
    return json_response(meta.collection_meta(_store(), c))


@blueprint.post("/<collection:c>/_meta")
def collection_rights(c: str) -> Response:
    """Evaluate the collection and field rights for the current user (and an optional item)."""
    body = json_body(request)
    return json_response(meta.evaluate_rights(_store(), c, body))


@blueprint.post("/<collection:c>/_actions/<name>/<doc_id:doc_id>")
def run_action(c: str, name: str, doc_id: str) -> Response:
    """A plugin action with validated params, in one transaction."""
    action = _store().collection(c).actions.get(name)
    if action is None:
        raise NotFound(f"collection {c} has no action {name!r}")
    schema = _store().collection(c)
    user = guard(c, "execute", action.right if action.right is not None
                 else schema.rights.get("update"))
    params = json_body(request) if request.get_data(cache=True) else {}
    result = _run(lambda tx: meta.run_action(tx, c, action, doc_id, params), user)
    return json_response(result)


@blueprint.route("/<collection:c>/_selections/<name>", methods=["GET", "POST"])
def selection(c: str, name: str) -> Response:
    """A named projection + filter; rows are lists with ``_id`` first."""
    chosen = _store().collection(c).selections.get(name)
    if chosen is None:
        raise NotFound(f"collection {c} has no selection {name!r}")
    from_text = request.method == "GET"
    args = query_args(request.args) if from_text else body_args(json_body(request))
    args.filter = {"$and": [chosen.filter, args.filter]} if args.filter else chosen.filter
    args.sort = args.sort or list(chosen.sort) or None
    args.fields = list(chosen.fields)
    page = _page(c, args, from_text)
    columns = ["_id", *chosen.fields]
    rows = [[get_path(item, col, None) for col in columns] for item in page.pop("items")]
    return json_response({"columns": columns, "rows": rows, **page})
