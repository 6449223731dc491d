"""Contract tests: public import paths, Result, MonoResult/FluxResult and the FastAPI integration.

Each test checks one statement of ``architecture.md`` ("Public import paths" and "Behaviour
contract") from a user's point of view, through the public names only.
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from rfs_monitoring import Failure, FluxResult, MonoResult, Result, Success
from rfs_monitoring.testing import (
    assert_flux_result_stats,
    assert_mono_result_timeout,
    assert_result_error,
    assert_result_success,
)
from rfs_monitoring.web import APIError, ErrorCode, FastAPIResult, handle_result

# ---------------------------------------------------------------------------------------------
# Public import paths


def test_every_documented_public_import_path_resolves() -> None:
    """Each import line of the contract's "Public import paths" block runs in a fresh process."""
    code = """
from rfs_monitoring import (Result, Success, Failure, MonoResult, FluxResult,
    log_result_operation, monitor_result, ResultLogEntry, configure_logging, flush_logs,
    ResultMetricsCollector, OperationMetrics)
from rfs_monitoring.web import handle_result, FastAPIResult, APIError, ErrorCode
from rfs_monitoring.context import CorrelationIdMiddleware, get_correlation_id, correlation_context
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.alerts import AlertRule, AlertConfiguration, AlertManager
from rfs_monitoring.testing import (mock_result_service, ResultServiceMocker,
    assert_result_success, assert_result_error, assert_flux_result_stats,
    assert_mono_result_timeout, capture_result_logs)
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "rfs_monitoring",
            "Result Success Failure MonoResult FluxResult log_result_operation monitor_result "
            "ResultLogEntry configure_logging flush_logs ResultMetricsCollector OperationMetrics",
        ),
        ("rfs_monitoring.web", "handle_result FastAPIResult APIError ErrorCode"),
        (
            "rfs_monitoring.context",
            "CorrelationIdMiddleware get_correlation_id correlation_context",
        ),
        ("rfs_monitoring.dashboard_api", "monitoring_router"),
        ("rfs_monitoring.alerts", "AlertRule AlertConfiguration AlertManager"),
        (
            "rfs_monitoring.testing",
            "mock_result_service ResultServiceMocker assert_result_success assert_result_error "
            "assert_flux_result_stats assert_mono_result_timeout capture_result_logs",
        ),
    ],
)
def test_public_names_are_attributes_of_their_modules(module: str, names: str) -> None:
    """Every public name is reachable as an attribute of its documented module."""
    mod = importlib.import_module(module)
    missing = [name for name in names.split() if not hasattr(mod, name)]
    assert missing == []


def test_top_level_reexports_are_the_defining_objects() -> None:
    """The top-level names are the same objects as in their home modules."""
    import rfs_monitoring
    from rfs_monitoring import metrics, reactive, result_logging

    assert rfs_monitoring.MonoResult is reactive.MonoResult
    assert rfs_monitoring.FluxResult is reactive.FluxResult
    assert rfs_monitoring.log_result_operation is result_logging.log_result_operation
    assert rfs_monitoring.ResultMetricsCollector is metrics.ResultMetricsCollector
    assert rfs_monitoring.monitor_result is metrics.monitor_result


# ---------------------------------------------------------------------------------------------
# Result


def test_result_is_subscriptable_and_both_variants_are_results() -> None:
    """``Result[T, E]`` works in annotations and Success/Failure are instances of Result."""
    alias = Result[int, str]
    assert alias is not None
    assert isinstance(Success(1), Result)
    assert isinstance(Failure("e"), Result)


def test_result_accessors_follow_the_variant() -> None:
    """is_success/is_failure/unwrap/unwrap_error/unwrap_or answer per variant."""
    ok: Result[int, str] = Success(2)
    bad: Result[int, str] = Failure("boom")
    assert ok.is_success()
    assert not ok.is_failure()
    assert bad.is_failure()
    assert not bad.is_success()
    assert ok.unwrap() == 2
    assert bad.unwrap_error() == "boom"
    assert ok.unwrap_or(9) == 2
    assert bad.unwrap_or(9) == 9


def test_map_map_error_and_bind_transform_only_their_side() -> None:
    """map touches successes, map_error failures, bind chains into a new Result."""
    assert Success(2).map(lambda x: x * 10) == Success(20)
    assert Failure("e").map(lambda x: x * 10) == Failure("e")
    assert Failure("e").map_error(str.upper) == Failure("E")
    assert Success(2).map_error(str.upper) == Success(2)
    assert Success(2).bind(lambda x: Failure(f"no {x}")) == Failure("no 2")
    assert Failure("e").bind(lambda x: Success(x)) == Failure("e")


def test_unwrap_of_failure_and_unwrap_error_of_success_raise_clear_errors() -> None:
    """Unwrapping the wrong side raises an exception naming what was there."""
    with pytest.raises(Exception, match="boom"):
        Failure("boom").unwrap()
    with pytest.raises(Exception, match="42"):
        Success(42).unwrap_error()


def test_results_are_equal_and_hashable_by_content() -> None:
    """Equal contents give equal, equally hashed results; different variants differ."""
    assert Success(1) == Success(1)
    assert hash(Success((1, "a"))) == hash(Success((1, "a")))
    assert Failure("x") == Failure("x")
    assert Success("x") != Failure("x")
    assert len({Success(1), Success(1), Failure(1)}) == 2


def test_results_support_structural_pattern_matching() -> None:
    """``match r: case Success(v)`` and ``case Failure(e)`` bind the content."""

    def describe(result: Result[int, str]) -> str:
        match result:
            case Success(value):
                return f"ok {value}"
            case Failure(error):
                return f"failed {error}"
        return "unreachable"

    assert describe(Success(3)) == "ok 3"
    assert describe(Failure("x")) == "failed x"


# ---------------------------------------------------------------------------------------------
# MonoResult


@pytest.mark.asyncio
async def test_awaiting_a_mono_equals_awaiting_its_to_result() -> None:
    """``await mono`` and ``await mono.to_result()`` give the same Result."""
    mono = MonoResult.from_value(5).map(lambda x: x + 1)
    assert await mono == await mono.to_result() == Success(6)


@pytest.mark.asyncio
async def test_mono_is_lazy_and_reruns_unless_cached() -> None:
    """A mono runs its chain at each await; ``cache()`` runs it once."""
    calls = 0

    async def fetch() -> Result[int, str]:
        nonlocal calls
        calls += 1
        return Success(calls)

    mono = MonoResult.from_async_result(fetch)
    assert calls == 0
    assert await mono == Success(1)
    assert await mono == Success(2)
    cached = MonoResult.from_async_result(fetch).cache()
    assert await cached == Success(3)
    assert await cached == Success(3)
    assert calls == 3


@pytest.mark.asyncio
async def test_mono_constructors_build_the_expected_results() -> None:
    """from_result, from_value, from_error and from_async_result give the right Result."""

    async def make() -> Result[str, str]:
        return Success("async")

    assert await MonoResult.from_result(Failure("r")) == Failure("r")
    assert await MonoResult.from_value(1) == Success(1)
    assert await MonoResult.from_error("e") == Failure("e")
    assert await MonoResult.from_async_result(make) == Success("async")


@pytest.mark.asyncio
async def test_every_mono_operator_returns_a_mono_and_composes() -> None:
    """All documented operators return a MonoResult and chain in any order."""

    async def double(x: int) -> Result[int, str]:
        return Success(x * 2)

    mono = MonoResult.from_value(1)
    chained = (
        mono.map(lambda x: x + 1)
        .bind_result(lambda x: Success(x + 1))
        .bind_async_result(double)
        .map_error(str)
        .timeout(5.0)
        .retry(1)
        .log_step("contract_step")
        .log_error("contract_error")
        .on_error_return_result(lambda e: Success(-1))
        .on_error_return_value(-2)
        .cache()
    )
    assert isinstance(chained, MonoResult)
    for op in (
        mono.map(str),
        mono.map_error(str),
        mono.bind_result(Success),
        mono.bind_async_result(double),
        mono.on_error_return_result(lambda e: Success(0)),
        mono.on_error_return_value(0),
        mono.timeout(1.0),
        mono.retry(2),
        mono.cache(),
        mono.log_step("s"),
        mono.log_error("s"),
    ):
        assert isinstance(op, MonoResult)
    assert await chained == Success(6)


@pytest.mark.asyncio
async def test_error_recovery_operators_replace_a_failure() -> None:
    """on_error_return_result and on_error_return_value turn a Failure into their answer."""
    failing = MonoResult.from_error("e")
    assert await failing.on_error_return_result(lambda e: Success(f"got {e}")) == Success("got e")
    assert await failing.on_error_return_value(0) == Success(0)


@pytest.mark.asyncio
async def test_exception_inside_a_chain_becomes_a_failure_carrying_it() -> None:
    """A raised exception is caught into a Failure whose error is that exception."""
    problem = ValueError("bad input")

    def explode(x: int) -> int:
        raise problem

    result = await MonoResult.from_value(1).map(explode)
    assert assert_result_error(result, ValueError) is problem


@pytest.mark.asyncio
async def test_cancellation_still_propagates_through_a_chain() -> None:
    """Cancelling a task awaiting a mono raises CancelledError, not a Failure."""

    async def slow() -> Result[int, str]:
        await asyncio.sleep(10)
        return Success(1)

    task = asyncio.ensure_future(MonoResult.from_async_result(slow).map(str).to_result())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_timeout_fails_with_a_timeout_error_that_maps_to_504() -> None:
    """timeout(s) gives a TimeoutError subclass saying "timeout", served as HTTP 504."""

    async def slow() -> Result[int, str]:
        await asyncio.sleep(5)
        return Success(1)

    error = await assert_mono_result_timeout(MonoResult.from_async_result(slow).timeout(0.05), 0.05)
    assert isinstance(error, TimeoutError)
    assert "timeout" in str(error).lower()
    assert APIError.from_service_error(error).status_code == 504


@pytest.mark.asyncio
async def test_retry_runs_the_chain_again_after_a_failure() -> None:
    """retry(times) re-runs a failing source until it succeeds."""
    answers = iter([Failure("flaky"), Success("ok")])

    async def flaky() -> Result[str, str]:
        return next(answers)

    assert await MonoResult.from_async_result(flaky).retry(2) == Success("ok")


# ---------------------------------------------------------------------------------------------
# FluxResult


@pytest.mark.asyncio
async def test_flux_counts_and_success_rate() -> None:
    """count_success/count_failures/count_total/success_rate describe the results."""
    flux = FluxResult.from_results([Success(1), Failure("e"), Success(3), Success(4)])
    assert_flux_result_stats(flux, 3, 1)
    assert flux.count_total() == 4
    assert flux.success_rate() == pytest.approx(0.75)
    assert FluxResult.from_values([1, 2]).count_success() == 2


@pytest.mark.asyncio
async def test_flux_from_async_results_accepts_callables_and_awaitables() -> None:
    """from_async_results takes zero-argument async callables or awaitables, with concurrency."""

    async def one(i: int) -> Result[int, str]:
        return Success(i) if i % 2 == 0 else Failure(f"odd {i}")

    from_callables = await FluxResult.from_async_results(
        [lambda i=i: one(i) for i in range(6)], concurrency=2
    )
    from_awaitables = await FluxResult.from_async_results([one(i) for i in range(4)])
    assert_flux_result_stats(from_callables, 3, 3)
    assert_flux_result_stats(from_awaitables, 2, 2)


def test_flux_map_and_filter_success_keep_the_shape() -> None:
    """map transforms successes and filter_success drops failures, both returning fluxes."""
    flux = FluxResult.from_results([Success(1), Failure("e"), Success(2)])
    mapped = flux.map(lambda x: x * 10)
    assert isinstance(mapped, FluxResult)
    assert [r for r in mapped.results if r.is_success()] == [Success(10), Success(20)]
    kept = flux.filter_success()
    assert isinstance(kept, FluxResult)
    assert_flux_result_stats(kept, 2, 0)


def test_flux_log_step_and_log_error_return_fluxes_with_the_same_results() -> None:
    """log_step and log_error return a FluxResult holding the same results."""
    flux = FluxResult.from_results([Success(1), Failure("e")])
    assert flux.log_step("batch").results == flux.results
    assert flux.log_error("batch_errors").results == flux.results


@pytest.mark.asyncio
async def test_flux_collectors_return_monos() -> None:
    """collect_results and collect_successes return MonoResults of the success values."""
    mixed = FluxResult.from_results([Success(1), Failure("e1"), Success(3)])
    all_ok = mixed.collect_results()
    successes = mixed.collect_successes()
    assert isinstance(all_ok, MonoResult)
    assert isinstance(successes, MonoResult)
    assert await all_ok == Failure("e1")
    assert await successes == Success([1, 3])
    assert await FluxResult.from_values([1, 2]).collect_results() == Success([1, 2])


@pytest.mark.asyncio
@pytest.mark.parametrize("signal", [KeyboardInterrupt, SystemExit])
async def test_keyboard_interrupt_and_system_exit_propagate_through_a_chain(
    signal: type[BaseException],
) -> None:
    """KeyboardInterrupt and SystemExit raised in a chain are not turned into Failures."""

    def stop(x: int) -> int:
        raise signal()

    with pytest.raises(signal):
        await MonoResult.from_value(1).map(stop)


# ---------------------------------------------------------------------------------------------
# FastAPI integration


class Item(BaseModel):
    """A served success model."""

    item_id: int
    name: str


def _items_app() -> FastAPI:
    app = FastAPI()

    @app.get("/sync/{item_id}")
    @handle_result
    def get_sync(item_id: int) -> Result[Item, APIError]:
        if item_id == 0:
            return Failure(APIError.not_found("item", item_id))
        return Success(Item(item_id=item_id, name="sync"))

    @app.get("/async/{item_id}")
    @handle_result
    async def get_async(item_id: int) -> FastAPIResult[Item]:
        if item_id == 0:
            return Failure(APIError.conflict("taken"))
        return Success(Item(item_id=item_id, name="async"))

    @app.get("/mono/{item_id}")
    @handle_result
    async def get_mono(item_id: int) -> MonoResult[Item, APIError]:
        if item_id == 0:
            return MonoResult.from_error(APIError.rate_limited())
        return MonoResult.from_value(Item(item_id=item_id, name="mono"))

    @app.get("/flux")
    @handle_result
    async def get_flux() -> FluxResult[int, APIError]:
        return FluxResult.from_values([1, 2, 3])

    @app.get("/raw-failure")
    @handle_result
    async def raw_failure() -> Result[int, str]:
        return Failure("db password=hunter2 at 10.0.0.5 exploded")

    @app.get("/exception-failure")
    @handle_result
    async def exception_failure() -> Result[int, Exception]:
        return Failure(RuntimeError("Traceback: secret internals"))

    return app


def test_handle_result_called_directly_returns_the_result() -> None:
    """A decorated endpoint called in a test returns its Result, not a response."""

    @handle_result
    def get_item(item_id: int) -> Result[Item, APIError]:
        return Success(Item(item_id=item_id, name="n"))

    @handle_result
    async def get_item_async(item_id: int) -> Result[Item, APIError]:
        return Failure(APIError.not_found("item", item_id))

    assert get_item(1) == Success(Item(item_id=1, name="n"))
    result = asyncio.run(get_item_async(2))
    assert assert_result_error(result, APIError).code == ErrorCode.NOT_FOUND


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sync/3", {"item_id": 3, "name": "sync"}),
        ("/async/4", {"item_id": 4, "name": "async"}),
        ("/mono/5", {"item_id": 5, "name": "mono"}),
    ],
)
def test_a_served_success_is_a_200_json_body_of_its_value(path: str, body: Any) -> None:
    """Sync, async and MonoResult endpoints on a plain FastAPI() answer 200 with the value."""
    with TestClient(_items_app()) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.json() == body


def test_a_served_flux_is_a_200_json_body() -> None:
    """A FluxResult endpoint answers 200 on a plain FastAPI() app."""
    with TestClient(_items_app()) as client:
        response = client.get("/flux")
    assert response.status_code == 200
    assert response.json() == [1, 2, 3]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/sync/0", 404, "NOT_FOUND"),
        ("/async/0", 409, "CONFLICT"),
        ("/mono/0", 429, "RATE_LIMITED"),
    ],
)
def test_a_served_api_error_is_rfc9457_problem_json(path: str, status: int, code: str) -> None:
    """A Failure(APIError) is its status with a problem+json body carrying code and
    correlation_id."""
    with TestClient(_items_app()) as client:
        response = client.get(path, headers={"X-Correlation-ID": "contract-1"})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "code", "correlation_id"} <= body.keys()
    assert body["status"] == status
    assert body["code"] == code
    assert body["correlation_id"]


def test_a_non_api_error_failure_never_leaks_internals_in_a_500() -> None:
    """A plain failure goes through from_service_error; the 500 body hides its text."""
    with TestClient(_items_app()) as client:
        for path in ("/raw-failure", "/exception-failure"):
            response = client.get(path)
            assert response.status_code == 500, path
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "INTERNAL_SERVER_ERROR"
            for leaked in ("hunter2", "10.0.0.5", "Traceback", "secret internals"):
                assert leaked not in response.text


def test_openapi_shows_the_success_model() -> None:
    """The OpenAPI schema documents the endpoint's success model as its 200 response."""
    with TestClient(_items_app()) as client:
        schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/async/{item_id}"]["get"]["responses"]["200"]
    assert "Item" in str(ok)
    assert "Item" in schema["components"]["schemas"]


STATUS_OF = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "REQUEST_TIMEOUT": 408,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "DATABASE_ERROR": 500,
    "EXTERNAL_SERVICE_ERROR": 502,
    "SERVICE_UNAVAILABLE": 503,
    "TIMEOUT_ERROR": 504,
}


@pytest.mark.parametrize(("name", "status"), sorted(STATUS_OF.items()))
def test_each_error_code_maps_to_its_http_status(name: str, status: int) -> None:
    """Every ErrorCode is a str enum member equal to its name, with the documented status."""
    code = ErrorCode[name]
    assert isinstance(code, str)
    assert code.value == name
    error = APIError(code=code, message="m")
    assert error.code is code
    assert error.message == "m"
    assert error.details is None or error.details == {}
    assert error.status_code == status


@pytest.mark.parametrize(("name", "status"), sorted(STATUS_OF.items()))
def test_each_error_code_is_served_with_its_status_and_name(name: str, status: int) -> None:
    """Served, a Failure of each code answers its status with ``code`` equal to the name."""
    app = FastAPI()

    @app.get("/fail")
    @handle_result
    async def fail() -> Result[int, APIError]:
        return Failure(APIError(code=ErrorCode[name], message="it failed"))

    with TestClient(app) as client:
        response = client.get("/fail")
    assert response.status_code == status
    assert response.json()["code"] == name


def test_error_code_enum_has_exactly_the_documented_members() -> None:
    """ErrorCode holds the documented members (values == names)."""
    assert set(STATUS_OF) <= {member.name for member in ErrorCode}
    assert all(member.value == member.name for member in ErrorCode)


def test_api_error_factories_give_their_codes() -> None:
    """Each documented factory builds an APIError of its code."""
    made = {
        ErrorCode.NOT_FOUND: APIError.not_found("user", "123"),
        ErrorCode.VALIDATION_ERROR: APIError.validation_error("bad field"),
        ErrorCode.UNAUTHORIZED: APIError.unauthorized("no token"),
        ErrorCode.FORBIDDEN: APIError.forbidden(),
        ErrorCode.CONFLICT: APIError.conflict(),
        ErrorCode.RATE_LIMITED: APIError.rate_limited(),
        ErrorCode.INTERNAL_SERVER_ERROR: APIError.internal_server_error(),
        ErrorCode.TIMEOUT_ERROR: APIError.timeout_error(),
        ErrorCode.DATABASE_ERROR: APIError.database_error(),
        ErrorCode.EXTERNAL_SERVICE_ERROR: APIError.external_service_error(),
        ErrorCode.SERVICE_UNAVAILABLE: APIError.service_unavailable(),
    }
    for code, error in made.items():
        assert isinstance(error, APIError)
        assert isinstance(error, Exception)
        assert error.code == code
    assert "123" in APIError.not_found("user", "123").message


def test_from_service_error_accepts_api_errors_exceptions_and_strings() -> None:
    """from_service_error keeps an APIError and converts an exception or a string."""
    original = APIError.conflict("taken")
    assert APIError.from_service_error(original) is original or (
        APIError.from_service_error(original) == original
    )
    from_exception = APIError.from_service_error(RuntimeError("kaput"))
    from_string = APIError.from_service_error("something broke")
    assert isinstance(from_exception, APIError)
    assert isinstance(from_string, APIError)
    assert from_exception.status_code >= 400
    assert from_string.status_code >= 400


def test_handle_result_needs_no_app_setup_for_problem_responses() -> None:
    """A bare FastAPI() with one decorated route serves both outcomes."""
    app = FastAPI()

    @app.get("/maybe/{flag}")
    @handle_result
    async def maybe(flag: bool) -> FastAPIResult[dict[str, bool]]:
        return Success({"flag": flag}) if flag else Failure(APIError.forbidden())

    with TestClient(app) as client:
        assert client.get("/maybe/true").json() == {"flag": True}
        denied = client.get("/maybe/false")
    assert denied.status_code == 403
    assert_result_success(Success(denied.json()["code"]), str, value="FORBIDDEN")


def _plain_correlated_app() -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    @handle_result
    async def who() -> Result[dict[str, str | None], APIError]:
        from rfs_monitoring.context import get_correlation_id

        return Failure(APIError.not_found("who", get_correlation_id()))

    return app


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Correlation-ID": "plain-req-1"}, "plain-req-1"),
        ({"X-Request-ID": "plain-req-2"}, "plain-req-2"),
        ({"X-Correlation-ID": "bad id!", "X-Request-ID": "plain-req-3"}, "plain-req-3"),
    ],
)
def test_plain_app_uses_a_valid_request_correlation_header(
    headers: dict[str, str], expected: str
) -> None:
    """Without middleware, handle_result uses and echoes the request's valid correlation ID."""
    with TestClient(_plain_correlated_app()) as client:
        response = client.get("/who", headers=headers)
    assert response.status_code == 404
    assert response.headers["X-Correlation-ID"] == expected
    assert response.json()["correlation_id"] == expected
    assert expected in response.json()["detail"]


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "<script>"])
def test_plain_app_never_echoes_an_invalid_correlation_header(bad: str) -> None:
    """An invalid header is replaced by a generated ID, in the body and the header alike."""
    with TestClient(_plain_correlated_app()) as client:
        response = client.get("/who", headers={"X-Correlation-ID": bad})
    echoed = response.headers["X-Correlation-ID"]
    assert echoed
    assert echoed != bad
    assert bad not in response.text
    assert response.json()["correlation_id"] == echoed


def test_a_served_chain_timeout_is_a_504_problem() -> None:
    """A MonoResult endpoint whose timeout fires answers 504 TIMEOUT_ERROR problem+json."""
    app = FastAPI()

    async def slow() -> Result[int, APIError]:
        await asyncio.sleep(5)
        return Success(1)

    @app.get("/slow")
    @handle_result
    async def get_slow() -> Result[int, APIError]:
        return await MonoResult.from_async_result(slow).timeout(0.05).to_result()

    with TestClient(app) as client:
        response = client.get("/slow")
    assert response.status_code == 504
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "TIMEOUT_ERROR"


def test_api_error_keeps_its_details_and_is_an_exception() -> None:
    """APIError(code=..., message=..., details=...) keeps them; it can be raised and caught."""
    error = APIError(code=ErrorCode.CONFLICT, message="taken", details={"field": "email"})
    assert error.details == {"field": "email"}
    with pytest.raises(APIError) as caught:
        raise error
    assert caught.value.code is ErrorCode.CONFLICT
    assert caught.value.status_code == 409


def test_openapi_shows_the_success_model_of_mono_endpoints() -> None:
    """A MonoResult[Item, APIError] endpoint documents Item as its 200 response."""
    with TestClient(_items_app()) as client:
        schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/mono/{item_id}"]["get"]["responses"]["200"]
    assert "Item" in str(ok)


@pytest.mark.asyncio
async def test_documented_parameter_names_work_as_keywords() -> None:
    """Every documented parameter name of the contract's signatures is accepted as a keyword."""
    from rfs_monitoring import ResultMetricsCollector
    from rfs_monitoring.context import correlation_context
    from rfs_monitoring.dashboard_api import monitoring_router
    from rfs_monitoring.result_logging import reset_log_levels, set_log_level
    from rfs_monitoring.testing import mock_result_service

    collector = ResultMetricsCollector(clock=None, retention="1w")
    try:
        collector.record(
            operation="kw", duration_ms=1.0, success=False, error_code="X", error_message="m"
        )
        collector.operation(name="kw").record(
            duration_ms=2.0, success=True, error_code=None, error_message=None
        )
        metrics = await collector.get_operation_metrics(name="kw", time_range="1h")
        assert metrics.unwrap().total_requests == 2
        router = monitoring_router(
            collector=collector,
            alert_manager=None,
            prefix="/kw",
            auth=None,
            token="t",
            protect_reads=False,
        )
        assert any(getattr(r, "path", "").startswith("/kw") for r in router.routes)
    finally:
        collector.close()
    assert APIError(code=ErrorCode.NOT_FOUND, message="m", details=None).status_code == 404
    assert_result_success(result=Success(1), expected_type=int)
    assert_result_error(result=Failure(1), expected_error_type=int)
    assert_flux_result_stats(flux_result=[Success(1)], expected_success=1, expected_failures=0)
    set_log_level(level="INFO", operation=None)
    reset_log_levels()
    with correlation_context(id="kw-1"):
        pass_through = await MonoResult.from_value(1).timeout(seconds=1.0)
    assert pass_through == Success(1)
    flux = await FluxResult.from_async_results(items=[MonoResult.from_value(2)], concurrency=1)
    assert flux.count_success() == 1

    class Svc:
        async def m(self) -> Result[int, str]:
            return Success(0)

    svc = Svc()
    with mock_result_service(target=svc, method="m") as mocker:
        mocker.return_success(value=5)
        assert await svc.m() == Success(5)
