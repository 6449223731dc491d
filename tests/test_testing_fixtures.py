"""Tests of the collector and log fixtures and the helpers built on them:
`assert_operation_recorded`, `capture_result_logs`, `metrics_collector`, `fake_clock`."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import configure_logging, log_result_operation, set_log_level
from rfs_monitoring.testing import (
    CapturedLogs,
    FakeClock,
    assert_operation_recorded,
    assert_result_success,
    capture_result_logs,
)
from rfs_monitoring.testing.generators import make_operation_samples, record_samples


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    """Log output goes to a buffer and levels are reset after each test."""
    configure_logging(stream=io.StringIO())
    yield
    set_log_level("INFO")
    configure_logging(stream=io.StringIO())


@log_result_operation("lookup_order")
def lookup_order(order_id: str, token: str = "") -> Result[dict[str, str], APIError]:
    """A logged operation that fails for unknown orders."""
    if order_id == "missing":
        return Failure(APIError.not_found("order", order_id))
    return Success({"id": order_id})


def test_metrics_collector_is_fresh_and_installed(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """The fixture's collector is the process-wide instance and starts empty."""
    assert ResultMetricsCollector.instance() is metrics_collector
    assert metrics_collector.list_operations() == []


def test_assert_operation_recorded_passes_on_logged_calls(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Decorated calls are counted; the helper checks counts and codes and returns metrics."""
    lookup_order("1")
    lookup_order("2")
    lookup_order("missing")
    metrics = assert_operation_recorded(
        "lookup_order", successes=2, failures=1, error_code=ErrorCode.NOT_FOUND
    )
    assert metrics.total_requests == 3
    assert_operation_recorded("lookup_order", error_code="NOT_FOUND", collector=metrics_collector)


def test_assert_operation_recorded_fails_with_the_actual_state(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Wrong counts, an absent code or an unknown operation fail, showing what was recorded."""
    lookup_order("1")
    lookup_order("missing")
    with pytest.raises(
        AssertionError, match=r"Expected 2 successes .* got 1 successes, 1 failures"
    ):
        assert_operation_recorded("lookup_order", successes=2)
    with pytest.raises(AssertionError, match="Expected 0 failures"):
        assert_operation_recorded("lookup_order", failures=0)
    with pytest.raises(AssertionError, match=r"code CONFLICT; error breakdown: \{'NOT_FOUND': 1\}"):
        assert_operation_recorded("lookup_order", error_code=ErrorCode.CONFLICT)
    with pytest.raises(AssertionError, match=r"recorded operations: \['lookup_order'\]"):
        assert_operation_recorded("checkout")


def test_assert_operation_recorded_without_errors_says_so(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """An expected code on an operation that never failed reports 'no errors'."""
    lookup_order("1")
    with pytest.raises(AssertionError, match="no errors"):
        assert_operation_recorded("lookup_order", error_code="NOT_FOUND")


def test_assert_operation_recorded_rejects_a_bad_window(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """A malformed time range is a usage error, not a failed assertion."""
    lookup_order("1")
    with pytest.raises(ValueError, match="soon"):
        assert_operation_recorded("lookup_order", time_range="soon")


def test_fake_clock_drives_the_collector_windows(
    fake_clock: FakeClock, metrics_collector: ResultMetricsCollector
) -> None:
    """With both fixtures, samples leave the 1h window when the fake clock passes an hour."""
    assert metrics_collector.clock is fake_clock
    record_samples(metrics_collector, "sync", make_operation_samples(30, failure_rate=0, seed=1))
    assert_operation_recorded("sync", successes=30)
    fake_clock.advance(2 * 3600)
    with pytest.raises(AssertionError, match="none"):
        assert_operation_recorded("sync")
    assert_operation_recorded("sync", successes=30, time_range="1d")


def test_record_samples_spreads_samples_over_time(
    fake_clock: FakeClock, metrics_collector: ResultMetricsCollector
) -> None:
    """With a spacing, generated samples land across windows."""
    samples = make_operation_samples(10, failure_rate=0.5, seed=4)
    count = record_samples(
        metrics_collector, "spread", samples, clock=fake_clock, spacing_seconds=600
    )
    assert count == 10
    failures = sum(not s.success for s in samples)
    assert_operation_recorded("spread", failures=failures, successes=10 - failures, time_range="2h")
    recent = assert_operation_recorded("spread", time_range="1h")
    assert recent.total_requests < 10


@pytest.mark.rfs_metrics(retention="1d")
def test_rfs_metrics_marker_configures_the_collector(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """The marker's keywords reach the collector."""
    assert metrics_collector.retention == "1d"


def test_capture_result_logs_collects_masked_entries() -> None:
    """Entries emitted inside the block are captured as masked dicts, and only those."""
    lookup_order("before")
    with capture_result_logs() as logs:
        lookup_order("1", token="Bearer abcdefghijklmnop")
        lookup_order("missing")
    lookup_order("after")
    assert isinstance(logs, CapturedLogs)
    assert [e["result_type"] for e in logs] == ["success", "error"]
    assert logs[1]["error_code"] == "NOT_FOUND"
    assert "abcdefghijklmnop" not in repr(list(logs))
    assert logs.where(result_type="error") == [logs[1]]
    assert logs.operations("lookup_order") == list(logs)
    assert logs.steps() == []


def test_capture_result_logs_respects_the_level_filter() -> None:
    """Entries below the configured level are not captured."""
    set_log_level("WARNING")
    with capture_result_logs() as logs:
        lookup_order("1")
        lookup_order("missing")
    assert [e["result_type"] for e in logs] == ["error"]


def test_capture_result_logs_stops_on_exit_even_after_an_error() -> None:
    """The listener is removed when the block raises."""
    with pytest.raises(RuntimeError), capture_result_logs() as logs:  # noqa: PT012
        lookup_order("1")
        raise RuntimeError("test body failed")
    lookup_order("2")
    assert len(logs) == 1


def test_captured_result_logs_fixture(captured_result_logs: CapturedLogs) -> None:
    """The fixture captures for the whole test."""
    assert_result_success(lookup_order("7"))
    assert captured_result_logs.operations("lookup_order")[0]["result_type"] == "success"
    assert captured_result_logs.where(operation_name="other") == []
