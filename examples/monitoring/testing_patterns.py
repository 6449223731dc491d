"""Testing patterns for Result-pattern services with ``rfs_monitoring.testing``.

This module is both an example and part of the test suite (pytest collects it). It holds a small
FastAPI endpoint written as in the design document, then tests of it:

- the design document's two tests, as written: ``mock_result_service("user_service", ...)``
  finds the module global ``user_service`` below by its bare name;
- the plugin's fixtures (``result_mocker``, ``metrics_collector``, ``fake_clock``,
  ``captured_result_logs``, ``benchmark_async``), loaded automatically by the ``pytest11``
  entry point;
- sequences, delays and timeouts, FluxResult statistics, generated data (hypothesis and plain
  factories) and an overhead check.

Run it with ``pytest examples/monitoring/testing_patterns.py``.
"""

import asyncio
import functools
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from pydantic import BaseModel, ValidationError

from rfs_monitoring import FluxResult, MonoResult, Result, Success, log_result_operation
from rfs_monitoring.metrics import ResultMetricsCollector, monitor_result
from rfs_monitoring.result import Failure
from rfs_monitoring.testing import (
    AsyncBenchmark,
    CapturedLogs,
    FakeClock,
    ResultMockerFactory,
    ResultServiceMocker,
    assert_flux_result_stats,
    assert_mono_result_timeout,
    assert_operation_recorded,
    assert_overhead_below,
    assert_result_error,
    assert_result_success,
    mock_result_service,
)
from rfs_monitoring.testing.generators import (
    api_errors,
    make_operation_samples,
    record_samples,
)
from rfs_monitoring.web import APIError, ErrorCode, handle_result

# ---------------------------------------------------------------------------------------------
# The service and endpoint under test


class UserResponse(BaseModel):
    """What the endpoint returns for a user."""

    user_id: str
    name: str
    email: str


class UserService:
    """The dependency the endpoint calls; the tests replace ``get_user_async``."""

    def __init__(self) -> None:
        self._users = {"1": {"user_id": "1", "name": "Grace Hopper", "email": "grace@example.com"}}

    async def get_user_async(self, user_id: str) -> Result[dict[str, Any], APIError]:
        await asyncio.sleep(0)  # stands in for a database round trip
        user = self._users.get(user_id)
        if user is None:
            return Failure(APIError.not_found("user", user_id))
        return Success(user)


# The only module-level ``user_service`` in the test run: the design document's tests find it
# by this bare name.
user_service = UserService()

sample_user = {"user_id": "123", "name": "Ada Lovelace", "email": "ada@example.com"}


def validate_user_response(user: dict[str, Any]) -> Result[UserResponse, APIError]:
    """Check a stored user record and shape it for the API."""
    try:
        return Success(UserResponse.model_validate(user))
    except ValidationError as exc:
        fields = sorted(str(err["loc"][0]) for err in exc.errors())
        return Failure(APIError.validation_error("stored user is invalid", {"fields": fields}))


app = FastAPI()


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


# ---------------------------------------------------------------------------------------------
# The design document's tests, as written


@pytest.mark.asyncio
async def test_get_user_success():
    # Result-aware mocking
    with mock_result_service("user_service", "get_user_async") as mock_svc:
        mock_svc.return_success(sample_user)

        result = await get_user("123")

        assert_result_success(result, UserResponse)
        assert result.unwrap().user_id == "123"
        mock_svc.assert_called_once_with("123")


@pytest.mark.asyncio
async def test_get_user_not_found():
    with mock_result_service("user_service", "get_user_async") as mock_svc:
        mock_svc.return_error(APIError.not_found("사용자", "123"))

        result = await get_user("123")

        assert_result_error(result, APIError)
        assert result.unwrap_error().code == ErrorCode.NOT_FOUND


# ---------------------------------------------------------------------------------------------
# More patterns


@pytest.mark.asyncio
async def test_invalid_stored_user_is_a_validation_error(
    result_mocker: ResultMockerFactory,
) -> None:
    """A record missing fields fails validation with the fields named, and the service is
    awaited exactly once."""
    mock: ResultServiceMocker = result_mocker(user_service, "get_user_async")
    mock.return_success({"user_id": "9"})
    result = await get_user("9")
    error = assert_result_error(result, APIError, code=ErrorCode.VALIDATION_ERROR, match="invalid")
    assert error.details["fields"] == ["email", "name"]
    mock.assert_awaited_once_with("9")


@pytest.mark.asyncio
async def test_http_not_found_is_problem_json(result_mocker: ResultMockerFactory) -> None:
    """Served by FastAPI, the mocked Failure becomes a 404 problem+json response."""
    result_mocker("user_service", "get_user_async").return_error(APIError.not_found("user", "404"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/users/404", headers={"X-Correlation-ID": "req-42"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.asyncio
async def test_every_step_is_logged(
    result_mocker: ResultMockerFactory, captured_result_logs: CapturedLogs
) -> None:
    """One operation entry plus one entry per log_step; log_error stays silent on success."""
    result_mocker(user_service, "get_user_async").return_success(sample_user)
    assert_result_success(await get_user("123"))
    (operation,) = captured_result_logs.operations("user_retrieval")
    assert operation["result_type"] == "success"
    steps = [e["step_name"] for e in captured_result_logs.steps()]
    assert steps == ["user_service_call", "user_validation"]


@pytest.mark.asyncio
async def test_failures_are_counted_in_metrics(
    result_mocker: ResultMockerFactory, metrics_collector: ResultMetricsCollector
) -> None:
    """Each call is one sample; a returned Failure is counted as an error with its code."""
    mock = result_mocker(user_service, "get_user_async")
    mock.return_sequence(
        [Success(sample_user), Failure(APIError.not_found("user", "2"))], then="repeat_last"
    )
    for user_id in ("1", "2", "3"):
        await get_user(user_id)
    assert_operation_recorded("user_retrieval", successes=1, failures=2, error_code="NOT_FOUND")


@pytest.mark.asyncio
async def test_slow_service_times_out(result_mocker: ResultMockerFactory) -> None:
    """A delayed mock shows that the chain's timeout fires on time."""
    result_mocker(user_service, "get_user_async").return_success(sample_user).with_delay(5)
    mono = MonoResult.from_async_result(lambda: user_service.get_user_async("1")).timeout(0.05)
    error = await assert_mono_result_timeout(mono, 0.05)
    assert APIError.from_service_error(error).code == ErrorCode.TIMEOUT_ERROR


@pytest.mark.asyncio
async def test_flaky_service_recovers_with_retry(result_mocker: ResultMockerFactory) -> None:
    """A sequence with a transient failure first is absorbed by ``retry``."""
    mock = result_mocker(user_service, "get_user_async")
    mock.return_sequence([Failure(APIError.service_unavailable()), Success(sample_user)])
    result = await MonoResult.from_async_result(lambda: user_service.get_user_async("1")).retry(2)
    assert_result_success(result, dict)
    assert mock.call_count == 2


@pytest.mark.asyncio
async def test_batch_lookup_statistics(result_mocker: ResultMockerFactory) -> None:
    """A FluxResult over many lookups has the expected success and failure counts."""
    known = {str(i): {**sample_user, "user_id": str(i)} for i in range(7)}
    result_mocker(user_service, "get_user_async").side_effect(
        lambda user_id: (
            Success(known[user_id])
            if user_id in known
            else Failure(APIError.not_found("user", user_id))
        )
    )
    flux = await FluxResult.from_async_results(
        [functools.partial(get_user, str(i)) for i in range(10)], concurrency=4
    )
    assert_flux_result_stats(flux, 7, 3)


@settings(max_examples=25, deadline=None)
@given(api_errors())
def test_any_service_error_keeps_its_code(error: APIError) -> None:
    """Whatever APIError the service returns, the endpoint fails with the same code."""
    with mock_result_service("user_service", "get_user_async") as mock_svc:
        mock_svc.return_error(error)
        result = asyncio.run(get_user("123"))
    assert_result_error(result, APIError, code=error.code)


def test_dashboard_windows_with_generated_traffic(
    fake_clock: FakeClock, metrics_collector: ResultMetricsCollector
) -> None:
    """Generated samples spread over two hours: the 1h window holds only the recent half."""
    samples = make_operation_samples(120, failure_rate=0.0, median_ms=30, seed=11)
    record_samples(metrics_collector, "report", samples, clock=fake_clock, spacing_seconds=60)
    assert_operation_recorded("report", successes=120, time_range="3h")
    recent = assert_operation_recorded("report", time_range="1h")
    assert 55 <= recent.total_requests <= 61


def test_metrics_instrumentation_overhead_is_small(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Metrics on a hot path add little: here, at most 5 µs per call over the plain function
    (about 30x the real cost, so noise never fails it, while an accidental I/O, lock wait or
    a 30x regression on the hot path does). The project's own tight ratios are checked by
    ``make bench-check`` against benches/budget.toml."""

    def plain() -> Result[int, str]:
        return Success(sum(range(20)))

    monitored = monitor_result("hot_path")(plain)
    report = assert_overhead_below(monitored, plain, max_ns=5_000, rounds=7)
    assert report.rounds == 7


def test_endpoint_benchmark(benchmark_async: AsyncBenchmark) -> None:
    """The whole endpoint chain, timed through pytest-benchmark (run once when disabled)."""
    with mock_result_service(user_service, "get_user_async") as mock_svc:
        mock_svc.return_success(sample_user)
        result = benchmark_async(get_user, "123")
    assert_result_success(result, UserResponse)
