"""Reading what a collection does besides storing: hooks, actions and named selections.

The results are :class:`~core_server.docstore.model.Action` and
:class:`~core_server.docstore.model.Selection` values; ``schema.load_schema`` calls these.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from core_server.docstore.fields import Context
from core_server.docstore.fields import field_of
from core_server.docstore.model import HOOKS
from core_server.docstore.model import NAME_RE
from core_server.docstore.model import Action
from core_server.docstore.model import Collection
from core_server.docstore.model import SchemaError
from core_server.docstore.model import Selection


def hooks(ctx: Context, hooks: Any) -> dict[str, tuple[Callable[..., Any], ...]]:
    """Hook callables by event."""
    if not hooks:
        return {}
    if not isinstance(hooks, Mapping) or set(hooks) - set(HOOKS):
        raise SchemaError(f"collection {ctx.collection}: hooks must map {', '.join(HOOKS)}")
    result = {}
    for event, fns in hooks.items():
        fns = fns if isinstance(fns, (list, tuple)) else [fns]
        result[event] = tuple(ctx.callable(fn, f"hook {event}") for fn in fns)
    return result


def actions(ctx: Context, actions: Any) -> dict[str, Action]:
    """Actions with their validated parameter fields."""
    result = {}
    for name, spec in (actions or {}).items():
        if not NAME_RE.match(name) or not isinstance(spec, Mapping) or "handler" not in spec:
            raise SchemaError(f"collection {ctx.collection}: action {name!r} needs a handler")
        params = {k: field_of(ctx, k, v) for k, v in (spec.get("params") or {}).items()}
        result[name] = Action(name, params, ctx.callable(spec["handler"], f"action {name}"),
                              spec.get("rights"))
    return result


def selections(ctx: Context, collection: Collection, selections: Any) -> dict[str, Selection]:
    """Named projections with their filter and sort."""
    result = {}
    for name, spec in (selections or {}).items():
        if not NAME_RE.match(name) or not isinstance(spec, Mapping):
            raise SchemaError(f"collection {ctx.collection}: selection {name!r} is invalid")
        fields = tuple(spec.get("fields") or ())
        for path in fields:
            if collection.field(path) is None:
                raise ctx.error(path, f"selection {name}: unknown field")
        result[name] = Selection(name, fields, dict(spec.get("filter") or {}),
                                 tuple(spec.get("sort") or ()))
    return result
