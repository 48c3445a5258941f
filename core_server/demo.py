"""Demo databases: plugins ship a ``<plugin>.demo_data`` module with ``write(url, rows, progress)``.

``core-server demo-data`` (and the first ``core-server serve``) calls it for each SQLite file of
that plugin's connectors that is missing, so ``make run`` serves data without a download.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from core_server.dbview import dbviews_of
from core_server.dbview import sqlite_file
from core_server.state import state_of

Progress = Callable[[str], None]


def _writer(plugin: str) -> Callable[..., None] | None:
    name = f"{plugin}.demo_data"
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return None
    if found is None:
        return None
    return getattr(importlib.import_module(name), "write", None)


def ensure_demo_data(app: Flask, rows: int | None = None, force: bool = False,
                     progress: Progress | None = None) -> list[Path]:
    """Generate missing (or, with ``force``, all) demo SQLite files; return the files written."""
    progress = progress or (lambda message: None)
    dbv = dbviews_of(app)
    count = rows or state_of(app).config.get_int("dbview.demo_rows")
    written: list[Path] = []
    for name, entry in sorted(dbv.connectors.items()):
        path = sqlite_file(entry.connector.dburl) if entry.base == name else None
        write = _writer(entry.plugin) if path is not None else None
        if path is None or write is None or (path.exists() and not force):
            continue
        progress(f"{name}: writing {count} rows to {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.unlink(missing_ok=True)
        # write beside and rename, so a server never sees a half-written file
        write(f"sqlite:///{partial}", rows=count, progress=progress)
        os.replace(partial, path)
        written.append(path)
    dbv.engines.dispose()
    return written
