"""Id mapping through HTTP: 100k ids over a SQL mapping, a mapped score view, assigned ids.

Run: ``.venv/bin/python bench/idtypes_mapping.py [--rounds 5]`` (in-process test client over the
tutorial data; PostgreSQL and MariaDB too when ``CORE_SERVER_TEST_PG`` / ``CORE_SERVER_TEST_MYSQL``
are set; prints medians). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core_server.app import create_app
from core_server.testing import BACKENDS
from core_server.testing import backend_url
from core_server.testing import fresh_database


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _bench(backend: str, rounds: int) -> None:
    from myserverplugin.demo_data import write

    tmp = Path(tempfile.mkdtemp())
    with fresh_database(backend, tmp) as url:
        write(url, rows=1000)
        app = create_app({"myserverplugin": {"dburl": url}}, data_dir=tmp / "data")
        client = app.test_client()
        ids = [str(i) for i in range(1, 100_001)]
        cases = {
            "map 100k ids MyIDType -> MyName": lambda: client.post(
                "/api/idtype/MyIDType/MyName", json={"q": ids, "mode": "first"}),
            "map 1k names MyName -> MyCategory (2 hops)": lambda: client.post(
                "/api/idtype/MyName/MyCategory", json={"q": [f"My {i}" for i in range(1, 1001)]}),
            "score view 1000 rows -> MyName": lambda: client.get(
                "/api/db/mydb/mytable_score?target=MyName&agg=avg&data_subtype=value"),
            "score view 1000 rows, unmapped": lambda: client.get(
                "/api/db/mydb/mytable_score?agg=avg&data_subtype=value"),
        }
        for label, fn in cases.items():
            assert fn().status_code == 200, label
            print(f"{backend:<10} {label:<44} median {_median_ms(fn, rounds):9.1f} ms")
        app.extensions["core_server"].dbviews.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for backend in BACKENDS:
        if backend == "sqlite" or backend_url(backend):
            _bench(backend, args.rounds)
    tmp = Path(tempfile.mkdtemp())
    client = create_app({}, data_dir=tmp / "data").test_client()
    names = [f"n{i}" for i in range(100_000)]
    start = time.perf_counter()
    client.post("/api/idtype/MyName/map", json={"ids": names})
    cold = (time.perf_counter() - start) * 1000
    warm = _median_ms(lambda: client.post("/api/idtype/MyName/map", json={"ids": names}),
                      args.rounds)
    print(f"{'server db':<10} {'assign 100k new names (cold) / known (warm)':<44} "
          f"{cold:9.1f} ms / {warm:.1f} ms")


if __name__ == "__main__":
    main()
