"""What a request to a view may carry, for generated forms: arguments, replacements, filters.

``/desc`` names the arguments and replacements; a form also needs each argument's type,
description and example, the choices of a replacement and the kind of each filter (a number
range, a choice of categories, or free text). Reading it needs the read right on the view.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

from core_server import security
from core_server.dbview.params import filter_keys
from core_server.dbview.params import is_server_replacement
from core_server.dbview.service import dbviews_of


def _choices(valid: Any) -> dict[str, Any]:
    if isinstance(valid, (list, tuple, set, frozenset)):
        return {"choices": [str(v) for v in valid]}
    if valid in (int, float):
        return {"type": "integer" if valid is int else "number"}
    if isinstance(valid, re.Pattern):
        return {"pattern": valid.pattern}
    return {"pattern": "[A-Za-z0-9_.]+"}


def _filter(name: str, column: dict[str, Any] | None) -> dict[str, Any]:
    col = column or {}
    entry: dict[str, Any] = {"key": name, "kind": "text"}
    if col.get("type") == "number":
        entry.update(kind="range", min=col.get("min"), max=col.get("max"))
    elif col.get("type") in ("categorical", "set") and col.get("categories"):
        entry.update(kind="choice", choices=[str(c) for c in col["categories"]])
    return entry


def view_inputs(connector: str, view: str) -> dict[str, Any]:
    """``{"arguments": [...], "replacements": [...], "filters": [...]}`` of one view.

    Derived columns are read (once) so that number ranges and categories are known.
    """
    dbv = dbviews_of(current_app)
    entry = dbv.entry(connector)
    found = dbv.view(entry, view)
    security.check(f"db:{connector}/{view}", "read", rule=found.security)
    columns = found.columns if found.is_callback else dbv.columns(entry, found)
    arguments = [(found.argument_infos[n].to_dict() if n in found.argument_infos
                  else {"name": n}) for n in found.arguments]
    replacements = [{"name": n, **_choices(found.valid_replacements.get(n))}
                    for n in found.replacements if not is_server_replacement(n, found)]
    filters = [_filter(k, columns.get(k)) for k in filter_keys(found, columns)]
    return {"arguments": arguments, "replacements": replacements, "filters": filters,
            "sortable": list(columns), "callback": found.is_callback}
