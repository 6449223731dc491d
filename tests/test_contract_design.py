"""Contract tests: the design document's code blocks (``phase3-design.md``) run as written.

The target endpoint, the performance endpoint and the monitoring endpoint declarations are copied
unchanged (imports aside) into factories, so that the bare name ``user_service`` they use is a
closure variable here and never a module global (the design document's own two tests, in
``examples/monitoring/testing_patterns.py``, look that name up among all modules' globals).
The design document's two tests themselves run there and are not repeated here.
"""

import asyncio
import dataclasses
import sys
from dataclasses import dataclass
from typing import Any, List  # noqa: UP035 - as in the design document

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from rfs_monitoring import (
    Failure,
    FluxResult,
    MonoResult,
    OperationMetrics,
    Result,
    ResultMetricsCollector,
    Success,
    log_result_operation,
)
from rfs_monitoring.alerts import AlertConfiguration
from rfs_monitoring.dashboard_api import ResultPatternHealth
from rfs_monitoring.metrics import ErrorSummary
from rfs_monitoring.testing import (
    CapturedLogs,
    ResultServiceMocker,
    assert_flux_result_stats,
    assert_mono_result_timeout,
    assert_operation_recorded,
    assert_result_error,
    assert_result_success,
    mock_result_service,
)
from rfs_monitoring.web import APIError, FastAPIResult, handle_result


class UserResponse(BaseModel):
    """The target endpoint's success model."""

    user_id: str
    name: str


class UserRepository:
    """The service the target endpoint calls through ``user_service``."""

    async def get_user_async(self, user_id: str) -> Result[dict[str, Any], APIError]:
        await asyncio.sleep(0)
        return Failure(APIError.not_found("user", user_id))


def validate_user_response(user: Any) -> Result[UserResponse, APIError]:
    """The validation step the design document's chain binds."""
    try:
        return Success(UserResponse.model_validate(user))
    except ValidationError:
        return Failure(APIError.validation_error("invalid user record"))


def make_target_app(user_service: UserRepository) -> tuple[FastAPI, Any]:
    """The design document's target endpoint, as written, on a plain FastAPI() app."""
    app = FastAPI()

    # Target: structured logging pattern
    @app.get("/users/{user_id}")
    @handle_result
    @log_result_operation("user_retrieval")  # automatic logging decorator
    async def get_user(user_id: str) -> Result[UserResponse, APIError]:
        return await (
            MonoResult.from_async_result(lambda: user_service.get_user_async(user_id))
            .log_step("user_service_call")  # intermediate step logging
            .bind_result(lambda user: validate_user_response(user))
            .log_step("user_validation")
            .map_error(lambda e: APIError.from_service_error(e))
            .log_error("user_retrieval_error")  # error-only logging
            .timeout(5.0)
            .to_result()
        )

    return app, get_user


@pytest.fixture
def target() -> tuple[UserRepository, FastAPI, Any]:
    """A fresh repository and the target endpoint bound to it."""
    users = UserRepository()
    app, get_user = make_target_app(users)
    return users, app, get_user


# ---------------------------------------------------------------------------------------------
# The target endpoint


def test_target_endpoint_serves_a_success_as_200_json(
    target: tuple[UserRepository, FastAPI, Any],
    metrics_collector: ResultMetricsCollector,
    captured_result_logs: CapturedLogs,
) -> None:
    """Served by a plain FastAPI() app, a found user is a 200 body of the UserResponse, logged
    once with two steps and one metrics sample."""
    users, app, _ = target
    with mock_result_service(users, "get_user_async") as mock_svc:
        mock_svc.return_success({"user_id": "123", "name": "Ada"})
        with TestClient(app) as client:
            response = client.get("/users/123", headers={"X-Correlation-ID": "design-ok-1"})
        mock_svc.assert_called_once_with("123")
    assert response.status_code == 200
    assert response.json() == {"user_id": "123", "name": "Ada"}
    (operation,) = captured_result_logs.operations("user_retrieval")
    assert operation["result_type"] == "success"
    assert operation["success_type"] == "UserResponse"
    assert [e["step_name"] for e in captured_result_logs.steps()] == [
        "user_service_call",
        "user_validation",
    ]
    assert {e["correlation_id"] for e in captured_result_logs} == {"design-ok-1"}
    assert response.headers["X-Correlation-ID"] == "design-ok-1"
    assert_operation_recorded("user_retrieval", successes=1, failures=0)


def test_target_endpoint_serves_a_service_failure_as_problem_json(
    target: tuple[UserRepository, FastAPI, Any],
    metrics_collector: ResultMetricsCollector,
    captured_result_logs: CapturedLogs,
) -> None:
    """A service NOT_FOUND is a 404 problem+json; log_error fires and the sample is an error."""
    _, app, _ = target
    with TestClient(app) as client:
        response = client.get("/users/404")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "NOT_FOUND"
    assert body["correlation_id"] == response.headers["X-Correlation-ID"]
    (error_step,) = captured_result_logs.steps("user_retrieval_error")
    assert error_step["result_type"] == "error"
    assert error_step["error_code"] == "NOT_FOUND"
    (operation,) = captured_result_logs.operations("user_retrieval")
    assert operation["result_type"] == "error"
    assert operation["correlation_id"] == body["correlation_id"]
    assert_operation_recorded("user_retrieval", successes=0, failures=1, error_code="NOT_FOUND")


def test_target_endpoint_turns_an_invalid_record_into_a_400(
    target: tuple[UserRepository, FastAPI, Any],
) -> None:
    """A record failing validate_user_response is a 400 VALIDATION_ERROR problem."""
    users, app, _ = target
    with mock_result_service(users, "get_user_async") as mock_svc:
        mock_svc.return_success({"user_id": "1"})
        with TestClient(app) as client:
            response = client.get("/users/1")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_target_endpoint_maps_a_plain_string_failure_through_from_service_error(
    target: tuple[UserRepository, FastAPI, Any],
) -> None:
    """map_error(APIError.from_service_error) turns a non-APIError failure into a 500 problem
    that does not leak its text."""
    users, app, get_user = target
    with mock_result_service(users, "get_user_async") as mock_svc:
        mock_svc.return_error("connection refused to db at 10.1.2.3")
        direct = asyncio.run(get_user("5"))
        with TestClient(app) as client:
            response = client.get("/users/5")
    assert isinstance(assert_result_error(direct, APIError), APIError)
    assert response.status_code == 500
    assert "10.1.2.3" not in response.text


def test_target_endpoint_times_out_after_the_chain_timeout(
    target: tuple[UserRepository, FastAPI, Any],
) -> None:
    """The chain's timeout(5.0) fails a slow service with a TimeoutError that maps to 504."""
    users, _, get_user = target
    with mock_result_service(users, "get_user_async") as mock_svc:
        mock_svc.return_success({"user_id": "1", "name": "Slow"}).with_delay(30)
        result = asyncio.run(get_user("1"))
    # timeout() comes after map_error in the document's chain, so the error is the TimeoutError.
    error = assert_result_error(result, TimeoutError, match="timeout")
    assert APIError.from_service_error(error).status_code == 504


def test_target_endpoint_called_directly_returns_the_result(
    target: tuple[UserRepository, FastAPI, Any],
) -> None:
    """Called directly (as in the design document's tests) the endpoint returns a Result."""
    users, _, get_user = target
    with mock_result_service(users, "get_user_async") as mock_svc:
        mock_svc.return_success({"user_id": "123", "name": "Ada"})
        result = asyncio.run(get_user("123"))
        mock_svc.assert_called_once_with("123")
    assert_result_success(result, UserResponse)
    assert result.unwrap().user_id == "123"


def test_target_endpoint_openapi_shows_user_response(
    target: tuple[UserRepository, FastAPI, Any],
) -> None:
    """The served endpoint's OpenAPI 200 response is the UserResponse model."""
    _, app, _ = target
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/users/{user_id}"]["get"]["responses"]["200"]
    assert "UserResponse" in str(ok)
    params = schema["paths"]["/users/{user_id}"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["user_id"]


# ---------------------------------------------------------------------------------------------
# The performance endpoint


class PerformanceMetrics(BaseModel):
    """The report the design document's performance endpoint serves."""

    operation: str
    requests: int
    success_rate: float
    p99_ms: float
    errors: dict[str, int]


def format_performance_report(metrics: OperationMetrics) -> Result[PerformanceMetrics, APIError]:
    """Shape OperationMetrics into the served report."""
    return Success(
        PerformanceMetrics(
            operation=metrics.operation_name,
            requests=metrics.total_requests,
            success_rate=metrics.success_rate,
            p99_ms=metrics.p99_response_time_ms,
            errors=dict(metrics.error_breakdown),
        )
    )


def make_performance_app() -> FastAPI:
    """The design document's performance endpoint, as written."""
    app = FastAPI()

    # Target: performance monitoring pattern
    @app.get("/analytics/performance")
    async def get_performance_metrics() -> FastAPIResult[PerformanceMetrics]:
        return await (
            ResultMetricsCollector.instance()
            .get_operation_metrics("user_retrieval", time_range="1h")
            .bind_result(lambda metrics: format_performance_report(metrics))
        )

    return app


def test_performance_endpoint_serves_the_report_of_recorded_calls(
    target: tuple[UserRepository, FastAPI, Any], metrics_collector: ResultMetricsCollector
) -> None:
    """After served user_retrieval calls, the performance endpoint answers their report."""
    users, user_app, _ = target
    with mock_result_service(users, "get_user_async") as mock_svc:
        mock_svc.return_sequence(
            [
                Success({"user_id": "1", "name": "A"}),
                Success({"user_id": "2", "name": "B"}),
                Success({"user_id": "3", "name": "C"}),
                Failure(APIError.not_found("user", "4")),
            ]
        )
        with TestClient(user_app) as client:
            statuses = [client.get(f"/users/{i}").status_code for i in range(1, 5)]
    assert statuses == [200, 200, 200, 404]
    with TestClient(make_performance_app()) as client:
        response = client.get("/analytics/performance")
    assert response.status_code == 200
    report = response.json()
    assert report["operation"] == "user_retrieval"
    assert report["requests"] == 4
    assert report["success_rate"] == pytest.approx(0.75)
    assert report["errors"] == {"NOT_FOUND": 1}
    assert report["p99_ms"] >= 0


def test_performance_endpoint_without_data_is_a_404(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """With no user_retrieval sample yet, the endpoint answers the NOT_FOUND failure's 404."""
    with TestClient(make_performance_app()) as client:
        response = client.get("/analytics/performance")
    assert response.status_code == 404
    assert "NOT_FOUND" in response.text


@pytest.mark.asyncio
async def test_performance_endpoint_called_directly_returns_the_result(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Awaited directly, the MonoResult chain of the design document gives a Result."""
    metrics_collector.record("user_retrieval", 12.0, True)
    result = await (
        ResultMetricsCollector.instance()
        .get_operation_metrics("user_retrieval", time_range="1h")
        .bind_result(lambda metrics: format_performance_report(metrics))
    )
    report = assert_result_success(result, PerformanceMetrics)
    assert report.requests == 1


def test_performance_endpoint_openapi_shows_the_report_model() -> None:
    """FastAPIResult[PerformanceMetrics] documents PerformanceMetrics as the 200 response."""
    with TestClient(make_performance_app()) as client:
        schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/analytics/performance"]["get"]["responses"]["200"]
    assert "PerformanceMetrics" in str(ok)


# ---------------------------------------------------------------------------------------------
# The monitoring dashboard API declarations


def make_monitoring_app(collector: ResultMetricsCollector) -> FastAPI:
    """The design document's monitoring endpoints with their signatures as written (the
    document leaves the bodies as ``pass``; these fill them with the collector)."""
    app = FastAPI()

    @app.get("/monitoring/operations/{operation_name}/metrics")
    @handle_result
    async def get_operation_metrics(
        operation_name: str, time_range: str = "1h"
    ) -> FastAPIResult[OperationMetrics]:
        """Get the performance metrics of one operation"""
        return await collector.get_operation_metrics(operation_name, time_range)

    @app.get("/monitoring/health/result-patterns")
    @handle_result
    async def get_result_pattern_health() -> FastAPIResult[ResultPatternHealth]:
        """Overall health check of Result-pattern operations"""
        return Failure(APIError.service_unavailable("health is served by monitoring_router"))

    @app.get("/monitoring/errors/top")
    @handle_result
    async def get_top_errors(
        limit: int = 10, time_range: str = "1h"
    ) -> FastAPIResult[List[ErrorSummary]]:  # noqa: UP006 - as written in the design document
        """List the top errors"""
        return Success(collector.top_errors(limit=limit, time_range=time_range))

    @app.post("/monitoring/alerts/configure")
    @handle_result
    async def configure_alert_thresholds(config: AlertConfiguration) -> FastAPIResult[str]:
        """Configure alert thresholds"""
        return Success(f"{len(config.rules)} rules")

    return app


def test_monitoring_endpoint_declarations_build_and_serve(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """The design document's four monitoring signatures work on a plain FastAPI() app."""
    metrics_collector.record("checkout", 20.0, True)
    metrics_collector.record("checkout", 30.0, False, "CONFLICT", "duplicate order")
    with TestClient(make_monitoring_app(metrics_collector)) as client:
        metrics = client.get("/monitoring/operations/checkout/metrics?time_range=1h")
        missing = client.get("/monitoring/operations/nothing/metrics")
        bad_range = client.get("/monitoring/operations/checkout/metrics?time_range=9y")
        health = client.get("/monitoring/health/result-patterns")
        top = client.get("/monitoring/errors/top?limit=5")
        configured = client.post(
            "/monitoring/alerts/configure",
            json={"rules": [{"name": "r", "metric": "p99_ms", "op": ">", "threshold": 100}]},
        )
        openapi = client.get("/openapi.json")
    assert metrics.status_code == 200
    assert metrics.json()["total_requests"] == 2
    assert missing.status_code == 404
    assert bad_range.status_code == 400
    assert health.status_code == 503
    assert top.status_code == 200
    (item,) = top.json()
    assert item["error_code"] == "CONFLICT"
    assert item["error_message"] == "duplicate order"
    assert configured.status_code == 200
    assert configured.json() == "1 rules"
    assert openapi.status_code == 200
    schemas = openapi.json()["components"]["schemas"]
    assert {"OperationMetrics", "ResultPatternHealth", "ErrorSummary"} <= schemas.keys()


# ---------------------------------------------------------------------------------------------
# The schemas


def test_design_log_entry_schema_matches_result_log_entry() -> None:
    """Every field of the design document's ResultLogEntry exists with the same default."""
    from rfs_monitoring import ResultLogEntry

    @dataclass
    class DesignEntry:
        timestamp: Any
        correlation_id: str
        operation_name: str
        step_name: Any
        result_type: Any
        processing_time_ms: float
        success_type: Any = None
        error_type: Any = None
        error_code: Any = None
        error_message: Any = None
        user_id: Any = None
        request_id: Any = None
        service_name: str = "rfs-framework"
        environment: str = "production"
        memory_usage_mb: Any = None
        cpu_usage_percent: Any = None
        metadata: Any = dataclasses.field(default_factory=dict)

    ours = {f.name: f for f in dataclasses.fields(ResultLogEntry)}
    for design in dataclasses.fields(DesignEntry):
        assert design.name in ours, design.name
        assert ours[design.name].default == design.default, design.name
    assert [f.name for f in dataclasses.fields(ResultLogEntry)][:6] == [
        "timestamp",
        "correlation_id",
        "operation_name",
        "step_name",
        "result_type",
        "processing_time_ms",
    ]


def test_design_metrics_schema_fields_have_the_documented_types(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Every OperationMetrics field of the design document holds a value of its type."""
    for hour_ms in (5.0, 7.0):
        metrics_collector.record("typed", hour_ms, True)
    metrics_collector.record("typed", 9.0, False, "TIMEOUT_ERROR", "took too long")
    metrics = metrics_collector.operation_metrics("typed", "1d").unwrap()
    assert metrics.time_window == "1d"
    for name in ("total_requests", "successful_requests", "failed_requests"):
        assert isinstance(getattr(metrics, name), int)
    for name in (
        "success_rate",
        "avg_response_time_ms",
        "p50_response_time_ms",
        "p90_response_time_ms",
        "p99_response_time_ms",
        "max_response_time_ms",
        "avg_memory_usage_mb",
        "avg_cpu_usage_percent",
    ):
        assert isinstance(getattr(metrics, name), float), name
    assert metrics.error_breakdown == {"TIMEOUT_ERROR": 1}
    assert metrics.top_errors == [("took too long", 1)]
    assert all(isinstance(h, int) and 0 <= h < 24 for h in metrics.hourly_distribution)
    assert sum(metrics.hourly_distribution.values()) == 3


# ---------------------------------------------------------------------------------------------
# The test helper specification


@pytest.mark.asyncio
async def test_spec_mocker_attributes_and_chaining() -> None:
    """ResultServiceMocker(service_name, method_name) has the spec's attributes and its
    configuration methods return the mocker."""
    mocker = ResultServiceMocker("user_service", "get_user_async")
    assert mocker.service_name == "user_service"
    assert mocker.method_name == "get_user_async"
    assert mocker.call_count == 0
    assert mocker.call_args_history == []
    assert mocker.return_success(1) is mocker
    assert mocker.return_error("e") is mocker
    assert mocker.return_sequence([Success(1)]) is mocker


@pytest.mark.asyncio
async def test_spec_mocker_called_directly_is_awaitable() -> None:
    """A mocker built as in the spec and called without installing it is awaited, as the spec's
    ``async def __call__``, and records the call."""
    mocker = ResultServiceMocker("user_service", "get_user_async")
    mocker.return_success({"user_id": "123"})
    assert await mocker("123") == Success({"user_id": "123"})
    mocker.assert_called_once_with("123")
    assert mocker.call_args_history == [(("123",), {})]
    mocker.return_sequence([Success(1)])
    assert await mocker() == Success(1)
    exhausted = await mocker()
    assert "Mock sequence exhausted" in str(assert_result_error(exhausted))


@pytest.mark.asyncio
async def test_spec_mocker_call_is_awaitable_and_recorded() -> None:
    """As in the spec's ``async def __call__``: awaiting a call answers the configured result
    and records (args, kwargs)."""
    users = UserRepository()
    with mock_result_service(users, "get_user_async") as mocker:
        mocker.return_success({"user_id": "1"})
        assert await users.get_user_async("1") == Success({"user_id": "1"})
        assert mocker.call_count == 1
        assert mocker.call_args_history == [(("1",), {})]
        mocker.assert_called_once_with("1")
        mocker.return_error("gone")
        assert await users.get_user_async(user_id="2") == Failure("gone")
        assert mocker.call_args_history[1] == ((), {"user_id": "2"})


@pytest.mark.asyncio
async def test_spec_mocker_sequence_then_exhausted_failure() -> None:
    """return_sequence answers in order, then a Failure saying the sequence is exhausted."""
    users = UserRepository()
    with mock_result_service(users, "get_user_async") as mocker:
        mocker.return_sequence([Success(1), Failure("e")])
        assert await users.get_user_async("a") == Success(1)
        assert await users.get_user_async("b") == Failure("e")
        exhausted = await users.get_user_async("c")
    assert "exhausted" in str(assert_result_error(exhausted)).lower()
    assert mocker.call_count == 3


@pytest.mark.asyncio
async def test_spec_mocker_raise_exception_and_call_assertions() -> None:
    """raise_exception raises from the call; assert_called_with / assert_not_called /
    assert_called_once_with pass and fail as their names say."""
    users = UserRepository()
    with mock_result_service(users, "get_user_async") as mocker:
        mocker.assert_not_called()
        mocker.raise_exception(ConnectionError("down"))
        with pytest.raises(ConnectionError):
            await users.get_user_async("x")
        mocker.assert_called_with("x")
        mocker.assert_called_once_with("x")
        with pytest.raises(AssertionError):
            mocker.assert_called_with("y")
        with pytest.raises(AssertionError):
            mocker.assert_not_called()
        mocker.return_success(1)
        await users.get_user_async("z")
        with pytest.raises(AssertionError, match="2"):
            mocker.assert_called_once_with("z")


@pytest.mark.asyncio
async def test_mock_is_sync_for_a_sync_original_and_restores_on_error() -> None:
    """A sync original gets a sync mock; the original comes back even when the block raises."""

    class Catalog:
        def find(self, sku: str) -> Result[str, str]:
            return Success(f"real {sku}")

    catalog = Catalog()

    def failing_test_body() -> None:
        with mock_result_service(catalog, "find") as mocker:
            mocker.return_success("mocked")
            assert catalog.find("a") == Success("mocked")
            raise RuntimeError("test body failed")

    with pytest.raises(RuntimeError, match="test body failed"):
        failing_test_body()
    assert catalog.find("a") == Success("real a")


def test_mock_target_by_dotted_path_and_ambiguous_bare_name() -> None:
    """A dotted import path resolves; an unknown bare name raises an error naming it."""
    with mock_result_service("json.decoder.JSONDecoder", "decode") as mocker:
        mocker.return_success({})
        import json

        assert json.JSONDecoder().decode("[") == Success({})
    with pytest.raises(LookupError, match="no_such_service_anywhere"):
        mock_result_service("no_such_service_anywhere", "m").start()


def test_spec_assert_result_success_and_error() -> None:
    """The spec's assertion helpers pass on the right variant and type, fail otherwise with
    the actual value in the message."""
    assert_result_success(Success(UserResponse(user_id="1", name="a")), UserResponse)
    assert_result_error(Failure(APIError.not_found("u", "1")), APIError)
    with pytest.raises(AssertionError, match="Expected success, got error"):
        assert_result_success(Failure("broken"))
    with pytest.raises(AssertionError, match="Expected error, got success"):
        assert_result_error(Success(5))
    with pytest.raises(AssertionError, match="UserResponse"):
        assert_result_success(Success("not a user"), UserResponse)
    with pytest.raises(AssertionError, match="APIError"):
        assert_result_error(Failure("plain"), APIError)


def test_spec_assert_flux_result_stats() -> None:
    """assert_flux_result_stats passes on the right counts and fails on wrong ones."""
    flux = FluxResult.from_results([Success(1), Failure("e"), Success(2)])
    assert_flux_result_stats(flux, 2, 1)
    with pytest.raises(AssertionError):
        assert_flux_result_stats(flux, 3, 0)


@pytest.mark.asyncio
async def test_spec_assert_mono_result_timeout_fails_without_a_timeout() -> None:
    """assert_mono_result_timeout passes on a timed-out mono and fails on a quick success or a
    non-timeout failure."""

    async def slow() -> Result[int, str]:
        await asyncio.sleep(5)
        return Success(1)

    await assert_mono_result_timeout(MonoResult.from_async_result(slow).timeout(0.05), 0.05)
    with pytest.raises(AssertionError):
        await assert_mono_result_timeout(MonoResult.from_value(1), 0.05)
    with pytest.raises(AssertionError):
        await assert_mono_result_timeout(MonoResult.from_error("other"), 0.05)


def test_an_ambiguous_bare_name_is_an_error_listing_the_candidates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bare name bound to different objects in two loaded modules raises, naming both."""
    import types

    for module_name in ("contract_ambiguous_a", "contract_ambiguous_b"):
        module = types.ModuleType(module_name)
        module.orders_repository_c = UserRepository()  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module_name, module)
    with pytest.raises(LookupError) as caught:
        mock_result_service("orders_repository_c", "get_user_async").start()
    assert "contract_ambiguous_a" in str(caught.value)
    assert "contract_ambiguous_b" in str(caught.value)


def test_a_unique_bare_name_is_found_among_loaded_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bare name bound to one object in the loaded modules is mocked and then restored."""
    import types

    module = types.ModuleType("contract_unique_c")
    repository = UserRepository()
    module.payments_repository_c = repository  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "contract_unique_c", module)
    with mock_result_service("payments_repository_c", "get_user_async") as mocker:
        mocker.return_success({"user_id": "p"})
        assert asyncio.run(repository.get_user_async("p")) == Success({"user_id": "p"})
    assert_result_error(asyncio.run(repository.get_user_async("p")), APIError)


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    """The installed distribution declares the fixtures module under the pytest11 group."""
    from importlib.metadata import entry_points

    found = {ep.value for ep in entry_points(group="pytest11")}
    assert "rfs_monitoring.testing.fixtures" in found


def test_plugin_fixtures_are_available(
    request: pytest.FixtureRequest,
) -> None:
    """The plugin gives a fresh collector, a fake clock, captured logs and a mocker."""
    collector = request.getfixturevalue("metrics_collector")
    assert ResultMetricsCollector.instance() is collector
    assert collector.list_operations() == []
    assert request.getfixturevalue("captured_result_logs") == []
    assert callable(request.getfixturevalue("result_mocker"))
    clock = request.getfixturevalue("fake_clock")
    assert isinstance(clock(), float)
