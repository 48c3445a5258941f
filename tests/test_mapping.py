"""Mapping between id types through HTTP: mapping-provider plugins, SQL mappings, bad input.

The test plugin ``maptest`` has providers (a 1:n one, two for one pair, one that raises, one
that answers the wrong number of lists, one whose create() fails) and a connector ``mapdb``
whose mappings fail in the database. The tutorial's mappings give the SQL side.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from myserverplugin.demo_data import rows_of

from core_server.app import create_app
from core_server.dbview.engines import backend_for
from core_server.testing import temporary_plugin

INIT = """
def register(registry):
    registry.append('mapping-provider', 'letters', '.letters')
    registry.append('mapping_provider', 'more_letters', '.letters', {'factory': 'create_more'})
    registry.append('mapping-provider', 'broken', '.letters', {'factory': 'create_broken'})
    registry.append('db-connector', 'mapdb', '.mapdb', {'configKey': 'maptest'})
"""

LETTERS = """
def upper(ids):
    return [[str(i).upper()] if str(i).isalpha() else [] for i in ids]


def spell(ids):
    # 1:n with repeats: 'abca' -> ['A', 'B', 'C', 'A']
    return [list(str(i).upper()) for i in ids]


def codes(ids):
    return [[ord(str(i)[0])] if str(i) else [] for i in ids]


def also_upper(ids):
    # a second provider of Letter -> Upper: adds a variant, repeats the common answer
    return [[str(i).upper(), str(i).upper() + '!'] if str(i).isalpha() else [] for i in ids]


def explode(ids):
    raise RuntimeError('the provider broke')


def short(ids):
    return [['x']]


def create():
    return [('Letter', 'Upper', upper), ('Word', 'Upper', spell), ('Upper', 'Code', codes),
            ('Letter', 'Boom', explode), ('Letter', 'Short', short)]


def create_more():
    return iter([('Letter', 'Upper', also_upper)])


def create_broken():
    raise ValueError('no mappings today')
"""

MAPDB = '''
from phovea_server.config import view
from tdp_core.dbview import DBConnector, DBMapping, DBViewBuilder

from core_server.dbview.engines import backend_for


def create():
    postgres = backend_for(view('maptest').get('dburl')).name == 'postgresql'
    any_ids = "= ANY(:ids)" if postgres else "IN :ids"
    views = {'nums': DBViewBuilder('score').idtype('MyIDType')
             .query("""SELECT my_id + 995 AS id, value AS score FROM mytable WHERE my_id <= 10""")
             .build(),
             'cats': DBViewBuilder('score').idtype('MyCategory')
             .query("""SELECT cat AS id, count(*) AS score FROM mytable GROUP BY cat""").build(),
             'plain': DBViewBuilder().query("SELECT 1 AS id, 2 AS score").build(),
             'cb': DBViewBuilder('score').idtype('MyIDType').callback(
                 lambda engine, args, filters: [{'id': 2, 'score': 0.5}, {'id': 5000, 'score': 1},
                                                {'id': 1, 'score': None}]).build()}
    mappings = [
        DBMapping('MyIDType', 'Missing', "SELECT nope AS f, 1 AS t FROM no_table WHERE x IN :ids"),
        DBMapping('MyIDType', 'AnyName', "SELECT my_id AS f, name AS t FROM mytable "
                  "WHERE my_id " + any_ids, integer_ids=True),
        DBMapping('AnyName', 'MyIDType', "SELECT name AS f, my_id AS t FROM mytable "
                  "WHERE name NOT IN :ids AND my_id < 0"),
        DBMapping('MyIDType', 'NoColumns', "SELECT my_id AS a, name AS b FROM mytable "
                  "WHERE my_id IN :ids", integer_ids=True),
    ]
    connector = DBConnector(views, mappings=mappings)
    connector.description = 'mapping tests'
    return connector
'''


@pytest.fixture
def map_app(mydb_url: str, tmp_path: Path) -> Iterator[Flask]:
    with temporary_plugin(tmp_path / "plugins", "maptest", INIT,
                          {"letters.py": LETTERS, "mapdb.py": MAPDB}) as root:
        app = create_app({"myserverplugin": {"dburl": mydb_url}, "maptest": {"dburl": mydb_url}},
                         plugins_dirs=[root], data_dir=tmp_path / "data")
        app.config["TESTING"] = True
        yield app
        app.extensions["core_server"].dbviews.dispose()


@pytest.fixture
def maps(map_app: Flask) -> FlaskClient:
    return map_app.test_client()


def test_provider_edges_and_merged_providers(maps):
    # two providers of Letter -> Upper merge, without repeats, first provider first
    assert maps.get("/api/idtype/Letter/Upper?q=a,1,b").get_json() == \
        [["A", "A!"], [], ["B", "B!"]]
    assert maps.get("/api/idtype/Letter/Upper?q=a&mode=first").get_json() == ["A"]


def test_one_to_many_transitive_dedupes_in_order(maps):
    # Word -> Upper (1:n with repeats) -> Code
    assert maps.get("/api/idtype/Word/Code?q=abca,,zz").get_json() == [[65, 66, 67], [90]]
    assert maps.get("/api/idtype/Word/Code?q[]=abca&q[]=&q[]=zz").get_json() == \
        [[65, 66, 67], [], [90]]
    assert maps.get("/api/idtype/Word/").get_json() == ["Upper", "Code"]


def test_failing_create_is_reported_and_the_rest_works(maps):
    plugins = {p["name"]: p for p in maps.get("/api/_plugins").get_json()}
    errors = " ".join(plugins["maptest"]["errors"])
    assert "broken" in errors and "no mappings today" in errors
    assert maps.get("/api/idtype/Letter/Code?q=q").get_json() == [[81]]


def test_failing_provider_is_a_json_500_and_the_server_keeps_serving(maps, caplog):
    response = maps.get("/api/idtype/Letter/Boom?q=a", headers={"X-Request-Id": "req-boom-1"})
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "mapping_failed" and "maptest:letters" in error["message"]
    assert error["request_id"] == "req-boom-1" and "broke" not in response.get_data(as_text=True)
    assert "req-boom-1" in caplog.text and "the provider broke" in caplog.text
    wrong = maps.get("/api/idtype/Letter/Short?q=a,b").get_json()["error"]
    assert wrong["code"] == "mapping_failed" and "1 lists for 2 ids" in wrong["message"]
    assert maps.get("/api/idtype/Letter/Upper?q=c").get_json() == [["C", "C!"]]


def test_any_and_not_in_queries(maps):
    # = ANY(:ids) on PostgreSQL (IN :ids elsewhere); NOT IN :ids works on every backend
    assert maps.get("/api/idtype/MyIDType/AnyName?q=3,x,2").get_json() == [["My 3"], [], ["My 2"]]
    assert maps.get("/api/idtype/AnyName/MyIDType?q=My 1").get_json() == [[]]


def test_failing_mapping_query_is_a_json_500(maps):
    response = maps.get("/api/idtype/MyIDType/Missing?q=1")
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "query_failed" and "request_id" in error
    assert "mapping MyIDType -> Missing of mapdb" in error["message"]
    columns = maps.get("/api/idtype/MyIDType/NoColumns?q=1").get_json()["error"]
    assert columns["code"] == "invalid_mapping" and "f and t" in columns["message"]
    assert maps.get("/api/idtype/MyIDType/MyName?q=1").get_json() == [["My 1"]]


def test_unmapped_score_rows_are_dropped(maps):
    rows = maps.get("/api/db/mapdb/nums/score?target=MyName").get_json()
    scores = {r["my_id"] + 995: r["value"] for r in rows_of(10)}
    assert rows == [{"id": f"My {i}", "score": scores[i]} for i in range(996, 1001)]


def test_one_to_many_score_rows(maps):
    rows = maps.get("/api/db/mapdb/cats/score?target=MyName&_sort=id&_limit=3").get_json()
    counts = {}
    for row in rows_of(1000):
        counts[row["cat"]] = counts.get(row["cat"], 0) + 1
    cat = {r["name"]: r["cat"] for r in rows_of(1000)}
    names = sorted(cat)[:3]
    assert rows == [{"id": n, "score": counts[cat[n]]} for n in names]
    total = maps.get("/api/db/mapdb/cats/score?target=MyName").get_json()
    assert len(total) == 1000


def test_callback_score_view(maps):
    rows = maps.get("/api/db/mapdb/cb/score?target=MyName&_format=ndjson").get_data(as_text=True)
    assert rows.splitlines() == ['{"id":"My 2","score":0.5}', '{"id":"My 1","score":null}']


def test_score_of_a_view_without_id_type(maps):
    error = maps.get("/api/db/mapdb/plain/score?target=MyName").get_json()["error"]
    assert error["code"] == "unmappable" and "no id type" in error["message"]


def _statements(map_app: Flask) -> list[int]:
    dbv = map_app.extensions["core_server"].dbviews
    engine = dbv.engine(dbv.connectors["mydb"]).engine
    counts: list[int] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, params, context, executemany):
        if "name AS t FROM mytable WHERE my_id" in statement:
            counts.append(len(params))

    return counts


def test_huge_id_lists_are_chunked(map_app, maps, mydb_url):
    counts = _statements(map_app)
    ids = list(range(1, 100_001))
    response = maps.post("/api/idtype/MyIDType/MyName", json={"q": ids, "mode": "first"})
    assert response.status_code == 200
    mapped = response.get_json()
    assert len(mapped) == 100_000
    assert mapped[:3] == ["My 1", "My 2", "My 3"] and mapped[999] == "My 1000"
    assert set(mapped[1000:]) == {None}
    backend = backend_for(mydb_url)
    if backend.array_in("x IN :ids", "ids") is None:  # chunked into the bind limit
        assert len(counts) == -(-100_000 // (backend.max_binds - 1))
        assert max(counts) <= backend.max_binds
    else:  # PostgreSQL: one array parameter
        assert counts == [1]


def test_huge_lists_of_assigned_ids(tmp_path):
    # the server database (SQLite here) assigns the ids; no connector database is involved
    app = create_app({}, data_dir=tmp_path / "data")
    maps = app.test_client()
    names = [f"n{i}" for i in range(100_000)]
    ids = maps.post("/api/idtype/MyName/map", json={"ids": names}).get_json()
    assert ids == list(range(100_000))
    back = maps.post("/api/idtype/MyName/unmap", data={"ids": ",".join(map(str, ids[::-1]))})
    assert back.get_json() == names[::-1]


def test_too_many_ids(mydb_url, app_factory):
    client = app_factory(mydb_url, idtypes={"max_ids": 5}).test_client()
    response = client.post("/api/idtype/MyIDType/MyName", json={"q": list(range(6))})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "too_many_ids"
    assert client.post("/api/idtype/MyIDType/map", json={"ids": list(range(6))}).status_code == 400
