"""Login throttling: failed logins per user name and per client address, 429 with Retry-After.

Counters in the server database (the default) on each backend, in Redis, and in memory; two apps
on one database stand for two workers. In real processes: tests/test_two_workers.py.
"""

import time
import uuid
from pathlib import Path

import pytest

from core_server.app import create_app
from core_server.config import ConfigError
from core_server.testing import login
from core_server.testing import users_config


def _worker(tmp_path: Path, server_db: str | None = None, **security):
    config = users_config(**security)
    config["core_server"]["secret_key"] = "throttle-test-secret"
    if server_db:
        config["core_server"]["server_db"] = server_db
    app = create_app(config, plugins_dirs=[], data_dir=tmp_path / "data", entry_points=False)
    app.config["TESTING"] = True
    return app


def _attempt(client, name: str, password: str = "wrong", address: str = "127.0.0.1"):
    return client.post("/api/login", json={"username": name, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_failures_per_name_are_shared_by_workers_and_end_with_the_window(tmp_path, db_url):
    workers = [_worker(tmp_path / f"w{i}", db_url, login_failures_per_name=4, login_window=1)
               for i in range(2)]
    clients = [worker.test_client() for worker in workers]
    answers = [_attempt(clients[i % 2], "viewer").status_code for i in range(6)]
    assert answers == [401] * 4 + [429] * 2
    refused = _attempt(clients[0], "viewer", "viewer-password")  # the right password too
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "too_many_login_attempts" and "user name" in error["message"]
    wait = int(refused.headers["Retry-After"])
    assert wait == 1
    assert login(clients[1], "analyst")["name"] == "analyst"  # other names are not throttled
    time.sleep(wait)  # the window ends (the test's window is 1 s)
    assert login(clients[0], "viewer")["name"] == "viewer"
    for worker in workers:
        worker.extensions["core_server"].security.tokens.dispose()


def test_failures_per_address_spare_other_addresses(tmp_path) -> None:
    app = _worker(tmp_path, login_failures_per_address=5)
    client = app.test_client()
    for i in range(5):  # a different name each time: only the address counter fills
        assert _attempt(client, f"guess{i}", address="203.0.113.7").status_code == 401
    throttled = _attempt(client, "viewer", "viewer-password", address="203.0.113.7")
    assert throttled.status_code == 429 and "address" in throttled.get_json()["error"]["message"]
    assert int(throttled.headers["Retry-After"]) > 0
    assert _attempt(client, "viewer", "viewer-password", address="198.51.100.1").status_code == 200
    # IPv6 clients count per /64: another address of the same network is the same client
    for i in range(5):
        assert _attempt(client, "x", address=f"2001:db8::{i + 1}").status_code == 401
    assert _attempt(client, "x", address="2001:db8::ffff").status_code == 429
    assert _attempt(client, "x", address="2001:db8:0:1::1").status_code == 401


def test_successes_reset_nothing_and_do_not_count(tmp_path) -> None:
    app = _worker(tmp_path, login_failures_per_address=3)
    client = app.test_client()
    for _ in range(2):
        assert _attempt(client, "mallory").status_code == 401
    for _ in range(5):  # an attacker's own account logs in fine, the failures stay counted
        assert _attempt(client, "analyst", "analyst-password").status_code == 200
    assert _attempt(client, "mallory").status_code == 401
    assert _attempt(client, "mallory").status_code == 429


def test_names_are_counted_case_insensitively_and_bad_bodies_not_at_all(tmp_path) -> None:
    app = _worker(tmp_path, login_failures_per_name=2)
    client = app.test_client()
    assert _attempt(client, "Viewer").status_code == 401
    assert _attempt(client, " viewer").status_code == 401
    assert _attempt(client, "VIEWER").status_code == 429
    for _ in range(3):  # a 400 is not a failed login
        bad = client.post("/api/login", data="{", content_type="application/json")
        assert bad.status_code == 400
    assert _attempt(client, "analyst").status_code == 401


def test_redis_storage_is_shared_by_workers(tmp_path) -> None:
    name = f"user-{uuid.uuid4().hex[:8]}"  # keys of other test runs on the same Redis differ
    workers = [_worker(tmp_path / f"w{i}", login_limit_storage="redis://127.0.0.1:6379/0",
                       login_failures_per_name=3) for i in range(2)]
    clients = [worker.test_client() for worker in workers]
    assert [_attempt(clients[i % 2], name).status_code for i in range(5)] == [401] * 3 + [429] * 2


def test_memory_storage_and_no_limits(tmp_path) -> None:
    memory = _worker(tmp_path / "m", login_limit_storage="memory://", login_failures_per_name=1)
    client = memory.test_client()
    assert [_attempt(client, "viewer").status_code for _ in range(2)] == [401, 429]
    unlimited = _worker(tmp_path / "u", login_failures_per_name=0, login_failures_per_address=0)
    client = unlimited.test_client()
    assert {_attempt(client, "viewer").status_code for _ in range(60)} == {401}


@pytest.mark.parametrize("storage", ["nosuch://x", "server-db"])
def test_an_unknown_storage_is_a_start_error(tmp_path, storage) -> None:
    with pytest.raises(ConfigError, match="login_limit_storage"):
        _worker(tmp_path, login_limit_storage=storage)


def test_unreachable_storage_is_503_not_an_open_door(tmp_path) -> None:
    app = _worker(tmp_path, login_limit_storage="redis://127.0.0.1:9/0")
    response = _attempt(app.test_client(), "viewer", "viewer-password")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "throttle_unavailable"


def test_openapi_documents_the_429(tmp_path) -> None:
    spec = _worker(tmp_path).test_client().get("/api/openapi.json").get_json()
    too_many = spec["paths"]["/api/login"]["post"]["responses"]["429"]
    assert "Retry-After" in too_many["headers"]
