"""The monitoring routes end to end through FastAPI: data, validation, auth, alerts, OpenAPI."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from base64 import b64encode
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from rfs_monitoring.alerts import (
    AlertConfiguration,
    AlertEvent,
    AlertManager,
    AlertRule,
    CallbackNotifier,
)
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.result_logging import get_log_level, reset_log_levels
from rfs_monitoring.testing import FakeClock

T0 = 1_700_000_000.0
TOKEN = "s3cret-token"
RULE = {"name": "errors", "metric": "error_rate", "op": ">", "threshold": 0.05, "window": "5m"}


@pytest.fixture
def collector(clock: FakeClock) -> Iterator[ResultMetricsCollector]:
    """A collector holding checkout (10% failures) and search (all good) traffic."""
    c = ResultMetricsCollector(clock=clock, sample_resources=False)
    for i in range(100):
        c.record(
            "checkout",
            10.0 + i,
            i % 10 != 0,
            error_code="DATABASE_ERROR",
            error_message="db down, password=hunter2",
        )
        c.record("search", 5.0, True)
    yield c
    c.close()


def client_for(collector: ResultMetricsCollector | None, **kwargs: Any) -> TestClient:
    """A TestClient over an app holding only the monitoring router."""
    app = FastAPI()
    app.include_router(monitoring_router(collector, **kwargs))
    return TestClient(app)


@pytest.fixture
def client(collector: ResultMetricsCollector) -> TestClient:
    """A client of the router without write access configured."""
    return client_for(collector)


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests decide the token themselves; log levels are restored afterwards."""
    monkeypatch.delenv("RFS_MONITORING_TOKEN", raising=False)
    yield
    reset_log_levels()


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is a problem+json body with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["correlation_id"]
    return body


# -- reads -------------------------------------------------------------------------------------


def test_operations_lists_every_operation_with_its_numbers(client: TestClient) -> None:
    """GET /operations returns one summary per operation with real numbers."""
    body = client.get("/monitoring/operations").json()
    rows = {row["name"]: row for row in body["operations"]}
    assert set(rows) == {"checkout", "search"}
    assert rows["checkout"]["total_requests"] == 100
    assert rows["checkout"]["failed_requests"] == 10
    assert rows["checkout"]["success_rate"] == pytest.approx(0.9)
    assert 10 <= rows["checkout"]["p50_ms"] <= rows["checkout"]["p99_ms"] <= 110
    assert body["time_range"] == "1h"


def test_operations_rows_agree_with_each_operations_metrics(client: TestClient) -> None:
    """Every row of GET /operations equals the numbers of that operation's metrics route."""
    for time_range in ["5m", "1h", "1w"]:
        body = client.get("/monitoring/operations", params={"time_range": time_range}).json()
        assert list(body) == ["time_range", "generated_at", "operations"]
        assert body["time_range"] == time_range
        assert datetime.fromisoformat(body["generated_at"]).tzinfo is not None
        for row in body["operations"]:
            metrics = client.get(
                f"/monitoring/operations/{row['name']}/metrics", params={"time_range": time_range}
            ).json()
            assert row == {
                "name": metrics["operation_name"],
                "total_requests": metrics["total_requests"],
                "failed_requests": metrics["failed_requests"],
                "success_rate": metrics["success_rate"],
                "avg_ms": metrics["avg_response_time_ms"],
                "p50_ms": metrics["p50_response_time_ms"],
                "p90_ms": metrics["p90_response_time_ms"],
                "p99_ms": metrics["p99_response_time_ms"],
                "max_ms": metrics["max_response_time_ms"],
                "rps": metrics["throughput_rps"],
            }


def test_operations_of_an_empty_collector_is_an_empty_list() -> None:
    """A collector without data lists no operation (200, not 404)."""
    empty = ResultMetricsCollector(sample_resources=False)
    response = client_for(empty).get("/monitoring/operations")
    assert response.status_code == 200
    assert response.json()["operations"] == []
    empty.close()


def test_operation_metrics_has_the_design_document_fields(client: TestClient) -> None:
    """GET /operations/{name}/metrics serves OperationMetrics."""
    body = client.get("/monitoring/operations/checkout/metrics", params={"time_range": "1d"}).json()
    assert body["operation_name"] == "checkout"
    assert body["time_window"] == "1d"
    assert body["error_breakdown"] == {"DATABASE_ERROR": 10}
    assert body["top_errors"] == [["db down, password=***", 10]]
    assert sum(body["hourly_distribution"].values()) == 100


def test_timeseries_returns_the_requested_points(client: TestClient) -> None:
    """GET /operations/{name}/timeseries splits the window into about ``points`` buckets."""
    body = client.get(
        "/monitoring/operations/checkout/timeseries", params={"time_range": "1h", "points": 12}
    ).json()
    assert body["operation"] == "checkout"
    assert 12 <= len(body["points"]) <= 13  # the current, partial bucket may be its own point
    assert sum(point["total"] for point in body["points"]) == 100
    assert sum(point["failures"] for point in body["points"]) == 10


def test_top_errors_are_masked_and_limited(client: TestClient, collector: Any) -> None:
    """GET /errors/top lists errors with masked messages, at most ``limit``."""
    collector.record("search", 1.0, False, error_code="TIMEOUT_ERROR", error_message="slow")
    body = client.get("/monitoring/errors/top", params={"limit": 1}).json()
    assert len(body) == 1
    top = body[0]
    assert (top["operation_name"], top["error_code"], top["count"]) == (
        "checkout",
        "DATABASE_ERROR",
        10,
    )
    assert "hunter2" not in top["error_message"]
    assert top["first_seen"] <= top["last_seen"]
    assert len(client.get("/monitoring/errors/top").json()) == 2


@pytest.mark.parametrize(
    "path",
    [
        "/monitoring/operations?time_range=bad",
        "/monitoring/operations?time_range=0h",
        "/monitoring/operations?time_range=2w",
        "/monitoring/operations/checkout/metrics?time_range=1y",
        "/monitoring/operations/checkout/metrics?time_range=",
        "/monitoring/operations/checkout/timeseries?points=0",
        "/monitoring/operations/checkout/timeseries?points=1001",
        "/monitoring/operations/checkout/timeseries?points=x",
        "/monitoring/operations/checkout/timeseries?time_range=-1m",
        "/monitoring/errors/top?limit=0",
        "/monitoring/errors/top?limit=1001",
        "/monitoring/errors/top?limit=abc",
        "/monitoring/errors/top?time_range=5x",
        "/monitoring/health/result-patterns?time_range=forever",
        "/monitoring/alerts?history=-1",
    ],
)
def test_bad_query_values_are_400_problems(client: TestClient, path: str) -> None:
    """Every bad query value is a 400 VALIDATION_ERROR problem, never a 500."""
    body = assert_problem(client.get(path), 400, "VALIDATION_ERROR")
    assert body["detail"]


def test_operation_names_with_slashes_and_spaces_work(collector: Any) -> None:
    """Names such as ``GET /users/{id}`` are reachable once percent-encoded."""
    collector.record("GET /users/{id}", 4.0, True)
    client = client_for(collector)
    path = "/monitoring/operations/GET%20%2Fusers%2F%7Bid%7D"
    assert client.get(f"{path}/metrics").json()["operation_name"] == "GET /users/{id}"
    assert client.get(f"{path}/timeseries").json()["operation"] == "GET /users/{id}"


def test_unknown_operation_is_a_404_problem(client: TestClient) -> None:
    """Metrics and time series of an unknown operation are NOT_FOUND."""
    assert_problem(client.get("/monitoring/operations/nope/metrics"), 404, "NOT_FOUND")
    assert_problem(client.get("/monitoring/operations/nope/timeseries"), 404, "NOT_FOUND")


def test_router_uses_the_process_collector_at_request_time(clock: FakeClock) -> None:
    """Without a collector the routes read ResultMetricsCollector.instance() per request."""
    client = client_for(None)
    mine = ResultMetricsCollector(clock=clock, sample_resources=False)
    mine.record("late", 1.0, True)
    previous = ResultMetricsCollector.set_instance(mine)
    try:
        names = [row["name"] for row in client.get("/monitoring/operations").json()["operations"]]
        assert names == ["late"]
        assert "rfs_operations_total" in client.get("/monitoring/metrics").text
    finally:
        ResultMetricsCollector.set_instance(previous)
        mine.close()


# -- health ------------------------------------------------------------------------------------


def test_health_is_degraded_below_99_percent(client: TestClient) -> None:
    """90% success is degraded (200), with the reason per operation."""
    response = client.get("/monitoring/health/result-patterns")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    ops = {o["operation"]: o for o in body["operations"]}
    assert ops["checkout"]["status"] == "degraded"
    assert ops["checkout"]["reasons"] == ["success rate 90.00%"]
    assert ops["search"]["status"] == "healthy"
    assert body["operations"][0]["operation"] == "checkout"  # worst first
    assert body["total_requests"] == 200
    assert body["success_rate"] == pytest.approx(0.95)


def test_health_is_unhealthy_503_below_90_percent(collector: Any) -> None:
    """An operation under 90% success makes the service unhealthy: 503 with the health body."""
    for _ in range(50):
        collector.record("checkout", 5.0, False, error_code="DATABASE_ERROR")
    response = client_for(collector).get("/monitoring/health/result-patterns")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"


def test_health_ignores_tiny_windows_and_is_healthy_without_data(clock: FakeClock) -> None:
    """A failure in a window of a few requests is noise; no data at all is healthy."""
    c = ResultMetricsCollector(clock=clock, sample_resources=False)
    client = client_for(c)
    assert client.get("/monitoring/health/result-patterns").json()["status"] == "healthy"
    c.record("rare", 1.0, False, error_code="X")
    body = client.get("/monitoring/health/result-patterns").json()
    assert body["status"] == "healthy"
    assert body["operations"][0]["total_requests"] == 1
    c.close()


@pytest.mark.parametrize(
    ("limits", "status", "code"),
    [
        ({}, "degraded", 200),
        ({"unhealthy_below": 0.95}, "unhealthy", 503),
        ({"degraded_below": 0.85, "unhealthy_below": 0.5}, "healthy", 200),
        ({"health_min_requests": 101}, "healthy", 200),
    ],
)
def test_health_thresholds_are_router_arguments(
    collector: Any, limits: dict[str, float], status: str, code: int
) -> None:
    """``degraded_below``, ``unhealthy_below`` and ``health_min_requests`` decide the status of
    checkout (90% success over 100 requests), and the answer echoes them."""
    response = client_for(collector, **limits).get("/monitoring/health/result-patterns")
    assert (response.status_code, response.json()["status"]) == (code, status)
    expected = {"degraded_below": 0.99, "unhealthy_below": 0.9, "min_requests": 20}
    renamed = {k.replace("health_", ""): v for k, v in limits.items()}
    assert response.json()["thresholds"] == {**expected, **renamed}


def test_health_thresholds_are_in_the_openapi_description(collector: Any) -> None:
    """The health route's OpenAPI description states the thresholds in force."""
    client = client_for(collector, degraded_below=0.995, unhealthy_below=0.8)
    route = client.get("/openapi.json").json()["paths"]["/monitoring/health/result-patterns"]
    description = route["get"]["description"]
    assert "below 0.8 " in description
    assert "below 0.995 " in description
    assert "holds 20 requests" in description


@pytest.mark.parametrize(
    "limits",
    [
        {"degraded_below": 0.8, "unhealthy_below": 0.9},
        {"degraded_below": 1.5},
        {"unhealthy_below": -0.1},
        {"unhealthy_below": float("nan")},
        {"degraded_below": "0.9"},
        {"degraded_below": True},
        {"health_min_requests": 0},
        {"health_min_requests": 2.5},
    ],
)
def test_bad_health_thresholds_are_refused(limits: dict[str, Any]) -> None:
    """Thresholds outside 0 <= unhealthy_below <= degraded_below <= 1, or a minimum below one
    request, are a ValueError when the router is built."""
    with pytest.raises(ValueError, match="health"):
        monitoring_router(**limits)


def test_firing_alerts_drive_health(collector: Any, clock: FakeClock) -> None:
    """A firing warning alert degrades, a critical one makes unhealthy, even once quiet."""
    rules = [
        AlertRule(name="slow", operation="search", metric="p99_ms", op=">", threshold=1),
        AlertRule(
            name="dead",
            operation="checkout",
            metric="error_count",
            op=">",
            threshold=0,
            window="1h",
            severity="critical",
        ),
    ]
    manager = AlertManager(collector, AlertConfiguration(rules=rules, notifiers=[]))
    client = client_for(collector, alert_manager=manager)
    response = client.get("/monitoring/health/result-patterns", params={"time_range": "1m"})
    assert response.status_code == 503
    ops = {o["operation"]: o for o in response.json()["operations"]}
    assert ops["search"]["status"] == "degraded"
    assert ops["search"]["firing_alerts"] == ["slow"]
    assert ops["checkout"]["status"] == "unhealthy"
    clock.advance(600)  # both operations go quiet in the 1m window; the 1h critical rule fires on
    body = client.get("/monitoring/health/result-patterns", params={"time_range": "1m"}).json()
    assert [(o["operation"], o["status"]) for o in body["operations"]] == [
        ("checkout", "unhealthy")
    ]
    assert body["firing_alerts"] == 1


def test_health_reports_the_latest_resource_sample(clock: FakeClock) -> None:
    """When the collector samples resources, health shows RSS and CPU."""
    c = ResultMetricsCollector(clock=clock)
    try:
        c.record("op", 1.0, True)
        c.latest_resource_sample()
        client = client_for(c)
        body: dict[str, Any] = {"resources": None}
        deadline = time.monotonic() + 20
        while body["resources"] is None and time.monotonic() < deadline:
            body = client.get("/monitoring/health/result-patterns").json()
            time.sleep(0.02)
        assert body["resources"]["rss_mb"] > 0
    finally:
        c.close()


# -- alerts ------------------------------------------------------------------------------------


def test_alerts_shows_rules_states_and_history(collector: Any) -> None:
    """GET /alerts evaluates an idle manager and shows the firing alert and its transition."""
    rule = AlertRule(name="errors", operation="*", metric="error_rate", op=">", threshold=0.05)
    manager = AlertManager(collector, AlertConfiguration(rules=[rule], notifiers=[]))
    body = client_for(collector, alert_manager=manager).get("/monitoring/alerts").json()
    assert body["evaluating"] is False
    assert [r["name"] for r in body["rules"]] == ["errors"]
    firing = [(a["operation"], a["status"]) for a in body["alerts"] if a["status"] == "firing"]
    assert firing == [("checkout", "firing")]
    assert [(e["status"], e["operation"]) for e in body["history"]] == [("firing", "checkout")]
    assert body["alerts"][0]["value"] == pytest.approx(0.1)
    assert {a["operation"] for a in body["alerts"]} == {"checkout", "search"}
    active = client_for(collector, alert_manager=manager).get(
        "/monitoring/alerts", params={"active_only": "true", "history": 0}
    )
    assert [a["operation"] for a in active.json()["alerts"]] == ["checkout"]
    assert active.json()["history"] == []


def test_alerts_masks_notifier_secrets(collector: Any) -> None:
    """Webhook headers and credentials in URLs are masked in GET /alerts."""
    config = AlertConfiguration.model_validate(
        {
            "notifiers": [
                {
                    "type": "webhook",
                    "url": "https://hooks.example.com/x?token=abc123",
                    "headers": {"Authorization": "Bearer abc123"},
                }
            ]
        }
    )
    manager = AlertManager(collector, config)
    text = client_for(collector, alert_manager=manager).get("/monitoring/alerts").text
    assert "abc123" not in text
    assert "hooks.example.com" in text


def test_configure_alerts_with_token_replaces_rules_and_starts_evaluation(
    collector: Any,
) -> None:
    """POST /alerts/configure with the token applies the rules; the router's manager starts."""
    client = client_for(collector, token=TOKEN)
    response = client.post(
        "/monitoring/alerts/configure",
        json={"rules": [RULE], "notifiers": [{"type": "log"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200
    assert response.json() == "configured 1 alert rule(s) and 1 notifier(s)"
    body = client.get("/monitoring/alerts").json()
    assert body["evaluating"] is True
    assert [r["name"] for r in body["rules"]] == ["errors"]
    assert body["notifiers"] == [{"type": "log", "level": "WARNING"}]


def test_configured_rules_are_evaluated_at_once(collector: Any) -> None:
    """After POST /alerts/configure, GET /alerts shows the new rules' alerts right away, not
    after the background evaluation's next pass (15 s later by default)."""
    client = client_for(collector, token=TOKEN)
    response = client.post(
        "/monitoring/alerts/configure",
        json={"rules": [RULE], "notifiers": []},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200
    body = client.get("/monitoring/alerts").json()
    assert body["evaluating"] is True
    firing = [(a["rule"], a["operation"]) for a in body["alerts"] if a["status"] == "firing"]
    assert firing == [("errors", "checkout")]
    assert [e["status"] for e in body["history"]] == ["firing"]


def test_configure_keeps_callback_notifiers_set_in_code(collector: Any) -> None:
    """Callbacks cannot travel in JSON, so reconfiguring over HTTP keeps them."""
    seen: list[AlertEvent] = []
    manager = AlertManager(
        collector, AlertConfiguration(notifiers=[CallbackNotifier(callback=seen.append)])
    )
    client = client_for(collector, alert_manager=manager, token=TOKEN)
    client.post(
        "/monitoring/alerts/configure",
        json={"rules": [RULE], "notifiers": []},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert [n.type for n in manager.config.notifiers] == ["callback"]
    manager.evaluate()
    assert manager.flush()
    assert [e.operation for e in seen] == ["checkout"]
    assert not manager.running  # a manager passed in is started by its owner, not the router
    manager.close()


@pytest.mark.parametrize(
    "body",
    [
        {"rules": [{**RULE, "metric": "latency"}]},
        {"rules": [{**RULE, "window": "10y"}]},
        {"rules": [RULE, RULE]},
        {"rules": [], "notifiers": [{"type": "webhook", "url": "ftp://x"}]},
        {"rules": [], "notifiers": [{"type": "callback"}]},
        {"unknown": 1},
    ],
)
def test_configure_rejects_invalid_configurations(collector: Any, body: dict[str, Any]) -> None:
    """An invalid configuration is a 400 problem and changes nothing."""
    client = client_for(collector, token=TOKEN)
    response = client.post(
        "/monitoring/alerts/configure", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert_problem(response, 400, "VALIDATION_ERROR")
    assert client.get("/monitoring/alerts").json()["rules"] == []


@pytest.mark.parametrize(("method", "path"), [("POST", "/monitoring/alerts/configure"),
                                              ("PUT", "/monitoring/logging/level")])  # fmt: skip
@pytest.mark.parametrize("content", [b"{not json", b"", b"[]", b'"DEBUG"'])
def test_authorized_writes_with_malformed_bodies_are_400(
    collector: Any, method: str, path: str, content: bytes
) -> None:
    """With a valid token, a body that is not the expected JSON object is a 400 problem."""
    client = client_for(collector, token=TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    response = client.request(method, path, content=content, headers=headers)
    assert_problem(response, 400, "VALIDATION_ERROR")


# -- auth --------------------------------------------------------------------------------------


WRITES = [
    ("POST", "/monitoring/alerts/configure", {"rules": []}),
    ("PUT", "/monitoring/logging/level", {"level": "DEBUG"}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_write_routes_are_disabled_without_auth_or_token(
    client: TestClient, method: str, path: str, body: dict[str, Any]
) -> None:
    """Without auth or token, writes are 403 with a body saying how to enable them."""
    problem = assert_problem(client.request(method, path, json=body), 403, "FORBIDDEN")
    assert "RFS_MONITORING_TOKEN" in problem["detail"]
    assert "auth argument" in problem["detail"]
    assert "***" not in problem["detail"]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_write_routes_refuse_before_reading_the_body(
    client: TestClient, collector: Any, method: str, path: str, body: dict[str, Any]
) -> None:
    """A malformed body gets the auth answer (403 / 401), not a validation error."""
    headers = {"Content-Type": "application/json"}
    assert_problem(
        client.request(method, path, content=b"{not json", headers=headers), 403, "FORBIDDEN"
    )
    with_token = client_for(collector, token=TOKEN)
    assert_problem(
        with_token.request(method, path, content=b"{not json", headers=headers),
        401,
        "UNAUTHORIZED",
    )


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
def test_wrong_or_missing_token_is_401(collector: Any, authorization: str | None) -> None:
    """Anything but the exact bearer token is a 401 with WWW-Authenticate."""
    client = client_for(collector, token=TOKEN)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.put("/monitoring/logging/level", json={"level": "DEBUG"}, headers=headers)
    problem = assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert TOKEN not in response.text
    assert "Authorization header" in problem["detail"]


def test_token_comes_from_the_environment(collector: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFS_MONITORING_TOKEN enables the write routes like token= does."""
    monkeypatch.setenv("RFS_MONITORING_TOKEN", "from-env")
    client = client_for(collector)
    ok = client.put(
        "/monitoring/logging/level",
        json={"level": "warning"},
        headers={"Authorization": "Bearer from-env"},
    )
    assert ok.status_code == 200
    assert ok.json() == {"level": "WARNING", "operation": None}
    assert get_log_level() == "WARNING"


def test_logging_level_per_operation(collector: Any) -> None:
    """PUT /logging/level with an operation changes only that operation's level."""
    client = client_for(collector, token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = client.put(
        "/monitoring/logging/level", json={"level": "ERROR", "operation": "checkout"}, headers=auth
    )
    assert response.json() == {"level": "ERROR", "operation": "checkout"}
    assert get_log_level("checkout") == "ERROR"
    assert get_log_level() != "ERROR"
    bad = client.put("/monitoring/logging/level", json={"level": "LOUD"}, headers=auth)
    assert_problem(bad, 400, "VALIDATION_ERROR")
    bad = client.put("/monitoring/logging/level", json={"level": 10}, headers=auth)
    assert_problem(bad, 400, "VALIDATION_ERROR")


def _require_admin(x_admin: str | None = Header(default=None)) -> None:
    """A FastAPI auth dependency: only requests with ``X-Admin: yes`` pass."""
    if x_admin is None:
        raise HTTPException(401, "who are you?", headers={"WWW-Authenticate": "Admin"})
    if x_admin != "yes":
        raise HTTPException(403, "admins only")


def test_auth_dependency_guards_writes(collector: Any) -> None:
    """An ``auth`` dependency decides writes; its HTTPExceptions become problem+json."""
    client = client_for(collector, auth=_require_admin)
    body = {"level": "INFO"}
    assert_problem(client.put("/monitoring/logging/level", json=body), 401, "UNAUTHORIZED")
    denied = client.put("/monitoring/logging/level", json=body, headers={"X-Admin": "no"})
    assert assert_problem(denied, 403, "FORBIDDEN")["detail"] == "admins only"
    ok = client.put("/monitoring/logging/level", json=body, headers={"X-Admin": "yes"})
    assert ok.status_code == 200
    assert client.get("/monitoring/operations").status_code == 200  # reads stay open


def test_auth_dependency_and_token_are_both_required(collector: Any) -> None:
    """With both, a request needs the token and must pass the dependency."""
    client = client_for(collector, auth=_require_admin, token=TOKEN)
    body = {"level": "INFO"}
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert (
        client.put("/monitoring/logging/level", json=body, headers={"X-Admin": "yes"}).status_code
        == 401
    )
    assert client.put("/monitoring/logging/level", json=body, headers=bearer).status_code == 401
    both = {**bearer, "X-Admin": "yes"}
    assert client.put("/monitoring/logging/level", json=body, headers=both).status_code == 200


def test_other_http_exceptions_keep_their_status(collector: Any) -> None:
    """An auth dependency failing with another status keeps it, as a problem body."""

    def teapot() -> None:
        raise HTTPException(418, "teapot")

    def broken() -> None:
        raise HTTPException(502, {"structured": "detail"})

    assert_problem(
        client_for(collector, auth=teapot).put("/monitoring/logging/level", json={}),
        418,
        "VALIDATION_ERROR",
    )
    problem = assert_problem(
        client_for(collector, auth=broken).put("/monitoring/logging/level", json={}),
        502,
        "SERVICE_UNAVAILABLE",
    )
    assert problem["detail"] == "Service Unavailable"


def test_protect_reads_guards_every_data_route_but_not_the_page(collector: Any) -> None:
    """With protect_reads, reads need the token; the dashboard page stays public."""
    client = client_for(collector, token=TOKEN, protect_reads=True)
    for path in ["/monitoring/operations", "/monitoring/metrics", "/monitoring/alerts"]:
        assert_problem(client.get(path), 401, "UNAUTHORIZED")
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/monitoring/dashboard").status_code == 200


def test_protect_reads_with_an_auth_dependency(collector: Any) -> None:
    """protect_reads runs the auth dependency on reads too."""
    client = client_for(collector, auth=_require_admin, protect_reads=True)
    assert_problem(client.get("/monitoring/operations"), 401, "UNAUTHORIZED")
    assert client.get("/monitoring/operations", headers={"X-Admin": "yes"}).status_code == 200


def test_router_arguments_are_validated() -> None:
    """protect_reads needs a way to authenticate; a blank token is a mistake."""
    with pytest.raises(ValueError, match="protect_reads"):
        monitoring_router(protect_reads=True)
    with pytest.raises(ValueError, match="blank"):
        monitoring_router(token="  ")


# -- Prometheus, page, OpenAPI -----------------------------------------------------------------


def test_metrics_exposes_histogram_counters_and_process_metrics(client: TestClient) -> None:
    """GET /metrics is Prometheus text with our families and the process metrics."""
    response = client.get("/monitoring/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE rfs_operation_duration_seconds histogram" in text
    assert 'rfs_operation_duration_seconds_count{operation="checkout"} 100.0' in text
    assert 'rfs_operation_duration_seconds_bucket{le="+Inf",operation="search"} 100.0' in text
    assert 'rfs_operations_total{operation="checkout",outcome="error"} 10.0' in text
    assert 'rfs_operations_total{operation="checkout",outcome="success"} 90.0' in text
    assert 'rfs_operation_errors_total{error_code="DATABASE_ERROR",operation="checkout"}' in text
    assert "process_resident_memory_bytes" in text
    assert "python_info" in text


def test_metrics_are_gzipped_when_the_scraper_accepts_it(client: TestClient) -> None:
    """Accept-Encoding: gzip gets a compressed body; without it the text is plain."""
    zipped = client.get("/monitoring/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "rfs_operations_total" in zipped.text  # the client decompresses it
    plain = client.get("/monitoring/metrics", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    ours = [line for line in plain.text.splitlines() if line.startswith("rfs_")]
    assert ours
    assert ours == [line for line in zipped.text.splitlines() if line.startswith("rfs_")]


def test_metrics_speaks_openmetrics_when_asked(client: TestClient) -> None:
    """An OpenMetrics Accept header gets the OpenMetrics format, ending in # EOF."""
    response = client.get(
        "/monitoring/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert "rfs_operations_total" in response.text


def test_dashboard_is_a_self_contained_page_with_a_strict_csp(client: TestClient) -> None:
    """The page is under 100 KB, loads nothing external, and its CSP allows its script only."""
    response = client.get("/monitoring/dashboard")
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert len(response.content) < 100_000
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    assert len(scripts) == 1
    digest = b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = response.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy


def test_openapi_documents_every_route_and_model(client: TestClient) -> None:
    """/openapi.json lists the routes with their models, and every $ref resolves."""
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in [
        "/monitoring/operations",
        "/monitoring/operations/{name}/metrics",
        "/monitoring/operations/{name}/timeseries",
        "/monitoring/health/result-patterns",
        "/monitoring/errors/top",
        "/monitoring/alerts",
        "/monitoring/alerts/configure",
        "/monitoring/logging/level",
        "/monitoring/metrics",
        "/monitoring/dashboard",
    ]:
        assert path in paths
    schemas = spec["components"]["schemas"]
    for model in ["OperationMetrics", "ResultPatternHealth", "ErrorSummary", "AlertConfiguration"]:
        assert model in schemas
    ok = paths["/monitoring/operations/{name}/metrics"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/OperationMetrics")
    body = paths["/monitoring/alerts/configure"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/AlertConfiguration")
    refs = re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', client.get("/openapi.json").text)
    assert refs
    assert set(refs) <= set(schemas)


def test_alerts_configured_over_http_reach_a_real_webhook(collector: Any) -> None:
    """Rules and a webhook POSTed to the router fire through the background evaluation."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    manager = AlertManager(collector, interval=0.05)
    client = client_for(collector, alert_manager=manager, token=TOKEN)
    try:
        response = client.post(
            "/monitoring/alerts/configure",
            json={
                "rules": [{**RULE, "operation": "checkout", "labels": {"team": "payments"}}],
                "notifiers": [
                    {"type": "webhook", "url": f"http://127.0.0.1:{server.server_port}/alerts"}
                ],
            },
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 200
        with manager:
            deadline = time.monotonic() + 20
            while not received and time.monotonic() < deadline:
                time.sleep(0.02)
        assert [body["event"]["status"] for body in received] == ["firing"]
        assert received[0]["event"]["labels"] == {"team": "payments"}
        history = client.get("/monitoring/alerts").json()["history"]
        assert history[0]["status"] == "firing"
    finally:
        server.shutdown()
        server.server_close()
