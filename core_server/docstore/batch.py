"""``POST /api/store/_batch``: many operations in one transaction, all or nothing."""

from __future__ import annotations

from typing import Any

from core_server.docstore.rights import guard
from core_server.errors import ApiError
from core_server.errors import BadRequest

_ACTIONS = {"insert": "create", "update": "update", "patch": "update", "delete": "delete"}
_KEYS = {"insert": {"doc"}, "update": {"id", "doc", "if_version"},
         "patch": {"id", "patch", "if_version", "patch_type"}, "delete": {"id", "if_version"}}


def _parse(body: dict[str, Any], max_ops: int) -> list[dict[str, Any]]:
    ops = body.get("ops")
    if set(body) != {"ops"} or not isinstance(ops, list):
        raise BadRequest("invalid_body", 'expected {"ops": [{"op": ..., "collection": ...}]}')
    if len(ops) > max_ops:
        raise BadRequest("too_many_ops", f"a batch takes at most {max_ops} operations",
                         hint="config store.max_batch_ops")
    for i, op in enumerate(ops):
        kind = op.get("op") if isinstance(op, dict) else None
        if not isinstance(kind, str) or kind not in _ACTIONS or \
                not isinstance(op.get("collection"), str):
            raise BadRequest("invalid_body", f"op {i}: needs 'op' (insert, update, patch, "
                             "delete) and 'collection'")
        extra = set(op) - _KEYS[kind] - {"op", "collection"}
        if extra:
            raise BadRequest("invalid_body", f"op {i}: unknown keys {sorted(extra)}")
        if kind != "insert" and not isinstance(op.get("id"), str):
            raise BadRequest("invalid_body", f"op {i}: {kind} needs an 'id'")
    return ops


def _apply(tx: Any, op: dict[str, Any]) -> dict[str, Any]:
    kind, name = op["op"], op["collection"]
    version = op.get("if_version")
    if kind == "insert":
        doc = tx.create(name, op.get("doc"))
        return {"status": 201, "_id": doc["_id"], "_version": doc["_version"]}
    if kind == "update":
        doc = tx.update(name, op["id"], op.get("doc"), if_version=version)
    elif kind == "patch":
        patch_type = op.get("patch_type", "merge")
        if patch_type not in ("merge", "json"):
            raise BadRequest("invalid_value", "patch_type must be merge or json")
        doc = tx.patch(name, op["id"], op.get("patch"), if_version=version, kind=patch_type)
    else:
        deleted = tx.delete(name, op["id"], if_version=version)
        return {"status": 204, "_id": op["id"], "deleted": deleted}
    return {"status": 200, "_id": doc["_id"], "_version": doc["_version"]}


def run(store: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Check every op's rights, then apply all of them in one transaction."""
    ops = _parse(body, store.max_batch)
    user = None
    for name, action in sorted({(op["collection"], _ACTIONS[op["op"]]) for op in ops}):
        user = guard(store.collection(name), action)

    def work(tx: Any) -> list[dict[str, Any]]:
        results = []
        for i, op in enumerate(ops):
            try:
                results.append({"op": op["op"], "collection": op["collection"], **_apply(tx, op)})
            except ApiError as exc:
                raise ApiError(exc.status, exc.code, f"op {i} ({op['op']} {op['collection']}): "
                               f"{exc.message}; nothing was written", hint=exc.hint,
                               details=[{"op": i}, *(exc.details or [])],
                               headers=exc.headers) from exc
        return results

    return store.run(work, user=user, enforce=True)  # type: ignore[no-any-return]
