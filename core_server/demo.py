"""Demo databases: plugins ship a ``<plugin>.demo_data`` module with ``write(url, rows, progress)``.

``core-server demo-data`` (and the first ``core-server serve``) calls it for each base connector
of that plugin: for a SQLite file that is missing, so ``make run`` serves data without a
download, and for any other database URL (PostgreSQL in the compose stack) when the module's
``present(url)`` says the tables are not there yet. A module without ``present`` is only written
to SQLite files (another database may hold data that is not the plugin's).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from flask import Flask
from sqlalchemy.engine import make_url

from core_server.dbview import dbviews_of
from core_server.dbview import sqlite_file
from core_server.state import state_of

Progress = Callable[[str], None]


def _module(plugin: str) -> ModuleType | None:
    name = f"{plugin}.demo_data"
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        return None
    return None if found is None else importlib.import_module(name)


def ensure_demo_data(app: Flask, rows: int | None = None, force: bool = False,
                     progress: Progress | None = None) -> list[str]:
    """Generate missing (or, with ``force``, all) demo databases; return what was written.

    :returns: the SQLite files and (password-free) database URLs written.
    """
    progress = progress or (lambda message: None)
    dbv = dbviews_of(app)
    count = rows or state_of(app).config.get_int("dbview.demo_rows")
    written: list[str] = []
    for name, entry in sorted(dbv.connectors.items()):
        module = _module(entry.plugin) if entry.base == name else None
        write = getattr(module, "write", None)
        url = entry.connector.dburl
        if write is None or not url:
            continue
        path = sqlite_file(url)
        if path is not None:
            if force or not path.exists():
                _write_file(name, write, path, count, progress)
                written.append(str(path))
        elif force or not _present(module, url):
            shown = make_url(url).render_as_string(hide_password=True)
            progress(f"{name}: writing {count} rows to {shown}")
            write(url, rows=count, progress=progress)
            written.append(shown)
    dbv.engines.dispose()
    return written


def _present(module: ModuleType | None, url: str) -> bool:
    present = getattr(module, "present", None)
    return True if present is None else bool(present(url))


def _write_file(name: str, write: Callable[..., None], path: Path, count: int,
                progress: Progress) -> None:
    progress(f"{name}: writing {count} rows to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    # write beside and rename, so a server never sees a half-written file
    write(f"sqlite:///{partial}", rows=count, progress=progress)
    os.replace(partial, path)
