"""Tests of `ResultMetricsCollector.all_operation_stats`, the bulk query of every operation."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfs_monitoring import _core
from rfs_monitoring.errors import ErrorCode
from rfs_monitoring.metrics import OperationMetrics, OperationStats, ResultMetricsCollector
from rfs_monitoring.testing import FakeClock

T0 = 1_700_000_000.0
WINDOWS = ["30s", "15m", "1h", "6h", "1d", "1w"]


def spread_traffic(collector: ResultMetricsCollector, clock: FakeClock) -> None:
    """Three operations with samples from a week ago up to now, and one quiet for days."""
    for offset in range(7 * 86_400, -1, -1_800):
        clock.set(T0 - offset)
        i = offset // 1_800
        collector.record("search", 3.0 + i % 40, True)
        collector.record("checkout", 20.0 + i % 300, i % 9 != 0, "TIMEOUT", "gateway timed out")
        if i % 4 == 1:  # the last one half an hour ago
            collector.record("login", 1.5 * (i % 13), i % 5 != 0, "AUTH", None)
        if offset > 3 * 86_400:
            collector.record("legacy.export", 900.0, True)
    clock.set(T0)


def stats_fields(s: OperationStats) -> dict[str, object]:
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}


def matching_metrics_fields(m: OperationMetrics) -> dict[str, object]:
    names = {f.name for f in dataclasses.fields(OperationStats)}
    return {name: value for name, value in dataclasses.asdict(m).items() if name in names}


def test_every_field_equals_operation_metrics_for_each_window(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Each row equals the same fields of that operation's `operation_metrics`, for every window."""
    spread_traffic(collector, clock)
    for window in WINDOWS:
        stats = collector.all_operation_stats(window).unwrap()
        assert [s.operation_name for s in stats] == collector.list_operations(window)
        for s in stats:
            metrics = collector.operation_metrics(s.operation_name, window).unwrap()
            assert stats_fields(s) == matching_metrics_fields(metrics), (window, s)


def test_windows_keep_only_operations_with_samples_in_them(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """An operation quiet for the whole window is left out; a wider window brings it back."""
    spread_traffic(collector, clock)
    names = {
        w: [s.operation_name for s in collector.all_operation_stats(w).unwrap()] for w in WINDOWS
    }
    assert names["15m"] == ["checkout", "search"]
    assert names["1d"] == ["checkout", "login", "search"]
    assert names["1w"] == ["checkout", "legacy.export", "login", "search"]
    totals = {
        w: {s.operation_name: s.total_requests for s in collector.all_operation_stats(w).unwrap()}
        for w in ("1h", "1d", "1w")
    }
    assert totals["1h"]["search"] < totals["1d"]["search"] < totals["1w"]["search"]


def test_counts_and_rates_are_exact(collector: ResultMetricsCollector, clock: FakeClock) -> None:
    """Totals, failures and the success rate are exact counts of what was recorded."""
    for i in range(100):
        collector.record("pay", float(i), i % 4 != 0, "DECLINED")
    collector.record("ping", 0.5, True)
    pay, ping = collector.all_operation_stats("1m").unwrap()
    assert (pay.operation_name, pay.total_requests, pay.failed_requests) == ("pay", 100, 25)
    assert (pay.successful_requests, pay.success_rate) == (75, 0.75)
    assert (pay.min_response_time_ms, pay.max_response_time_ms) == (0.0, 99.0)
    assert pay.avg_response_time_ms == pytest.approx(49.5)
    assert pay.p50_response_time_ms == pytest.approx(49.0, rel=0.01)
    assert pay.p99_response_time_ms == pytest.approx(98.0, rel=0.01)
    assert (ping.total_requests, ping.success_rate) == (1, 1.0)


def test_window_bounds_and_label_describe_the_query(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """``time_window`` echoes the range, ``window_end`` is the clock, both aware UTC datetimes."""
    collector.record("a", 1.0, True)
    collector.record("b", 2.0, False)
    a, b = collector.all_operation_stats("1h").unwrap()
    assert a.time_window == b.time_window == "1h"
    assert a.window_end == b.window_end == datetime.fromtimestamp(T0, tz=UTC)
    assert a.window_start == b.window_start
    assert a.window_start.tzinfo is UTC
    assert a.window_start <= datetime.fromtimestamp(T0 - 3_600, tz=UTC)


def test_empty_collector_gives_an_empty_list(collector: ResultMetricsCollector) -> None:
    """No data at all is a Success with no rows, not a failure."""
    assert collector.all_operation_stats().unwrap() == []
    assert collector.all_operation_stats("1w").unwrap() == []


def test_registered_names_without_samples_and_reset_data_are_left_out(
    collector: ResultMetricsCollector,
) -> None:
    """A handle that never recorded and data forgotten by `reset` give no rows."""
    collector.operation("idle")
    collector.record("busy", 1.0, True)
    assert [s.operation_name for s in collector.all_operation_stats().unwrap()] == ["busy"]
    collector.reset()
    assert collector.all_operation_stats().unwrap() == []


def test_samples_past_the_retention_are_gone(clock: FakeClock) -> None:
    """Data older than the retention no longer appears, even in the widest window."""
    collector = ResultMetricsCollector(clock=clock, retention="1h", sample_resources=False)
    collector.record("old", 1.0, True)
    clock.advance(7_200)
    assert collector.all_operation_stats("1h").unwrap() == []
    collector.close()


@pytest.mark.parametrize("bad", ["", "1x", "0h", "-1h", "2w", "1 h h", None, 60])
def test_bad_or_too_long_ranges_are_validation_failures(
    collector: ResultMetricsCollector, bad: object
) -> None:
    """A malformed range, or one beyond the retention, is a VALIDATION_ERROR failure."""
    collector.record("a", 1.0, True)
    error = collector.all_operation_stats(bad).unwrap_error()  # type: ignore[arg-type]
    assert error.code is ErrorCode.VALIDATION_ERROR


def test_folded_names_are_listed_as_other(clock: FakeClock) -> None:
    """Names beyond ``max_operations`` are counted together under ``_other``."""
    collector = ResultMetricsCollector(clock=clock, max_operations=2, sample_resources=False)
    for name in ["a", "b", "c", "d", "d"]:
        collector.record(name, 1.0, True)
    rows = {s.operation_name: s.total_requests for s in collector.all_operation_stats().unwrap()}
    assert rows == {"a": 1, "b": 1, _core.OTHER: 3}
    collector.close()


def test_rows_are_frozen(collector: ResultMetricsCollector) -> None:
    """Rows are immutable values."""
    collector.record("a", 1.0, True)
    (row,) = collector.all_operation_stats().unwrap()
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.total_requests = 2  # type: ignore[misc]


def test_querying_while_other_threads_record_sees_consistent_rows(
    collector: ResultMetricsCollector,
) -> None:
    """Rows stay self-consistent while recorders run concurrently (the query releases the GIL)."""
    stop = threading.Event()

    def record(name: str) -> None:
        handle = collector.operation(name)
        i = 0
        while not stop.is_set() and i < 50_000:
            handle.record(float(i % 50), i % 10 != 0, "E")
            i += 1

    threads = [threading.Thread(target=record, args=(f"op{k}",)) for k in range(3)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(50):
            for s in collector.all_operation_stats().unwrap():
                assert s.successful_requests + s.failed_requests == s.total_requests
                assert s.min_response_time_ms <= s.p50_response_time_ms <= s.max_response_time_ms
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    final = {s.operation_name: s.total_requests for s in collector.all_operation_stats().unwrap()}
    for name, total in final.items():
        assert total == collector.operation_metrics(name).unwrap().total_requests


samples = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=3 * 86_400),  # seconds before now
        st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples=samples, window=st.sampled_from(WINDOWS))
def test_any_traffic_matches_operation_metrics(
    samples: list[tuple[str, int, float, bool]], window: str
) -> None:
    """For any samples and window, the bulk rows equal the per-operation answers."""
    clock = FakeClock(T0)
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    for name, ago, ms, ok in samples:
        clock.set(T0 - ago)
        collector.record(name, ms, ok, None if ok else "E")
    clock.set(T0)
    stats = collector.all_operation_stats(window).unwrap()
    assert [s.operation_name for s in stats] == collector.list_operations(window)
    for s in stats:
        metrics = collector.operation_metrics(s.operation_name, window).unwrap()
        assert stats_fields(s) == matching_metrics_fields(metrics)
