"""The document store (shared/specs/docstore.md): typed JSON collections over SQL.

``init_app`` loads every ``doc-collection`` extension into a :class:`Store` on
``app.extensions['core_server'].store``; tables are created on first use. This module is the
package's one public face: code outside ``core_server/docstore`` imports only the names in
``__all__``, the modules inside never import it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from core_server.dblimits import DbLimits
from core_server.docstore import meta
from core_server.docstore import openapi_doc
from core_server.docstore import routes
from core_server.docstore.model import Collection
from core_server.docstore.model import Field
from core_server.docstore.model import SchemaError
from core_server.docstore.schema import load_schema
from core_server.docstore.schema import load_yaml
from core_server.docstore.store import STORE
from core_server.docstore.store import Store
from core_server.docstore.transaction import Transaction
from core_server.registry import DOC_COLLECTION
from core_server.registry import Extension
from core_server.state import current_state
from core_server.state import state_of

__all__ = ["Collection", "Field", "SchemaError", "Store", "Transaction", "current_store",
           "init_app", "load_extension", "load_schema", "load_yaml"]

log = logging.getLogger("core_server.docstore")


def current_store() -> Store:
    """The :class:`Store` of the app handling the current request."""
    return current_state().get(STORE)


def resolve_callable(spec: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function (hooks and actions named in YAML)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError("expected 'module:function'")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def load_extension(ext: Extension) -> Collection:
    """The collection of one ``doc-collection`` extension (YAML file or ``create()`` dict)."""
    schema_file = ext.desc.get("schema")
    if schema_file:
        module = importlib.import_module(ext.module if ext.module else ext.plugin)
        base = Path(module.__file__ or "").parent
        path = (base / schema_file).resolve()
        if not path.is_file():
            raise SchemaError(f"collection {ext.id}: schema file {schema_file} not found in "
                              f"{base}")
        return load_yaml(path.read_text(encoding="utf-8"), ext.id, resolve_callable)
    return load_schema(ext.create(), ext.id, resolve_callable)


def init_app(app: Flask) -> None:
    """Load the collections, create the :class:`Store`, register routes, OpenAPI and health."""
    state = state_of(app)
    collections: dict[str, Collection] = {}
    for ext in state.registry.list(DOC_COLLECTION):
        try:
            collections[ext.id] = load_extension(ext)
        except Exception as exc:  # a bad schema fails its plugin, not the server
            log.error("doc-collection %s of plugin %s: %s", ext.id, ext.plugin, exc)
            state.registry.record_failure(ext.plugin, ext, exc)
    config = state.config
    store = Store(
        config.get_str("store.dburl"), collections,
        max_limit=config.get_int("store.max_limit"),
        default_limit=config.get_int("store.default_limit"),
        require_if_match=config.get_bool("store.require_if_match"),
        max_batch=config.get_int("store.max_batch_ops"),
        limits=DbLimits.from_config(config, config.get_int("store.statement_timeout")))
    state.put(STORE, store)
    app.url_map.converters.update(routes.CONVERTERS)
    app.register_blueprint(routes.blueprint)
    state.openapi.append(lambda: openapi_doc.paths(store))
    state.health_checks["store"] = meta.health(store)
