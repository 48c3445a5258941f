"""``/browse/idtype/...``: id types, the types each one maps to, and a form that maps ids."""

from __future__ import annotations

from flask import request

from core_server.browse import client
from core_server.browse import links
from core_server.browse.base import blueprint
from core_server.browse.base import must
from core_server.browse.base import render


@blueprint.get("/idtype/")
def idtypes_page() -> tuple[str, int]:
    """Every id type."""
    return render("idtypes.html", idtypes=must(client.get("/api/idtype/")))


@blueprint.get("/idtype/<idtype>")
def idtype_page(idtype: str) -> tuple[str, int]:
    """The types reachable from ``idtype``; ``?to=T&q=a,b`` maps ids to ``T``."""
    reachable = must(client.get(links.api_path("idtype", idtype) + "/"))
    target = request.args.get("to") or (reachable[0] if reachable else "")
    ids = request.args.get("q", "")
    mapped, error = None, None
    if "q" in request.args and target:
        names = [i.strip() for i in ids.split(",") if i.strip()]
        answer = client.get(links.api_path("idtype", idtype, target), [("q", ",".join(names))])
        mapped = list(zip(names, answer.json() or [])) if answer.ok else None
        error = None if answer.ok else answer.error
    return render("idtype.html", idtype=idtype, reachable=reachable, target=target, ids=ids,
                  mapped=mapped, error=error)
