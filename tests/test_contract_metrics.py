"""Contract tests: the metrics collector, ``monitor_result``, the monitoring routes and alerts
(``architecture.md``, "Metrics" and "Monitoring routes")."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from rfs_monitoring import (
    Failure,
    MonoResult,
    OperationMetrics,
    Result,
    ResultMetricsCollector,
    Success,
    monitor_result,
)
from rfs_monitoring.alerts import AlertConfiguration, AlertManager, AlertRule
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.result_logging import get_log_level, reset_log_levels
from rfs_monitoring.testing import (
    FakeClock,
    assert_operation_recorded,
    assert_result_error,
    assert_result_success,
)
from rfs_monitoring.web import APIError, ErrorCode

DESIGN_METRIC_FIELDS = {
    "operation_name",
    "time_window",
    "total_requests",
    "successful_requests",
    "failed_requests",
    "success_rate",
    "avg_response_time_ms",
    "p50_response_time_ms",
    "p90_response_time_ms",
    "p99_response_time_ms",
    "max_response_time_ms",
    "error_breakdown",
    "top_errors",
    "avg_memory_usage_mb",
    "avg_cpu_usage_percent",
    "hourly_distribution",
}

# ---------------------------------------------------------------------------------------------
# The collector


def test_instance_is_process_wide_and_set_instance_returns_the_previous() -> None:
    """instance() is one object; set_instance installs another and returns the previous one."""
    first = ResultMetricsCollector.instance()
    assert ResultMetricsCollector.instance() is first
    fresh = ResultMetricsCollector(sample_resources=False)
    try:
        assert ResultMetricsCollector.set_instance(fresh) is first
        assert ResultMetricsCollector.instance() is fresh
    finally:
        assert ResultMetricsCollector.set_instance(first) is fresh
        fresh.close()
    assert ResultMetricsCollector.instance() is first


def test_operation_metrics_has_the_design_schema_and_window_fields(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """OperationMetrics carries every design field plus aware-UTC window bounds and throughput."""
    names = {f.name for f in dataclasses.fields(OperationMetrics)}
    assert DESIGN_METRIC_FIELDS | {"window_start", "window_end", "throughput_rps"} <= names
    metrics_collector.record("c_schema", 10.0, True)
    metrics = metrics_collector.operation_metrics("c_schema").unwrap()
    assert metrics.operation_name == "c_schema"
    assert metrics.time_window == "1h"
    assert metrics.window_start.tzinfo is not None
    assert metrics.window_end.utcoffset() == UTC.utcoffset(None)
    assert metrics.window_start < metrics.window_end
    assert isinstance(metrics.throughput_rps, float)
    assert isinstance(metrics.hourly_distribution, dict)
    assert isinstance(metrics.top_errors, list)


def test_recorded_samples_are_visible_to_the_next_query_in_milliseconds(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """record() by hand is counted at once; latencies are ms and success_rate is 0..1."""
    for ms in (10.0, 20.0, 30.0, 40.0):
        metrics_collector.record("c_manual", ms, True)
    metrics_collector.record("c_manual", 100.0, False, error_code="CONFLICT", error_message="dup")
    metrics = metrics_collector.operation_metrics("c_manual").unwrap()
    assert metrics.total_requests == 5
    assert metrics.successful_requests == 4
    assert metrics.failed_requests == 1
    assert metrics.success_rate == pytest.approx(0.8)
    assert metrics.avg_response_time_ms == pytest.approx(40.0, rel=0.05)
    assert metrics.max_response_time_ms == pytest.approx(100.0, rel=0.02)
    assert 19 <= metrics.p50_response_time_ms <= 31
    assert metrics.p50_response_time_ms <= metrics.p90_response_time_ms
    assert metrics.p90_response_time_ms <= metrics.p99_response_time_ms
    assert metrics.p99_response_time_ms <= metrics.max_response_time_ms * 1.02
    assert metrics.error_breakdown == {"CONFLICT": 1}
    assert metrics.top_errors[0][1] == 1
    assert sum(metrics.hourly_distribution.values()) == 5


@pytest.mark.parametrize(
    ("operation", "duration"),
    [("c_bad", -1.0), ("c_bad", math.nan), ("c_bad", math.inf), ("c_bad", -math.inf), ("", 1.0)],
)
def test_record_rejects_bad_durations_and_empty_names(
    metrics_collector: ResultMetricsCollector, operation: str, duration: float
) -> None:
    """A negative, NaN or infinite duration or an empty name raises ValueError, by hand or
    through a handle."""
    reason = "duration_ms" if operation else "name"
    with pytest.raises(ValueError, match=reason):
        metrics_collector.record(operation, duration, True)
    if operation:
        with pytest.raises(ValueError, match=reason):
            metrics_collector.operation(operation).record(duration, True)
    else:
        with pytest.raises(ValueError, match=reason):
            metrics_collector.operation(operation)


def test_operation_handle_records_under_its_name(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """operation(name).record(...) counts like record(name, ...)."""
    handle = metrics_collector.operation("c_handle")
    assert handle.name == "c_handle"
    handle.record(5.0, True)
    handle.record(7.0, False, error_code="TIMEOUT_ERROR", error_message="slow")
    handle.record(9.0, False, "DATABASE_ERROR")
    assert_operation_recorded("c_handle", successes=1, failures=2, error_code="TIMEOUT_ERROR")


def test_clock_drives_the_windows(fake_clock: FakeClock) -> None:
    """With a clock callable, samples leave a window as the clock moves past it."""
    collector = ResultMetricsCollector(clock=fake_clock, retention="1w", sample_resources=False)
    try:
        assert collector.clock is fake_clock
        collector.record("c_clock", 1.0, True)
        fake_clock.advance(2 * 3600)
        collector.record("c_clock", 1.0, True)
        assert collector.operation_metrics("c_clock", "1h").unwrap().total_requests == 1
        assert collector.operation_metrics("c_clock", "3h").unwrap().total_requests == 2
        fake_clock.advance(8 * 86400)
        error = assert_result_error(collector.operation_metrics("c_clock", "1w"), APIError)
        assert error.code == ErrorCode.NOT_FOUND
    finally:
        collector.close()


def test_default_clock_is_wall_time() -> None:
    """Without a clock, the collector's windows end at the current time."""
    import time

    collector = ResultMetricsCollector(sample_resources=False)
    try:
        collector.record("c_wall", 1.0, True)
        metrics = collector.operation_metrics("c_wall").unwrap()
        assert abs(metrics.window_end.timestamp() - time.time()) < 120
    finally:
        collector.close()


@pytest.mark.asyncio
async def test_get_operation_metrics_is_a_mono_that_awaits_and_binds(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """get_operation_metrics returns a MonoResult: ``await`` and ``.bind_result`` work."""
    metrics_collector.record("c_mono", 12.0, True)
    mono = metrics_collector.get_operation_metrics("c_mono", time_range="1h")
    assert isinstance(mono, MonoResult)
    metrics = assert_result_success(await mono, OperationMetrics)
    assert metrics.total_requests == 1
    total = await mono.bind_result(lambda m: Success(m.total_requests))
    assert total == Success(1)


@pytest.mark.asyncio
@pytest.mark.parametrize("time_range", ["1s", "30s", "1m", "15m", "1h", "24h", "1d", "7d", "1w"])
async def test_every_unit_up_to_the_retention_is_accepted(
    metrics_collector: ResultMetricsCollector, time_range: str
) -> None:
    """<n>s|m|h|d|w with n ≥ 1 up to the retention answers the metrics."""
    metrics_collector.record("c_units", 3.0, True)
    metrics = assert_result_success(
        await metrics_collector.get_operation_metrics("c_units", time_range=time_range)
    )
    assert metrics.time_window == time_range
    assert metrics.total_requests == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "time_range", [None, "", "0h", "-1h", "1y", "h", "1.5h", "2w", "8d", "abc", " 1h", "1H x"]
)
async def test_other_ranges_are_validation_errors(
    metrics_collector: ResultMetricsCollector, time_range: Any
) -> None:
    """Any other range, None and ranges beyond the retention included, is a VALIDATION_ERROR."""
    metrics_collector.record("c_ranges", 3.0, True)
    result = await metrics_collector.get_operation_metrics("c_ranges", time_range=time_range)
    assert assert_result_error(result, APIError).code == ErrorCode.VALIDATION_ERROR


@pytest.mark.asyncio
async def test_an_unknown_operation_is_not_found(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """An operation never recorded is a NOT_FOUND failure."""
    result = await metrics_collector.get_operation_metrics("c_never_seen")
    assert assert_result_error(result, APIError).code == ErrorCode.NOT_FOUND


def test_a_shorter_retention_bounds_the_accepted_ranges() -> None:
    """With retention="1d", "1d" is accepted and "2d" is a VALIDATION_ERROR."""
    collector = ResultMetricsCollector(retention="1d", sample_resources=False)
    try:
        collector.record("c_retention", 1.0, True)
        assert collector.operation_metrics("c_retention", "1d").is_success()
        error = assert_result_error(collector.operation_metrics("c_retention", "2d"), APIError)
        assert error.code == ErrorCode.VALIDATION_ERROR
    finally:
        collector.close()


# ---------------------------------------------------------------------------------------------
# monitor_result


@pytest.mark.asyncio
async def test_monitor_result_counts_sync_and_async_outcomes(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Sync and async functions: Success counts as success, Failure and raised exceptions as
    errors (the exception re-raised unchanged)."""
    problem = KeyError("k")

    @monitor_result("c_mon_sync")
    def sync_op(kind: str) -> Result[int, APIError]:
        if kind == "raise":
            raise problem
        return Success(1) if kind == "ok" else Failure(APIError.conflict())

    @monitor_result("c_mon_async")
    async def async_op(kind: str) -> Result[int, APIError]:
        await asyncio.sleep(0)
        if kind == "raise":
            raise problem
        return Success(1) if kind == "ok" else Failure(APIError.conflict())

    for kind in ("ok", "fail"):
        sync_op(kind)
        await async_op(kind)
    with pytest.raises(KeyError) as sync_caught:
        sync_op("raise")
    with pytest.raises(KeyError) as async_caught:
        await async_op("raise")
    assert sync_caught.value is problem
    assert async_caught.value is problem
    for name in ("c_mon_sync", "c_mon_async"):
        assert_operation_recorded(name, successes=1, failures=2, error_code="CONFLICT")


@pytest.mark.asyncio
async def test_monitor_result_does_not_log(
    metrics_collector: ResultMetricsCollector, captured_result_logs: list[dict[str, Any]]
) -> None:
    """monitor_result records metrics only: no log entry is emitted."""

    @monitor_result("c_mon_quiet")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    assert captured_result_logs == []
    assert_operation_recorded("c_mon_quiet", successes=1)


# ---------------------------------------------------------------------------------------------
# Monitoring routes

TOKEN = "contract-token-123"


@pytest.fixture
def routes(fake_clock: FakeClock) -> Iterator[tuple[TestClient, ResultMetricsCollector]]:
    """A plain FastAPI app with the monitoring router (token-protected writes)."""
    collector = ResultMetricsCollector(clock=fake_clock, sample_resources=False)
    manager = AlertManager(collector)
    app = FastAPI()
    app.include_router(monitoring_router(collector, manager, token=TOKEN))
    try:
        with TestClient(app) as client:
            yield client, collector
    finally:
        close = getattr(manager, "close", None) or getattr(manager, "stop", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        collector.close()
        reset_log_levels()


def _seed(collector: ResultMetricsCollector) -> None:
    for ms in (5.0, 15.0, 25.0):
        collector.record("c_route_op", ms, True)
    collector.record("c_route_op", 50.0, False, error_code="NOT_FOUND", error_message="no user 7")
    collector.record("c_other", 2.0, False, error_code="CONFLICT", error_message="dup")


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_get_operations_lists_recorded_operations(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """GET /monitoring/operations answers 200 and names every recorded operation."""
    client, collector = routes
    _seed(collector)
    response = client.get("/monitoring/operations")
    assert response.status_code == 200
    assert "c_route_op" in response.text
    assert "c_other" in response.text


def test_get_operation_metrics_route_answers_the_metrics(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """GET /operations/{name}/metrics?time_range=1h answers the OperationMetrics fields."""
    client, collector = routes
    _seed(collector)
    response = client.get("/monitoring/operations/c_route_op/metrics", params={"time_range": "1h"})
    assert response.status_code == 200
    body = response.json()
    assert body.keys() >= DESIGN_METRIC_FIELDS
    assert body["total_requests"] == 4
    assert body["failed_requests"] == 1
    assert body["success_rate"] == pytest.approx(0.75)
    assert body["error_breakdown"] == {"NOT_FOUND": 1}


def test_unknown_operation_route_is_a_404_problem(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """An unknown operation is a 404 problem+json."""
    client, _ = routes
    response = client.get("/monitoring/operations/c_nope/metrics")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/monitoring/operations/c_route_op/metrics", {"time_range": "2y"}),
        ("/monitoring/operations/c_route_op/metrics", {"time_range": "0m"}),
        ("/monitoring/errors/top", {"limit": "0"}),
        ("/monitoring/errors/top", {"limit": "1001"}),
        ("/monitoring/errors/top", {"limit": "ten"}),
        ("/monitoring/errors/top", {"time_range": "forever"}),
        ("/monitoring/operations", {"time_range": "x"}),
    ],
)
def test_bad_query_values_are_4xx_problems_never_500(
    routes: tuple[TestClient, ResultMetricsCollector], path: str, params: dict[str, str]
) -> None:
    """Bad query values answer a 4xx application/problem+json body."""
    client, collector = routes
    _seed(collector)
    response = client.get(path, params=params)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("limit", [1, 1000])
def test_limit_bounds_are_inclusive(
    routes: tuple[TestClient, ResultMetricsCollector], limit: int
) -> None:
    """limit=1 and limit=1000 are accepted."""
    client, collector = routes
    _seed(collector)
    response = client.get("/monitoring/errors/top", params={"limit": limit})
    assert response.status_code == 200
    assert len(response.json()) <= limit


def test_top_errors_items_have_the_documented_fields(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """GET /errors/top items carry operation_name, error_code, error_message, count and the
    first/last seen times."""
    client, collector = routes
    _seed(collector)
    response = client.get("/monitoring/errors/top", params={"limit": 10, "time_range": "1h"})
    assert response.status_code == 200
    items = response.json()
    assert {(i["operation_name"], i["error_code"]) for i in items} == {
        ("c_route_op", "NOT_FOUND"),
        ("c_other", "CONFLICT"),
    }
    for item in items:
        assert {
            "operation_name",
            "error_code",
            "error_message",
            "count",
            "first_seen",
            "last_seen",
        } <= item.keys()
        assert item["count"] == 1
        datetime.fromisoformat(item["first_seen"].replace("Z", "+00:00"))


def test_health_route_answers(routes: tuple[TestClient, ResultMetricsCollector]) -> None:
    """GET /health/result-patterns answers 200 JSON."""
    client, collector = routes
    _seed(collector)
    response = client.get("/monitoring/health/result-patterns")
    assert response.status_code == 200
    assert isinstance(response.json(), dict)


def test_prometheus_route_exposes_the_documented_series(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """GET /metrics exposes the duration histogram, totals by outcome and errors by code."""
    client, collector = routes
    _seed(collector)
    response = client.get("/monitoring/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["rfs_operation_duration_seconds"].type == "histogram"
    samples = [
        (sample.name, dict(sample.labels), sample.value)
        for family in families.values()
        for sample in family.samples
    ]
    assert (
        "rfs_operation_duration_seconds_bucket",
        {"operation": "c_route_op", "le": "+Inf"},
        4.0,
    ) in samples
    assert ("rfs_operation_duration_seconds_count", {"operation": "c_route_op"}, 4.0) in samples
    totals = {
        labels["outcome"]: value
        for name, labels, value in samples
        if name == "rfs_operations_total" and labels["operation"] == "c_route_op"
    }
    assert sum(totals.values()) == 4
    assert len(totals) == 2
    assert (
        "rfs_operation_errors_total",
        {"operation": "c_route_op", "error_code": "NOT_FOUND"},
        1.0,
    ) in samples


def test_dashboard_route_serves_html(routes: tuple[TestClient, ResultMetricsCollector]) -> None:
    """GET /dashboard serves an HTML page."""
    client, _ = routes
    response = client.get("/monitoring/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


ALERT_BODY = {
    "rules": [
        {
            "name": "c-slow",
            "operation": "c_route_op",
            "metric": "p99_ms",
            "op": ">",
            "threshold": 40,
            "window": "5m",
            "for_seconds": 0,
            "keep_firing_for_seconds": 0,
            "severity": "critical",
            "labels": {"team": "users"},
        },
        {
            "name": "c-any",
            "operation": "*",
            "metric": "error_rate",
            "op": ">=",
            "threshold": 0.5,
            "window": "1h",
        },
    ],
    "notifiers": [],
}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/monitoring/alerts/configure", ALERT_BODY),
        ("POST", "/monitoring/alerts/configure", {"garbage": True}),
        ("PUT", "/monitoring/logging/level", {"level": "DEBUG", "operation": None}),
        ("PUT", "/monitoring/logging/level", "not json at all"),
    ],
)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_write_routes_refuse_without_the_token_before_reading_the_body(
    routes: tuple[TestClient, ResultMetricsCollector],
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
) -> None:
    """Without ``Authorization: Bearer <token>`` writes answer 401/403, even with a bad body."""
    client, _ = routes
    kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"content": body}
    response = client.request(method, path, headers=headers, **kwargs)
    assert response.status_code in (401, 403)
    assert get_log_level() == "INFO"


def test_write_routes_refuse_when_no_token_or_auth_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A router without token, auth or RFS_MONITORING_TOKEN refuses every write."""
    monkeypatch.delenv("RFS_MONITORING_TOKEN", raising=False)
    collector = ResultMetricsCollector(sample_resources=False)
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    try:
        with TestClient(app) as client:
            put = client.put("/monitoring/logging/level", json={"level": "DEBUG"})
            post = client.post(
                "/monitoring/alerts/configure",
                json=ALERT_BODY,
                headers={"Authorization": "Bearer anything"},
            )
    finally:
        collector.close()
    assert put.status_code in (401, 403)
    assert post.status_code in (401, 403)
    assert get_log_level() == "INFO"


def test_configure_alerts_with_the_token_then_list_them(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """POST /alerts/configure with the bearer token accepts the rules; GET /alerts shows them."""
    client, collector = routes
    _seed(collector)
    response = client.post("/monitoring/alerts/configure", json=ALERT_BODY, headers=AUTH)
    assert response.status_code == 200, response.text
    alerts = client.get("/monitoring/alerts")
    assert alerts.status_code == 200
    assert "c-slow" in alerts.text


def test_an_invalid_alert_configuration_is_a_4xx_problem(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """An authorized request with an unknown metric or operator is a 4xx problem."""
    client, _ = routes
    bad = {"rules": [{"name": "r", "metric": "p42_ms", "op": "!=", "threshold": 1}]}
    response = client.post("/monitoring/alerts/configure", json=bad, headers=AUTH)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


def test_put_logging_level_changes_the_level_with_the_token(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """PUT /logging/level {"level", "operation"} changes the run-time level globally or for one."""
    client, _ = routes
    response = client.put(
        "/monitoring/logging/level", json={"level": "DEBUG", "operation": None}, headers=AUTH
    )
    assert response.status_code == 200
    assert get_log_level() == "DEBUG"
    response = client.put(
        "/monitoring/logging/level",
        json={"level": "ERROR", "operation": "c_route_op"},
        headers=AUTH,
    )
    assert response.status_code == 200
    assert get_log_level("c_route_op") == "ERROR"


def test_token_from_the_environment_authorizes_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFS_MONITORING_TOKEN is used when the router gets no token."""
    monkeypatch.setenv("RFS_MONITORING_TOKEN", "env-token-456")
    collector = ResultMetricsCollector(sample_resources=False)
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    try:
        with TestClient(app) as client:
            refused = client.put("/monitoring/logging/level", json={"level": "WARNING"})
            allowed = client.put(
                "/monitoring/logging/level",
                json={"level": "WARNING"},
                headers={"Authorization": "Bearer env-token-456"},
            )
            assert get_log_level() == "WARNING"
    finally:
        collector.close()
        reset_log_levels()
    assert refused.status_code in (401, 403)
    assert allowed.status_code == 200


def test_an_auth_dependency_guards_writes() -> None:
    """With ``auth=``, the dependency decides: it refuses by raising, allows otherwise."""

    def require_admin(request: Request) -> None:
        if request.headers.get("X-Admin") != "yes":
            raise HTTPException(status_code=403, detail="admins only")

    collector = ResultMetricsCollector(sample_resources=False)
    app = FastAPI()
    app.include_router(monitoring_router(collector, auth=Depends(require_admin).dependency))
    try:
        with TestClient(app) as client:
            refused = client.put("/monitoring/logging/level", json={"level": "ERROR"})
            allowed = client.put(
                "/monitoring/logging/level", json={"level": "ERROR"}, headers={"X-Admin": "yes"}
            )
            assert get_log_level() == "ERROR"
    finally:
        collector.close()
        reset_log_levels()
    assert refused.status_code == 403
    assert allowed.status_code == 200


def test_protect_reads_requires_the_token_on_read_routes() -> None:
    """protect_reads=True applies the write checks to the read routes too."""
    collector = ResultMetricsCollector(sample_resources=False)
    app = FastAPI()
    app.include_router(monitoring_router(collector, token=TOKEN, protect_reads=True))
    try:
        with TestClient(app) as client:
            refused = client.get("/monitoring/operations")
            allowed = client.get("/monitoring/operations", headers=AUTH)
    finally:
        collector.close()
    assert refused.status_code in (401, 403)
    assert allowed.status_code == 200


def test_custom_prefix_moves_the_routes() -> None:
    """prefix= mounts the same routes under another path."""
    collector = ResultMetricsCollector(sample_resources=False)
    collector.record("c_prefix", 1.0, True)
    app = FastAPI()
    app.include_router(monitoring_router(collector, prefix="/ops"))
    try:
        with TestClient(app) as client:
            assert client.get("/ops/operations").status_code == 200
            assert client.get("/monitoring/operations").status_code == 404
    finally:
        collector.close()


def test_router_defaults_to_the_process_wide_collector(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Without a collector argument, the routes read ResultMetricsCollector.instance()."""
    metrics_collector.record("c_default_collector", 1.0, True)
    app = FastAPI()
    app.include_router(monitoring_router())
    with TestClient(app) as client:
        response = client.get("/monitoring/operations/c_default_collector/metrics")
    assert response.status_code == 200
    assert response.json()["total_requests"] == 1


# ---------------------------------------------------------------------------------------------
# Alert models


@pytest.mark.parametrize(
    "metric",
    [
        "success_rate",
        "error_rate",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "avg_ms",
        "max_ms",
        "rps",
        "error_count",
    ],
)
@pytest.mark.parametrize("op", [">", ">=", "<", "<="])
def test_alert_rule_accepts_every_documented_metric_and_operator(metric: str, op: str) -> None:
    """AlertRule validates each documented metric with each documented operator."""
    rule = AlertRule(name="r", operation="*", metric=metric, op=op, threshold=1.0, window="5m")
    assert rule.metric == metric
    assert rule.op == op


def test_alert_rule_optional_fields_and_configuration_shape() -> None:
    """for_seconds, keep_firing_for_seconds, severity and labels are optional; the
    configuration holds rules and notifiers."""
    config = AlertConfiguration.model_validate(ALERT_BODY)
    first = config.rules[0]
    assert first.for_seconds == 0
    assert first.keep_firing_for_seconds == 0
    assert first.severity == "critical"
    assert first.labels == {"team": "users"}
    assert config.rules[1].operation == "*"
    assert config.notifiers == []
    minimal = AlertRule.model_validate(
        {"name": "m", "operation": "x", "metric": "rps", "op": "<", "threshold": 1, "window": "1m"}
    )
    assert minimal.labels == {}


@pytest.mark.parametrize(
    "change", [{"metric": "p42_ms"}, {"op": "!="}, {"threshold": "high"}, {"name": ""}]
)
def test_alert_rule_rejects_unknown_values(change: dict[str, Any]) -> None:
    """An unknown metric or operator, a non-numeric threshold or an empty name is invalid."""
    from pydantic import ValidationError

    data = {
        "name": "r",
        "operation": "*",
        "metric": "p99_ms",
        "op": ">",
        "threshold": 1.0,
        "window": "5m",
        **change,
    }
    with pytest.raises(ValidationError):
        AlertRule.model_validate(data)


def test_top_error_messages_are_masked_in_metrics_and_routes(
    routes: tuple[TestClient, ResultMetricsCollector],
) -> None:
    """Error messages holding secrets are masked in top_errors and in GET /errors/top."""
    client, collector = routes
    collector.record("c_secret_errors", 3.0, False, "UNAUTHORIZED", "bad password=pw-Zq98x")
    metrics = collector.operation_metrics("c_secret_errors").unwrap()
    assert "pw-Zq98x" not in str(metrics.top_errors)
    assert "pw-Zq98x" not in str(collector.top_errors())
    response = client.get("/monitoring/errors/top")
    assert response.status_code == 200
    assert "pw-Zq98x" not in response.text
    assert "UNAUTHORIZED" in response.text
