"""``/api/tdp/proxy/<id>``, ``/api/tdp/config/<key>`` and ``/api/tdp/db-migration/``."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from core_server import security
from core_server.encoding import json_response
from core_server.errors import NotFound
from core_server.tdp.migrations import MigrationError
from core_server.tdp.proxy import target_url
from core_server.tdp.service import current_tdp

blueprint = Blueprint("tdp", __name__, url_prefix="/api/tdp")

#: Resource names of :func:`core_server.security.check` (proxy sites: ``tdp_proxy:<id>``).
CONFIG_RESOURCE = "tdp:config"
MIGRATIONS_RESOURCE = "tdp:db-migration"


@blueprint.get("/proxy/<site_id>")
def proxy(site_id: str) -> Response:
    """Fetch the site's URL with the request's arguments filled in; stream its answer back."""
    security.check(f"tdp_proxy:{site_id}", "read")
    state = current_tdp()
    site = state.sites.get(site_id)
    if site is None:
        raise NotFound(f"no proxy site {site_id!r}", hint="sites: " + (
            ", ".join(sorted(state.sites)) or "none (tdp_proxy extensions add them)"))
    return state.upstream.fetch(site, target_url(site, request.args.to_dict()))


@blueprint.get("/config/<path:key>")
def config_value(key: str) -> Response:
    """The value of a whitelisted config key (``tdp-config-safe-keys``)."""
    security.check(CONFIG_RESOURCE, "read")
    return json_response(current_tdp().safe_keys.value(key))


@blueprint.get("/db-migration/")
def list_migrations() -> Response:
    """The ids of the configured migrations (admins only)."""
    security.check(MIGRATIONS_RESOURCE, "read", rule="admin")
    return json_response(list(current_tdp().migrations.items))


@blueprint.get("/db-migration/<migration_id>")
def get_migration(migration_id: str) -> Response:
    """The id of one migration, as TDP answers (admins only; 404 if unknown)."""
    security.check(MIGRATIONS_RESOURCE, "read", rule="admin")
    try:
        return json_response(current_tdp().migrations.get(migration_id).id)
    except MigrationError as exc:
        raise NotFound(str(exc), hint="GET /api/tdp/db-migration/ lists them") from None
