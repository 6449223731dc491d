"""Steps reach the metrics core: every pass through ``log_step``/``log_error`` is a sample."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rfs_monitoring import (
    FluxResult,
    MonoResult,
    ResultMetricsCollector,
    log_result_operation,
)
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.errors import APIError
from rfs_monitoring.metrics import StepMetrics
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import set_log_level
from rfs_monitoring.testing import FakeClock


def validate(value: int) -> Result[int, APIError]:
    return Success(value) if value else Failure(APIError.validation_error("zero"))


@log_result_operation("checkout")
async def checkout(value: int) -> Result[int, APIError]:
    return await (
        MonoResult.from_value(value)
        .log_step("load")
        .bind_result(validate)
        .log_step("validate")
        .log_error("checkout_error")
    )


def _run(*values: int) -> None:
    async def all_of() -> None:
        for value in values:
            await checkout(value)

    asyncio.run(all_of())


def test_every_step_is_recorded_in_first_seen_order(
    metrics_collector: ResultMetricsCollector,
) -> None:
    _run(1, 2, 0, 3)
    steps = metrics_collector.operation_metrics("checkout").unwrap().steps
    assert [s.name for s in steps] == ["load", "validate", "checkout_error"]
    load, checked, errors = steps
    assert (load.total_requests, load.failed_requests, load.success_rate) == (4, 0, 1.0)
    assert (checked.total_requests, checked.failed_requests) == (4, 1)
    assert checked.success_rate == pytest.approx(0.75)
    # log_error counts every pass (its entries are written for failures only).
    assert (errors.total_requests, errors.failed_requests) == (4, 1)
    for step in steps:
        assert isinstance(step, StepMetrics)
        assert 0 <= step.p50_ms <= step.p90_ms <= step.p99_ms <= step.max_ms
        assert step.avg_ms >= 0
    # Steps are not operations.
    assert metrics_collector.list_operations() == ["checkout"]


def test_steps_are_recorded_when_their_entries_are_filtered_out(
    metrics_collector: ResultMetricsCollector,
) -> None:
    set_log_level("CRITICAL")
    try:
        _run(1, 0)
    finally:
        set_log_level("INFO")
    steps = metrics_collector.operation_metrics("checkout").unwrap().steps
    assert [(s.name, s.total_requests, s.failed_requests) for s in steps] == [
        ("load", 2, 0),
        ("validate", 2, 1),
        ("checkout_error", 2, 1),
    ]


def test_steps_follow_the_window(fake_clock: FakeClock) -> None:
    collector = ResultMetricsCollector(clock=fake_clock, sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    try:
        _run(1)
        fake_clock.advance(2 * 3600)
        _run(0)
        recent = collector.operation_metrics("checkout", "1h").unwrap().steps
        assert [(s.name, s.total_requests) for s in recent] == [
            ("load", 1),
            ("validate", 1),
            ("checkout_error", 1),
        ]
        day = collector.operation_metrics("checkout", "1d").unwrap().steps
        assert [s.total_requests for s in day] == [2, 2, 2]
        collector.reset()
        _run(1)
        assert [
            s.total_requests for s in collector.operation_metrics("checkout").unwrap().steps
        ] == [
            1,
            1,
            1,
        ]
    finally:
        ResultMetricsCollector.set_instance(previous)
        collector.close()


def test_flux_steps_and_chains_outside_an_operation(
    metrics_collector: ResultMetricsCollector,
) -> None:
    @log_result_operation("batch")
    def batch() -> FluxResult[int, str]:
        return FluxResult.from_results([Success(1), Failure("bad row")]).log_step("rows")

    batch()
    rows = metrics_collector.operation_metrics("batch").unwrap().steps
    assert [(s.name, s.total_requests, s.failed_requests) for s in rows] == [("rows", 1, 1)]

    # A chain outside any logged operation is its own operation, named after its step.
    asyncio.run(MonoResult.from_value(1).log_step("standalone").to_result())
    alone = metrics_collector.operation_metrics  # no operation sample: only the step
    assert alone("standalone").is_failure()
    cumulative = {(op, step) for op, step, _ in metrics_collector.step_cumulative()}
    assert ("standalone", "standalone") in cumulative


def test_step_names_are_bounded_per_operation() -> None:
    collector = ResultMetricsCollector(sample_resources=False, max_steps_per_operation=3)
    try:
        for index in range(10):
            collector.step("op", f"step-{index}").record(1.0, True)
        collector.record("op", 1.0, True)
        steps = collector.operation_metrics("op").unwrap().steps
        assert [s.name for s in steps] == ["step-0", "step-1", "step-2", "_other"]
        assert steps[-1].total_requests == 7
        with pytest.raises(ValueError, match="step name"):
            collector.step("op", "")
        with pytest.raises(ValueError, match="operation name"):
            collector.step("", "x")
        with pytest.raises(ValueError, match="max_steps_per_operation"):
            ResultMetricsCollector(sample_resources=False, max_steps_per_operation=0)
    finally:
        collector.close()


def test_operations_past_the_bound_keep_their_steps_under_other() -> None:
    collector = ResultMetricsCollector(sample_resources=False, max_operations=2)
    try:
        for index in range(4):
            collector.step(f"op-{index}", "s").record(1.0, True)
        operations = [op for op, _, _ in collector.step_cumulative()]
        assert operations == ["_other", "op-0", "op-1"]
    finally:
        collector.close()


def test_routes_and_prometheus_carry_the_steps(
    metrics_collector: ResultMetricsCollector,
) -> None:
    _run(1, 0)
    app = FastAPI()
    app.include_router(monitoring_router(metrics_collector))
    client = TestClient(app)
    body: dict[str, Any] = client.get("/monitoring/operations/checkout/metrics").json()
    assert [(s["name"], s["total_requests"], s["failed_requests"]) for s in body["steps"]] == [
        ("load", 2, 0),
        ("validate", 2, 1),
        ("checkout_error", 2, 1),
    ]
    assert set(body["steps"][0]) == {
        "name",
        "total_requests",
        "failed_requests",
        "success_rate",
        "avg_ms",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
    }
    text = client.get("/monitoring/metrics").text
    assert 'rfs_steps_total{operation="checkout",outcome="error",step="validate"} 1.0' in text
    assert 'rfs_steps_total{operation="checkout",outcome="success",step="load"} 2.0' in text
    assert 'rfs_step_duration_seconds_count{operation="checkout",step="load"} 2.0' in text
    assert "# TYPE rfs_step_duration_seconds histogram" in text


def test_cumulative_totals_carry_the_native_buckets(
    metrics_collector: ResultMetricsCollector,
) -> None:
    for ms in (1.0, 1.0, 2.0, 1000.0):
        metrics_collector.record("native", ms, True)
    (totals,) = [c for c in metrics_collector.cumulative() if c.operation_name == "native"]
    native = totals.native
    assert native is not None
    assert native.schema == 6
    assert sum(native.counts) + native.zero_count == 4
    # 1 ms and 2 ms are one power of two apart: 64 buckets at schema 6.
    nonzero = [native.offset + i for i, n in enumerate(native.counts) if n]
    assert nonzero[1] - nonzero[0] == 64
    assert [n for n in native.counts if n] == [2, 1, 1]


def test_a_broken_step_sink_never_breaks_the_chain(
    metrics_collector: ResultMetricsCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collector that fails to record a step, or a step bookkeeping that raises, leaves the
    chain's result untouched (and is reported, not raised)."""
    from rfs_monitoring._logging import steps as log_steps

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal")

    monkeypatch.setattr(metrics_collector, "step", broken)
    assert asyncio.run(MonoResult.from_value(1).log_step("s").to_result()) == Success(1)
    # The step's sinks are read when needed: a step made before the patch calls the raising one.
    monkeypatch.setattr(log_steps, "_observe", broken)
    assert asyncio.run(MonoResult.from_error("e").log_error("s").to_result()) == Failure("e")
    assert FluxResult.from_values([1]).log_step("f").count_total() == 1


def test_a_step_observer_reports_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    """The native observer of a step never raises into the chain, whatever it is handed: a
    failure of its own is reported once, on stderr, as every other failure of the log."""
    from rfs_monitoring._logging import steps as log_steps
    from rfs_monitoring._logging import writer

    reports: list[str] = []
    monkeypatch.setattr(writer._writer, "_reported", set())
    monkeypatch.setattr(writer._writer, "_say", reports.append)
    observer = log_steps.step_path("odd", False)
    assert observer(object(), Success(1), 0.0) is None  # no scope to close the step in
    assert observer(None, Failure("e"), 0.0) is None
    assert reports == ["rfs-monitoring: logging a step failed; ignored"]


def test_one_step_in_several_operations_is_recorded_in_each(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """A chain shared by operations records its step into the operation it runs in."""

    def shared(value: int) -> MonoResult[int, Any]:
        return MonoResult.from_value(value).log_step("shared_step")

    @log_result_operation("first_user")
    async def first() -> Result[int, Any]:
        return await shared(1)

    @log_result_operation("second_user")
    async def second() -> Result[int, Any]:
        return await shared(2)

    async def calls() -> None:
        for _ in range(3):
            await first()
        await second()

    asyncio.run(calls())
    counts = {
        name: [
            (s.name, s.total_requests)
            for s in metrics_collector.operation_metrics(name).unwrap().steps
        ]
        for name in ("first_user", "second_user")
    }
    assert counts == {"first_user": [("shared_step", 3)], "second_user": [("shared_step", 1)]}


def test_steps_without_a_collector_are_still_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    """When no process collector can be had (the metrics module cannot load), a step is
    logged without its sample."""
    from rfs_monitoring import _instrument
    from rfs_monitoring.testing import capture_result_logs

    def refuse() -> Any:
        raise ImportError("rfs_monitoring.metrics")

    monkeypatch.setattr(_instrument.collectors, "factory", refuse)
    with capture_result_logs() as entries:
        assert asyncio.run(MonoResult.from_value(2).log_step("alone").to_result()) == Success(2)
    assert [entry["step_name"] for entry in entries] == ["alone"]


def test_cached_step_handles_follow_a_swapped_collector(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """A step's handle is kept per (operation, step) for the collector it came from: a collector
    installed later gets the next passes, the first one keeps what it had."""
    _run(1)
    fresh = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(fresh)
    try:
        _run(2, 0)
        later = fresh.operation_metrics("checkout").unwrap().steps
        assert [(s.name, s.total_requests) for s in later] == [
            ("load", 2),
            ("validate", 2),
            ("checkout_error", 2),
        ]
    finally:
        ResultMetricsCollector.set_instance(previous)
        fresh.close()
    _run(3)
    first = metrics_collector.operation_metrics("checkout").unwrap().steps
    assert [s.total_requests for s in first] == [2, 2, 2]


def test_a_level_changed_at_run_time_reaches_the_cached_step_levels(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Whether a step's entries pass the level is kept per (operation, step) and re-read when a
    level changes: for the operation's own level and the global one, both ways."""
    from rfs_monitoring.result_logging import reset_log_levels
    from rfs_monitoring.testing import capture_result_logs

    def steps_logged(*values: int) -> list[tuple[str, str]]:
        with capture_result_logs() as entries:
            _run(*values)
        return [(e["step_name"], e["level"]) for e in entries if e.get("step_name")]

    assert steps_logged(1) == [("load", "info"), ("validate", "info")]
    set_log_level("WARNING", operation="checkout")
    try:
        assert steps_logged(1) == []
        assert steps_logged(0) == [("validate", "warning"), ("checkout_error", "warning")]
    finally:
        reset_log_levels()
    assert steps_logged(1) == [("load", "info"), ("validate", "info")]
    set_log_level("ERROR")
    try:
        assert steps_logged(0) == []
    finally:
        set_log_level("INFO")
    assert steps_logged(0)[0] == ("load", "info")
    # Every pass was still recorded, whatever the level.
    load = metrics_collector.operation_metrics("checkout").unwrap().steps[0]
    assert load.total_requests == 6


def test_the_per_name_step_tables_stay_bounded() -> None:
    """The steps a ``log_step``/``log_error`` adds are made once per name; names are user
    input, so the tables are dropped past their bound instead of growing, and chains built
    after that still observe their steps."""
    from rfs_monitoring import reactive

    for n in range(reactive._MAX_MARKS + 10):
        MonoResult.from_value(n).log_step(f"name-{n}").log_error(f"name-{n}")
    assert len(reactive._STEP_MARKS) <= reactive._MAX_MARKS
    assert len(reactive._ERROR_MARKS) <= reactive._MAX_MARKS
    chain = MonoResult.from_value(1).log_step("name-1").log_error("name-1").log_step("last")
    assert [kind for kind, _ in chain._steps] == [
        reactive._SCOPE,
        reactive._OBSERVE,
        reactive._OBSERVE,
        reactive._OBSERVE,
    ]
    assert chain._steps[0][1] == "last"
    assert asyncio.run(chain.to_result()) == Success(1)


def test_a_step_made_while_a_sink_was_replaced_calls_the_sink_in_force_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A step is made once per name and kept; its Python sinks are read from the steps module
    when a pass needs them, so a sink replaced for a while (a test's patch) is not kept past
    its time by the steps made meanwhile."""
    from rfs_monitoring._logging import steps as log_steps
    from rfs_monitoring.testing import capture_result_logs

    calls: list[str] = []
    monkeypatch.setattr(log_steps, "_observe", lambda *args: calls.append("patched"))
    asyncio.run(MonoResult.from_error("e").log_error("made_while_patched").to_result())
    monkeypatch.undo()
    with capture_result_logs() as entries:
        asyncio.run(MonoResult.from_error("e").log_error("made_while_patched").to_result())
    assert calls == ["patched"]
    assert [entry["step_name"] for entry in entries] == ["made_while_patched"]
