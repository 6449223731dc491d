"""Tests of `@monitor_result`: outcome rules, timing, metadata and robustness."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rfs_monitoring import metrics
from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.metrics import OperationMetrics, ResultMetricsCollector, monitor_result
from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success


@pytest.fixture
def collector() -> Iterator[ResultMetricsCollector]:
    """A fresh process-wide collector, restored afterwards."""
    fresh = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(fresh)
    yield fresh
    ResultMetricsCollector.set_instance(previous)


def metrics_of(collector: ResultMetricsCollector, name: str) -> OperationMetrics:
    return collector.operation_metrics(name).unwrap()


def test_sync_success_failure_and_exception_are_recorded(
    collector: ResultMetricsCollector,
) -> None:
    """Success counts as success; Failure and raised exceptions as failures with their codes."""
    boom = KeyError("missing key")

    @monitor_result("lookup")
    def lookup(key: int) -> Result[int, APIError]:
        if key < 0:
            raise boom
        if key == 0:
            return Failure(APIError.not_found("user", key))
        return Success(key)

    assert lookup(3) == Success(3)
    assert lookup(0).unwrap_error().code == ErrorCode.NOT_FOUND
    with pytest.raises(KeyError) as raised:
        lookup(-1)
    assert raised.value is boom
    m = metrics_of(collector, "lookup")
    assert (m.total_requests, m.failed_requests) == (3, 2)
    assert m.error_breakdown == {"NOT_FOUND": 1, "KeyError": 1}
    assert ("user '0' not found", 1) in m.top_errors


def test_the_duration_covers_the_call(collector: ResultMetricsCollector) -> None:
    """The recorded duration is at least the time the function took."""

    @monitor_result("sleepy")
    def sleepy() -> Result[None, str]:
        time.sleep(0.02)
        return Success(None)

    sleepy()
    assert metrics_of(collector, "sleepy").max_response_time_ms >= 19.0


def test_metadata_and_signature_are_kept() -> None:
    """Name, docstring, wrapped function, signature and globals follow the function."""

    def handler(user_id: str, limit: int = 10) -> Result[str, str]:
        """Fetch a user."""
        return Success(user_id)

    wrapped = monitor_result("handler")(handler)
    assert wrapped.__name__ == "handler"
    assert wrapped.__doc__ == "Fetch a user."
    assert wrapped.__wrapped__ is handler  # type: ignore[attr-defined]
    assert inspect.signature(wrapped) == inspect.signature(handler)
    assert wrapped.__globals__ is handler.__globals__


def test_methods_bind_to_their_instance(collector: ResultMetricsCollector) -> None:
    """A monitored method receives self, and accessing it on the class returns the monitor."""

    class Repo:
        def __init__(self, offset: int) -> None:
            self.offset = offset

        @monitor_result("repo_get")
        def get(self, key: int) -> Result[int, str]:
            return Success(key + self.offset)

    assert Repo(10).get(1) == Success(11)
    assert Repo.get(Repo(5), 1) == Success(6)
    assert metrics_of(collector, "repo_get").total_requests == 2


def test_plain_return_values_count_as_success(collector: ResultMetricsCollector) -> None:
    """A function returning a non-Result value is a success and the value is unchanged."""
    payload = {"ok": True}

    @monitor_result("plain")
    def plain() -> dict[str, bool]:
        return payload

    assert plain() is payload
    assert metrics_of(collector, "plain").successful_requests == 1


def test_result_subclasses_are_classified(collector: ResultMetricsCollector) -> None:
    """Success/Failure subclasses take the Python path and keep their outcome."""

    class MySuccess(Success[int]):
        pass

    class MyFailure(Failure[str]):
        pass

    @monitor_result("sub")
    def sub(ok: bool) -> Result[int, str]:
        return MySuccess(1) if ok else MyFailure("bad")

    sub(True)
    sub(False)
    m = metrics_of(collector, "sub")
    assert (m.successful_requests, m.failed_requests) == (1, 1)


@pytest.mark.asyncio
async def test_async_outcomes_are_recorded(collector: ResultMetricsCollector) -> None:
    """Async functions record Success, Failure and raised exceptions (re-raised as is)."""
    error = RuntimeError("db down")

    @monitor_result("fetch")
    async def fetch(mode: str) -> Result[str, Exception]:
        await asyncio.sleep(0)
        if mode == "raise":
            raise error
        if mode == "fail":
            return Failure(ValueError("bad id"))
        return Success(mode)

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__name__ == "fetch"
    assert await fetch("ok") == Success("ok")
    assert (await fetch("fail")).is_failure()
    with pytest.raises(RuntimeError) as raised:
        await fetch("raise")
    assert raised.value is error
    m = metrics_of(collector, "fetch")
    assert (m.total_requests, m.failed_requests) == (3, 2)
    assert m.error_breakdown == {"ValueError": 1, "RuntimeError": 1}


@pytest.mark.asyncio
async def test_a_returned_mono_is_recorded_each_time_it_runs(
    collector: ResultMetricsCollector,
) -> None:
    """A MonoResult return is wrapped: each await of the chain records one sample."""

    @monitor_result("mono")
    def build(ok: bool) -> MonoResult[int, str]:
        return MonoResult.from_value(1) if ok else MonoResult.from_error("nope")

    mono = build(True)
    assert isinstance(mono, MonoResult)
    assert metrics_of_or_none(collector, "mono") is None
    assert await mono == Success(1)
    assert await mono == Success(1)
    assert await build(False) == Failure("nope")
    m = metrics_of(collector, "mono")
    assert (m.total_requests, m.failed_requests) == (3, 1)


@pytest.mark.asyncio
async def test_async_function_returning_a_mono_and_a_flux(
    collector: ResultMetricsCollector,
) -> None:
    """Async functions returning a MonoResult or FluxResult follow the same rules."""

    @monitor_result("amono")
    async def amono() -> MonoResult[int, str]:
        return MonoResult.from_error("late")

    @monitor_result("aflux")
    async def aflux() -> FluxResult[int, str]:
        return FluxResult.from_results([Success(1), Success(2)])

    assert await (await amono()) == Failure("late")
    assert (await aflux()).count_success() == 2
    assert metrics_of(collector, "amono").failed_requests == 1
    assert metrics_of(collector, "aflux").successful_requests == 1


def test_a_flux_is_a_failure_when_any_result_failed(collector: ResultMetricsCollector) -> None:
    """FluxResult returns count as one call, failed when any of its results failed."""

    @monitor_result("flux")
    def batch(ok: bool) -> FluxResult[int, str]:
        tail: Result[int, str] = Success(2) if ok else Failure("row 2 invalid")
        return FluxResult.from_results([Success(1), tail])

    batch(True)
    batch(False)
    m = metrics_of(collector, "flux")
    assert (m.total_requests, m.failed_requests) == (2, 1)
    assert m.top_errors == [("row 2 invalid", 1)]


@pytest.mark.asyncio
async def test_an_awaitable_returned_by_a_sync_function_is_timed(
    collector: ResultMetricsCollector,
) -> None:
    """A sync function returning a coroutine records when the coroutine finishes."""

    async def work(fail: bool) -> Result[int, str]:
        if fail:
            raise ValueError("exploded")
        return Failure("soft")

    @monitor_result("deferred")
    def deferred(fail: bool) -> Any:
        return work(fail)

    assert await deferred(False) == Failure("soft")
    with pytest.raises(ValueError, match="exploded"):
        await deferred(True)
    m = metrics_of(collector, "deferred")
    assert m.error_breakdown == {"str": 1, "ValueError": 1}


@pytest.mark.asyncio
async def test_a_mono_that_raises_is_recorded_and_reraised(
    collector: ResultMetricsCollector,
) -> None:
    """If running the returned chain raises, the failure is recorded and the error propagates."""

    async def cancelled() -> Result[int, str]:
        raise asyncio.CancelledError

    @monitor_result("cancelled")
    def build() -> MonoResult[int, str]:
        return MonoResult.from_async_result(cancelled)

    with pytest.raises(asyncio.CancelledError):
        await build()
    assert metrics_of(collector, "cancelled").error_breakdown == {"CancelledError": 1}


def test_decorated_functions_follow_set_instance() -> None:
    """A function decorated earlier records into whichever collector is installed now."""

    @monitor_result("moving")
    def moving() -> Result[int, str]:
        return Success(1)

    first = ResultMetricsCollector(sample_resources=False)
    second = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(first)
    try:
        moving()
        ResultMetricsCollector.set_instance(second)
        moving()
        moving()
    finally:
        ResultMetricsCollector.set_instance(previous)
    assert metrics_of(first, "moving").total_requests == 1
    assert metrics_of(second, "moving").total_requests == 2


@pytest.mark.asyncio
async def test_async_monitor_records_before_any_collector_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first call with no process-wide collector yet creates it and records."""
    monkeypatch.setattr(ResultMetricsCollector, "_instance", None)

    @monitor_result("first_ever")
    async def first_ever() -> Result[int, str]:
        return Success(1)

    await first_ever()
    await first_ever()
    created = ResultMetricsCollector._instance
    assert created is not None
    assert metrics_of(created, "first_ever").total_requests == 2
    created.close()


@pytest.mark.asyncio
async def test_async_monitor_keeps_recording_folded_names() -> None:
    """A name folded by the cardinality guard records into _other on every call."""
    collector = ResultMetricsCollector(max_operations=1, sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    try:
        collector.record("taken", 1.0, True)

        @monitor_result("folded_async")
        async def folded_async() -> Result[int, str]:
            return Success(1)

        assert await folded_async() == Success(1)
        assert await folded_async() == Success(1)
        assert metrics_of(collector, "_other").total_requests == 2
    finally:
        ResultMetricsCollector.set_instance(previous)


@pytest.mark.asyncio
async def test_async_monitor_survives_a_failing_clock() -> None:
    """A collector clock that starts raising never breaks the monitored call, and the sample
    taken meanwhile is kept (at the previous sample's time) and counted, not lost."""
    broken = False

    def clock() -> float:
        if broken:
            raise RuntimeError("clock broken")
        return 1_000.0

    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    try:

        @monitor_result("clocked")
        async def clocked() -> Result[int, str]:
            return Success(2)

        assert await clocked() == Success(2)
        broken = True
        assert await clocked() == Success(2)
        broken = False
        assert metrics_of(collector, "clocked").total_requests == 2
        assert collector.clock_errors == 1
    finally:
        ResultMetricsCollector.set_instance(previous)


def test_an_empty_name_is_refused() -> None:
    """monitor_result needs a non-empty name."""
    with pytest.raises(ValueError, match="non-empty"):
        monitor_result("")


def test_a_broken_collector_never_breaks_the_call(
    collector: ResultMetricsCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If recording fails, the function's result still reaches the caller."""

    def explode(*args: object) -> None:
        raise RuntimeError("metrics broken")

    monkeypatch.setattr(metrics, "_settle", explode)
    monkeypatch.setattr(metrics, "failure_fields", explode)

    @monitor_result("fragile")
    def fragile(kind: str) -> Any:
        return {"plain": 1, "ok": Success(1), "fail": Failure("x")}[kind]

    assert fragile("plain") == 1
    assert fragile("fail") == Failure("x")

    @monitor_result("fragile_async")
    async def fragile_async() -> Any:
        return 1

    assert asyncio.run(fragile_async()) == 1
    monkeypatch.setattr(ResultMetricsCollector, "instance", explode)
    monkeypatch.setattr(ResultMetricsCollector, "_instance", None)

    @monitor_result("unresolvable")
    def unresolvable() -> Result[int, str]:
        return Success(2)

    @monitor_result("unresolvable_async")
    async def unresolvable_async(fail: bool) -> Result[int, str]:
        if fail:
            raise KeyError("k")
        return Success(3)

    assert unresolvable() == Success(2)
    assert asyncio.run(unresolvable_async(False)) == Success(3)
    with pytest.raises(KeyError):
        asyncio.run(unresolvable_async(True))


def metrics_of_or_none(collector: ResultMetricsCollector, name: str) -> OperationMetrics | None:
    result = collector.operation_metrics(name)
    return result.unwrap() if result.is_success() else None


def test_fastapi_sees_the_parameters_of_monitored_endpoints(
    collector: ResultMetricsCollector,
) -> None:
    """FastAPI parses path and query parameters through sync and async monitored endpoints."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()

    @app.get("/items/{item_id}")
    @monitor_result("get_item")
    def get_item(item_id: int, q: str | None = None) -> dict[str, object]:
        return {"id": item_id, "q": q}

    @app.get("/async/{x}")
    @monitor_result("get_async")
    async def get_async(x: int) -> dict[str, int]:
        return {"x": x}

    client = TestClient(app)
    assert client.get("/items/3", params={"q": "z"}).json() == {"id": 3, "q": "z"}
    assert client.get("/items/abc").status_code == 422
    assert client.get("/async/5").json() == {"x": 5}
    assert collector.list_operations() == ["get_async", "get_item"]
