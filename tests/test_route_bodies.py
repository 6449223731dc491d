"""The bodies the core writes as bytes say what the Python models would."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.masking import configure_masking, get_masker
from rfs_monitoring.metrics import ErrorSummary, ResultMetricsCollector


def _client(collector: ResultMetricsCollector) -> TestClient:
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    return TestClient(app)


def test_top_errors_written_by_the_core_match_the_models(
    metrics_collector: ResultMetricsCollector,
) -> None:
    for i in range(30):
        metrics_collector.record(
            "login", 5.0, False, "DENIED", f"user {i % 3} denied, password=hunter{i % 3}"
        )
        metrics_collector.record("search", 2.0, False, "TIMEOUT_ERROR", "upstream timed out")
    client = _client(metrics_collector)
    body = client.get("/monitoring/errors/top", params={"limit": 5}).json()
    expected = TypeAdapter(list[ErrorSummary]).dump_python(
        metrics_collector.top_errors(5, "1h"), mode="json"
    )
    assert body == expected
    assert "hunter" not in str(body)
    assert client.get("/monitoring/errors/top", params={"limit": 0}).status_code in (400, 422)


def test_custom_masking_patterns_still_apply_to_top_errors(
    metrics_collector: ResultMetricsCollector,
) -> None:
    metrics_collector.record("billing", 5.0, False, "DECLINED", "card ACME-123456 declined")
    previous = configure_masking(patterns=[r"ACME-\d{6}"])
    try:
        body = _client(metrics_collector).get("/monitoring/errors/top").json()
        assert body[0]["error_message"] == "card *** declined"
    finally:
        configure_masking()
        del previous


def test_list_and_health_bodies_hold_every_field(
    metrics_collector: ResultMetricsCollector,
) -> None:
    for i in range(40):
        metrics_collector.record("checkout", 10.0 + i, i % 4 != 0, "DB")
    client = _client(metrics_collector)
    (row,) = client.get("/monitoring/operations").json()["operations"]
    metrics = metrics_collector.operation_metrics("checkout").unwrap()
    assert row["name"] == "checkout"
    assert (row["total_requests"], row["failed_requests"]) == (40, 10)
    assert row["success_rate"] == metrics.success_rate
    assert row["p99_ms"] == metrics.p99_response_time_ms
    health = client.get("/monitoring/health/result-patterns")
    assert health.status_code == 503  # 75% success is below the unhealthy threshold
    answer = health.json()
    assert answer["status"] == "unhealthy"
    (operation,) = answer["operations"]
    assert operation["reasons"] == ["success rate 75.00%"]
    assert answer["total_requests"] == 40
    assert answer["thresholds"]["unhealthy_below"] == 0.9


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False))
def test_times_written_by_the_core_are_pythons(t: float) -> None:
    """The core writes times exactly as pydantic writes `datetime.fromtimestamp(t, UTC)`
    (microseconds rounded half to even, as Python does)."""
    now = [t]
    collector = ResultMetricsCollector(clock=lambda: now[0], sample_resources=False)
    try:
        collector.record("op", 1.0, False, "E", "m")
        (row,) = json.loads(
            collector._registry.top_errors_json(t + 1, 3600, 10, get_masker()._text)
        )
        expected = TypeAdapter(datetime).dump_python(datetime.fromtimestamp(t, UTC), mode="json")
        assert row["first_seen"] == expected
    finally:
        collector.close()
