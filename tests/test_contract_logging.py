"""Contract tests: logging, correlation IDs and masking (``architecture.md``, "Logging").

Entries are observed the way users observe them: through ``capture_result_logs`` (the
``captured_result_logs`` fixture) and through the JSON lines ``configure_logging`` writes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rfs_monitoring import (
    Failure,
    FluxResult,
    MonoResult,
    Result,
    ResultLogEntry,
    ResultMetricsCollector,
    Success,
    configure_logging,
    flush_logs,
    log_result_operation,
)
from rfs_monitoring import tracing as rfs_tracing
from rfs_monitoring.context import (
    CorrelationIdMiddleware,
    correlation_context,
    get_correlation_id,
)
from rfs_monitoring.result_logging import get_log_level, reset_log_levels, set_log_level
from rfs_monitoring.testing import (
    CapturedLogs,
    assert_operation_recorded,
    assert_result_error,
    capture_result_logs,
)
from rfs_monitoring.web import APIError, handle_result

ENTRY_FIELDS = {f.name for f in dataclasses.fields(ResultLogEntry)}
DESIGN_FIELDS = {
    "timestamp",
    "correlation_id",
    "operation_name",
    "step_name",
    "result_type",
    "processing_time_ms",
    "success_type",
    "error_type",
    "error_code",
    "error_message",
    "user_id",
    "request_id",
    "service_name",
    "environment",
    "memory_usage_mb",
    "cpu_usage_percent",
    "metadata",
}


@pytest.fixture(autouse=True)
def _quiet_output() -> Iterator[None]:
    """Entries of tests that do not read the output go to a discarded stream."""
    configure_logging(stream=io.StringIO())
    try:
        yield
    finally:
        flush_logs()
        configure_logging()
        reset_log_levels()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """JSON output configured to an in-memory stream, the default configuration restored after."""
    out = io.StringIO()
    configure_logging(stream=out, service_name="contract-svc", environment="contract-env")
    try:
        yield out
    finally:
        flush_logs()
        configure_logging()
        reset_log_levels()


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    flush_logs()
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# The entry schema


def test_result_log_entry_has_every_field_of_the_design_schema() -> None:
    """ResultLogEntry holds the design document's fields with its defaults."""
    import datetime

    assert DESIGN_FIELDS <= ENTRY_FIELDS
    entry = ResultLogEntry(
        timestamp=datetime.datetime.now(datetime.UTC),
        correlation_id="c-1",
        operation_name="op",
        step_name=None,
        result_type="success",
        processing_time_ms=1.0,
    )
    assert entry.success_type is None
    assert entry.error_type is None
    assert entry.error_code is None
    assert entry.error_message is None
    assert entry.user_id is None
    assert entry.request_id is None
    assert entry.service_name == "rfs-framework"
    assert entry.environment == "production"
    assert entry.memory_usage_mb is None
    assert entry.cpu_usage_percent is None
    assert entry.metadata == {}


# ---------------------------------------------------------------------------------------------
# One entry and one sample per call


def _decorated_variants() -> dict[str, Any]:
    @log_result_operation("c_sync_result")
    def sync_result(ok: bool) -> Result[int, str]:
        return Success(1) if ok else Failure("nope")

    @log_result_operation("c_async_result")
    async def async_result(ok: bool) -> Result[int, str]:
        return Success(1) if ok else Failure("nope")

    @log_result_operation("c_sync_mono")
    def sync_mono(ok: bool) -> MonoResult[int, str]:
        return MonoResult.from_value(1) if ok else MonoResult.from_error("nope")

    @log_result_operation("c_async_mono")
    async def async_mono(ok: bool) -> MonoResult[int, str]:
        return MonoResult.from_value(1) if ok else MonoResult.from_error("nope")

    @log_result_operation("c_sync_flux")
    def sync_flux(ok: bool) -> FluxResult[int, str]:
        return FluxResult.from_results([Success(1), Success(2) if ok else Failure("nope")])

    @log_result_operation("c_async_flux")
    async def async_flux(ok: bool) -> FluxResult[int, str]:
        return FluxResult.from_results([Success(1), Success(2) if ok else Failure("nope")])

    return {
        "c_sync_result": sync_result,
        "c_async_result": async_result,
        "c_sync_mono": sync_mono,
        "c_async_mono": async_mono,
        "c_sync_flux": sync_flux,
        "c_async_flux": async_flux,
    }


async def _call(fn: Any, ok: bool) -> Any:
    outcome = fn(ok)
    if asyncio.iscoroutine(outcome):
        outcome = await outcome
    if isinstance(outcome, MonoResult):
        outcome = await outcome
    return outcome


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(_decorated_variants()))
async def test_each_call_emits_one_entry_and_records_one_sample(
    name: str, metrics_collector: ResultMetricsCollector, captured_result_logs: CapturedLogs
) -> None:
    """Sync/async functions returning Result/MonoResult/FluxResult: one entry and one sample per
    call, a Failure counted as an error."""
    fn = _decorated_variants()[name]
    await _call(fn, True)
    await _call(fn, False)
    entries = captured_result_logs.operations(name)
    assert [e["result_type"] for e in entries] == ["success", "error"]
    for entry in entries:
        assert entry.keys() >= ENTRY_FIELDS
        assert entry["step_name"] is None
        assert entry["processing_time_ms"] >= 0
    assert_operation_recorded(name, successes=1, failures=1)


def test_default_levels_are_info_warning_error(captured_result_logs: CapturedLogs) -> None:
    """Success logs at INFO, a returned Failure at WARNING, a raised exception at ERROR."""

    @log_result_operation("c_levels")
    def op(kind: str) -> Result[int, str]:
        if kind == "raise":
            raise RuntimeError("crash")
        return Success(1) if kind == "ok" else Failure("bad")

    op("ok")
    op("fail")
    with pytest.raises(RuntimeError):
        op("raise")
    levels = [e["level"].lower() for e in captured_result_logs.operations("c_levels")]
    assert levels == ["info", "warning", "error"]


@pytest.mark.asyncio
async def test_raised_exception_is_logged_recorded_and_reraised_unchanged(
    metrics_collector: ResultMetricsCollector, captured_result_logs: CapturedLogs
) -> None:
    """An exception is logged and counted as an error, then re-raised as the same object."""
    problem = LookupError("row 7 missing")

    @log_result_operation("c_raises")
    async def op() -> Result[int, str]:
        raise problem

    with pytest.raises(LookupError) as caught:
        await op()
    assert caught.value is problem
    (entry,) = captured_result_logs.operations("c_raises")
    assert entry["result_type"] == "error"
    assert entry["error_type"] == "LookupError"
    assert_operation_recorded("c_raises", successes=0, failures=1)


def test_a_correlation_id_is_generated_per_call_when_none_is_set(
    captured_result_logs: CapturedLogs,
) -> None:
    """Without a correlation context each call gets its own, non-empty correlation_id."""

    @log_result_operation("c_generated_id")
    def op() -> Result[int, str]:
        return Success(1)

    assert get_correlation_id() is None
    op()
    op()
    ids = [e["correlation_id"] for e in captured_result_logs.operations("c_generated_id")]
    assert all(ids)
    assert ids[0] != ids[1]


def test_set_log_level_changes_levels_at_run_time_globally_and_per_operation(
    json_lines: io.StringIO,
) -> None:
    """set_log_level filters from the next call on, for all operations or only one."""

    @log_result_operation("c_lvl_a")
    def a() -> Result[int, str]:
        return Success(1)

    @log_result_operation("c_lvl_b")
    def b() -> Result[int, str]:
        return Success(1)

    with capture_result_logs() as logs:
        a()
        set_log_level("WARNING")
        assert get_log_level() == "WARNING"
        a()
        b()
        set_log_level("INFO")
        set_log_level("ERROR", operation="c_lvl_a")
        assert get_log_level("c_lvl_a") == "ERROR"
        a()
        b()
    assert [e["operation_name"] for e in logs] == ["c_lvl_a", "c_lvl_b"]
    assert [e["operation_name"] for e in _lines(json_lines)] == ["c_lvl_a", "c_lvl_b"]


# ---------------------------------------------------------------------------------------------
# Step logging


@pytest.mark.asyncio
async def test_log_step_emits_for_success_and_failure_with_the_operation_context(
    captured_result_logs: CapturedLogs,
) -> None:
    """log_step entries carry step_name, the operation's name and correlation_id, their own
    duration, and a Failure as result_type "error"."""

    async def slow_value() -> Result[int, str]:
        await asyncio.sleep(0.05)
        return Success(1)

    @log_result_operation("c_steps")
    async def op(ok: bool) -> Result[int, str]:
        return await (
            MonoResult.from_async_result(slow_value)
            .log_step("fetched")
            .bind_result(lambda x: Success(x) if ok else Failure("invalid"))
            .log_step("validated")
            .to_result()
        )

    with correlation_context("corr-steps-1"):
        await op(True)
        await op(False)
    steps = captured_result_logs.steps()
    assert [(e["step_name"], e["result_type"]) for e in steps] == [
        ("fetched", "success"),
        ("validated", "success"),
        ("fetched", "success"),
        ("validated", "error"),
    ]
    assert {e["operation_name"] for e in steps} == {"c_steps"}
    assert {e["correlation_id"] for e in captured_result_logs} == {"corr-steps-1"}
    fetched, validated = steps[0], steps[1]
    assert fetched["processing_time_ms"] >= 40
    assert validated["processing_time_ms"] < fetched["processing_time_ms"]
    operations = captured_result_logs.operations("c_steps")
    assert [e["step_name"] for e in operations] == [None, None]


@pytest.mark.asyncio
async def test_log_error_emits_only_when_the_chain_holds_a_failure(
    captured_result_logs: CapturedLogs,
) -> None:
    """log_error is silent on a Success and emits one "error" entry on a Failure."""

    @log_result_operation("c_log_error")
    async def op(ok: bool) -> Result[int, str]:
        mono = MonoResult.from_value(1) if ok else MonoResult.from_error("broken")
        return await mono.log_error("guard").to_result()

    await op(True)
    await op(False)
    (guard,) = captured_result_logs.steps("guard")
    assert guard["result_type"] == "error"
    assert guard["operation_name"] == "c_log_error"


def test_flux_log_step_emits_an_entry_in_the_operation(captured_result_logs: CapturedLogs) -> None:
    """FluxResult.log_step inside an operation emits a step entry named after the step."""

    @log_result_operation("c_flux_steps")
    def op() -> FluxResult[int, str]:
        return FluxResult.from_results([Success(1), Failure("e")]).log_step("batch")

    op()
    steps = captured_result_logs.steps("batch")
    assert steps
    assert {e["operation_name"] for e in steps} == {"c_flux_steps"}


# ---------------------------------------------------------------------------------------------
# Correlation IDs


def _correlated_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @app.get("/op")
    @handle_result
    @log_result_operation("c_http_op")
    async def http_op() -> Result[dict[str, str | None], APIError]:
        return await (
            MonoResult.from_value({"seen": get_correlation_id()}).log_step("inner").to_result()
        )

    return app


@pytest.mark.parametrize("header", ["X-Correlation-ID", "X-Request-ID"])
def test_a_valid_request_header_is_the_correlation_id_everywhere(
    header: str, captured_result_logs: CapturedLogs
) -> None:
    """A valid X-Correlation-ID / X-Request-ID is used in every entry and echoed back."""
    with TestClient(_correlated_app()) as client:
        response = client.get("/op", headers={header: "req-abc.1:2_3"})
    assert response.status_code == 200
    assert response.json() == {"seen": "req-abc.1:2_3"}
    assert response.headers["X-Correlation-ID"] == "req-abc.1:2_3"
    assert len(captured_result_logs) == 2
    assert {e["correlation_id"] for e in captured_result_logs} == {"req-abc.1:2_3"}


def test_a_generated_correlation_id_is_logged_and_echoed(
    captured_result_logs: CapturedLogs,
) -> None:
    """Without a header, one generated ID is in every entry and in the response header."""
    with TestClient(_correlated_app()) as client:
        response = client.get("/op")
    echoed = response.headers["X-Correlation-ID"]
    assert echoed
    assert {e["correlation_id"] for e in captured_result_logs} == {echoed}


@pytest.mark.parametrize(
    "bad", ["x" * 129, "has space", "semi;colon", "new\tline", 'quote"d', "é-accent"]
)
def test_an_invalid_correlation_header_is_never_echoed_or_logged(
    bad: str, captured_result_logs: CapturedLogs
) -> None:
    """Too long (over 128) or outside [A-Za-z0-9._:-]: replaced, neither echoed nor logged."""
    with TestClient(_correlated_app()) as client:
        response = client.get("/op", headers={"X-Correlation-ID": bad.encode("utf-8")})
    assert response.status_code == 200
    echoed = response.headers["X-Correlation-ID"]
    assert echoed != bad
    assert echoed
    assert bad not in json.dumps(list(captured_result_logs), ensure_ascii=False)
    assert {e["correlation_id"] for e in captured_result_logs} == {echoed}


def test_a_128_character_header_is_still_valid() -> None:
    """The limit is inclusive: an ID of exactly 128 allowed characters is echoed."""
    ok = "a" * 128
    with TestClient(_correlated_app()) as client:
        response = client.get("/op", headers={"X-Correlation-ID": ok})
    assert response.headers["X-Correlation-ID"] == ok


def test_correlation_context_works_with_with_and_restores() -> None:
    """``with correlation_context(id)`` sets the ID inside and restores the outer one after."""
    assert get_correlation_id() is None
    with correlation_context("outer-1"):
        assert get_correlation_id() == "outer-1"
        with correlation_context("inner-2"):
            assert get_correlation_id() == "inner-2"
        assert get_correlation_id() == "outer-1"
    assert get_correlation_id() is None


@pytest.mark.asyncio
async def test_correlation_context_works_with_async_with(
    captured_result_logs: CapturedLogs,
) -> None:
    """``async with correlation_context(id)`` sets the ID for the operations inside."""

    @log_result_operation("c_async_ctx")
    async def op() -> Result[int, str]:
        return Success(1)

    async with correlation_context("async-ctx-9"):
        assert get_correlation_id() == "async-ctx-9"
        await op()
    assert get_correlation_id() is None
    (entry,) = captured_result_logs.operations("c_async_ctx")
    assert entry["correlation_id"] == "async-ctx-9"


def test_correlation_context_without_an_id_generates_one() -> None:
    """correlation_context() with no argument provides a fresh ID."""
    with correlation_context():
        generated = get_correlation_id()
    assert generated


# ---------------------------------------------------------------------------------------------
# Masking

SECRETS = {
    "password": "pw-Zq81x",
    "secret": "sec-Zq82x",
    "token": "tok-Zq83x",
    "api_key": "key-Zq84x",
    "authorization": "auth-Zq85x",
    "cookie": "cookie-Zq86x",
    "session": "sess-Zq87x",
    "credential": "cred-Zq88x",
    "card_number": "card-Zq89x",
    "cvv": "cvv-Zq90x",
    "ssn": "ssn-Zq91x",
}
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
CARDS = ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111"]


def test_sensitive_argument_values_are_masked_in_entries_and_output(
    json_lines: io.StringIO, captured_result_logs: CapturedLogs
) -> None:
    """With log_args, values under sensitive keys never reach the captured entries or the
    JSON output."""

    @log_result_operation("c_mask_args", log_args=True)
    def op(**kwargs: Any) -> Result[int, str]:
        return Success(1)

    op(**SECRETS, user="ada")
    dumped = (
        json.dumps(list(captured_result_logs)) + json_lines.getvalue() + str(_lines(json_lines))
    )
    for value in SECRETS.values():
        assert value not in dumped
    assert "ada" in dumped


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("login failed password=hunter2xyz", "hunter2xyz"),
        ("upstream said Bearer abc.def-ghi_jkl123", "abc.def-ghi_jkl123"),
        (f"bad token {JWT}", JWT),
        *((f"charge failed for {card} today", card) for card in CARDS),
    ],
)
def test_secrets_inside_error_text_are_masked(
    message: str, secret: str, json_lines: io.StringIO, captured_result_logs: CapturedLogs
) -> None:
    """password=..., Bearer tokens, JWTs and Luhn-valid cards are masked in error messages."""

    @log_result_operation("c_mask_text")
    def op() -> Result[int, str]:
        return Failure(message)

    op()
    (entry,) = captured_result_logs.operations("c_mask_text")
    output = json_lines.getvalue()
    assert secret not in entry["error_message"]
    assert secret not in output
    digits = "".join(ch for ch in secret if ch.isdigit())
    if len(digits) >= 13:  # a card: its digits must not survive under other separators either
        assert digits not in "".join(ch for ch in entry["error_message"] if ch.isdigit())
    assert entry["error_message"].split()[0] == message.split()[0]


def test_a_non_luhn_number_is_left_alone(captured_result_logs: CapturedLogs) -> None:
    """A 16-digit number failing the Luhn check is not treated as a card."""

    @log_result_operation("c_mask_luhn")
    def op() -> Result[int, str]:
        return Failure("order 4111111111111112 failed")

    op()
    (entry,) = captured_result_logs.operations("c_mask_luhn")
    assert "4111111111111112" in entry["error_message"]


def test_span_attributes_and_exception_messages_are_masked() -> None:
    """OpenTelemetry span attributes and events of an operation hold no secret."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    previous = rfs_tracing.set_tracer_provider(provider)
    try:

        @log_result_operation("c_span_mask", log_args=True)
        def op(password: str) -> Result[int, str]:
            raise RuntimeError(f"db login password={password} refused")

        with pytest.raises(RuntimeError):
            op("pw-Span77")
    finally:
        rfs_tracing.set_tracer_provider(previous)
        provider.shutdown()
    spans = memory.get_finished_spans()
    assert spans
    dumped = "".join(
        str(dict(span.attributes or {})) + str([dict(e.attributes or {}) for e in span.events])
        for span in spans
    )
    assert "pw-Span77" not in dumped


def test_problem_details_mask_secrets_in_api_error_messages() -> None:
    """An APIError message holding a secret is masked in the served problem body."""
    app = FastAPI()

    @app.get("/leak")
    @handle_result
    async def leak() -> Result[int, APIError]:
        return Failure(APIError.validation_error("bad password=hunter2xyz given"))

    with TestClient(app) as client:
        response = client.get("/leak")
    assert response.status_code == 400
    assert "hunter2xyz" not in response.text


# ---------------------------------------------------------------------------------------------
# JSON output


def test_configure_logging_writes_one_flat_json_object_per_line(json_lines: io.StringIO) -> None:
    """Each entry is one JSON line holding every ResultLogEntry field, service and environment."""

    @log_result_operation("c_json")
    def op(ok: bool) -> Result[int, str]:
        return Success(1) if ok else Failure("bad")

    op(True)
    op(False)
    entries = _lines(json_lines)
    assert len(entries) == 2
    for entry in entries:
        assert entry.keys() >= ENTRY_FIELDS
        assert entry["service_name"] == "contract-svc"
        assert entry["environment"] == "contract-env"
        assert all(not isinstance(v, dict) or k == "metadata" for k, v in entry.items())
    assert [e["result_type"] for e in entries] == ["success", "error"]


def test_configure_logging_again_replaces_the_earlier_configuration(
    json_lines: io.StringIO,
) -> None:
    """A second configure_logging call sends later entries to the new stream only."""

    @log_result_operation("c_reconfigure")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    flush_logs()
    second = io.StringIO()
    configure_logging(stream=second, service_name="second-svc")
    op()
    flush_logs()
    assert len(_lines(json_lines)) == 1
    (moved,) = [json.loads(line) for line in second.getvalue().splitlines()]
    assert moved["service_name"] == "second-svc"


def test_configure_logging_level_filters_output(json_lines: io.StringIO) -> None:
    """configure_logging(level=...) drops entries below that level."""
    out = io.StringIO()
    configure_logging(level="WARNING", stream=out)

    @log_result_operation("c_cfg_level")
    def op(ok: bool) -> Result[int, str]:
        return Success(1) if ok else Failure("bad")

    op(True)
    op(False)
    flush_logs()
    kept = [json.loads(line)["result_type"] for line in out.getvalue().splitlines()]
    assert kept == ["error"]


def test_flush_logs_returns_after_entries_from_many_threads_are_written(
    json_lines: io.StringIO,
) -> None:
    """flush_logs() returns once every entry emitted so far, from any thread, is written."""

    @log_result_operation("c_flush")
    def op() -> Result[int, str]:
        return Success(1)

    threads = [threading.Thread(target=lambda: [op() for _ in range(50)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flush_logs()
    assert len(json_lines.getvalue().splitlines()) == 200


def test_a_failure_result_of_the_endpoint_is_logged_as_an_error(
    captured_result_logs: CapturedLogs,
) -> None:
    """A returned Failure is an error in the log entry, with its code and type."""

    @log_result_operation("c_failure_entry")
    def op() -> Result[int, APIError]:
        return Failure(APIError.not_found("user", "7"))

    assert_result_error(op(), APIError)
    (entry,) = captured_result_logs.operations("c_failure_entry")
    assert entry["result_type"] == "error"
    assert entry["error_code"] == "NOT_FOUND"
    assert entry["error_type"] == "APIError"
    assert entry["error_message"]


def test_capture_result_logs_receives_only_entries_passing_the_level_filter() -> None:
    """capture_result_logs sees what passes the level filter, masked, and nothing after exit."""

    @log_result_operation("c_capture_filter")
    def op(ok: bool, token: str) -> Result[int, str]:
        return Success(1) if ok else Failure(f"rejected token={token}")

    set_log_level("WARNING", operation="c_capture_filter")
    try:
        with capture_result_logs() as logs:
            op(True, "t-Zq1")
            op(False, "t-Zq2")
        op(False, "t-Zq3")
    finally:
        reset_log_levels()
    assert [e["result_type"] for e in logs] == ["error"]
    assert "t-Zq2" not in json.dumps(list(logs))
    assert logs[0].keys() >= ENTRY_FIELDS


def test_configure_logging_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, entries are written as JSON lines to standard output."""
    configure_logging(service_name="stdout-svc")

    @log_result_operation("c_stdout")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    flush_logs()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [(e["operation_name"], e["service_name"]) for e in lines] == [("c_stdout", "stdout-svc")]


def test_arguments_are_not_logged_unless_log_args_is_set(
    captured_result_logs: CapturedLogs,
) -> None:
    """By default (log_args=False) no argument value reaches the entry; log_args=True adds them
    (masked)."""

    @log_result_operation("c_no_args")
    def quiet(customer: str) -> Result[int, str]:
        return Success(1)

    @log_result_operation("c_with_args", log_args=True)
    def loud(customer: str) -> Result[int, str]:
        return Success(1)

    quiet("customer-Qx1")
    loud("customer-Qx2")
    (quiet_entry,) = captured_result_logs.operations("c_no_args")
    (loud_entry,) = captured_result_logs.operations("c_with_args")
    assert "customer-Qx1" not in json.dumps(quiet_entry)
    assert "customer-Qx2" in json.dumps(loud_entry)


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "semi;colon"])
def test_an_invalid_request_id_header_is_never_echoed_or_logged(
    bad: str, captured_result_logs: CapturedLogs
) -> None:
    """An invalid X-Request-ID is neither the correlation ID nor the request_id of any entry."""
    with TestClient(_correlated_app()) as client:
        response = client.get("/op", headers={"X-Request-ID": bad})
    assert response.headers["X-Correlation-ID"] != bad
    dumped = json.dumps(list(captured_result_logs))
    assert json.dumps(bad)[1:-1] not in dumped
    assert {e["request_id"] for e in captured_result_logs} == {None}


def test_nested_and_variant_sensitive_keys_and_metadata_are_masked(
    json_lines: io.StringIO, captured_result_logs: CapturedLogs
) -> None:
    """Sensitive keys nested in arguments, in key variants and in decorator metadata are masked."""

    @log_result_operation(
        "c_mask_nested", log_args=True, metadata={"api_key": "meta-Zq95x", "team": "core"}
    )
    def op(profile: dict[str, Any], headers: dict[str, str]) -> Result[int, str]:
        return Success(1)

    op(
        {"name": "ada", "credentials": {"password": "nested-Zq92x"}, "access_token": "at-Zq93x"},
        {"Authorization": "Bearer hdr-Zq94x", "X-Api-Key": "hk-Zq96x", "client_secret": "cs-Zq97"},
    )
    dumped = json.dumps(list(captured_result_logs)) + json_lines.getvalue()
    flush_logs()
    dumped += json_lines.getvalue()
    for secret in ("nested-Zq92x", "at-Zq93x", "hdr-Zq94x", "meta-Zq95x", "hk-Zq96x", "cs-Zq97"):
        assert secret not in dumped, secret
    assert "ada" in dumped
    assert "core" in dumped


@pytest.mark.asyncio
async def test_concurrent_operations_keep_their_own_correlation_ids(
    captured_result_logs: CapturedLogs,
) -> None:
    """Interleaved operations in different correlation contexts never mix their IDs."""

    @log_result_operation("c_concurrent")
    async def op(tag: str) -> Result[str, str]:
        return await (
            MonoResult.from_async_result(lambda: _sleep_then(tag)).log_step("slept").to_result()
        )

    async def one(cid: str) -> None:
        async with correlation_context(cid):
            await op(cid)

    await asyncio.gather(*(one(f"conc-{i}") for i in range(8)))
    by_id: dict[str, set[str]] = {}
    for entry in captured_result_logs:
        by_id.setdefault(entry["correlation_id"], set()).add(entry["step_name"] or "op")
    assert by_id == {f"conc-{i}": {"op", "slept"} for i in range(8)}


async def _sleep_then(tag: str) -> Result[str, str]:
    await asyncio.sleep(0.01)
    return Success(tag)
