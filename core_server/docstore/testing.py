"""Test helpers for the document store: an app with a temporary plugin of collections."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from core_server.app import create_app
from core_server.config import merge
from core_server.testing import temporary_plugin

#: Writes by anonymous users are allowed (login does not exist in these tests).
OPEN_WRITES: dict[str, Any] = {"core_server": {"security": {"anonymous_write": True}}}

#: The spec's example collections and a few more for references, hooks and actions.
DEMO_SCHEMAS = '''
USERS = {"fields": {"login": {"type": "string", "required": True, "max_length": 50},
                    "email": {"type": "string", "rights": {"read": ["admin"], "write": ["admin"]}},
                    "roles": {"type": "list", "items": "string"}},
         "indexes": [{"fields": ["login"], "unique": True}]}
PLUGINS = {"name": "plugins", "fields": {
    "name": {"type": "string", "required": True, "max_length": 200},
    "age": {"type": "int", "min": 0}, "city": {"type": "string"},
    "score": {"type": "float"}, "active": {"type": "bool"}, "born": {"type": "datetime"},
    "tags": {"type": "list", "items": "string", "indexed": True},
    "owner": {"type": "ref", "collection": "users", "required": True},
    "meta": {"type": "dict", "fields": {"color": {"type": "string", "enum": ["red", "blue"]}}}},
    "indexes": [{"fields": ["name"], "unique": True}, {"fields": ["age", "city:desc"]}],
    "rights": {"read": "any"}}
TEAMS = {"fields": {"name": {"type": "string", "required": True},
                    "members": {"type": "refs", "collection": "users", "on_delete": "unlink"},
                    "lead": {"type": "ref", "collection": "users", "on_delete": "set_null",
                             "nullable": True}}}
PROJECTS = {"fields": {"name": {"type": "string"},
                       "team": {"type": "ref", "collection": "teams", "on_delete": "cascade"},
                       "parent": {"type": "ref", "collection": "projects",
                                  "on_delete": "cascade", "nullable": True}}}
TASKS = {"fields": {"title": {"type": "string", "required": True},
                    "project": {"type": "ref", "collection": "projects", "on_delete": "cascade"}},
         "hooks": {"before_delete": "ds_test_plugin.schemas:refuse_locked"}}
NOTES = {"fields": {"title": {"type": "string", "required": True},
                    "n": {"type": "int", "default": 0}, "log": {"type": "list", "items": "string"}},
         "hooks": {"before_create": "ds_test_plugin.schemas:stamp"},
         "actions": {"increment": {"params": {"by": {"type": "int", "required": True, "min": 1}},
                                   "handler": "ds_test_plugin.schemas:increment"}},
         "selections": {"brief": {"fields": ["title", "n"], "filter": {"n": {"$gte": 0}},
                                  "sort": ["-n"]}},
         "rights": {"delete": ["admin"]}}


COUNTERS = {"fields": {"name": {"type": "string", "required": True},
                       "value": {"type": "int", "default": 0},
                       "mirror": {"type": "int", "default": 0}}}


def refuse_locked(tx, doc):
    if doc.get("title") == "locked":
        raise ValueError("task is locked")


def stamp(tx, doc):
    doc.setdefault("log", []).append("created")


def increment(tx, doc, params):
    new = tx.patch("notes", doc["_id"], {"n": doc["n"] + params["by"]})
    return new["n"]


def users(): return USERS
def plugins(): return PLUGINS
def teams(): return TEAMS
def projects(): return PROJECTS
def tasks(): return TASKS
def notes(): return NOTES
def counters(): return COUNTERS
'''

DEMO_INIT = '''
def register(registry):
    for name in ("users", "plugins", "teams", "projects", "tasks", "notes", "counters"):
        registry.append("doc-collection", name, "ds_test_plugin.schemas", {"factory": name})
'''

_counter = itertools.count()


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug's threaded server on 127.0.0.1; yield its base URL."""
    import threading

    from werkzeug.serving import make_server

    # port 0: the kernel picks a free one (parallel test runs never collide)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@contextmanager
def store_app(tmp_path: Path, db_url: str, config: dict[str, Any] | None = None, *,
              init: str = DEMO_INIT, files: dict[str, str] | None = None,
              name: str = "ds_test_plugin") -> Iterator[Flask]:
    """An app whose store lives at ``db_url`` with the demo collections (or ``files``)."""
    root = tmp_path / f"plugins{next(_counter)}"
    root.mkdir()
    layers = merge(merge({}, OPEN_WRITES), {"store": {"dburl": db_url}})
    with temporary_plugin(root, name, init, files or {"schemas.py": DEMO_SCHEMAS}):
        app = create_app(merge(layers, config or {}), plugins_dirs=[root],
                         data_dir=tmp_path / "data", entry_points=False)
        app.config["TESTING"] = True
        try:
            yield app
        finally:
            app.extensions["core_server"].store.dispose()
