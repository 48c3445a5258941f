"""``/api/_metrics`` (parsed with prometheus_client's own parser) and OpenTelemetry spans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core_server.app import create_app


@pytest.fixture
def testdb_config() -> dict[str, object]:
    return {"core_server": {"security": {"anonymous_write": True}}}


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /api/_metrics as ``{(name, sorted labels): value}``."""
    response = client.get("/api/_metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_rows_pools_timeouts_and_store_outcomes(testdb: Any) -> None:
    view = "/api/db/<connector>/<view>"
    assert testdb.get("/api/db/mydb/mytable?_limit=7").status_code == 200
    assert testdb.get("/api/db/mydb/mytable?_limit=3").status_code == 200
    assert testdb.get("/api/nope").status_code == 404
    assert testdb.get("/api/db/testdb/slow").status_code == 504
    made = testdb.post("/api/store/analysts", json={"login": "m1"})
    assert made.status_code == 201
    url = f"/api/store/analysts/{made.get_json()['_id']}"
    stale = testdb.put(url, json={"login": "m1", "name": "x"}, headers={"If-Match": '"99"'})
    assert stale.status_code == 412
    assert testdb.post("/api/store/analysts", json={"login": "m1"}).status_code == 409

    samples = scrape(testdb)
    assert value(samples, "core_server_requests_total", method="GET", route=view,
                 status="200") == 2
    assert value(samples, "core_server_requests_total", method="GET", route="<unmatched>",
                 status="404") == 1
    assert value(samples, "core_server_request_duration_seconds_count", method="GET",
                 route=view) == 3
    assert value(samples, "core_server_rows_served_total", route=view) == 10
    assert value(samples, "core_server_errors_total", code="not_found") == 1
    assert value(samples, "core_server_statement_timeouts_total", connector="testdb") == 1
    assert value(samples, "core_server_db_pool_checkout_seconds_count", connector="mydb") >= 2
    assert value(samples, "core_server_db_pool_in_use", connector="mydb") == 0
    assert ("core_server_db_pool_overflow", (("connector", "mydb"),)) in samples
    assert value(samples, "core_server_store_transactions_total", outcome="commit") >= 1
    assert value(samples, "core_server_store_transactions_total", outcome="rollback") >= 2
    assert value(samples, "core_server_store_conflicts_total", code="precondition_failed") == 1
    assert value(samples, "core_server_store_conflicts_total", code="duplicate") == 1
    assert "/api/_metrics" in testdb.get("/api/openapi.json").get_json()["paths"]


def test_metrics_can_be_switched_off(tmp_path: Any) -> None:
    app = create_app({"core_server": {"metrics": False}}, plugins_dirs=[], entry_points=False,
                     data_dir=tmp_path)
    response = app.test_client().get("/api/_metrics")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


@pytest.fixture(scope="module")
def spans() -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process; only apps with tracing on use it
    yield exporter


def test_spans_per_request_statement_and_mapping(spans: Any, tmp_path: Any) -> None:
    from myserverplugin.demo_data import write

    url = f"sqlite:///{tmp_path / 'mydb.sqlite'}"
    write(url, rows=20)
    app = create_app({"core_server": {"tracing": True}, "myserverplugin": {"dburl": url}},
                     data_dir=tmp_path / "data")
    client = app.test_client()
    spans.clear()
    assert client.get("/api/db/mydb/mytable?_limit=5").status_code == 200
    assert client.get("/api/idtype/MyIDType/MyName?q=1,2").status_code == 200
    finished = spans.get_finished_spans()
    by_name = {span.name: span for span in finished}
    request_span = by_name["GET /api/db/<connector>/<view>"]
    assert request_span.attributes["http.response.status_code"] == 200
    sql = [s for s in finished if s.name == "sql mytable"]
    assert sql and all(s.parent.span_id == request_span.context.span_id for s in sql)
    assert sql[0].attributes["core_server.view"] == "mytable"
    assert any("FROM mytable" in s.attributes["db.statement"] for s in sql)
    mapping = by_name["mapping map MyIDType->MyName"]
    assert mapping.parent.span_id == by_name["GET /api/idtype/<source>/<target>"].context.span_id
    assert mapping.attributes["core_server.mapping.target"] == "MyName"


def test_tracing_is_off_by_default(spans: Any, tmp_path: Any) -> None:
    app = create_app({}, plugins_dirs=[], entry_points=False, data_dir=tmp_path)
    spans.clear()
    assert app.test_client().get("/api/_health").status_code == 200
    assert spans.get_finished_spans() == ()
