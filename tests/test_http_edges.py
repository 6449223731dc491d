"""Edges of the HTTP API: problem+json for every error of an app and of the monitoring routes,
the time-range pattern in the schema, strict, size-limited and bounded configuration bodies,
and a bounded schemathesis run over the monitoring router's OpenAPI."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfs_monitoring.dashboard_api import MAX_BODY_BYTES, monitoring_router
from rfs_monitoring.errors import APIError
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.result import Failure
from rfs_monitoring.result_logging import reset_log_levels
from rfs_monitoring.testing import FakeClock
from rfs_monitoring.web import FastAPIResult, install_problem_details

TOKEN = "edge-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["correlation_id"]
    assert {"type", "title", "detail", "code"} <= body.keys()
    return body


# -- install_problem_details -------------------------------------------------------------------


@pytest.fixture
def plain_app() -> TestClient:
    """An app with ordinary FastAPI routes and problem details installed."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2 leaked in an exception")

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=418, detail="short and stout")

    @app.get("/conflict")
    def conflict() -> None:
        raise APIError.conflict("already there")

    @app.get("/typed")
    def typed() -> FastAPIResult[int]:
        return Failure(APIError.not_found("user", "7"))

    install_problem_details(app)
    return TestClient(app, raise_server_exceptions=False)


def test_every_error_of_an_app_is_a_problem(plain_app: TestClient) -> None:
    """404, 405, 422, 418, an APIError and a 500: all problem+json with a correlation ID."""
    assert assert_problem(plain_app.get("/nowhere"), 404)["code"] == "NOT_FOUND"
    not_allowed = plain_app.post("/items/1")
    assert assert_problem(not_allowed, 405)["title"] == "Method Not Allowed"
    assert not_allowed.headers["allow"] == "GET"
    invalid = assert_problem(plain_app.get("/items/x"), 422)
    assert invalid["code"] == "VALIDATION_ERROR"
    assert invalid["details"]["errors"][0]["location"] == "path.item_id"
    assert assert_problem(plain_app.get("/teapot"), 418)["detail"] == "short and stout"
    assert assert_problem(plain_app.get("/conflict"), 409)["code"] == "CONFLICT"
    typed = assert_problem(plain_app.get("/typed", headers={"X-Correlation-ID": "c-9"}), 404)
    assert typed["detail"] == "user '7' not found"  # the Failure's own problem, not wrapped
    assert typed["correlation_id"]
    crashed = assert_problem(plain_app.get("/boom"), 500)
    assert "hunter2" not in json.dumps(crashed)
    assert crashed["code"] == "INTERNAL_SERVER_ERROR"
    assert plain_app.get("/items/3").json() == {"item_id": 3}


def test_problem_of_status_names_every_status() -> None:
    """Codes of their own, reason phrases for the rest, and a sane status for odd input."""
    from rfs_monitoring.web import problem_of_status

    assert problem_of_status(422).to_problem("c")["title"] == "Unprocessable Entity"
    assert problem_of_status(507).code.value == "INTERNAL_SERVER_ERROR"
    assert problem_of_status(302).status_code == 400  # not an error status: a client error


def test_the_problem_carries_the_callers_correlation_id(plain_app: TestClient) -> None:
    """The request's X-Correlation-ID is the problem's, and comes back in the header."""
    answer = plain_app.get("/nowhere", headers={"X-Correlation-ID": "req-42"})
    assert assert_problem(answer, 404)["correlation_id"] == "req-42"
    assert answer.headers["x-correlation-id"] == "req-42"
    generated = plain_app.get("/nowhere")
    assert generated.headers["x-correlation-id"] == generated.json()["correlation_id"]


# -- the monitoring router ---------------------------------------------------------------------


@pytest.fixture
def collector() -> Iterator[ResultMetricsCollector]:
    """A collector with one operation, on a fake clock."""
    c = ResultMetricsCollector(clock=FakeClock(), sample_resources=False)
    c.record("checkout", 12.0, True)
    c.record("checkout", 40.0, False, "TIMEOUT", "gateway timed out")
    yield c
    c.close()


@pytest.fixture
def monitoring_app(collector: ResultMetricsCollector) -> Iterator[FastAPI]:
    """The monitoring router with a token, alone in an app (no app-wide handlers)."""
    app = FastAPI()
    app.include_router(monitoring_router(collector, token=TOKEN))
    yield app
    reset_log_levels()


@pytest.fixture
def client(monitoring_app: FastAPI) -> TestClient:
    """A client of the monitoring app."""
    return TestClient(monitoring_app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/monitoring/operations", "GET"),
        ("POST", "/monitoring/errors/top", "GET"),
        ("GET", "/monitoring/alerts/configure", "POST"),
        ("PATCH", "/monitoring/logging/level", "PUT"),
    ],
)
def test_the_routers_own_405_is_a_problem(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    """A wrong method on a monitoring path: problem+json 405 with Allow, without the app's help."""
    answer = client.request(method, path, headers=AUTH)
    assert assert_problem(answer, 405)["title"] == "Method Not Allowed"
    assert answer.headers["allow"] == allowed


def test_unreadable_bodies_are_problems(client: TestClient) -> None:
    """Broken JSON and wrong shapes are problem+json, never FastAPI's plain JSON."""
    broken = client.post(
        "/monitoring/alerts/configure",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert broken.status_code in (400, 422)
    assert_problem(broken, broken.status_code)
    assert_problem(client.put("/monitoring/logging/level", json=[1, 2], headers=AUTH), 400)


def test_the_time_range_pattern_is_in_the_schema_and_every_match_is_accepted(
    client: TestClient, collector: ResultMetricsCollector
) -> None:
    """Each route's time_range states its pattern; any value it allows gets an answer."""
    spec = client.get("/openapi.json").json()
    patterns = set()
    for path, item in spec["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "time_range":
                    assert "pattern" in parameter["schema"], path
                    patterns.add(parameter["schema"]["pattern"])
    assert len(patterns) == 1
    pattern = patterns.pop()
    assert re.fullmatch(pattern, "1w")
    assert not re.fullmatch(pattern, "8d")  # past the 1w retention
    assert not re.fullmatch(pattern, "abc")

    @settings(max_examples=150, derandomize=True, deadline=None)
    @given(value=st.from_regex(pattern, fullmatch=True))
    def accepted(value: str) -> None:
        for path in ("/monitoring/operations", "/monitoring/operations/checkout/metrics"):
            answer = client.get(path, params={"time_range": value})
            assert answer.status_code in (200, 404), (value, answer.text)

    accepted()


def _rule(**overrides: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "slow",
        "operation": "checkout",
        "metric": "p99_ms",
        "op": ">",
        "threshold": 100,
        "window": "5m",
    }
    rule.update(overrides)
    return rule


@pytest.mark.parametrize(
    "body",
    [
        {
            "rules": [],
            "notifiers": [{"type": "webhook", "url": "http://x/", "backoff_seconds": False}],
        },
        {"rules": [], "notifiers": [{"type": "webhook", "url": "http://x/", "max_retries": True}]},
        {
            "rules": [],
            "notifiers": [{"type": "webhook", "url": "http://x/", "timeout_seconds": "5"}],
        },
        {"rules": [_rule(threshold=True)]},
        {"rules": [_rule(for_seconds=False)]},
        {"rules": [_rule(min_requests=True)]},
    ],
)
def test_configuration_bodies_are_strict(client: TestClient, body: dict[str, Any]) -> None:
    """A boolean (or a numeric string) is not a number in a configuration body."""
    assert_problem(client.post("/monitoring/alerts/configure", json=body, headers=AUTH), 400)


@pytest.mark.parametrize("window", ["9999999w", "91d", "2w", "8d"])
def test_a_rule_window_is_never_longer_than_the_retention(client: TestClient, window: str) -> None:
    """The 1w collector refuses any longer window; the core's 90 days bound every rule."""
    body = {"rules": [_rule(window=window)], "notifiers": []}
    answer = client.post("/monitoring/alerts/configure", json=body, headers=AUTH)
    assert assert_problem(answer, 400)["code"] == "VALIDATION_ERROR"
    fine = {"rules": [_rule(window="1w")], "notifiers": []}
    assert client.post("/monitoring/alerts/configure", json=fine, headers=AUTH).status_code == 200


def test_a_body_past_the_limit_is_a_413_problem(client: TestClient) -> None:
    """A configuration body past 1 MiB is refused with 413, declared or streamed."""
    padding = "x" * (MAX_BODY_BYTES + 10)
    body = {"rules": [_rule(labels={"pad": padding})], "notifiers": []}
    answer = client.post("/monitoring/alerts/configure", json=body, headers=AUTH)
    assert assert_problem(answer, 413)["code"] == "PAYLOAD_TOO_LARGE"

    def chunks() -> Iterator[bytes]:
        yield b'{"rules": [], "notifiers": [], "pad": "'
        for _ in range(2 * MAX_BODY_BYTES // 65_536):
            yield b"y" * 65_536
        yield b'"}'

    streamed = client.post(
        "/monitoring/alerts/configure",
        content=chunks(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert_problem(streamed, 413)
    small = client.put("/monitoring/logging/level", json={"level": "INFO"}, headers=AUTH)
    assert small.status_code == 200


def test_a_declared_50_mb_body_is_refused_before_it_is_read(monitoring_app: FastAPI) -> None:
    """With Content-Length past the limit, not one body byte is read."""
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65_536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/monitoring/alerts/configure",
        "raw_path": b"/monitoring/alerts/configure",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(50 * 1024 * 1024).encode()),
            (b"authorization", f"Bearer {TOKEN}".encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(monitoring_app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert reads == 0


# -- schemathesis over the router's OpenAPI ------------------------------------------------------


def _schema_app() -> FastAPI:
    collector = ResultMetricsCollector(clock=FakeClock(), sample_resources=False)
    collector.record("checkout", 12.0, True)
    collector.record("checkout", 40.0, False, "TIMEOUT", "gateway timed out")
    app = FastAPI()
    app.include_router(monitoring_router(collector, token=TOKEN))
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app())


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_monitoring_api_never_answers_5xx_and_every_4xx_is_a_problem(case: Any) -> None:
    """Schemathesis (bounded: 25 examples per operation, derandomized): no 5xx but the
    documented 503 of an unhealthy health check, and every 4xx is problem+json."""
    try:
        response = case.call(headers=AUTH)
    finally:
        reset_log_levels()
    path = case.operation.path
    if response.status_code == 503 and path.endswith("/health/result-patterns"):
        return
    assert response.status_code < 500, (case.method, path, response.text)
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        if isinstance(content_type, list):
            content_type = content_type[0]
        assert content_type.startswith(PROBLEM), (path, response.text)
        assert response.json()["correlation_id"]
