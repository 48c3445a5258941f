"""Persistent id assignment on every backend, including two processes racing for new names."""

import subprocess
import sys
import textwrap

import sqlalchemy as sa

from core_server.dbview.idmapping import TABLE_NAME
from core_server.dbview.idmapping import IdMapper


def test_dense_per_idtype_in_first_seen_order(db_url):
    mapper = IdMapper(sa.create_engine(db_url))
    assert mapper(["b", "a", "b"], "T") == [0, 1, 0]
    assert mapper([3, "a", "c"], "T") == [2, 1, 3]  # compared as strings
    assert mapper(["a", "z"], "Other") == [0, 1]
    mapper.engine.dispose()


def test_persistent_across_instances(db_url):
    first = IdMapper(sa.create_engine(db_url))
    first([f"n{i}" for i in range(1200)], "T")  # more than one IN chunk
    again = IdMapper(sa.create_engine(db_url))
    assert again(["n1199", "n0", "new"], "T") == [1199, 0, 1200]
    assert again.lookup(["n5", "unknown"], "T") == {"n5": 5}
    first.engine.dispose()
    again.engine.dispose()


RACER = """
import sys
import sqlalchemy as sa
from core_server.dbview.idmapping import IdMapper

url, reverse = sys.argv[1], sys.argv[2] == "1"
names = [f"name{i}" for i in range(300)]
if reverse:
    names.reverse()
mapper = IdMapper(sa.create_engine(url))
for start in range(0, len(names), 7):
    mapper(names[start:start + 7], "Race")
print("ok")
"""


def test_two_processes_never_give_a_name_two_ids(db_url, tmp_path):
    script = tmp_path / "racer.py"
    script.write_text(textwrap.dedent(RACER))
    IdMapper(sa.create_engine(db_url))._ensure_table()  # both start with the table in place
    racers = [subprocess.Popen([sys.executable, str(script), db_url, flag],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for flag in ("0", "1")]
    for racer in racers:
        _, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT name, id FROM {TABLE_NAME} WHERE idtype = 'Race'")).all()
    engine.dispose()
    names = [r[0] for r in rows]
    ids = sorted(r[1] for r in rows)
    assert len(names) == len(set(names)) == 300
    assert ids == list(range(300))  # dense and unique


def test_integer_names_match_their_string_form(db_url):
    mapper = IdMapper(sa.create_engine(db_url))
    assert mapper([10, 20], "N") == [0, 1]
    assert mapper(["20", 10, 30], "N") == [1, 0, 2]
    assert mapper([30, 20], "N") == [2, 1]  # served from the int cache
    assert mapper([1.0, True, 1], "N") == [3, 4, 5]  # "1.0", "True", "1" are three names
    mapper.engine.dispose()
