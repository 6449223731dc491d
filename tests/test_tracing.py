"""OpenTelemetry spans for operations and steps, checked with the in-memory exporter."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from rfs_monitoring import tracing
from rfs_monitoring._logging import links as log_links
from rfs_monitoring.errors import APIError
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import configure_logging, flush_logs, log_result_operation


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Log output captured in memory, with a fresh metrics collector."""
    collector = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    out = io.StringIO()
    configure_logging(stream=out)
    yield out
    flush_logs()
    configure_logging()
    ResultMetricsCollector.set_instance(previous)
    collector.close()


def _entries(out: io.StringIO) -> list[dict[str, Any]]:
    flush_logs()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_success_gives_one_span_and_entries_carry_its_ids(
    exporter: InMemorySpanExporter, lines: io.StringIO
) -> None:
    """A successful call is one span; the entry's trace_id/span_id are that span's."""

    @log_result_operation("traced_ok")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    [span] = exporter.get_finished_spans()
    assert span.name == "traced_ok"
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["rfs.result_type"] == "success"
    assert span.attributes["rfs.operation"] == "traced_ok"
    [entry] = _entries(lines)
    assert entry["trace_id"] == f"{span.context.trace_id:032x}"
    assert entry["span_id"] == f"{span.context.span_id:016x}"
    assert span.attributes["rfs.correlation_id"] == entry["correlation_id"]


def test_failure_sets_error_status_and_error_type(
    exporter: InMemorySpanExporter, lines: io.StringIO
) -> None:
    """A returned Failure marks the span ERROR with error.type = the error code."""

    @log_result_operation("traced_fail")
    def op() -> Result[int, APIError]:
        return Failure(APIError.not_found("user", "7"))

    op()
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "NOT_FOUND"


def test_exceptions_are_recorded_masked(exporter: InMemorySpanExporter, lines: io.StringIO) -> None:
    """A raised exception is recorded on the span with its message and stack masked."""

    @log_result_operation("traced_raise")
    def op() -> Result[int, str]:
        raise RuntimeError("db password=hunter2")

    with pytest.raises(RuntimeError, match="hunter2"):
        op()
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert "hunter2" not in str(dict(event.attributes))
    assert "password=***" in str(event.attributes["exception.message"])


@pytest.mark.asyncio
async def test_steps_are_child_spans_with_their_own_duration(
    exporter: InMemorySpanExporter, lines: io.StringIO
) -> None:
    """Each log_step is a child span of the operation's span, covering that step only."""

    async def slow() -> Result[int, str]:
        await asyncio.sleep(0.05)
        return Success(1)

    @log_result_operation("traced_chain")
    async def op() -> Result[int, str]:
        return await (
            MonoResult.from_async_result(slow)
            .log_step("load")
            .bind_result(lambda v: Failure(f"bad {v}"))
            .log_step("check")
            .log_error("failed")
        )

    await op()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"traced_chain", "load", "check", "failed"}
    parent = spans["traced_chain"]
    for name in ("load", "check", "failed"):
        child = spans[name]
        assert child.parent is not None
        assert child.parent.span_id == parent.context.span_id
        assert child.context.trace_id == parent.context.trace_id
    load, check = spans["load"], spans["check"]
    assert load.end_time is not None
    assert load.start_time is not None
    assert check.end_time is not None
    assert check.start_time is not None
    assert load.end_time - load.start_time >= 40_000_000
    assert check.end_time - check.start_time < load.end_time - load.start_time
    assert check.status.status_code is StatusCode.ERROR
    assert check.attributes is not None
    assert check.attributes["error.type"] == "str"
    entries = {e["step_name"]: e for e in _entries(lines)}
    assert entries["load"]["span_id"] == f"{load.context.span_id:016x}"


@pytest.mark.asyncio
async def test_nested_operations_nest_spans(
    exporter: InMemorySpanExporter, lines: io.StringIO
) -> None:
    """An operation called inside another is a child span of it."""

    @log_result_operation("inner")
    async def inner() -> Result[int, str]:
        return Success(1)

    @log_result_operation("outer")
    async def outer() -> Result[int, str]:
        return await inner()

    await outer()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id


@pytest.mark.asyncio
async def test_monos_fluxes_and_cancellation_end_their_spans(
    exporter: InMemorySpanExporter, lines: io.StringIO
) -> None:
    """Returned monos get a span when awaited; flux steps and cancelled calls end theirs."""

    @log_result_operation("mono_op")
    def mono_op() -> MonoResult[int, str]:
        return MonoResult.from_value(1)

    @log_result_operation("flux_op")
    def flux_op() -> FluxResult[int, str]:
        return FluxResult.from_results([Success(1), Failure("x")]).log_step("summary")

    @log_result_operation("cancelled")
    async def cancelled() -> Result[int, str]:
        await asyncio.sleep(10)
        return Success(1)

    mono = mono_op()
    assert await mono == Success(1)
    spans = [span for span in exporter.get_finished_spans() if span.name == "mono_op"]
    assert len(spans) == 1
    assert spans[0].attributes is not None
    first_entry = _entries(lines)[-1]
    assert first_entry["span_id"] == f"{spans[0].context.span_id:016x}"
    assert first_entry["correlation_id"] == spans[0].attributes["rfs.correlation_id"]
    assert await mono == Success(1)
    flux_op()
    task = asyncio.ensure_future(cancelled())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    names = [span.name for span in exporter.get_finished_spans()]
    assert names.count("mono_op") == 2
    assert {"flux_op", "summary", "cancelled"} <= set(names)


def test_tracing_failures_never_break_the_call(
    exporter: InMemorySpanExporter, lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken tracer is ignored: the call and its log entry go ahead."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("otel bug")

    monkeypatch.setattr(tracing, "start_operation", broken)
    monkeypatch.setattr(tracing, "record_step", broken)

    @log_result_operation("untraced")
    def op() -> Result[int, str]:
        return FluxResult.from_values([1]).log_step("step").collect_results().map(len)

    mono = op()
    assert isinstance(mono, MonoResult)
    assert asyncio.run(mono.to_result()) == Success(1)
    assert asyncio.run(MonoResult.from_value(1).log_step("s").to_result()) == Success(1)
    assert [e["trace_id"] for e in _entries(lines)] == [None, None, None]


def test_enabled_only_with_an_sdk_provider() -> None:
    """The API's default (proxy) provider produces no spans; an SDK provider does."""
    previous = tracing.set_tracer_provider(None)
    try:
        assert tracing.enabled() is False
        tracing.set_tracer_provider(TracerProvider())
        assert tracing.enabled() is True
        tracing.set_tracer_provider(object())
        assert tracing.enabled() is False
    finally:
        tracing.set_tracer_provider(previous)


def test_a_provider_that_fails_disables_spans_without_breaking_calls(lines: io.StringIO) -> None:
    """A provider that cannot give a tracer: no spans, and decorated calls still work."""

    class Broken(TracerProvider):
        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no tracer")

    previous = tracing.set_tracer_provider(Broken())
    try:
        assert tracing.enabled() is False

        @log_result_operation("broken_provider")
        def op() -> Result[int, str]:
            return Success(1)

        assert op() == Success(1)
    finally:
        tracing.set_tracer_provider(previous)


def test_without_a_tracer_the_helpers_do_nothing() -> None:
    """start_operation and record_step return nothing when no SDK provider is configured."""
    from rfs_monitoring.context import OperationScope

    previous = tracing.set_tracer_provider(None)
    try:
        scope = OperationScope("x", None)
        assert tracing.start_operation("x", scope) is None
        assert tracing.record_step(scope, "s", 1.0, False, None) == (None, None)
    finally:
        tracing.set_tracer_provider(previous)


def test_nothing_from_opentelemetry_is_imported_when_the_app_does_not_use_it() -> None:
    """Logging a call never imports OpenTelemetry (nor this module) on its own."""
    code = (
        "import sys, io\n"
        "from rfs_monitoring.result import Success\n"
        "from rfs_monitoring.reactive import MonoResult\n"
        "from rfs_monitoring.result_logging import log_result_operation, configure_logging\n"
        "import asyncio\n"
        "configure_logging(stream=io.StringIO())\n"
        "@log_result_operation('plain')\n"
        "async def op():\n"
        "    return await MonoResult.from_value(1).log_step('s')\n"
        "asyncio.run(op())\n"
        "names = ('opentelemetry', 'rfs_monitoring.tracing')\n"
        "print(sorted(m for m in sys.modules if m.startswith(names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_span_helpers_cover_invalid_contexts_double_ends_and_bad_exceptions(
    exporter: InMemorySpanExporter,
) -> None:
    """Invalid span contexts give no IDs; ending twice is harmless; odd exceptions are named."""
    from opentelemetry.trace import INVALID_SPAN

    from rfs_monitoring.context import OperationScope

    assert tracing._ids(INVALID_SPAN) == (None, None)

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    handle = tracing.start_operation("twice", OperationScope("twice", "c-1"))
    assert handle is not None
    handle.end(True, None, Unprintable())
    handle.end(False, None, None)
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "error"
    assert span.status.status_code is StatusCode.ERROR
    assert tracing._masked_exception(Unprintable())["exception.message"] == "Unprintable"


def test_no_tracer_when_opentelemetry_is_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opentelemetry.trace in sys.modules there is no tracer and no tracing hook."""

    previous = tracing.set_tracer_provider(None)
    try:
        monkeypatch.delitem(sys.modules, "opentelemetry.trace")
        assert tracing._tracer() is None
        assert log_links._tracing() is None
    finally:
        tracing.set_tracer_provider(previous)


class _WrappingProvider(trace_api.TracerProvider):
    """A provider that is not the SDK's class but hands out the SDK's tracers (as Pydantic
    Logfire's proxy provider does)."""

    def __init__(self, inner: TracerProvider) -> None:
        self.inner = inner

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace_api.Tracer:
        return self.inner.get_tracer(*args, **kwargs)


def test_a_provider_wrapping_the_sdk_gets_spans_for_operations_and_steps(
    lines: io.StringIO,
) -> None:
    """Any provider whose tracers record spans works, whatever its class."""
    memory = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(memory))
    previous = tracing.set_tracer_provider(_WrappingProvider(sdk))
    try:
        assert tracing.enabled() is True

        @log_result_operation("wrapped_provider")
        async def op() -> Result[int, str]:
            return await MonoResult.from_value(1).log_step("step_one").to_result()

        assert asyncio.run(op()) == Success(1)
        names = sorted(span.name for span in memory.get_finished_spans())
        assert names == ["step_one", "wrapped_provider"]
        entries = _entries(lines)
        assert entries[-1]["trace_id"] is not None
    finally:
        tracing.set_tracer_provider(previous)
        sdk.shutdown()


def test_a_provider_whose_spans_do_not_record_gives_no_span_and_no_ids(
    lines: io.StringIO,
) -> None:
    """A wrapping provider over the API's no-op tracer: spans are checked, not the class."""
    previous = tracing.set_tracer_provider(_WrappingProvider(trace_api.NoOpTracerProvider()))  # type: ignore[arg-type]
    try:
        from rfs_monitoring.context import OperationScope

        scope = OperationScope("noop", None)
        assert tracing.start_operation("noop", scope) is None
        assert tracing.record_step(scope, "s", 1.0, False, None) == (None, None)

        @log_result_operation("noop_provider")
        def op() -> Result[int, str]:
            return Success(1)

        assert op() == Success(1)
        assert _entries(lines)[-1]["trace_id"] is None
    finally:
        tracing.set_tracer_provider(previous)


def test_the_api_proxy_provider_set_before_the_sdk_one_follows_it() -> None:
    """The API's proxy provider, given before the application sets its SDK provider, produces
    spans once the SDK provider is set (run in a fresh process: the global is set only once)."""
    code = (
        "import io, json\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from rfs_monitoring import tracing\n"
        "from rfs_monitoring.result import Success\n"
        "from rfs_monitoring.result_logging import configure_logging, flush_logs, "
        "log_result_operation\n"
        "out = io.StringIO()\n"
        "configure_logging(stream=out)\n"
        "tracing.set_tracer_provider(trace.ProxyTracerProvider())\n"
        "@log_result_operation('proxied')\n"
        "def op():\n"
        "    return Success(1)\n"
        "op()\n"
        "before = tracing.enabled()\n"
        "memory = InMemorySpanExporter()\n"
        "sdk = TracerProvider()\n"
        "sdk.add_span_processor(SimpleSpanProcessor(memory))\n"
        "trace.set_tracer_provider(sdk)\n"
        "op()\n"
        "flush_logs()\n"
        "ids = [json.loads(line)['trace_id'] is not None for line in out.getvalue().splitlines()]\n"
        "print(json.dumps([before, tracing.enabled(), len(memory.get_finished_spans()), ids]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == [False, True, 1, [False, True]]


def test_an_override_works_without_the_api_module_and_broken_spans_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider given directly needs no ``opentelemetry.trace`` lookup; a span whose state
    cannot be read counts as no span."""

    class Unreadable:
        def is_recording(self) -> bool:
            raise RuntimeError("no state")

    sdk = TracerProvider()
    previous = tracing.set_tracer_provider(_WrappingProvider(sdk))
    try:
        monkeypatch.delitem(sys.modules, "opentelemetry.trace")
        assert tracing._tracer() is not None
        assert tracing._dropped(Unreadable()) is True
    finally:
        tracing.set_tracer_provider(previous)
        sdk.shutdown()


def test_traced_calls_leave_exemplars_in_the_openmetrics_exposition(
    exporter: InMemorySpanExporter,
) -> None:
    """The exposition's exemplars carry the trace ID of a recent traced call (OpenMetrics and
    protobuf), never in text 0.0.4."""
    collector = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    try:

        @log_result_operation("traced_checkout")
        def checkout(ok: bool) -> Result[int, str]:
            return Success(1) if ok else Failure("declined")

        checkout(True)
        checkout(False)
        spans = exporter.get_finished_spans()
        trace_ids = {f"{s.context.trace_id:032x}" for s in spans}
        open_metrics = collector.expose("openmetrics").decode()
        exemplars = [
            line
            for line in open_metrics.splitlines()
            if "traced_checkout" in line and " # {" in line
        ]
        assert exemplars, open_metrics
        assert {line.split('trace_id="')[1][:32] for line in exemplars} <= trace_ids
        assert "traced_checkout" in collector.expose("text").decode()
        assert " # {" not in collector.expose("text").decode()
        protobuf = collector.expose("protobuf")
        assert any(trace_id.encode() in protobuf for trace_id in trace_ids)
    finally:
        ResultMetricsCollector.set_instance(previous)
        collector.close()


def test_a_global_provider_set_after_the_first_calls_is_seen(
    lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether spans are on is kept between calls (no call into OpenTelemetry while no provider
    is set), yet a global provider set after the first calls gives the next call and its steps
    their spans; going back to none stops them again."""

    @log_result_operation("late_provider")
    async def op() -> Result[int, str]:
        return await MonoResult.from_value(1).log_step("late_step")

    monkeypatch.setattr(trace_api, "_TRACER_PROVIDER", None)
    assert asyncio.run(op()) == Success(1)
    assert tracing.enabled() is False
    asked: list[int] = []
    real = tracing._tracer
    monkeypatch.setattr(tracing, "_tracer", lambda: asked.append(1) or real())
    assert asyncio.run(op()) == Success(1)
    assert asked == []  # the kept answer: OpenTelemetry is not asked again

    memory = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace_api, "_TRACER_PROVIDER", sdk)
    try:
        assert asyncio.run(op()) == Success(1)
        names = sorted(span.name for span in memory.get_finished_spans())
        assert names == ["late_provider", "late_step"]
        monkeypatch.setattr(trace_api, "_TRACER_PROVIDER", None)
        assert asyncio.run(op()) == Success(1)
        assert len(memory.get_finished_spans()) == 2
    finally:
        sdk.shutdown()
    ids = [(e.get("step_name"), e["trace_id"] is not None) for e in _entries(lines)]
    assert ids == [
        ("late_step", False),
        (None, False),
        ("late_step", False),
        (None, False),
        ("late_step", True),
        (None, True),
        ("late_step", False),
        (None, False),
    ]


def test_an_override_set_after_the_first_calls_is_seen(lines: io.StringIO) -> None:
    """`set_tracer_provider` after calls were made (the answer kept as "no spans") gives the
    next call its span, and clearing it again stops them."""

    @log_result_operation("late_override")
    def op() -> Result[int, str]:
        return Success(1)

    op()
    memory = InMemorySpanExporter()
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(memory))
    previous = tracing.set_tracer_provider(sdk)
    try:
        op()
        assert [span.name for span in memory.get_finished_spans()] == ["late_override"]
    finally:
        tracing.set_tracer_provider(previous)
        sdk.shutdown()
    op()
    assert len(memory.get_finished_spans()) == 1
