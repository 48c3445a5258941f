"""``/api/tdp/storage``: TDP's named sets and attachments (answers in TDP's shapes).

Named sets answer JSON objects (``id``, ``name``, ``ids``, ``idType``, ``creator``,
``permissions``, ...); creating, changing and deleting need a login (the server's write rule) and
TDP's write permission on the set. Attachments are stored as sent and answered with their content
type; posting one answers its id as text, as TDP does.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from core_server.encoding import json_response
from core_server.security import current_user
from core_server.tdp import forms
from core_server.tdp.service import current_tdp

blueprint = Blueprint("tdp_storage", __name__, url_prefix="/api/tdp/storage")


@blueprint.get("/namedsets/")
def list_namedsets() -> Response:
    """The named sets the user may read; ``?idType=`` keeps those of one id type."""
    sets = current_tdp().storage.list_namedsets(current_user(), request.args.get("idType"))
    return json_response(sets)


@blueprint.post("/namedsets/")
def create_namedset() -> Response:
    """Store a named set from the client's form (or JSON body); answer it with its ``id``."""
    created = current_tdp().storage.create_namedset(forms.namedset_values(request),
                                                    current_user())
    return json_response(created)


@blueprint.get("/namedset/<set_id>")
def get_namedset(set_id: str) -> Response:
    """One named set."""
    return json_response(current_tdp().storage.namedset(set_id))


@blueprint.put("/namedset/<set_id>")
def update_namedset(set_id: str) -> Response:
    """Change the fields the form (or JSON body) sends; answer the changed set."""
    changed = current_tdp().storage.update_namedset(set_id, forms.namedset_values(request))
    return json_response(changed)


@blueprint.delete("/namedset/<set_id>")
def delete_namedset(set_id: str) -> Response:
    """Delete a named set; answer the number deleted (``1``), as TDP does."""
    return json_response(current_tdp().storage.delete_namedset(set_id))


@blueprint.post("/attachment/")
def post_attachment() -> Response:
    """Store the request body; answer the new attachment's id as text."""
    data, content_type = forms.attachment_body(request)
    item_id = current_tdp().storage.add_attachment(data, content_type, current_user())
    return Response(item_id, status=200, content_type="text/plain; charset=utf-8")


@blueprint.get("/attachment/<item_id>")
def get_attachment(item_id: str) -> Response:
    """The stored body with its content type."""
    data, content_type = current_tdp().storage.attachment(item_id)
    return Response(data, status=200, content_type=content_type)


@blueprint.put("/attachment/<item_id>")
def put_attachment(item_id: str) -> Response:
    """Replace an attachment's body; answer its id as text."""
    data, content_type = forms.attachment_body(request)
    current_tdp().storage.replace_attachment(item_id, data, content_type)
    return Response(item_id, status=200, content_type="text/plain; charset=utf-8")


@blueprint.delete("/attachment/<item_id>")
def delete_attachment(item_id: str) -> Response:
    """Delete an attachment; answer ``1``."""
    return json_response(current_tdp().storage.delete_attachment(item_id))
