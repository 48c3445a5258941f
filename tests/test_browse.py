"""The HTML pages through the test client: what they show whom, errors, and the public prefix.

The click-through in a real browser is tests/test_browse_browser.py.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from myserverplugin.demo_data import rows_of
from myserverplugin.demo_data import write

from core_server.app import create_app
from core_server.testing import login
from core_server.testing import users_config

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
#: Attributes whose values are URLs of this server.
_URL_ATTRS = re.compile(r'(?:href|src|action|data-fragment|data-action|data-redirect|data-spec)'
                        r'="([^"]*)"')


@pytest.fixture(scope="module")
def mydb(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("browse") / "mydb.sqlite"
    write(f"sqlite:///{path}", rows=1000)
    return f"sqlite:///{path}"


def _app(mydb: str, tmp_path: Path, **config: object) -> Flask:
    app = create_app({"myserverplugin": {"dburl": mydb}, **config}, data_dir=tmp_path / "data")
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(mydb: str, tmp_path: Path) -> Iterator[Flask]:
    made = _app(mydb, tmp_path)
    yield made
    made.extensions["core_server"].dbviews.dispose()


def test_landing_page_and_api_index(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/", headers=HTML).get_data(as_text=True)
    assert "myserverplugin" in page and "/api/hello_world" in page and "/browse/" in page
    assert client.get("/api/", headers=HTML).headers["Location"] == "/"
    for accept in ("application/json", "*/*"):  # API clients and curl get JSON
        index = client.get("/api/", headers={"Accept": accept})
        assert index.status_code == 200 and index.get_json()["links"]["docs"] == "/api/docs"


def test_api_docs_are_served_offline(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/api/docs").get_data(as_text=True)
    assets = re.findall(r'(?:href|src)="(/api/docs/assets/[^"]+)"', page)
    assert len(assets) >= 3 and "http" not in " ".join(assets)
    for asset in assets:
        assert client.get(asset).status_code == 200
    assert 'data-spec="/api/openapi.json"' in page


def test_openapi_lists_namespace_and_summary_routes(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert "get" in spec["paths"]["/api/hello_world"]
    assert "/api/db/{connector}/{view}/summary" in spec["paths"]
    assert app.test_client().get("/api/hello_world").get_json() == {"message": "Hello World!"}


def test_view_page_filters_sorts_and_pages(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/browse/db/mydb/mytable?filter_cat=MyCat+4&_sort=-value&_limit=20")
    text = page.get_data(as_text=True)
    expected = sorted((r for r in rows_of(1000) if r["cat"] == "MyCat 4"),
                      key=lambda r: -r["value"])
    assert f'<strong id="total">{len(expected)}</strong>' in text
    cells = re.findall(r"<td>My (\d+)</td>", text)
    assert [int(c) for c in cells] == [r["my_id"] for r in expected[:20]]
    assert "_offset=20" in re.search(r'class="next" rel="next" href="([^"]+)"', text).group(1)
    assert "Server-Timing" in page.headers and "db;dur=" in page.headers["Server-Timing"]


def test_errors_are_pages_not_json(app: Flask) -> None:
    client = app.test_client()
    bad = client.get("/browse/db/mydb/mytable?filter_nope=1").get_data(as_text=True)
    assert "unknown_filter" in bad and "valid filter keys" in bad
    missing = client.get("/browse/db/nope/")
    assert missing.status_code == 404 and missing.mimetype == "text/html"


def test_what_a_user_may_not_read_is_not_shown(mydb: str, tmp_path: Path) -> None:
    rules = {"db:mydb/mytable": {"read": "analyst"}, "store:analysts": {"read": "analyst"}}
    app = _app(mydb, tmp_path, **users_config(rules=rules))
    client = app.test_client()
    views = client.get("/browse/db/mydb/").get_data(as_text=True)
    assert ">mytable<" not in views and ">mytable_items<" in views
    assert ">analysts<" not in client.get("/browse/").get_data(as_text=True)
    denied = client.get("/browse/db/mydb/mytable")
    assert denied.status_code == 401 and "Log in" in denied.get_data(as_text=True)
    assert "edit-form" not in client.get("/browse/store/selections").get_data(as_text=True)
    login(client, "analyst")
    assert ">mytable<" in client.get("/browse/db/mydb/").get_data(as_text=True)
    assert client.get("/browse/db/mydb/mytable").status_code == 200
    assert "create-form" in client.get("/browse/store/selections").get_data(as_text=True)
    app.extensions["core_server"].dbviews.dispose()


PAGES = ("/", "/api/docs", "/browse/", "/browse/db/mydb/", "/browse/db/mydb/mytable?_limit=5",
         "/browse/db/mydb/mytable/summary", "/browse/idtype/", "/browse/idtype/MyIDType",
         "/browse/store/", "/browse/store/selections", "/browse/login")


def test_links_use_the_public_prefix(mydb: str, tmp_path: Path) -> None:
    app = _app(mydb, tmp_path, core_server={"proxy_fix": {"x_prefix": 1, "x_host": 1}})
    client = app.test_client()
    proxy = {"X-Forwarded-Prefix": "/public", "X-Forwarded-Host": "data.example.org", **HTML}
    for path in PAGES:
        page = client.get(path, headers=proxy)
        assert page.status_code == 200, path
        text = page.get_data(as_text=True)
        urls = [u for u in _URL_ATTRS.findall(text) if u.startswith("/")]
        assert urls, path
        assert all(u.startswith("/public/") or u == "/public" for u in urls), (path, urls)
    rows = client.get("/browse/db/mydb/mytable?_limit=5", headers=proxy).get_data(as_text=True)
    assert "curl &#39;http://data.example.org/public/api/db/mydb/mytable?_limit=5&#39;" in rows
    assert client.get("/api/", headers=proxy).headers["Location"] == "/public/"
    app.extensions["core_server"].dbviews.dispose()
