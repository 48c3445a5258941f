"""Access rules: security.check decides by config rule, resource rule, then server default."""

from pathlib import Path

import pytest
from flask import g

from core_server.app import create_app
from core_server.errors import ApiError
from core_server.security import User
from core_server.security import check

ANALYST = User("ann", frozenset({"analyst"}))


def _app(tmp_path: Path, **security):
    return create_app({"core_server": {"security": security}}, plugins_dirs=[],
                      data_dir=tmp_path, entry_points=False)


def _check(app, user, *args):
    with app.test_request_context():
        if user is not None:
            g.user = user
        try:
            return check(*args).name
        except ApiError as exc:
            return exc.status


def test_defaults_read_open_write_closed(tmp_path: Path) -> None:
    app = _app(tmp_path)
    assert _check(app, None, "store:x", "read") == "anonymous"
    assert _check(app, None, "store:x", "create") == 401
    assert _check(app, ANALYST, "store:x", "create") == "ann"


def test_resource_rule_then_config_rule_wins(tmp_path: Path) -> None:
    app = _app(tmp_path, rules={"db:c/v": {"read": ["boss"]}})
    assert _check(app, ANALYST, "db:c/w", "read", "analyst") == "ann"
    assert _check(app, User("bob"), "db:c/w", "read", "analyst") == 403
    assert _check(app, ANALYST, "db:c/v", "read", "analyst") == 403  # config beats the view's rule
    assert _check(app, User("root", frozenset({"admin"})), "db:c/v", "read") == "root"


@pytest.mark.parametrize("rule, expected", [(False, "anonymous"), ("any", "anonymous"),
                                            ("authenticated", 401), (lambda u: True, "anonymous")])
def test_rule_kinds(tmp_path: Path, rule, expected) -> None:
    assert _check(_app(tmp_path), None, "endpoint:e", "execute", rule) == expected


def test_denied_remembers_static_rules_and_asks_callables_again(tmp_path: Path) -> None:
    from core_server.security import denied

    app = _app(tmp_path, rules={"store:c.secret": {"read": "auditor"}})
    answers = iter([True, False, True])
    calls = []

    def flaky(user):
        calls.append(user.name)
        return next(answers)

    bob = User("bob", frozenset())
    auditor = User("ann", frozenset({"auditor"}))
    static = (("store:c.secret", None), ("store:c.name", True))
    with app.test_request_context("/api/x"):
        assert denied(static, "read", bob, fallback=True) == {"store:c.secret"}
        assert denied(static, "read", auditor, fallback=True) == frozenset()
        assert denied(static, "read", bob, fallback=True) == {"store:c.secret"}  # remembered
        dynamic = (("store:c.flaky", flaky),)
        seen = [denied(dynamic, "read", bob, fallback=True) for _ in range(3)]
    assert seen == [frozenset(), {"store:c.flaky"}, frozenset()]  # asked every time
    assert calls == ["bob", "bob", "bob"]
