"""@log_result_operation: one schema-valid JSON entry per call, levels, metrics and steps."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfs_monitoring import result_logging
from rfs_monitoring._logging import config as log_config
from rfs_monitoring._logging import decorator as log_decorator
from rfs_monitoring._logging import entry as log_entry
from rfs_monitoring._logging import render as log_render
from rfs_monitoring._logging import steps as log_steps
from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring.context import bind_context, correlation_context, get_correlation_id
from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import (
    ResultLogEntry,
    add_listener,
    configure_logging,
    flush_logs,
    get_log_level,
    log_result_operation,
    set_log_level,
)

# The JSON line schema: every key, and the JSON types it may hold.
_STR, _NULL, _NUM, _OBJ = str, type(None), (int, float), dict
SCHEMA: dict[str, tuple[type, ...]] = {
    "timestamp": (_STR,),
    "level": (_STR,),
    "event": (_STR,),
    "correlation_id": (_STR,),
    "operation_name": (_STR,),
    "step_name": (_STR, _NULL),
    "result_type": (_STR,),
    "processing_time_ms": _NUM,
    "success_type": (_STR, _NULL),
    "error_type": (_STR, _NULL),
    "error_code": (_STR, _NULL),
    "error_message": (_STR, _NULL),
    "user_id": (_STR, _NULL),
    "request_id": (_STR, _NULL),
    "service_name": (_STR,),
    "environment": (_STR,),
    "memory_usage_mb": (*_NUM, _NULL),
    "cpu_usage_percent": (*_NUM, _NULL),
    "metadata": (_OBJ,),
    "trace_id": (_STR, _NULL),
    "span_id": (_STR, _NULL),
}
_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def assert_schema(entry: dict[str, Any]) -> None:
    """Check one emitted entry against the line schema."""
    extra = set(entry) - set(SCHEMA) - {"exception"}
    assert not extra, f"unexpected keys {extra}"
    for key, types in SCHEMA.items():
        assert key in entry, f"missing {key}"
        assert isinstance(entry[key], types), f"{key}={entry[key]!r}"
    assert _RFC3339_UTC.match(entry["timestamp"])
    assert entry["level"] in {"debug", "info", "warning", "error", "critical"}
    assert entry["event"] in {"result_operation", "result_step"}
    assert entry["result_type"] in {"success", "error"}
    assert entry["processing_time_ms"] >= 0
    assert (entry["step_name"] is None) == (entry["event"] == "result_operation")
    if entry["result_type"] == "success":
        assert entry["error_type"] is entry["error_code"] is entry["error_message"] is None
    else:
        assert entry["error_type"]
        assert entry["error_code"]
        assert entry["error_message"]
    assert ResultLogEntry.from_dict(entry).operation_name == entry["operation_name"]


class Sink:
    """A log stream that keeps every line and parses it."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        return self.buffer.write(text)

    def flush(self) -> None:
        """Nothing to flush: the buffer is in memory."""

    def entries(self) -> list[dict[str, Any]]:
        flush_logs()
        lines = [json.loads(line) for line in self.buffer.getvalue().splitlines()]
        for line in lines:
            assert_schema(line)
        return lines


@pytest.fixture
def collector(installed: ResultMetricsCollector) -> ResultMetricsCollector:
    """A fresh process-wide metrics collector for the test (conftest's ``installed``)."""
    return installed


@pytest.fixture
def sink(collector: ResultMetricsCollector) -> Iterator[Sink]:
    """Logging configured to a fresh in-memory sink, reset afterwards."""
    target = Sink()
    configure_logging(stream=target, service_name="users-api", environment="test")
    yield target
    flush_logs()
    configure_logging()
    result_logging.reset_log_levels()


def _total(collector: ResultMetricsCollector, name: str) -> tuple[int, int]:
    metrics = collector.operation_metrics(name).unwrap()
    return metrics.total_requests, metrics.failed_requests


# -- one entry per call, for every kind of call ---------------------------------------------------


def test_sync_success_emits_one_info_entry_and_one_sample(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """A Success is one INFO entry with the value's type, and one successful sample."""

    @log_result_operation("get_user")
    def get_user(user_id: str) -> Result[dict[str, str], APIError]:
        return Success({"id": user_id})

    assert get_user("1") == Success({"id": "1"})
    [entry] = sink.entries()
    assert entry["level"] == "info"
    assert entry["operation_name"] == "get_user"
    assert entry["result_type"] == "success"
    assert entry["success_type"] == "dict"
    assert entry["service_name"] == "users-api"
    assert entry["environment"] == "test"
    assert entry["metadata"] == {}
    assert len(entry["correlation_id"]) == 32
    assert _total(collector, "get_user") == (1, 0)


def test_sync_failure_is_a_warning_classified_by_its_error(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """A Failure(APIError) is a WARNING with error type, code and masked message."""

    @log_result_operation("login")
    def login(user: str) -> Result[str, APIError]:
        return Failure(APIError.unauthorized(f"bad password=hunter2 for {user}"))

    result = login("ada")
    assert isinstance(result.unwrap_error(), APIError)
    [entry] = sink.entries()
    assert entry["level"] == "warning"
    assert entry["result_type"] == "error"
    assert entry["error_type"] == "APIError"
    assert entry["error_code"] == "UNAUTHORIZED"
    assert "hunter2" not in json.dumps(entry)
    assert "password=***" in entry["error_message"]
    assert _total(collector, "login") == (1, 1)


def test_failure_with_plain_values_uses_class_names(sink: Sink) -> None:
    """A Failure holding a string or exception is classified by its class name."""

    @log_result_operation("parse")
    def parse(text: str) -> Result[int, Any]:
        if text == "s":
            return Failure("not a number")
        return Failure(ValueError("bad literal"))

    parse("s")
    parse("e")
    first, second = sink.entries()
    assert (first["error_type"], first["error_code"], first["error_message"]) == (
        "str",
        "str",
        "not a number",
    )
    assert (second["error_type"], second["error_code"]) == ("ValueError", "ValueError")


def test_raised_exception_is_logged_with_traceback_recorded_and_re_raised(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """An exception is an ERROR entry with the traceback, an error sample, and re-raised as is."""
    boom = RuntimeError("db down, token=abc123")

    @log_result_operation("save")
    def save() -> Result[None, str]:
        raise boom

    with pytest.raises(RuntimeError) as raised:
        save()
    assert raised.value is boom
    [entry] = sink.entries()
    assert entry["level"] == "error"
    assert entry["error_type"] == "RuntimeError"
    assert entry["metadata"]["raised"] is True
    assert "Traceback" in entry["exception"]
    assert "abc123" not in json.dumps(entry)
    assert _total(collector, "save") == (1, 1)


@pytest.mark.asyncio
async def test_async_functions_emit_one_entry_per_call(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """Async Success, Failure and exception each give exactly one entry and one sample."""

    @log_result_operation("async_op")
    async def op(mode: str) -> Result[int, str]:
        await asyncio.sleep(0)
        if mode == "raise":
            raise KeyError("missing")
        return Success(1) if mode == "ok" else Failure("nope")

    assert await op("ok") == Success(1)
    assert await op("fail") == Failure("nope")
    with pytest.raises(KeyError):
        await op("raise")
    entries = sink.entries()
    assert [e["level"] for e in entries] == ["info", "warning", "error"]
    assert _total(collector, "async_op") == (3, 2)


@pytest.mark.asyncio
async def test_returned_mono_is_logged_when_awaited(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """A MonoResult return value is wrapped: nothing is logged until it is awaited."""

    @log_result_operation("lazy_sync")
    def lazy(value: int) -> MonoResult[int, str]:
        return MonoResult.from_value(value).map(lambda v: v * 2)

    @log_result_operation("lazy_async")
    async def lazy_async() -> MonoResult[int, str]:
        return MonoResult.from_error("later")

    mono = lazy(21)
    assert isinstance(mono, MonoResult)
    assert sink.entries() == []
    assert await mono == Success(42)
    inner = await lazy_async()
    assert isinstance(inner, MonoResult)
    assert await inner == Failure("later")
    entries = sink.entries()
    assert [(e["operation_name"], e["result_type"]) for e in entries] == [
        ("lazy_sync", "success"),
        ("lazy_async", "error"),
    ]
    assert _total(collector, "lazy_sync") == (1, 0)


@pytest.mark.asyncio
async def test_returned_mono_that_raises_while_awaited(sink: Sink) -> None:
    """An exception escaping the awaited chain is logged as an error; the chain makes it a
    Failure, as MonoResult does for every exception."""

    class Exploding(MonoResult[int, str]):
        def __await__(self) -> Any:
            raise LookupError("gone")

    @log_result_operation("exploding")
    def make() -> MonoResult[int, str]:
        return Exploding.from_async_result(lambda: Success(1))

    result = await make()
    assert isinstance(result.unwrap_error(), LookupError)
    [entry] = sink.entries()
    assert (entry["error_type"], entry["level"]) == ("LookupError", "error")


@pytest.mark.asyncio
async def test_cancellation_propagates_without_an_entry(sink: Sink) -> None:
    """A cancelled call is not an error of the operation: it propagates and logs nothing."""

    @log_result_operation("slow")
    async def slow() -> Result[int, str]:
        await asyncio.sleep(10)
        return Success(1)

    @log_result_operation("slow_mono")
    def slow_mono() -> MonoResult[int, str]:
        return MonoResult.from_async_result(slow)

    for make in (slow, slow_mono):
        task = asyncio.ensure_future(make())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [e["operation_name"] for e in sink.entries()] == []


def test_keyboard_interrupt_propagates_without_an_entry(sink: Sink) -> None:
    """BaseExceptions other than Exception pass through untouched."""

    @log_result_operation("interrupted")
    def interrupted() -> Result[int, str]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert sink.entries() == []


@pytest.mark.asyncio
async def test_flux_results_count_items_and_fail_when_any_item_failed(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """A FluxResult is an error when any item failed; the counts are in metadata."""

    @log_result_operation("batch")
    def batch(values: list[int]) -> FluxResult[int, str]:
        return FluxResult.from_results(Success(v) if v > 0 else Failure(f"bad {v}") for v in values)

    @log_result_operation("batch_async")
    async def batch_async() -> FluxResult[int, str]:
        return FluxResult.from_values([1, 2])

    batch([1, 2, 3])
    batch([1, -1, -2])
    await batch_async()
    ok, failed, async_ok = sink.entries()
    assert ok["result_type"] == "success"
    assert ok["success_type"] == "FluxResult"
    assert ok["metadata"] == {"total": 3, "successes": 3, "failures": 0}
    assert failed["result_type"] == "error"
    assert failed["error_message"] == "bad -1"
    assert failed["metadata"] == {"total": 3, "successes": 1, "failures": 2}
    assert async_ok["metadata"]["total"] == 2
    assert _total(collector, "batch") == (2, 1)


def test_plain_return_values_count_as_success(sink: Sink) -> None:
    """A function returning a plain value is logged as a success of that type."""

    @log_result_operation()
    def plain() -> int:
        return 3

    assert plain() == 3
    [entry] = sink.entries()
    assert entry["success_type"] == "int"
    assert entry["operation_name"].endswith("plain")


def test_wrapper_keeps_name_doc_and_signature() -> None:
    """functools.wraps keeps what FastAPI and handle_result read from the function."""
    import inspect

    @log_result_operation("documented")
    async def documented(user_id: str, limit: int = 3) -> Result[str, str]:
        """Find things."""
        return Success(user_id)

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Find things."
    assert list(inspect.signature(documented).parameters) == ["user_id", "limit"]
    assert inspect.iscoroutinefunction(documented)


# -- arguments, results and metadata --------------------------------------------------------------


def test_log_args_and_log_result_are_masked(sink: Sink) -> None:
    """log_args and log_result add masked arguments and value to metadata."""

    class Repo:
        @log_result_operation("create", log_args=True, log_result=True, metadata={"team": "id"})
        def create(self, name: str, password: str, **extra: Any) -> Result[dict[str, str], str]:
            return Success({"name": name, "token": "t-1"})

    Repo().create("ada", "hunter2", note="api_key=k")
    [entry] = sink.entries()
    assert entry["metadata"]["args"] == {
        "name": "ada",
        "password": "***",
        "extra": {"note": "api_key=***"},
    }
    assert entry["metadata"]["result"] == {"name": "ada", "token": "***"}
    assert entry["metadata"]["team"] == "id"
    assert "hunter2" not in sink.buffer.getvalue()


def test_log_args_for_failures_exceptions_and_unbindable_calls(sink: Sink) -> None:
    """Arguments are logged for failures and exceptions; a call that does not bind still logs."""

    @log_result_operation("args_fail", log_args=True)
    def fail(secret: str) -> Result[int, str]:
        return Failure("no")

    @log_result_operation("args_raise", log_args=True)
    def explode(secret: str) -> Result[int, str]:
        raise ValueError("x")

    fail("s1")
    with pytest.raises(ValueError, match="x"):
        explode("s2")
    spec = log_decorator._Spec(
        "unbindable",
        len,
        log_args=True,
        log_result=False,
        success_level="INFO",
        failure_level="WARNING",
        error_level="ERROR",
        metadata=None,
        record_metrics=False,
    )
    assert spec.arguments((1, 2), {"token": "t"}) == {"args": [1, 2], "kwargs": {"token": "***"}}
    entries = sink.entries()
    assert entries[0]["metadata"]["args"] == {"secret": "***"}
    assert entries[1]["metadata"]["args"] == {"secret": "***"}


def test_bound_context_fills_user_and_request_ids(sink: Sink) -> None:
    """user_id and request_id come from bind_context; other bound keys go to metadata."""

    @log_result_operation("ctx")
    def op() -> Result[int, str]:
        return Success(1)

    with (
        correlation_context("corr-1"),
        bind_context(user_id="u-1", request_id="r-1", tenant="acme", session="s3cr3t"),
    ):
        op()
    [entry] = sink.entries()
    assert entry["correlation_id"] == "corr-1"
    assert (entry["user_id"], entry["request_id"]) == ("u-1", "r-1")
    assert entry["metadata"] == {"tenant": "acme", "session": "***"}


def test_numeric_ids_and_none_values_in_context(sink: Sink) -> None:
    """Non-string user IDs are written as text; None stays null."""

    @log_result_operation("ctx_types")
    def op() -> Result[int, str]:
        return Success(1)

    with bind_context(user_id=42, request_id=None):
        op()
    [entry] = sink.entries()
    assert (entry["user_id"], entry["request_id"]) == ("42", None)


def test_resource_fields_come_from_the_sampler(sink: Sink, monkeypatch: Any) -> None:
    """Memory and CPU come from the collector's latest sample, not measured per call."""
    monkeypatch.setattr(ResultMetricsCollector, "latest_resource_sample", lambda self: (12.5, 3.0))

    @log_result_operation("res")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    [entry] = sink.entries()
    assert (entry["memory_usage_mb"], entry["cpu_usage_percent"]) == (12.5, 3.0)


def test_resource_sampler_failures_leave_fields_null(sink: Sink, monkeypatch: Any) -> None:
    """A failing sampler gives null resource fields, never a lost entry."""

    def broken(self: Any) -> Any:
        raise RuntimeError("sampler")

    monkeypatch.setattr(ResultMetricsCollector, "latest_resource_sample", broken)

    @log_result_operation("res_broken")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    [entry] = sink.entries()
    assert entry["memory_usage_mb"] is None


# -- levels ---------------------------------------------------------------------------------------


def test_level_changes_take_effect_on_the_next_call(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """set_log_level globally and per operation applies from the next call; metrics still count."""

    @log_result_operation("lvl")
    def op(ok: bool) -> Result[int, str]:
        return Success(1) if ok else Failure("no")

    op(True)
    set_log_level("WARNING")
    op(True)
    op(False)
    set_log_level("ERROR", operation="lvl")
    assert get_log_level("lvl") == "ERROR"
    op(False)
    set_log_level("DEBUG", operation="lvl")
    op(True)
    entries = sink.entries()
    assert [(e["level"], e["result_type"]) for e in entries] == [
        ("info", "success"),
        ("warning", "error"),
        ("info", "success"),
    ]
    assert _total(collector, "lvl") == (5, 2)


def test_per_decorator_levels_are_overridable(sink: Sink) -> None:
    """success/failure/error levels can be set per decorator, by name or number."""

    @log_result_operation("quiet", success_level="DEBUG", failure_level=logging.ERROR)
    def quiet(ok: bool) -> Result[int, str]:
        return Success(1) if ok else Failure("no")

    @log_result_operation("loud", error_level="CRITICAL")
    def loud() -> Result[int, str]:
        raise ValueError("x")

    quiet(True)
    quiet(False)
    with pytest.raises(ValueError, match="x"):
        loud()
    set_log_level("DEBUG", operation="quiet")
    quiet(True)
    assert [e["level"] for e in sink.entries()] == ["error", "critical", "debug"]


def test_filtered_exceptions_are_still_recorded(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """Below the threshold an exception is not logged but is still an error sample."""

    @log_result_operation("silent")
    def op() -> Result[int, str]:
        raise ValueError("x")

    set_log_level("CRITICAL", operation="silent")
    with pytest.raises(ValueError, match="x"):
        op()
    assert sink.entries() == []
    assert _total(collector, "silent") == (1, 1)


@pytest.mark.parametrize("bad", ["LOUD", 15, True, None, 2.5])
def test_unknown_levels_are_rejected(bad: Any) -> None:
    """An unknown level is a ValueError, in set_log_level and the decorator."""
    with pytest.raises(ValueError, match="level"):
        set_log_level(bad)
    with pytest.raises(ValueError, match="level"):
        log_result_operation("x", success_level=bad)


def test_level_changes_from_many_threads_are_safe(sink: Sink) -> None:
    """Concurrent level changes and calls neither fail nor lose per-operation settings."""

    @log_result_operation("threaded")
    def op() -> Result[int, str]:
        return Success(1)

    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for round_ in range(200):
                set_log_level("WARNING" if round_ % 2 else "INFO", operation=f"op-{index}")
                op()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(get_log_level(f"op-{i}") == "WARNING" for i in range(8))
    assert len(sink.entries()) == 8 * 200


# -- correlation ----------------------------------------------------------------------------------


def test_each_call_without_a_request_id_gets_its_own_id(sink: Sink) -> None:
    """Without a correlation ID, every call generates a fresh one."""

    @log_result_operation("fresh")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    op()
    first, second = sink.entries()
    assert first["correlation_id"] != second["correlation_id"]
    assert get_correlation_id() is None


# -- steps ----------------------------------------------------------------------------------------


class UserRepo:
    """A stand-in service used by the design document's chain."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail

    async def get_user_async(self, user_id: str) -> Result[dict[str, str], APIError]:
        await asyncio.sleep(self.delay)
        if self.fail:
            return Failure(APIError.not_found("user", user_id))
        return Success({"user_id": user_id})


def _design_doc_endpoint(repo: UserRepo, validation_delay: float = 0.0) -> Any:
    async def validate(user: dict[str, str]) -> Result[dict[str, str], APIError]:
        await asyncio.sleep(validation_delay)
        return Success(user)

    @log_result_operation("user_retrieval")
    async def get_user(user_id: str) -> Result[dict[str, str], APIError]:
        return await (
            MonoResult.from_async_result(lambda: repo.get_user_async(user_id))
            .log_step("user_service_call")
            .bind_async_result(validate)
            .log_step("user_validation")
            .map_error(lambda e: APIError.from_service_error(e))
            .log_error("user_retrieval_error")
            .timeout(5.0)
            .to_result()
        )

    return get_user


@pytest.mark.asyncio
async def test_design_doc_chain_logs_steps_with_their_own_durations(sink: Sink) -> None:
    """Each step carries its own duration, the operation's name and correlation ID."""
    get_user = _design_doc_endpoint(UserRepo(delay=0.3), validation_delay=0.02)
    with correlation_context("chain-1"):
        result = await get_user("123")
    assert result.unwrap() == {"user_id": "123"}
    entries = sink.entries()
    assert [(e["event"], e["step_name"]) for e in entries] == [
        ("result_step", "user_service_call"),
        ("result_step", "user_validation"),
        ("result_operation", None),
    ]
    assert {e["operation_name"] for e in entries} == {"user_retrieval"}
    assert {e["correlation_id"] for e in entries} == {"chain-1"}
    service, validation, operation = entries
    assert service["processing_time_ms"] >= 300
    assert validation["processing_time_ms"] >= 20
    # Its own duration, not the time since the chain began (which includes the 300 ms).
    assert validation["processing_time_ms"] < service["processing_time_ms"]
    assert operation["processing_time_ms"] >= service["processing_time_ms"]


@pytest.mark.asyncio
async def test_failure_step_names_where_the_failure_appeared(sink: Sink) -> None:
    """The operation's entry names the first step that saw the Failure; log_error fires."""
    get_user = _design_doc_endpoint(UserRepo(fail=True))
    result = await get_user("404")
    assert result.unwrap_error().code == ErrorCode.NOT_FOUND
    entries = sink.entries()
    assert [(e["step_name"], e["result_type"], e["level"]) for e in entries] == [
        ("user_service_call", "error", "warning"),
        ("user_validation", "error", "warning"),
        ("user_retrieval_error", "error", "warning"),
        (None, "error", "warning"),
    ]
    assert entries[-1]["metadata"]["failure_step"] == "user_service_call"
    assert entries[-1]["error_code"] == "NOT_FOUND"
    assert len({e["correlation_id"] for e in entries}) == 1


@pytest.mark.asyncio
async def test_recovered_chain_names_the_later_failing_step(sink: Sink) -> None:
    """A Failure recovered and a later one: failure_step names the later step."""

    @log_result_operation("recovering")
    async def op() -> Result[int, str]:
        return await (
            MonoResult.from_error("first")
            .log_step("a")
            .on_error_return_value(1)
            .log_step("b")
            .bind_result(lambda _: Failure("second"))
            .log_step("c")
        )

    await op()
    entries = sink.entries()
    assert entries[-1]["metadata"]["failure_step"] == "c"


@pytest.mark.asyncio
async def test_log_error_is_silent_on_success_and_chains_outside_operations(sink: Sink) -> None:
    """log_error emits nothing for a Success; a chain outside an operation logs on its own."""
    result = await MonoResult.from_value(5).log_error("never").log_step("standalone")
    assert result == Success(5)
    [entry] = sink.entries()
    assert entry["step_name"] == "standalone"
    assert entry["operation_name"] == "standalone"
    assert entry["success_type"] == "int"
    assert get_correlation_id() is None


@pytest.mark.asyncio
async def test_steps_follow_the_operation_into_tasks(sink: Sink) -> None:
    """Steps running in tasks created inside the operation still carry its name and ID."""

    @log_result_operation("fan_out")
    async def op() -> Result[list[int], str]:
        monos = [MonoResult.from_value(i).log_step(f"item-{i}") for i in range(3)]
        flux = await FluxResult.from_async_results([m.to_result for m in monos])
        return await flux.log_step("collected").collect_results().map(sorted)

    assert await op() == Success([0, 1, 2])
    entries = sink.entries()
    steps = [e for e in entries if e["event"] == "result_step"]
    assert {e["step_name"] for e in steps} == {"item-0", "item-1", "item-2", "collected"}
    assert {e["operation_name"] for e in steps} == {"fan_out"}
    assert len({e["correlation_id"] for e in entries}) == 1


def test_flux_steps_log_counts_and_errors(sink: Sink) -> None:
    """FluxResult.log_step summarises the batch; log_error fires only with a failure."""

    @log_result_operation("flux_steps")
    def op() -> Result[int, str]:
        ok = FluxResult.from_values([1, 2]).log_step("all_ok").log_error("quiet")
        mixed = FluxResult.from_results([Success(1), Failure("bad")]).log_error("some_failed")
        assert ok.count_total() == 2
        assert mixed.count_failures() == 1
        return Success(ok.count_total())

    op()
    outside = FluxResult.from_values([1]).log_step("outside")
    assert outside.count_success() == 1
    entries = sink.entries()
    assert [(e["step_name"], e["result_type"]) for e in entries] == [
        ("all_ok", "success"),
        ("some_failed", "error"),
        (None, "success"),
        ("outside", "success"),
    ]
    assert entries[0]["metadata"] == {"total": 2, "successes": 2, "failures": 0}
    assert entries[1]["error_message"] == "bad"
    assert entries[3]["processing_time_ms"] == 0.0


@pytest.mark.asyncio
async def test_step_levels_follow_the_operation_threshold(sink: Sink) -> None:
    """Step entries are filtered by the enclosing operation's level."""

    @log_result_operation("stepped")
    async def op() -> Result[int, str]:
        return await MonoResult.from_value(1).log_step("s1")

    set_log_level("WARNING", operation="stepped")
    await op()
    assert sink.entries() == []


# -- stacking with FastAPI and handle_result ------------------------------------------------------


def test_design_doc_stack_serves_and_logs_with_the_same_correlation_id(sink: Sink) -> None:
    """@app.get / @handle_result / @log_result_operation as in the design document."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from rfs_monitoring.context import CorrelationIdMiddleware
    from rfs_monitoring.web import handle_result

    repo = UserRepo()
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @app.get("/users/{user_id}")
    @handle_result
    @log_result_operation("user_retrieval")
    async def get_user(user_id: str) -> Result[dict[str, str], APIError]:
        repo.fail = user_id == "404"
        return await MonoResult.from_async_result(lambda: repo.get_user_async(user_id)).log_step(
            "user_service_call"
        )

    with TestClient(app) as client:
        found = client.get("/users/1", headers={"X-Correlation-ID": "stack-1"})
        missing = client.get("/users/404")
    assert found.json() == {"user_id": "1"}
    assert missing.status_code == 404
    problem = missing.json()
    entries = sink.entries()
    operations = [e for e in entries if e["event"] == "result_operation"]
    assert operations[0]["correlation_id"] == "stack-1"
    assert operations[1]["correlation_id"] == problem["correlation_id"]
    assert missing.headers["x-correlation-id"] == problem["correlation_id"]


# -- listeners, the writer and sinks --------------------------------------------------------------


def test_listeners_get_masked_dicts_synchronously_and_can_be_removed(sink: Sink) -> None:
    """A listener sees each entry at emission; a raising listener is ignored."""
    seen: list[dict[str, Any]] = []

    def broken(entry: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    remove_broken = add_listener(broken)
    remove = add_listener(seen.append)

    @log_result_operation("listened", log_args=True)
    def op(password: str) -> Result[int, str]:
        return Success(1)

    op("hunter2")
    assert len(seen) == 1
    assert seen[0]["metadata"]["args"] == {"password": "***"}
    remove()
    remove()
    remove_broken()
    op("again")
    assert len(seen) == 1
    assert len(sink.entries()) == 2


def test_burst_of_100k_entries_is_written_completely(tmp_path: Any) -> None:
    """100k entries through a small queue all reach the file, none dropped."""

    @log_result_operation("burst")
    def op(i: int) -> Result[int, str]:
        return Success(i)

    path = tmp_path / "burst.log"
    writer = log_writer._writer
    dropped_before = writer.dropped
    with path.open("w") as stream:
        configure_logging(stream=stream, queue_size=2048)
        try:
            for index in range(100_000):
                op(index)
            flush_logs(None)
        finally:
            configure_logging()
    with path.open() as stream:
        count = sum(1 for _ in stream)
    assert count == 100_000
    assert writer.dropped == dropped_before


def test_a_raising_sink_falls_back_to_stderr_and_never_fails_the_caller(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Every call still returns normally; the entries go to stderr, the failure is reported
    there once (then at most every 10 s)."""

    class BrokenStream:
        def write(self, text: str) -> int:
            raise OSError("disk full")

        def flush(self) -> None:
            raise OSError("disk full")

    @log_result_operation("broken_sink")
    def op() -> Result[int, str]:
        return Success(1)

    writer = log_writer._writer
    configure_logging(stream=BrokenStream())  # type: ignore[arg-type]
    try:
        errors_before = writer.sink_errors
        for _ in range(50):
            assert op() == Success(1)
            flush_logs()
        assert writer.sink_errors >= errors_before + 50
        # What the configuration in force reported (a later configuration reports what it
        # left unreported when it takes over).
        err = capfd.readouterr().err
    finally:
        configure_logging()
    entries = [line for line in err.splitlines() if line.startswith("{")]
    assert len(entries) == 50
    assert all(json.loads(line)["operation_name"] == "broken_sink" for line in entries)
    reports = [line for line in err.splitlines() if "failed writes to the log sink" in line]
    assert len(reports) == 1
    assert "disk full" in reports[0]


def test_full_queue_makes_callers_wait_then_drop_when_the_writer_is_stuck(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A full queue blocks the caller briefly; a stuck sink leads to counted, reported drops."""
    release = threading.Event()

    class StuckStream:
        def write(self, text: str) -> int:
            release.wait(5)
            return len(text)

        def flush(self) -> None:
            """Nothing buffered."""

    @log_result_operation("stuck")
    def op() -> Result[int, str]:
        return Success(1)

    writer = log_writer._writer
    configure_logging(stream=StuckStream(), queue_size=4, max_block_seconds=0.05)  # type: ignore[arg-type]
    try:
        dropped_before = writer.dropped
        started = time.perf_counter()
        for _ in range(20):
            assert op() == Success(1)
        waited = time.perf_counter() - started
        assert writer.dropped > dropped_before
        assert waited >= 0.05
        err = capfd.readouterr().err  # while the stuck configuration is in force
    finally:
        release.set()
        configure_logging()
    reports = [line for line in err.splitlines() if "entries lost" in line]
    assert len(reports) == 1


def test_queue_put_from_the_writer_thread_never_blocks() -> None:
    """An entry emitted by the writer thread itself (a sink that logs) is dropped, no deadlock."""
    writer = log_writer._Writer(capacity=1, max_block=5)
    writer.queue.append("filler")
    writer.thread = threading.current_thread()
    started = time.perf_counter()
    writer.put("more")
    assert time.perf_counter() - started < 4
    assert writer.dropped == 1
    assert writer.flush(0.1) is False  # the writer cannot wait for itself; "filler" is queued


def test_queue_wait_starts_a_writer_that_was_never_started() -> None:
    """A full queue of a writer without a thread starts it and waits for room."""
    out = io.StringIO()
    writer = log_writer._Writer(capacity=1, max_block=5)
    previous = log_config._config
    log_config._config = log_config._Config(
        stream=out, service_name="s", environment="e", processors=()
    )
    try:
        writer.queue.append({"event": "queued"})
        writer.put({"event": "second"})
        assert writer.flush(5)
    finally:
        log_config._config = previous
    assert out.getvalue().count("\n") == 2


def test_flush_without_any_entry_returns_immediately() -> None:
    """flush_logs before anything was emitted does not wait."""
    assert log_writer._Writer().flush(0.01) is True
    flush_logs(0.5)


def test_emitted_entries_are_flushed_at_interpreter_exit(tmp_path: Any) -> None:
    """A script that never calls flush_logs still gets every entry written at exit."""
    import subprocess
    import sys

    script = tmp_path / "exit_flush.py"
    script.write_text(
        "from rfs_monitoring.result import Success\n"
        "from rfs_monitoring.result_logging import log_result_operation\n"
        "@log_result_operation('at_exit')\n"
        "def op(i):\n"
        "    return Success(i)\n"
        "for i in range(5000):\n"
        "    op(i)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 5000
    assert json.loads(lines[-1])["operation_name"] == "at_exit"


def test_reconfiguring_writes_earlier_entries_to_the_earlier_stream(
    collector: ResultMetricsCollector,
) -> None:
    """configure_logging flushes what was emitted before switching streams."""
    first, second = io.StringIO(), io.StringIO()

    @log_result_operation("switch")
    def op() -> Result[int, str]:
        return Success(1)

    configure_logging(stream=first)
    try:
        for _ in range(100):
            op()
        configure_logging(stream=second)
        op()
        flush_logs()
    finally:
        configure_logging()
    assert first.getvalue().count("\n") == 100
    assert second.getvalue().count("\n") == 1


def test_configuration_is_validated_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, collector: ResultMetricsCollector
) -> None:
    """Bad sizes are ValueErrors; service and environment default to RFS_* variables."""
    with pytest.raises(ValueError, match="queue_size"):
        configure_logging(queue_size=0)
    with pytest.raises(ValueError, match="max_block"):
        configure_logging(max_block_seconds=-1)
    monkeypatch.setenv("RFS_SERVICE_NAME", "from-env")
    monkeypatch.setenv("RFS_ENVIRONMENT", "staging")
    out = io.StringIO()
    configure_logging(stream=out)
    try:

        @log_result_operation("env")
        def op() -> Result[int, str]:
            return Success(1)

        op()
        flush_logs()
    finally:
        monkeypatch.delenv("RFS_SERVICE_NAME")
        monkeypatch.delenv("RFS_ENVIRONMENT")
        configure_logging()
    entry = json.loads(out.getvalue())
    assert (entry["service_name"], entry["environment"]) == ("from-env", "staging")


def test_processors_run_in_the_writer_and_bad_entries_do_not_break_the_batch(
    collector: ResultMetricsCollector,
) -> None:
    """structlog-style processors see each masked entry; one failing render is isolated."""
    out = io.StringIO()

    def add_host(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("operation_name") == "explode":
            raise RuntimeError("processor bug")
        event["host"] = "web-1"
        return event

    @log_result_operation("processed")
    def op() -> Result[int, str]:
        return Success(1)

    @log_result_operation("explode")
    def explode() -> Result[int, str]:
        return Success(1)

    configure_logging(stream=out, processors=[add_host])
    try:
        op()
        explode()
        op()
        flush_logs()
    finally:
        configure_logging()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line.get("host") for line in lines] == ["web-1", None, "web-1"]
    assert lines[1]["operation_name"] == "explode"
    assert lines[1]["render_error"] == "RuntimeError: processor bug"
    assert lines[1]["result_type"] == "success"


def test_metadata_with_odd_values_is_rendered(sink: Sink) -> None:
    """Non-finite floats, sets, dates and objects in metadata still give valid JSON."""

    @log_result_operation(
        "odd",
        metadata={
            "nan": float("nan"),
            "inf": float("-inf"),
            "when": datetime.date(2026, 1, 2),
            "tags": {"a"},
            "obj": object(),
        },
    )
    def op() -> Result[int, str]:
        return Success(1)

    op()
    [entry] = sink.entries()
    assert entry["metadata"]["nan"] == "NaN"
    assert entry["metadata"]["inf"] == "-Infinity"
    assert entry["metadata"]["when"] == "2026-01-02"
    assert entry["metadata"]["tags"] == ["a"]
    assert entry["metadata"]["obj"].startswith("<object object")


def test_render_json_handles_non_finite_numbers_and_odd_objects() -> None:
    """render_json never emits invalid JSON."""
    text = result_logging.render_json(
        {"a": float("inf"), "b": float("-inf"), "c": (1,), "d": datetime.time(1, 2)}
    )
    assert json.loads(text) == {"a": "Infinity", "b": "-Infinity", "c": [1], "d": "01:02:00"}

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert json.loads(result_logging.render_json({"x": Unprintable()})) == {
        "x": "<unprintable Unprintable>"
    }
    assert log_render._json_number(None) == "null"
    assert log_render._json_number(float("nan")) == '"nan"'


def test_logging_never_breaks_the_call_when_internals_fail(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing metrics collector or emitter is reported, never raised into the caller."""

    @log_result_operation("resilient")
    def op(ok: bool) -> Result[int, str]:
        if ok:
            return Success(1)
        raise ValueError("real error")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal")

    monkeypatch.setattr(ResultMetricsCollector, "operation", broken)
    assert op(True) == Success(1)
    monkeypatch.setattr(log_decorator, "_emit", broken)
    assert op(True) == Success(1)
    with pytest.raises(ValueError, match="real error"):
        op(False)


@pytest.mark.asyncio
async def test_step_logging_never_breaks_the_chain(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing emitter inside steps leaves the chain's result untouched."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal")

    monkeypatch.setattr(log_steps, "_step_entry", broken)
    assert await MonoResult.from_value(1).log_step("s") == Success(1)
    assert FluxResult.from_values([1]).log_step("f").count_total() == 1


def test_listener_dict_failure_falls_back_to_the_writer(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If building the listener dict fails, the raw entry still reaches the writer."""
    seen: list[dict[str, Any]] = []
    remove = add_listener(seen.append)
    real = log_render._entry_dict
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("once")
        return real(*args, **kwargs)

    monkeypatch.setattr(log_writer, "_entry_dict", flaky)

    @log_result_operation("fallback")
    def op() -> Result[int, str]:
        return Success(1)

    try:
        op()
    finally:
        remove()
    assert seen == []
    assert len(sink.entries()) == 1


def test_without_the_metrics_module_logging_still_works(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If rfs_monitoring.metrics cannot be imported (the package root's binding of the
    process collector fails), calls are logged without samples."""
    from rfs_monitoring import _instrument

    def refuse() -> Any:
        raise ImportError("rfs_monitoring.metrics")

    monkeypatch.setattr(_instrument.collectors, "factory", refuse)
    monkeypatch.setattr(_instrument.collectors, "cls", None)

    @log_result_operation("no_metrics")
    def op() -> Result[int, str]:
        return Success(1)

    assert op() == Success(1)
    assert op() == Success(1)
    entries = sink.entries()
    monkeypatch.undo()
    assert len(entries) == 2
    assert entries[0]["memory_usage_mb"] is None


def test_record_metrics_can_be_turned_off(sink: Sink, collector: ResultMetricsCollector) -> None:
    """record_metrics=False logs without recording a sample."""

    @log_result_operation("log_only", record_metrics=False)
    def op() -> Result[int, str]:
        return Success(1)

    op()
    assert len(sink.entries()) == 1
    assert collector.operation_metrics("log_only").is_failure()


# -- ResultLogEntry -------------------------------------------------------------------------------


def test_result_log_entry_has_the_design_document_fields_and_round_trips() -> None:
    """The dataclass has the design fields with their defaults and converts to the line dict."""
    naive = ResultLogEntry(
        timestamp=datetime.datetime(2026, 5, 6, 7, 8, 9, 123456),
        correlation_id="c",
        operation_name="op",
        step_name="s",
        result_type="error",
        processing_time_ms=2.5,
        error_type="E",
    )
    data = naive.to_dict()
    assert data["timestamp"] == "2026-05-06T07:08:09.123456Z"
    assert data["service_name"] == "rfs-framework"
    assert data["environment"] == "production"
    assert data["metadata"] == {}
    back = ResultLogEntry.from_dict({**data, "level": "warning"})
    assert back.timestamp.tzinfo is not None
    assert back.error_type == "E"


# -- structlog and stdlib bridges -----------------------------------------------------------------


def test_structlog_logger_writes_through_the_queue_with_context(
    collector: ResultMetricsCollector,
) -> None:
    """get_logger returns a structlog logger; its lines are masked and carry the context."""
    import structlog

    before = structlog.get_config()
    out = io.StringIO()
    configure_logging(stream=out, service_name="svc")
    try:
        log = result_logging.get_logger(component="billing")
        with correlation_context("sl-1"), bind_context(user_id="u-1"):
            log.info("charged", card="4111 1111 1111 1111")
            log.warn("slow")
            try:
                raise ValueError("token=abc")
            except ValueError:
                log.exception("failed")
            log.debug("hidden")
            set_log_level("ERROR")
            log.warning("filtered after the change")
            set_log_level("INFO")
        flush_logs()
    finally:
        configure_logging()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["info", "warning", "error"]
    first = lines[0]
    assert first["correlation_id"] == "sl-1"
    assert first["user_id"] == "u-1"
    assert first["component"] == "billing"
    assert first["card"] == "***"
    assert first["service_name"] == "svc"
    assert "ValueError" in lines[2]["exception"]
    assert "abc" not in lines[2]["exception"]
    assert structlog.get_config() == before


def test_stdlib_bridge_routes_records_through_the_json_renderer(
    collector: ResultMetricsCollector,
) -> None:
    """StdlibBridgeHandler writes masked JSON lines with context and tracebacks."""
    out = io.StringIO()
    configure_logging(stream=out)
    logger = logging.getLogger("tests.bridge")
    handler = result_logging.StdlibBridgeHandler()
    logger.addHandler(handler)
    logger.propagate = False
    root_handlers = list(logging.getLogger().handlers)
    try:
        with correlation_context("std-1"):
            logger.warning("user %s password=%s", "ada", "hunter2")
            try:
                raise KeyError("secret=s")
            except KeyError:
                logger.exception("lookup failed")
        flush_logs()
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        configure_logging()
    assert logging.getLogger().handlers == root_handlers
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "user ada password=***"
    assert first["logger"] == "tests.bridge"
    assert first["correlation_id"] == "std-1"
    assert "KeyError" in second["exception"]


def test_stdlib_bridge_reports_its_own_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that cannot be formatted goes to logging's handleError, not to the caller."""
    handler = result_logging.StdlibBridgeHandler()
    handled: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", handled.append)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d", ("not a number",), None)
    handler.emit(record)
    assert handled == [record]


def test_fork_resets_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a fork the child gets a fresh writer with the same limits."""
    original = log_writer._writer
    try:
        log_writer._after_fork_in_child()
        assert log_writer._writer is not original
        assert log_writer._writer.capacity == original.capacity
        assert log_writer._writer.thread is None
    finally:
        log_writer._writer = original


def test_listener_entries_carry_context_and_tracebacks(sink: Sink) -> None:
    """Listener dicts have the bound context split into fields and the masked traceback."""
    seen: list[dict[str, Any]] = []
    remove = add_listener(seen.append)

    @log_result_operation("listened_error")
    def op() -> Result[int, str]:
        raise ValueError("password=p")

    try:
        with (
            bind_context(user_id=7, request_id="r-1", tenant="t"),
            pytest.raises(ValueError, match="password"),
        ):
            op()
        with bind_context(user_id=None):
            op_ok = log_result_operation("listened_ok")(lambda: Success(1))
            op_ok()
    finally:
        remove()
    first, second = seen
    assert (first["user_id"], first["request_id"]) == ("7", "r-1")
    assert first["metadata"] == {"raised": True, "tenant": "t"}
    assert "Traceback" in first["exception"]
    assert "password=***" in first["exception"]
    assert second["user_id"] is None
    assert [e["operation_name"] for e in sink.entries()] == ["listened_error", "listened_ok"]


def test_unformattable_traceback_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A traceback that cannot be formatted becomes a short placeholder."""
    import traceback

    def broken(exc: BaseException) -> list[str]:
        raise RuntimeError("format")

    monkeypatch.setattr(traceback, "format_exception", broken)
    text = log_entry._format_exception(ValueError("x"))
    assert text == "ValueError: <traceback unavailable>"


def test_writer_internals_batches_start_and_reporting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches drain a long queue; a second start is a no-op; a broken stderr is ignored."""
    out = io.StringIO()
    writer = log_writer._Writer()
    writer.batch_size = 3
    previous = log_config._config
    log_config._config = log_config._Config(
        stream=out, service_name="s", environment="e", processors=()
    )
    try:
        for index in range(10):
            writer.queue.append({"event": index})
        writer._start()
        thread = writer.thread
        writer._start()
        assert writer.thread is thread
        assert writer.flush(5)
    finally:
        log_config._config = previous
    assert out.getvalue().count("\n") == 10

    class BrokenStderr:
        def write(self, text: str) -> int:
            raise OSError("closed")

    monkeypatch.setattr("sys.__stderr__", BrokenStderr())
    writer._report("kind", "message")
    writer._report("kind", "message")
    assert writer._reported == {"kind"}


def test_exit_hook_flushes_pending_entries(collector: ResultMetricsCollector) -> None:
    """The atexit hook writes what is still queued."""
    out = io.StringIO()
    configure_logging(stream=out)
    try:
        log_result_operation("exit_hook")(lambda: Success(1))()
        log_writer._flush_at_exit()
        assert out.getvalue().count("\n") == 1
    finally:
        configure_logging()


def test_structlog_and_stdlib_lines_without_context_or_exception(
    collector: ResultMetricsCollector,
) -> None:
    """Without a correlation ID the key is absent; exc_info outside an except adds nothing."""
    out = io.StringIO()
    configure_logging(stream=out)
    logger = logging.getLogger("tests.bridge.plain")
    logger.setLevel(logging.INFO)
    handler = result_logging.StdlibBridgeHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        result_logging.get_logger().info("no context", exc_info=True)
        logger.info("plain")
        flush_logs()
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        configure_logging()
    structlog_line, stdlib_line = (json.loads(line) for line in out.getvalue().splitlines())
    assert "correlation_id" not in structlog_line
    assert "exception" not in structlog_line
    assert "correlation_id" not in stdlib_line


def test_result_log_entry_keeps_aware_timestamps() -> None:
    """Aware timestamps are converted to UTC; from_dict accepts datetimes as they are."""
    aware = datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    entry = ResultLogEntry(aware, "c", "op", None, "success", 1.0)
    assert entry.to_dict()["timestamp"] == "2026-01-01T10:00:00.000000Z"
    rebuilt = ResultLogEntry.from_dict({**entry.to_dict(), "timestamp": aware})
    assert rebuilt.timestamp is aware


_SECRET = st.text(
    alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", min_size=8, max_size=32
).map(lambda text: f"Zq{text}")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(secret=_SECRET, scheme=st.sampled_from(["password=", "token: ", "Bearer ", "api_key="]))
def test_no_generated_secret_reaches_the_log_output(sink: Sink, secret: str, scheme: str) -> None:
    """Secrets in arguments, results, errors, exceptions and context never reach any line."""
    seen: list[dict[str, Any]] = []
    remove = add_listener(seen.append)

    @log_result_operation("secretive", log_args=True, log_result=True)
    def op(user: str, password: str, options: dict[str, Any]) -> Result[dict[str, str], str]:
        if options.get("fail"):
            return Failure(f"login failed: {scheme}{secret}")
        if options.get("raise"):
            raise PermissionError(f"denied with {scheme}{secret}")
        return Success({"user": user, "token": secret, "note": f"{scheme}{secret}"})

    try:
        with bind_context(user_id=f"{scheme}{secret}", session=secret):
            op("ada", secret, {"nested": {"credentials": [secret]}})
            op("ada", secret, {"fail": True, "extra": f"{scheme}{secret}"})
            with pytest.raises(PermissionError):
                op("ada", secret, {"raise": True})
            result_logging.get_logger().info(f"retry {scheme}{secret}", cookie=secret)
    finally:
        remove()
    assert seen
    flush_logs()
    output = sink.buffer.getvalue()
    assert output.count("\n") >= 4
    assert secret not in output
    assert secret not in repr(seen)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_killed_by_a_processor_is_restarted_by_flush(
    collector: ResultMetricsCollector,
) -> None:
    """A processor raising SystemExit kills the writer thread; flush starts a new one."""
    out = io.StringIO()
    calls = {"n": 0}

    def fatal_once(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise SystemExit("processor gave up")
        return event

    @log_result_operation("restarted")
    def op() -> Result[int, str]:
        return Success(1)

    configure_logging(stream=out, processors=[fatal_once])
    try:
        op()
        first = log_writer._writer.thread
        assert first is not None
        first.join(5)
        assert not first.is_alive()
        op()
        flush_logs(5)
        assert log_writer._writer.thread is not first
    finally:
        configure_logging()
    assert [json.loads(line)["operation_name"] for line in out.getvalue().splitlines()] == [
        "restarted"
    ]


@pytest.mark.asyncio
async def test_repeated_filtered_calls_only_record_metrics(
    sink: Sink, collector: ResultMetricsCollector
) -> None:
    """Calls below the threshold, again and again, sync and async: samples, no entries."""

    @log_result_operation("quiet_sync", success_level="DEBUG")
    def quiet_sync() -> Result[int, str]:
        return Success(1)

    @log_result_operation("quiet_async", success_level="DEBUG")
    async def quiet_async() -> Result[int, str]:
        return Success(1)

    @log_result_operation("quiet_unrecorded", success_level="DEBUG", record_metrics=False)
    def quiet_unrecorded() -> Result[int, str]:
        return Success(1)

    @log_result_operation("quiet_async_unrecorded", success_level="DEBUG", record_metrics=False)
    async def quiet_async_unrecorded() -> Result[int, str]:
        return Success(1)

    for _ in range(3):
        quiet_sync()
        await quiet_async()
        quiet_unrecorded()
        await quiet_async_unrecorded()
    assert sink.entries() == []
    assert _total(collector, "quiet_sync") == (3, 0)
    assert _total(collector, "quiet_async") == (3, 0)
    assert collector.operation_metrics("quiet_unrecorded").is_failure()


def test_configure_logging_can_capture_stdlib_loggers(collector: ResultMetricsCollector) -> None:
    """capture_stdlib adds one bridge handler, keeps existing handlers, and is undone next time."""
    root = logging.getLogger()
    before = list(root.handlers)
    named = logging.getLogger("tests.captured")
    named.setLevel(logging.DEBUG)
    out = io.StringIO()
    configure_logging(level="WARNING", stream=out, capture_stdlib=True)
    try:
        assert root.handlers[: len(before)] == before
        assert len(root.handlers) == len(before) + 1
        named.info("below the level")
        named.warning("kept, token=abc")
        configure_logging(stream=out, capture_stdlib="tests.captured")
        assert root.handlers == before
        named.info("now captured by name")
        flush_logs()
    finally:
        configure_logging()
    assert root.handlers == before
    assert named.handlers == []
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["kept, token=***", "now captured by name"]


def test_a_full_queue_with_a_dead_writer_restarts_it() -> None:
    """When the writer thread is gone and the queue is full, put() starts a new writer."""
    out = io.StringIO()
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    writer = log_writer._Writer(capacity=1, max_block=5)
    writer.thread = dead
    previous = log_config._config
    log_config._config = log_config._Config(
        stream=out, service_name="s", environment="e", processors=()
    )
    try:
        writer.queue.append({"event": "stuck"})
        writer.put({"event": "next"})
        assert writer.thread is not dead
        assert writer.flush(5)
    finally:
        log_config._config = previous
    assert writer.dropped == 0
    assert out.getvalue().count("\n") == 2


@pytest.mark.asyncio
async def test_plain_functions_returning_coroutines_are_logged_when_awaited(sink: Sink) -> None:
    """A sync function returning a coroutine (a lambda, a partial) is logged when awaited."""

    async def fetch(value: int) -> Result[int, str]:
        await asyncio.sleep(0.01)
        return Success(value) if value else Failure("zero")

    lazy = log_result_operation("lazy_coroutine")(lambda value: fetch(value))
    pending = lazy(3)
    assert sink.entries() == []
    assert await pending == Success(3)
    assert await lazy(0) == Failure("zero")
    ok, failed = sink.entries()
    assert ok["operation_name"] == "lazy_coroutine"
    assert ok["success_type"] == "int"
    assert ok["processing_time_ms"] >= 10
    assert failed["result_type"] == "error"


def test_bare_decorator_names_the_operation_after_the_function(sink: Sink) -> None:
    """@log_result_operation without arguments uses the function's qualified name."""

    @log_result_operation
    def bare_operation() -> Result[int, str]:
        return Success(1)

    assert bare_operation() == Success(1)
    [entry] = sink.entries()
    assert entry["operation_name"].endswith("bare_operation")
