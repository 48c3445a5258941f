"""Run the plugin's tests with ``myserverplugin.dburl`` pointing at the tutorial data in each backend."""

import pytest


@pytest.fixture
def mydb_url(db_url):
    """The tutorial tables in a fresh database (sqlite, postgresql, mysql)."""
    from myserverplugin.demo_data import write

    write(db_url, rows=1000)
    return db_url


@pytest.fixture
def app_config(mydb_url):
    """Point the tutorial connector at ``mydb_url``."""
    return {"myserverplugin": {"dburl": mydb_url}}
