"""The OpenAPI contribution of the TDP routes (storage, proxy, config keys, migrations)."""

from __future__ import annotations

from typing import Any

from core_server.openapi import operation
from core_server.tdp.service import TdpState

TAG = "tdp"
_STRING = {"type": "string"}
_NAMEDSET = {
    "type": "object",
    "properties": {
        "id": _STRING, "name": _STRING, "description": _STRING, "idType": _STRING,
        "ids": {"type": "array", "items": _STRING}, "subTypeKey": _STRING,
        "subTypeValue": _STRING, "subTypeFromSession": {"type": "boolean"},
        "type": {"type": "integer"}, "creator": _STRING, "group": _STRING,
        "permissions": {"type": "integer", "description": "TDP's [buddies]owner/group/others "
                        "digits, e.g. 744"},
        "buddies": {"type": "array", "items": _STRING},
    },
}
_TEXT = {"type": "string", "pattern": "^[^\\u0000]*$"}
#: what permissions.parse accepts: up to four octal digits (744, "0740"), as text or a number
_PERMISSIONS_SCHEMA = {"anyOf": [{"type": "string", "pattern": "^\\s*[0-7]{1,4}\\s*$"}, {
    "type": "integer", "enum": sorted({int(f"{n:o}") for n in range(8**4)})}]}
_PERMISSIONS = {"$ref": "#/components/schemas/tdp.permissions"}  # once: the enum is long
_INPUT = {**{k: {"anyOf": [_TEXT, {"type": "null"}]}  # null: the empty text (no group)
             for k in ("name", "description", "idType", "subTypeKey", "subTypeValue", "group")},
          # the store keeps ints within ±(2**63 - 1)
          "type": {"type": "integer", "minimum": -(2**63 - 1), "maximum": 2**63 - 1},
          "permissions": _PERMISSIONS, "subTypeFromSession": {"type": "boolean"}}
_FORM = {"content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
        # one field or repeated fields (a form cannot tell a one-element list from a value)
        **_INPUT, "subTypeFromSession": {"anyOf": [{"type": "boolean"}, {
            "type": "string", "enum": ["true", "false", "1", "0", "on", "off", "yes", "no", ""]}]},
        "ids[]": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT}]},
        "buddies[]": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT}]}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        # a list, or one string: comma-separated ids, buddies separated by ; or ,
        **_INPUT, "ids": {"anyOf": [_TEXT, {"type": "array", "items": {"anyOf": [
            _TEXT, {"type": "number"}]}}]},
        "buddies": {"anyOf": [_TEXT, {"type": "array", "items": _TEXT}]}}}}}}
_WRITE_ERRORS = (400, 401, 403, 404, 409, 422, 503)


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _STRING,
            "description": description}


def _text(summary: str, **extra: Any) -> dict[str, Any]:
    op = operation(summary, tag=TAG, errors=_WRITE_ERRORS, **extra)
    op["responses"]["200"] = {"description": "the attachment id",
                              "content": {"text/plain": {"schema": _STRING}}}
    return op


def _storage() -> dict[str, Any]:
    one = [_path("set_id", "the named set's id")]
    item = [_path("item_id", "the attachment's id")]
    raw: dict[str, Any] = {"content": {"*/*": {"schema": {}}}}
    base = "/api/tdp/storage"
    return {
        f"{base}/namedsets/": {
            "get": operation("the named sets the user may read", {"type": "array",
                             "items": _NAMEDSET}, tag=TAG, errors=(401, 403, 503),
                             parameters=[{"name": "idType", "in": "query", "schema": _STRING}]),
            "post": operation("store a named set (creator: the logged-in user)", _NAMEDSET,
                              tag=TAG, errors=_WRITE_ERRORS, requestBody=_FORM)},
        f"{base}/namedset/{{set_id}}": {
            "get": operation("one named set", _NAMEDSET, tag=TAG, parameters=one,
                             errors=(401, 403, 404, 503)),
            "put": operation("change the fields sent", _NAMEDSET, tag=TAG, parameters=one,
                             errors=_WRITE_ERRORS, requestBody=_FORM),
            "delete": operation("delete a named set (answers 1)", {"type": "integer"}, tag=TAG,
                                parameters=one, errors=_WRITE_ERRORS)},
        f"{base}/attachment/": {"post": _text("store the body as an attachment",
                                              requestBody=raw)},
        f"{base}/attachment/{{item_id}}": {
            "get": {**operation("the stored body, with its content type", tag=TAG,
                                parameters=item, errors=(401, 403, 404, 503)),
                    "responses": {"200": {"description": "the body", **raw}}},
            "put": _text("replace the attachment's body", parameters=item, requestBody=raw),
            "delete": operation("delete an attachment (answers 1)", {"type": "integer"},
                                tag=TAG, parameters=item, errors=_WRITE_ERRORS)},
    }


def paths(tdp: TdpState) -> dict[str, Any]:
    """``{"paths": ...}`` of the TDP routes, with the configured proxy sites and config keys."""
    sites = sorted(tdp.sites)
    keys = sorted(tdp.safe_keys.keys)
    proxy = operation("the configured site's answer (any content type)", tag=TAG,
                      parameters=[{**_path("site_id", "a tdp_proxy site"),
                                   **({"schema": {"type": "string", "enum": sites}} if sites
                                      else {})}],
                      errors=(400, 401, 403, 404, 502, 504))
    proxy["responses"]["200"] = {"description": "the upstream answer",
                                 "content": {"*/*": {"schema": {}}}}
    migration = [_path("migration_id", "a migration id")]
    return {"paths": {
        **_storage(),
        "/api/tdp/proxy/{site_id}": {"get": proxy},
        "/api/tdp/config/{key}": {"get": operation(
            "a whitelisted config value (tdp-config-safe-keys); key/sub/... for one below it",
            tag=TAG, parameters=[_path("key", "a safe key (" + ", ".join(keys) + "), then "
                                       "/sub/key for a value below it")],
            errors=(401, 403, 404))},
        "/api/tdp/db-migration/": {"get": operation(
            "ids of the alembic migrations (admins)", {"type": "array", "items": _STRING},
            tag=TAG, errors=(401, 403))},
        "/api/tdp/db-migration/{migration_id}": {"get": operation(
            "one migration's id (admins)", _STRING, tag=TAG, parameters=migration,
            errors=(401, 403, 404))},
    }, "components": {"schemas": {"tdp.permissions": _PERMISSIONS_SCHEMA}}}
