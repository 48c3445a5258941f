"""Login timing (wrong password vs unknown user) and the per-request cost of authentication.

Run: ``.venv/bin/python bench/security_timing.py [--rounds 40]`` (in-process test client, SQLite
server database; prints medians). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

from werkzeug.security import generate_password_hash

from core_server.app import create_app
from core_server.testing import bearer
from core_server.testing import login


def _times(fn: Callable[[], object], rounds: int) -> list[float]:
    result = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        result.append((time.perf_counter() - start) * 1000)
    return result


def _report(label: str, values: list[float]) -> None:
    values = sorted(values)
    p90 = values[int(len(values) * 0.9) - 1]
    print(f"{label:<42} median {statistics.median(values):8.3f} ms   p90 {p90:8.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    users = [{"name": "admin", "password": generate_password_hash("admin-pw"), "roles": ["admin"]}]
    config = {"core_server": {"secret_key": "bench", "access_log": False,
                              "security": {"users": users}}}
    app = create_app(config, data_dir=tempfile.mkdtemp())
    client = app.test_client()

    def attempt(name: str) -> Callable[[], object]:
        return lambda: client.post("/api/login", json={"username": name, "password": "wrong"})

    for _ in range(3):  # warm up (the dummy hash is made on first use)
        attempt("nobody")(), attempt("admin")()
    # Interleaved, so that load from other processes hits both alike.
    wrong: list[float] = []
    unknown: list[float] = []
    for _ in range(args.rounds):
        wrong += _times(attempt("admin"), 1)
        unknown += _times(attempt("nobody"), 1)
    _report("login: wrong password (scrypt)", wrong)
    _report("login: unknown user", unknown)
    _report("login: right password", _times(lambda: login(client, "admin", "admin-pw"),
                                            args.rounds))
    token = client.post("/api/tokens").get_json()
    url = "/api/proxy/planets/3"
    rounds = args.rounds * 10
    _report("GET endpoint, anonymous", _times(lambda: app.test_client().get(url), rounds))
    _report("GET endpoint, session cookie", _times(lambda: client.get(url), rounds))
    _report("GET endpoint, bearer token (revocation lookup)",
            _times(lambda: app.test_client().get(url, headers=bearer(token)), rounds))


if __name__ == "__main__":
    main()
