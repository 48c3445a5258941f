"""Deterministic demo data of the tutorial: ``mytable``, ``mytable_scores`` and ``a`` in any database.

``write(url)`` creates (or replaces) the tables at a SQLAlchemy URL; ``core-server demo-data``
and the first ``core-server serve`` call it for ``_data/mydb.sqlite`` or, when the connector's
``dburl`` points at another database (PostgreSQL in docker-compose.yml), for that database when
``present(url)`` is false; the tests call it for each backend.
``a`` is the second id type of the tutorial (tdp_dummy's ``a`` table): ``mytable_scores`` pairs
mytable rows with the first ``A_IDS`` of its ``A_ROWS`` rows.
"""
import random

import sqlalchemy as sa

SEED = 20201
A_IDS = 10
SCORED_ROWS = 1000
A_ROWS = 60
_CHUNK = 5000


def tables(metadata):
    """The two tables of the tutorial's data model."""
    mytable = sa.Table(
        'mytable', metadata,
        sa.Column('my_id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('name', sa.String(100)),
        sa.Column('cat', sa.String(100)),  # categorical: MyCat 1 ... MyCat 4
        sa.Column('value', sa.Integer),  # range 0 ... 1000
    )
    scores = sa.Table(
        'mytable_scores', metadata,
        sa.Column('my_id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('a_id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('value', sa.Integer),  # range 0 ... 100
    )
    return mytable, scores


def a_table(metadata):
    """The ``a`` table of the second id type (``IDTypeA``)."""
    return sa.Table(
        'a', metadata,
        sa.Column('a_id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('a_name', sa.String(100)),  # A1 ... A60
        sa.Column('a_cat', sa.String(100)),  # categorical: ACat 1 ... ACat 3
        sa.Column('a_value', sa.Integer),  # range 0 ... 100
    )


def a_rows_of(count=A_ROWS):
    """The rows of ``a`` (the same for every call)."""
    rng = random.Random(SEED + 2)
    for i in range(1, count + 1):
        yield {'a_id': i, 'a_name': f'A{i}', 'a_cat': f'ACat {rng.randint(1, 3)}',
               'a_value': rng.randint(0, 100)}


def rows_of(count):
    """The mytable rows (the same for every call with the same count)."""
    rng = random.Random(SEED)
    for i in range(1, count + 1):
        yield {'my_id': i, 'name': f'My {i}', 'cat': f'MyCat {rng.randint(1, 4)}',
               'value': rng.randint(0, 1000)}


def scores_of(count):
    """mytable_scores: A_IDS scores for each of the first SCORED_ROWS rows."""
    rng = random.Random(SEED + 1)
    for i in range(1, min(count, SCORED_ROWS) + 1):
        for a in range(1, A_IDS + 1):
            yield {'my_id': i, 'a_id': a, 'value': rng.randint(0, 100)}


def _insert(conn, table, rows, progress):
    chunk, done = [], 0
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            conn.execute(table.insert(), chunk)
            done += len(chunk)
            chunk = []
            progress(f'{table.name}: {done} rows')
    if chunk or not done:
        if chunk:
            conn.execute(table.insert(), chunk)
        done += len(chunk)
        progress(f'{table.name}: {done} rows')


def present(url):
    """Whether the tutorial tables exist at ``url`` (``core-server demo-data`` skips them then)."""
    engine = sa.create_engine(url)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return {'mytable', 'mytable_scores', 'a'} <= names


def write(url, rows=1000, progress=None):
    """(Re)create mytable with ``rows`` rows, mytable_scores and a at the SQLAlchemy ``url``."""
    progress = progress or (lambda message: None)
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        mytable, scores = tables(metadata)
        a = a_table(metadata)
        metadata.drop_all(engine)
        metadata.create_all(engine)
        with engine.begin() as conn:
            _insert(conn, mytable, rows_of(rows), progress)
            _insert(conn, scores, scores_of(rows), progress)
            _insert(conn, a, a_rows_of(), progress)
    finally:
        engine.dispose()
