"""``core-server demo-data`` and the demo data generator."""

import sqlite3

from core_server.cli import main


def _table(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT my_id, name, cat, value FROM mytable ORDER BY my_id").fetchall()


def test_demo_data_command_is_deterministic(runner, tmp_path):
    result = runner.invoke(main, ["demo-data", "--data-dir", str(tmp_path), "--rows", "50"])
    assert result.exit_code == 0, result.output
    assert "mytable: 50 rows" in result.output
    path = tmp_path / "mydb.sqlite"
    first = _table(path)
    assert len(first) == 50 and first[0][1] == "My 1"
    assert {r[2] for r in first} <= {f"MyCat {i}" for i in range(1, 5)}
    again = runner.invoke(main, ["demo-data", "--data-dir", str(tmp_path)])
    assert "present" in again.output and _table(path) == first
    forced = runner.invoke(main, ["demo-data", "--data-dir", str(tmp_path), "--rows", "50",
                                  "--force"])
    assert forced.exit_code == 0 and _table(path) == first
    with sqlite3.connect(path) as conn:
        scores = conn.execute("SELECT count(*), min(value) >= 0, max(value) <= 100 "
                              "FROM mytable_scores").fetchone()
    assert scores == (500, 1, 1)


def test_generic_loader_writes_the_same_rows_everywhere(db_url):
    import sqlalchemy as sa
    from myserverplugin.demo_data import a_rows_of
    from myserverplugin.demo_data import rows_of
    from myserverplugin.demo_data import write

    write(db_url, rows=20)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT my_id, name, cat, value FROM mytable ORDER BY my_id"))
        assert [tuple(r) for r in rows] == [tuple(r.values()) for r in rows_of(20)]
        a = conn.execute(sa.text("SELECT a_id, a_name, a_cat, a_value FROM a ORDER BY a_id"))
        assert [tuple(r) for r in a] == [tuple(r.values()) for r in a_rows_of()]
    engine.dispose()


def test_demo_data_goes_into_the_configured_database(runner, tmp_path, db_url):
    """The compose stack's init service: the tutorial tables land where the connector reads."""
    import sqlalchemy as sa

    args = ["demo-data", "--data-dir", str(tmp_path / "d"), "--rows", "30"]
    env = {"CORE_SERVER__myserverplugin__dburl": db_url}
    first = runner.invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    assert "mytable: 30 rows" in first.output
    again = runner.invoke(main, args, env=env)
    assert again.exit_code == 0 and "present" in again.output
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mytable")).scalar() == 30
    engine.dispose()
