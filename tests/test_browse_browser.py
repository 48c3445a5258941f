"""The HTML pages in a real browser: Debian's chromium driven by Playwright, against a real
``core-server serve`` process over the tutorial data.

A person clicks through connector -> view -> filter -> next page -> CSV, sorts, reads the column
summary, opens a collection and a document, logs in, edits the document, and tries routes in
``/api/docs`` (a GET, and a write that needs the session's CSRF token). Screenshots go to the
test's tmp dir (their paths are printed). Without chromium the module is skipped locally;
``.ci/run`` installs chromium and sets ``CORE_SERVER_REQUIRE_BROWSER=1``, which turns that skip
into a failure.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core_server.testing import password_of
from core_server.testing import quick_hash

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 15_000

if not Path(CHROMIUM).exists():
    if os.environ.get("CORE_SERVER_REQUIRE_BROWSER"):
        raise RuntimeError(f"browser tests required (CORE_SERVER_REQUIRE_BROWSER) but {CHROMIUM} "
                           "is missing: apt-get install -y chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); .ci/run requires it",
                allow_module_level=True)

if os.environ.get("CORE_SERVER_REQUIRE_BROWSER"):
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"core-server exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"core-server did not answer {url}: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``core-server serve`` process over 1,000 tutorial rows, with an admin user."""
    from myserverplugin.demo_data import write

    root = tmp_path_factory.mktemp("browse-server")
    write(f"sqlite:///{root}/mydb.sqlite", rows=1000)
    config = {"core_server": {"secret_key": "browser-test-key", "security": {"users": [
        {"name": "admin", "password": quick_hash(password_of("admin")), "roles": ["admin"]}]}},
        "myserverplugin": {"dburl": f"sqlite:///{root}/mydb.sqlite"}}
    (root / "config.json").write_text(json.dumps(config))
    port = _free_port()
    log = root / "server.log"
    exe = Path(sys.executable).with_name("core-server")
    with log.open("wb") as out:
        process = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port),
                                    "--config", str(root / "config.json"),
                                    "--data-dir", str(root / "data")],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=root)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base + "/api/_health", process, log)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the server."""
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def _shot(page: Any, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def _column(page: Any, name: str) -> list[str]:
    headers = page.locator("table.rows thead th").all_inner_texts()
    index = [h.split(" ")[0].strip() for h in headers].index(name)
    return page.locator(f"table.rows tbody tr td:nth-child({index + 1})").all_inner_texts()


def test_view_filter_page_sort_export(page: Any, server: str, tmp_path: Path) -> None:
    page.goto("/")
    assert "myserverplugin" in page.locator("table.plugins").inner_text()
    page.click("header nav >> text=Browse")
    page.click("a.connector >> text=mydb")
    page.click("a.view >> text=mytable")
    assert page.locator("#total").inner_text() == "1000"
    page.select_option("select[name=filter_cat]", "MyCat 2")
    page.fill("input[name=filter_gte_value]", "300")
    page.click("#view-form button[type=submit]")
    page.wait_for_url(re.compile(r"filter_cat=MyCat\+2"))
    total = int(page.locator("#total").inner_text())
    assert 50 < total < 251
    assert set(_column(page, "cat")) == {"MyCat 2"}
    assert min(int(v) for v in _column(page, "value")) >= 300
    first_page = _column(page, "my_id")
    page.click("a.next")
    page.wait_for_url(re.compile(r"_offset=50"))
    assert _column(page, "my_id") != first_page
    assert "rows 51–" in page.locator(".pager .count").inner_text()
    page.click("table.rows thead a[data-column=value]")  # sort ascending, back to the first page
    page.wait_for_url(re.compile(r"_sort=value"))
    values = [int(v) for v in _column(page, "value")]
    assert values == sorted(values) and values[0] >= 300
    page.click("table.rows thead a[data-column=value]")  # and descending
    page.wait_for_url(re.compile(r"_sort=-value"))
    values = [int(v) for v in _column(page, "value")]
    assert values == sorted(values, reverse=True)
    page.wait_for_selector("#summary.loaded svg.hist")
    shot = _shot(page, tmp_path, "view-filtered-sorted")
    assert shot.stat().st_size > 10_000
    href = page.get_attribute("a.export-csv", "href")
    assert href is not None and "/api/db/mydb/mytable.csv?" in href
    answer = page.request.get(href)
    assert answer.ok and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text())))
    assert [int(r["value"]) for r in rows] == values
    curl = page.locator(".curl code").inner_text()
    assert curl.startswith("curl '" + server + "/api/db/mydb/mytable?") and " " not in curl[6:]


def test_view_with_arguments_and_summary_page(page: Any, server: str) -> None:
    page.goto("/browse/db/mydb/mytable_single_score")
    assert "Fill in name, attribute" in page.locator("main").inner_text()
    page.fill("input[name=name]", "2")
    page.select_option("select[name=attribute]", "value")
    page.click("#view-form button[type=submit]")
    page.wait_for_url(re.compile(r"name=2"))
    assert page.locator("table.rows tbody tr").count() == 50
    page.goto("/browse/db/mydb/mytable/summary?filter_cat=MyCat+1")
    summary = page.locator("table.summary").inner_text()
    assert "MyCat 1" in summary and "MyCat 2" not in summary


def test_collection_document_login_edit(page: Any, server: str, tmp_path: Path) -> None:
    page.goto("/browse/login?next=/browse/store/analysts")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password_of("admin"))
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(r"/browse/store/analysts$"))
    assert page.locator("#whoami").inner_text() == "admin"
    page.click("details.create summary")
    page.fill("#create-form input[name=login]", "ada")
    page.fill("#create-form input[name=name]", "Ada")
    page.click("#create-form button[type=submit]")
    page.wait_for_url(re.compile(r"/browse/store/analysts/[0-9a-f-]{36}$"))
    analyst = page.url.rsplit("/", 1)[1]
    created = page.request.post(f"{server}/api/store/selections", data={
        "name": "top genes", "ids": [1, 5, 9], "owner": analyst},
        headers={"X-CSRF-Token": _csrf(page)})
    assert created.status == 201, created.text()
    page.goto("/browse/")
    page.click("a.collection >> text=selections")
    assert page.locator("#total").inner_text() == "1"
    page.click("table.docs a.doc")
    assert page.locator("#version").inner_text() == "1"
    page.click("a.ref")  # the owner reference leads to the analyst
    page.wait_for_url(re.compile(analyst))
    page.go_back()
    page.fill("#edit-form input[name=name]", "top genes (edited)")
    page.fill("#edit-form textarea[name=ids]", "[1, 5, 9, 11]")
    page.click("#edit-form button[type=submit]")
    page.wait_for_function("document.getElementById('version').textContent === '2'")
    assert "top genes (edited)" in page.locator("table.document").inner_text()
    _shot(page, tmp_path, "document-edited")
    page.click("#logout")
    page.wait_for_selector("#login-link")
    assert page.locator("#edit-form").count() == 0  # anonymous users may read, not write


def _csrf(page: Any) -> str:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return str(cookies["core_server_csrf"])


def _try_it_out(page: Any, operation: str, body: dict[str, Any] | None = None) -> str:
    """Expand an operation of Swagger UI, "Try it out" and "Execute"; the answer's status."""
    block = page.locator(f"#operations-{operation}")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    if body is not None:
        block.locator("textarea.body-param__text").fill(json.dumps(body))
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status")
    return str(status.first.inner_text()).strip()


def test_api_docs_try_it_out(page: Any, server: str, tmp_path: Path) -> None:
    page.goto("/api/docs")
    page.wait_for_selector('.opblock-summary-path[data-path="/api/hello_world"]')
    assert _try_it_out(page, "core-get_api__version") == "200"
    # a write: log in through the docs, then create an API token with the session's CSRF token
    login = {"username": "admin", "password": password_of("admin")}
    assert _try_it_out(page, "security-post_api_login", login) == "200"
    with page.expect_request(lambda r: r.url.endswith("/api/tokens")) as sent:
        assert _try_it_out(page, "security-post_api_tokens", {"name": "from the docs"}) == "201"
    assert sent.value.headers["x-csrf-token"] == _csrf(page)
    _shot(page, tmp_path, "api-docs", full_page=False)
