"""The landing page ``/``, the API index ``/api/`` and the interactive API docs ``/api/docs``.

Swagger UI comes from the ``flask-swagger-ui`` package (its ``dist`` files, served by this
server: no CDN, works offline); our own page configures it over ``/api/openapi.json`` and adds
the CSRF header of the session to every write, so "Try it out" works after ``POST /api/login``.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint
from flask import Response
from flask import redirect
from flask import request
from flask import send_from_directory
from flask import url_for

from core_server.browse import client
from core_server.browse.base import must
from core_server.browse.base import render
from core_server.encoding import json_response
from core_server.version import version

blueprint = Blueprint("site", __name__, template_folder="templates")

SWAGGER_DIST = Path(flask_swagger_ui.__file__).parent / "dist"

#: The tutorial's URLs on the landing page (shown when the tutorial plugin is loaded).
TRY_IT = (
    ("/api/hello_world", "the tutorial's namespace"),
    ("/api/db/mydb/mytable?_limit=5", "the first five rows of the tutorial view"),
    ("/api/db/mydb/mytable?filter_cat=MyCat%202&filter_gt_value=500&_sort=-value",
     "filtered and sorted"),
    ("/api/db/mydb/mytable.csv?_limit=10", "the same as CSV"),
    ("/api/db/mydb/mytable/desc", "columns, arguments and filters of the view"),
    ("/api/db/mydb/mytable/summary", "column summary: histograms and category counts"),
    ("/api/idtype/MyIDType/MyName?q=1,2,99999", "map ids to another id type"),
    ("/api/store/selections", "a document-store collection"),
    ("/api/proxy/planets/3", "a custom endpoint"),
)


def _links() -> list[tuple[str, str]]:
    return [(url_for("browse.index"), "browse views, collections and id types"),
            (url_for("site.api_docs"), "interactive API documentation (Swagger UI)"),
            (url_for("openapi.openapi_json"), "OpenAPI 3.1 of every route"),
            (url_for("introspection.health"), "health"),
            (url_for("introspection.version_info"), "versions"),
            (url_for("introspection.plugins"), "plugins as JSON"),
            (url_for("introspection.config"), "configuration (secrets as ***)")]


@blueprint.get("/")
def landing() -> tuple[str, int]:
    """Name, version, plugins with status and errors, links, and the tutorial's URLs."""
    plugins = must(client.get("/api/_plugins"))
    tutorial = any(p.get("name") == "myserverplugin" for p in plugins)
    return render("landing.html", plugins=plugins, pages=_links(),
                  try_it=TRY_IT if tutorial else ())


@blueprint.get("/api/")
def api_index() -> Response:
    """Browsers go to the landing page; JSON clients get the server's entry points."""
    accept = request.accept_mimetypes
    if accept["text/html"] > accept["application/json"]:  # a browser: */* ranks JSON lower
        return redirect(url_for("site.landing"))  # type: ignore[return-value]
    return json_response({"name": "core_server", "version": version(), "links": {
        "docs": url_for("site.api_docs"), "openapi": url_for("openapi.openapi_json"),
        "browse": url_for("browse.index"), "health": url_for("introspection.health"),
        "plugins": url_for("introspection.plugins"), "db": url_for("dbview.list_connectors"),
        "store": url_for("docstore.store_meta"), "idtypes": request.script_root + "/api/idtype/"}})


@blueprint.get("/api/docs")
def api_docs() -> tuple[str, int]:
    """Swagger UI over ``/api/openapi.json``."""
    return render("docs.html", spec=url_for("openapi.openapi_json"))


@blueprint.get("/api/docs/assets/<path:filename>")
def swagger_asset(filename: str) -> Response:
    """The Swagger UI files (JS, CSS, icons) of the installed package."""
    return send_from_directory(SWAGGER_DIST, filename, max_age=3600)
