"""tdp-config-safe-keys (/api/tdp/config/<key>) and TDP's numeric permission model."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_server.app import create_app
from core_server.security import User
from core_server.tdp import permissions as perms
from core_server.testing import temporary_plugin

PLUGIN = """
def phovea(registry):
    registry.append('tdp-config-safe-keys', 'viewer', '', {'configKey': 'keyplugin.viewer'})
    registry.append('tdp-config-safe-keys', 'whole', '', {'configKey': 'keyplugin'})
    registry.append('tdp-config-safe-keys', 'broken', '', {})
"""


@pytest.fixture
def client(tmp_path: Path):
    config = {"keyplugin": {"viewer": {"colors": ["red"], "token": {"$env": "KEY_TOKEN"}},
                            "dburl": "postgresql+psycopg://app:s3cret@db/app",
                            "password": "plain"},
              "tdp_core": {"matomo": {"url": "https://matomo.example"}}}
    with temporary_plugin(tmp_path / "plugins", "keyplugin", PLUGIN) as root:
        app = create_app(config, plugins_dirs=[root], data_dir=tmp_path / "d",
                         entry_points=False, environ={"KEY_TOKEN": "t0ken"})
        yield app.test_client()


def test_whitelisted_keys_answer_their_values(client) -> None:
    assert client.get("/api/tdp/config/viewer/colors").get_json() == ["red"]
    assert client.get("/api/tdp/config/viewer").get_json() == {"colors": ["red"], "token": "***"}
    # TDP's own key, with TDP's defaults under what the config sets
    assert client.get("/api/tdp/config/matomo").get_json() == {
        "url": "https://matomo.example", "site": "1", "encryptUserName": False}
    unset = client.get("/api/tdp/config/viewer/nothing")
    assert unset.status_code == 200 and unset.get_json() is None  # as TDP: null


def test_secrets_never_leave_the_server(client) -> None:
    secret = client.get("/api/tdp/config/viewer/token")
    assert secret.status_code == 403 and secret.get_json()["error"]["code"] == "config_secret"
    assert "t0ken" not in secret.get_data(as_text=True)
    whole = client.get("/api/tdp/config/whole").get_json()
    assert whole["password"] == "***" and whole["viewer"]["token"] == "***"
    assert whole["dburl"] == "postgresql+psycopg://app:***@db/app"
    assert client.get("/api/tdp/config/whole/password").status_code == 403


def test_other_keys_are_404(client) -> None:
    for path in ("keyplugin", "core_server/secret_key", "broken", "x/y"):
        response = client.get(f"/api/tdp/config/{path}")
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"
    plugins = {p["name"]: p for p in client.get("/api/_plugins").get_json()}
    assert any("'broken'" in e and "configKey" in e for e in plugins["keyplugin"]["errors"])


# --- the permission model, case by case as tdp_core 17's security.permissions decides ---------

OWNER = User("Owner", frozenset({"team"}))
BUDDY = User("buddy", frozenset())
MEMBER = User("member", frozenset({"Team"}))
OTHER = User("other", frozenset())


@pytest.mark.parametrize("permissions, user, read, write", [
    (744, OWNER, True, True), (744, OTHER, True, False), (700, OTHER, False, False),
    (740, MEMBER, True, False), (760, MEMBER, True, True), (740, OTHER, False, False),
    (7700, BUDDY, True, True), (4700, BUDDY, True, False), (700, BUDDY, False, False),
    (0, OWNER, False, False), (4, OWNER, True, False), (2, OTHER, False, True),
])
def test_tdp_permissions(permissions: int, user: User, read: bool, write: bool) -> None:
    item = {"creator": "owner", "group": "team", "buddies": ["Buddy"],
            "permissions": permissions}
    assert perms.can(item, perms.READ, user) is read
    assert perms.can(item, perms.WRITE, user) is write
    # the access keys stored for listings agree with the decision
    keys = set(perms.keys_of(user))
    assert bool(keys & set(perms.access_keys(item, perms.READ))) is read
    assert bool(keys & set(perms.access_keys(item, perms.WRITE))) is write


@pytest.mark.parametrize("value", ["8", "7787", "77777", "-1", "", "x", True, None])
def test_bad_permission_numbers(value: object) -> None:
    with pytest.raises(ValueError):
        perms.parse(value)
