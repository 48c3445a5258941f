"""Deterministic benchmark database: the tutorial's ``mytable`` (and optionally ``mytable_scores``).

Same schema and value distributions as the tutorial data (``name`` 'My <n>', ``cat`` 'MyCat 1..4',
``value`` 0..1000 uniform), only larger. The same ``--rows``/``--seed`` always give the same rows.
Stdlib only, so it runs with any Python 3.11::

    python3 bench/gen_db.py bench/data/db.sqlite --rows 100000 --seed 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

SCHEMA = (
    'CREATE TABLE "mytable" ("my_id" INTEGER PRIMARY KEY, "name" TEXT, "cat" TEXT, '
    '"value" INTEGER)',
    'CREATE TABLE "mytable_scores" ("my_id" INTEGER, "a_id" INTEGER, "value" INTEGER, '
    'PRIMARY KEY ("my_id", "a_id"))',
)
CATEGORIES = ("MyCat 1", "MyCat 2", "MyCat 3", "MyCat 4")
A_IDS = 100  # size of the 'a' id space that scores point into (tdp_dummy-like)


def mytable_rows(rows: int, rng: random.Random) -> Iterator[tuple[int, str, str, int]]:
    """``(my_id, name, cat, value)`` for ids 1..rows."""
    for my_id in range(1, rows + 1):
        yield my_id, f"My {my_id}", rng.choice(CATEGORIES), rng.randint(0, 1000)


def score_rows(rows: int, per_row: int, rng: random.Random) -> Iterator[tuple[int, int, int]]:
    """``(my_id, a_id, value)``: ``per_row`` distinct a ids per row, value 0..100."""
    for my_id in range(1, rows + 1):
        for a_id in sorted(rng.sample(range(1, A_IDS + 1), per_row)):
            yield my_id, a_id, rng.randint(0, 100)


def meta_path(path: Path) -> Path:
    """The sidecar file recording how ``path`` was generated."""
    return path.with_name(path.name + ".meta.json")


def is_current(path: Path, params: dict[str, int]) -> bool:
    """True if ``path`` exists and was generated with exactly ``params``."""
    meta = meta_path(path)
    if not path.exists() or not meta.exists():
        return False
    return bool(json.loads(meta.read_text()) == params)


def generate(path: Path, rows: int = 100_000, seed: int = 4, scores: int = 0) -> Path:
    """Write the database to ``path`` (atomically: built beside it, then renamed)."""
    params = {"rows": rows, "seed": seed, "scores": scores}
    if is_current(path, params):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    rng = random.Random(seed)
    con = sqlite3.connect(tmp)
    try:
        for ddl in SCHEMA:
            con.execute(ddl)
        con.executemany("INSERT INTO mytable VALUES (?, ?, ?, ?)", mytable_rows(rows, rng))
        if scores:
            con.executemany("INSERT INTO mytable_scores VALUES (?, ?, ?)",
                            score_rows(rows, min(scores, A_IDS), rng))
        con.commit()
    finally:
        con.close()
    os.replace(tmp, path)
    meta_path(path).write_text(json.dumps(params))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, nargs="?",
                        default=Path(__file__).parent / "data/db.sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--scores", type=int, default=0, metavar="K",
                        help="also fill mytable_scores with K a-ids per row (0: table stays empty)")
    args = parser.parse_args()
    print(generate(args.path, args.rows, args.seed, args.scores))


if __name__ == "__main__":
    main()
