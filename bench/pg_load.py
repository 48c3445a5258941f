"""Copy the benchmark's SQLite ``mytable`` into a PostgreSQL database (made if missing).

Run with the core ``.venv`` (psycopg 3, SQLAlchemy)::

    .venv/bin/python bench/pg_load.py bench/data/db.sqlite postgresql://postgres@127.0.0.1:5432/bench

The tutorial tables are created the plugin's way (``myserverplugin.demo_data.write`` with no
rows, so ``core-server serve`` finds them present), then ``mytable`` gets the SQLite file's rows
by ``COPY``. Skipped when the table already holds the same number of rows with the same sum of
values (the run is deterministic, so that identifies the data).
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import psycopg
from myserverplugin.demo_data import write
from psycopg import sql


def _ensure_database(url: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = str(info["dbname"])
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as con:
        if con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _fingerprint(con: sqlite3.Connection | psycopg.Connection) -> tuple[int, int]:
    row = con.execute("SELECT count(*), coalesce(sum(value), 0) FROM mytable").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def load(db: Path, url: str) -> bool:
    """Make ``url``'s ``mytable`` a copy of ``db``'s; False if it was one already."""
    _ensure_database(url)
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        wanted = _fingerprint(source)
        with psycopg.connect(url) as con:
            try:
                if _fingerprint(con) == wanted:
                    return False
            except psycopg.errors.UndefinedTable:
                con.rollback()
        write(url.replace("postgresql://", "postgresql+psycopg://", 1), rows=0)
        with psycopg.connect(url) as con:
            with con.cursor() as cur, cur.copy(
                    "COPY mytable (my_id, name, cat, value) FROM STDIN") as copy:
                for row in source.execute("SELECT my_id, name, cat, value FROM mytable"):
                    copy.write_row(row)
            con.execute("ANALYZE mytable")
        return True
    finally:
        source.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("url", help="postgresql://user@host:port/dbname (libpq form)")
    args = parser.parse_args()
    print("loaded" if load(args.db.resolve(), args.url) else "already current")


if __name__ == "__main__":
    main()
