"""Contract tests of `rfs_monitoring.metrics.ResultMetricsCollector` and its data classes."""

from __future__ import annotations

import gc
import logging
import math
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from rfs_monitoring import _core
from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.metrics import (
    CumulativeOperation,
    ErrorSummary,
    OperationMetrics,
    ResultMetricsCollector,
    TimeSeriesPoint,
    parse_time_range,
)
from rfs_monitoring.reactive import MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.testing import FakeClock, assert_result_success, mock_result_service

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [-0.001, float("nan"), float("inf"), float("-inf")])
def test_record_rejects_negative_nan_and_infinite_durations(
    collector: ResultMetricsCollector, duration: float
) -> None:
    """A negative, NaN or infinite duration raises ValueError and records nothing."""
    with pytest.raises(ValueError, match="duration_ms"):
        collector.record("op", duration, True)
    with pytest.raises(ValueError, match="duration_ms"):
        collector.operation("op").record(duration, True)
    assert collector.operation_metrics("op").unwrap_error().code == ErrorCode.NOT_FOUND


def test_record_rejects_an_empty_operation_name(collector: ResultMetricsCollector) -> None:
    """An empty operation name raises ValueError on record and operation."""
    with pytest.raises(ValueError, match="name"):
        collector.record("", 1.0, True)
    with pytest.raises(ValueError, match="name"):
        collector.operation("")


def test_operation_rejects_a_non_string_name(collector: ResultMetricsCollector) -> None:
    """A name that is not a string is a TypeError."""
    with pytest.raises(TypeError, match="str"):
        collector.operation(42)  # type: ignore[arg-type]


def test_unknown_operation_is_not_found(collector: ResultMetricsCollector) -> None:
    """Metrics of a never-recorded operation are a NOT_FOUND failure naming it."""
    error = collector.operation_metrics("missing").unwrap_error()
    assert isinstance(error, APIError)
    assert error.code == ErrorCode.NOT_FOUND
    assert "missing" in error.message


@pytest.mark.parametrize(
    "time_range", ["0h", "1y", "", "h", "-1h", "1.5h", None, 60, "2w", " 1h", "1h ", "1h\n"]
)
def test_bad_time_ranges_are_validation_errors(
    collector: ResultMetricsCollector, time_range: object
) -> None:
    """Anything but <n>s|m|h|d|w with n >= 1 within the retention is VALIDATION_ERROR."""
    collector.record("op", 1.0, True)
    result = collector.operation_metrics("op", time_range)  # type: ignore[arg-type]
    assert result.unwrap_error().code == ErrorCode.VALIDATION_ERROR
    assert collector.time_series("op", time_range).is_failure()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_range"):
        collector.list_operations(time_range)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_range"):
        collector.top_errors(10, time_range)  # type: ignore[arg-type]


def test_empty_or_non_string_query_name_is_a_validation_error(
    collector: ResultMetricsCollector,
) -> None:
    """Querying with an empty name is VALIDATION_ERROR, not NOT_FOUND."""
    assert collector.operation_metrics("").unwrap_error().code == ErrorCode.VALIDATION_ERROR
    assert collector.time_series("").unwrap_error().code == ErrorCode.VALIDATION_ERROR


def test_parse_time_range_accepts_every_unit() -> None:
    """Each unit converts to seconds."""
    assert [parse_time_range(t).unwrap() for t in ("45s", "15m", "2h", "1d", "1w")] == [
        45,
        900,
        7_200,
        86_400,
        604_800,
    ]


def test_bad_retention_is_a_value_error() -> None:
    """A retention outside the grammar or above 90 days raises ValueError."""
    with pytest.raises(ValueError, match="retention"):
        ResultMetricsCollector(retention="forever", sample_resources=False)
    with pytest.raises(ValueError, match="retention"):
        ResultMetricsCollector(retention="100d", sample_resources=False)


def test_limits_must_be_positive() -> None:
    """max_operations and max_error_codes of 0 raise ValueError."""
    with pytest.raises(ValueError, match="max_operations"):
        ResultMetricsCollector(max_operations=0, sample_resources=False)
    with pytest.raises(ValueError, match="max_error_codes"):
        ResultMetricsCollector(max_error_codes=0, sample_resources=False)


# -- the metrics --------------------------------------------------------------------------------


def test_metrics_have_every_schema_field(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Counts, rates, latencies, breakdown, top errors and window bounds are all filled."""
    handle = collector.operation("user_retrieval")
    for ms in (10.0, 20.0, 30.0, 40.0):
        handle.record(ms, True)
    handle.record(100.0, False, "NOT_FOUND", "user 7 not found")
    handle.record(200.0, False, "NOT_FOUND", "user 7 not found")
    handle.record(300.0, False, "DATABASE_ERROR", "password=hunter2; rejected")
    clock.advance(1)
    m = collector.operation_metrics("user_retrieval", "1h").unwrap()
    assert isinstance(m, OperationMetrics)
    assert (m.operation_name, m.time_window) == ("user_retrieval", "1h")
    assert (m.total_requests, m.successful_requests, m.failed_requests) == (7, 4, 3)
    assert m.success_rate == pytest.approx(4 / 7)
    assert m.avg_response_time_ms == pytest.approx(700 / 7)
    assert m.max_response_time_ms == 300.0
    assert m.min_response_time_ms == 10.0
    assert m.p50_response_time_ms == pytest.approx(40.0, rel=0.01)
    assert m.error_breakdown == {"NOT_FOUND": 2, "DATABASE_ERROR": 1}
    assert m.top_errors == [("user 7 not found", 2), ("password=***; rejected", 1)]
    assert m.hourly_distribution == {22: 7}
    assert m.window_end == datetime.fromtimestamp(T0 + 1, tz=UTC)
    assert m.window_start <= datetime.fromtimestamp(T0 + 1 - 3600, tz=UTC)
    assert m.throughput_rps == pytest.approx(7.0)
    assert (m.avg_memory_usage_mb, m.avg_cpu_usage_percent) == (0.0, 0.0)


class MetricsService:
    """A service that answers with `OperationMetrics`, as the design's dashboard endpoint uses."""

    async def get_operation_metrics(
        self, operation_name: str, time_range: str = "1h"
    ) -> Result[OperationMetrics, APIError]:
        raise NotImplementedError  # always mocked in these tests


def design_metrics(time_window: str = "1h", **given: datetime) -> OperationMetrics:
    """An `OperationMetrics` built from the design document's fields (plus ``given``)."""
    return OperationMetrics(
        operation_name="user_retrieval",
        time_window=time_window,
        total_requests=100,
        successful_requests=95,
        failed_requests=5,
        success_rate=0.95,
        avg_response_time_ms=42.0,
        p50_response_time_ms=30.0,
        p90_response_time_ms=80.0,
        p99_response_time_ms=150.0,
        max_response_time_ms=210.0,
        error_breakdown={"NOT_FOUND": 5},
        top_errors=[("user not found", 5)],
        avg_memory_usage_mb=128.0,
        avg_cpu_usage_percent=12.5,
        hourly_distribution={9: 60, 10: 40},
        **given,
    )


@pytest.mark.asyncio
async def test_metrics_built_from_the_design_fields_alone_can_be_mocked() -> None:
    """A mocked service returns an `OperationMetrics` built from the design document's fields
    only: the window bounds and throughput have defaults (the window ends now, spans the range)."""
    service = MetricsService()
    before = datetime.now(UTC)
    with mock_result_service(service, "get_operation_metrics") as mock_svc:
        mock_svc.return_success(design_metrics())
        result = await service.get_operation_metrics("user_retrieval", "1h")
        mock_svc.assert_called_once_with("user_retrieval", "1h")
    metrics = assert_result_success(result, OperationMetrics)
    assert metrics.success_rate == 0.95
    assert before <= metrics.window_end <= datetime.now(UTC)
    assert metrics.window_end - metrics.window_start == timedelta(hours=1)
    assert (metrics.throughput_rps, metrics.min_response_time_ms) == (0.0, 0.0)


def test_given_window_bounds_are_kept_and_a_bad_range_spans_nothing() -> None:
    """Window bounds passed in are kept as given; an unparsable ``time_window`` gives an empty
    window ending now."""
    end = datetime(2025, 1, 1, 12, tzinfo=UTC)
    given = design_metrics("1d", window_end=end)
    assert (given.window_start, given.window_end) == (end - timedelta(days=1), end)
    both = design_metrics(window_start=end, window_end=end)
    assert (both.window_start, both.window_end) == (end, end)
    odd = design_metrics("today")
    assert odd.window_start == odd.window_end


def test_a_known_operation_with_an_empty_window_reports_zeros(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Data in retention but none in the window: zero counts and a success rate of 1."""
    collector.record("op", 5.0, True)
    clock.advance(7_200)
    m = collector.operation_metrics("op", "1h").unwrap()
    assert (m.total_requests, m.success_rate, m.p99_response_time_ms) == (0, 1.0, 0.0)
    assert m.hourly_distribution == {}
    assert collector.operation_metrics("op", "1d").unwrap().total_requests == 1


def test_windows_follow_the_clock(collector: ResultMetricsCollector, clock: FakeClock) -> None:
    """Each window counts the samples of the buckets it covers (1 h buckets beyond a day)."""
    for offset in (-7_200, 1_800, 7_200, 2 * 86_400):
        clock.set(T0 + offset)
        collector.record("op", 1.0, True)
    clock.set(T0 + 2 * 86_400 + 5)
    totals = {
        window: collector.operation_metrics("op", window).unwrap().total_requests
        for window in ("1m", "1h", "2d", "1w")
    }
    assert totals == {"1m": 1, "1h": 1, "2d": 3, "1w": 4}


def test_retention_forgets_old_samples(clock: FakeClock) -> None:
    """Past the retention an operation is NOT_FOUND and longer ranges are refused."""
    collector = ResultMetricsCollector(clock=clock, retention="1h", sample_resources=False)
    collector.record("op", 1.0, True)
    assert collector.operation_metrics("op", "1h").is_success()
    assert collector.operation_metrics("op", "2h").unwrap_error().code == (
        ErrorCode.VALIDATION_ERROR
    )
    clock.advance(2 * 3_600)
    assert collector.operation_metrics("op", "1h").unwrap_error().code == ErrorCode.NOT_FOUND
    assert collector.retention == "1h"


def test_hourly_distribution_is_keyed_by_utc_hour(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Requests are counted under the UTC hour of day they were recorded in."""
    midnight = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    for hour, count in ((0, 2), (5, 1), (23, 3)):
        clock.set(midnight + hour * 3_600 + 60)
        for _ in range(count):
            collector.record("op", 1.0, True)
    clock.set(midnight + 23 * 3_600 + 120)
    distribution = collector.operation_metrics("op", "1d").unwrap().hourly_distribution
    assert distribution == {0: 2, 5: 1, 23: 3}


@pytest.mark.parametrize("shape", ["lognormal", "bimodal"])
def test_quantiles_are_within_one_percent_of_nearest_rank(
    collector: ResultMetricsCollector, shape: str
) -> None:
    """p50/p90/p99/max stay within 1% of the exact nearest-rank values."""
    rng = random.Random(7)
    if shape == "lognormal":
        values = [rng.lognormvariate(3.0, 1.0) for _ in range(20_000)]
    else:
        values = [
            rng.gauss(5.0, 0.5) if rng.random() < 0.8 else rng.gauss(250.0, 20.0)
            for _ in range(20_000)
        ]
    handle = collector.operation("shape")
    for value in values:
        handle.record(abs(value), True)
    m = collector.operation_metrics("shape").unwrap()
    absolute = [abs(v) for v in values]
    for q, got in (
        (0.5, m.p50_response_time_ms),
        (0.9, m.p90_response_time_ms),
        (0.99, m.p99_response_time_ms),
        (1.0, m.max_response_time_ms),
    ):
        exact = nearest_rank(absolute, q)
        assert abs(got - exact) <= 0.01 * exact, (q, got, exact)
    assert m.max_response_time_ms == max(absolute)


def test_a_duration_above_the_histogram_top_counts_and_sets_max(
    collector: ResultMetricsCollector,
) -> None:
    """A huge duration still counts and the maximum is exact."""
    huge = _core.TRACKABLE_MS * 10 + 0.123
    collector.record("slow", 1.0, True)
    collector.record("slow", huge, True)
    m = collector.operation_metrics("slow").unwrap()
    assert m.total_requests == 2
    assert m.max_response_time_ms == huge
    assert m.p99_response_time_ms == huge


def test_concurrent_recording_and_queries_lose_nothing(
    collector: ResultMetricsCollector,
) -> None:
    """Four recording threads and a querying one: counts and error breakdown are exact."""
    per_thread, threads = 20_000, 4
    stop = threading.Event()
    seen: list[int] = []

    def record() -> None:
        handle = collector.operation("hot")
        for i in range(per_thread):
            if i % 10 == 0:
                handle.record(2.0, False, "CONFLICT", "version clash")
            else:
                handle.record(1.0, True)

    def query() -> None:
        while not stop.is_set():
            result = collector.operation_metrics("hot")
            if result.is_success():
                seen.append(result.unwrap().total_requests)

    querier = threading.Thread(target=query)
    querier.start()
    workers = [threading.Thread(target=record) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    querier.join()
    m = collector.operation_metrics("hot").unwrap()
    assert m.total_requests == per_thread * threads
    assert m.error_breakdown == {"CONFLICT": per_thread * threads // 10}
    assert seen == sorted(seen)
    assert collector.cumulative()[0].total == per_thread * threads


def test_cardinality_guard_folds_new_names_into_other_with_one_warning(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond max_operations, new names record into _other and warn exactly once."""
    collector = ResultMetricsCollector(clock=clock, max_operations=2, sample_resources=False)
    with caplog.at_level(logging.WARNING, logger="rfs_monitoring.metrics"):
        for name in ("a", "b", "c", "d", "c"):
            collector.record(name, 1.0, True)
    assert collector.list_operations() == ["_other", "a", "b"]
    assert collector.operation_metrics("_other").unwrap().total_requests == 3
    assert collector.operation_metrics("c").unwrap_error().code == ErrorCode.NOT_FOUND
    assert collector.operation("c").name == "_other"
    warnings = [r for r in caplog.records if r.name == "rfs_monitoring.metrics"]
    assert len(warnings) == 1
    assert "'c'" in warnings[0].getMessage()


def test_error_codes_beyond_the_cap_fold_into_other(clock: FakeClock) -> None:
    """An operation keeps at most max_error_codes codes; later ones count as _other."""
    collector = ResultMetricsCollector(clock=clock, max_error_codes=2, sample_resources=False)
    for code in ("A", "B", "C", "D", "A"):
        collector.record("op", 1.0, False, code)
    breakdown = collector.operation_metrics("op").unwrap().error_breakdown
    assert breakdown == {"A": 2, "B": 1, "_other": 2}


def test_a_failure_without_code_or_message_is_unknown(collector: ResultMetricsCollector) -> None:
    """A failure recorded without a code counts as UNKNOWN, its code standing as message."""
    collector.record("op", 1.0, False)
    m = collector.operation_metrics("op").unwrap()
    assert m.error_breakdown == {_core.UNKNOWN_CODE: 1}
    assert m.top_errors == [(_core.UNKNOWN_CODE, 1)]


def test_success_ignores_error_details(collector: ResultMetricsCollector) -> None:
    """A success with an error code recorded by mistake is still just a success."""
    collector.record("op", 1.0, True, "IGNORED", "ignored")
    m = collector.operation_metrics("op").unwrap()
    assert (m.failed_requests, m.error_breakdown, m.top_errors) == (0, {}, [])


# -- get_operation_metrics, list_operations, top_errors, time_series, cumulative ------------


@pytest.mark.asyncio
async def test_get_operation_metrics_is_a_lazy_mono(
    collector: ResultMetricsCollector,
) -> None:
    """The MonoResult queries when awaited, again on each await, and chains with bind_result."""
    mono = collector.get_operation_metrics("op", time_range="1h")
    assert isinstance(mono, MonoResult)
    assert (await mono).unwrap_error().code == ErrorCode.NOT_FOUND
    collector.record("op", 3.0, True)
    report = await mono.bind_result(lambda m: Success(f"{m.total_requests} calls")).to_result()
    assert report == Success("1 calls")


def test_list_operations_only_names_those_with_data_in_the_window(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """list_operations is sorted and limited to the window."""
    collector.record("old", 1.0, True)
    collector.operation("registered_only")
    clock.advance(7_200)
    collector.record("zeta", 1.0, True)
    collector.record("alpha", 1.0, True)
    assert collector.list_operations("1h") == ["alpha", "zeta"]
    assert collector.list_operations("1d") == ["alpha", "old", "zeta"]


def test_top_errors_rank_masked_messages_with_first_and_last_seen(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Top errors span operations, most frequent first, masked, with first/last seen."""
    collector.record("login", 5.0, False, "UNAUTHORIZED", "token=abc123 expired")
    clock.advance(10)
    collector.record("login", 5.0, False, "UNAUTHORIZED", "token=abc123 expired")
    collector.record("pay", 5.0, False, "TIMEOUT_ERROR", "gateway timeout")
    top = collector.top_errors(limit=10, time_range="1h")
    assert all(isinstance(e, ErrorSummary) for e in top)
    assert [(e.operation_name, e.error_code, e.count) for e in top] == [
        ("login", "UNAUTHORIZED", 2),
        ("pay", "TIMEOUT_ERROR", 1),
    ]
    assert "abc123" not in top[0].error_message
    assert top[0].first_seen == datetime.fromtimestamp(T0, tz=UTC)
    assert top[0].last_seen == datetime.fromtimestamp(T0 + 10, tz=UTC)
    assert len(collector.top_errors(limit=1)) == 1


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_top_errors_rejects_a_bad_limit(collector: ResultMetricsCollector, limit: object) -> None:
    """limit must be an integer of at least 1."""
    with pytest.raises(ValueError, match="limit"):
        collector.top_errors(limit)  # type: ignore[arg-type]


def test_time_series_has_points_for_each_slice(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Points cover the window oldest first, with per-slice counts and latencies."""
    start = clock.set(1_700_000_400.0)  # a 10-minute boundary
    collector.record("op", 10.0, True)
    clock.set(start + 300)
    collector.record("op", 20.0, False, "E")
    collector.record("op", 40.0, True)
    clock.set(start + 599)
    points = collector.time_series("op", "10m", points=10).unwrap()
    assert all(isinstance(p, TimeSeriesPoint) for p in points)
    assert all(p.seconds == 60 for p in points)
    assert points[-1].start == datetime.fromtimestamp(start + 540, tz=UTC)
    busy = [p for p in points if p.total]
    assert [(p.total, p.failures, p.max_ms) for p in busy] == [(1, 0, 10.0), (2, 1, 40.0)]
    assert busy[1].success_rate == 0.5
    assert busy[1].avg_ms == 30.0
    idle = [p for p in points if not p.total]
    assert idle
    assert all(p.success_rate == 1.0 and p.avg_ms == 0.0 for p in idle)


def test_time_series_failures(collector: ResultMetricsCollector) -> None:
    """Unknown names are NOT_FOUND and points outside 1..1000 are VALIDATION_ERROR."""
    assert collector.time_series("nope").unwrap_error().code == ErrorCode.NOT_FOUND
    for points in (0, 1_001, True):
        error = collector.time_series("nope", "1h", points).unwrap_error()
        assert error.code == ErrorCode.VALIDATION_ERROR


def test_cumulative_totals_use_prometheus_buckets(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Lifetime totals survive the window and expose cumulative classic buckets."""
    collector.record("op", 3.0, True)
    collector.record("op", 60.0, False, "NOT_FOUND")
    collector.record("op", 20_000.0, True)
    clock.advance(30 * 86_400)
    (op,) = collector.cumulative()
    assert isinstance(op, CumulativeOperation)
    assert (op.operation_name, op.total, op.successes, op.failures) == ("op", 3, 2, 1)
    assert op.errors_by_code == {"NOT_FOUND": 1}
    assert op.sum_seconds == pytest.approx(20.063)
    bounds = dict(op.buckets)
    assert (bounds[0.005], bounds[0.075], bounds[10.0], bounds[math.inf]) == (1, 2, 2, 3)
    assert [count for _, count in op.buckets] == sorted(count for _, count in op.buckets)


def test_reset_forgets_samples_but_keeps_handles(collector: ResultMetricsCollector) -> None:
    """After reset nothing is found, and an old handle records again."""
    handle = collector.operation("op")
    handle.record(1.0, True)
    collector.reset()
    assert collector.operation_metrics("op").unwrap_error().code == ErrorCode.NOT_FOUND
    assert collector.cumulative() == []
    handle.record(2.0, True)
    assert collector.operation_metrics("op").unwrap().total_requests == 1


# -- instances and resources --------------------------------------------------------------------


def test_set_instance_returns_the_previous_collector() -> None:
    """set_instance swaps the process-wide collector and hands back the old one."""
    mine = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(mine)
    try:
        assert ResultMetricsCollector.instance() is mine
    finally:
        assert ResultMetricsCollector.set_instance(previous) is mine
    assert ResultMetricsCollector.instance() is previous
    with pytest.raises(TypeError):
        ResultMetricsCollector.set_instance(object())  # type: ignore[arg-type]


def test_instance_is_created_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    """Racing first calls of instance() all get the same collector."""
    monkeypatch.setattr(ResultMetricsCollector, "_instance", None)
    got: list[ResultMetricsCollector] = []
    threads = [
        threading.Thread(target=lambda: got.append(ResultMetricsCollector.instance()))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in got}) == 1
    got[0].close()


def test_the_sampler_starts_lazily_and_stops_on_close(clock: FakeClock) -> None:
    """No thread until first use; then samples feed the averages; close stops the thread."""
    collector = ResultMetricsCollector(clock=clock)
    sampler = collector._sampler
    assert sampler is not None
    assert not sampler.running
    collector.record("op", 1.0, True)
    assert sampler.running
    try:
        sample = collector.latest_resource_sample()
        assert sample is not None
        rss_mb, cpu_percent = sample
        assert rss_mb > 1.0
        assert cpu_percent >= 0.0
        m = collector.operation_metrics("op").unwrap()
        assert m.avg_memory_usage_mb > 1.0
    finally:
        collector.close()
    assert not sampler.running
    assert sampler._thread is None


def test_a_dropped_collector_stops_its_sampler(clock: FakeClock) -> None:
    """A collector garbage-collected without close() ends its sampling thread."""
    collector = ResultMetricsCollector(clock=clock)
    collector.record("op", 1.0, True)
    sampler = collector._sampler
    assert sampler is not None
    thread = sampler._thread
    assert thread is not None
    assert thread.is_alive()
    del collector
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


def test_resource_averages_fall_back_to_the_latest_sample(clock: FakeClock) -> None:
    """With no sample in the window yet, the running sampler's latest one is reported."""
    collector = ResultMetricsCollector(clock=clock)
    try:
        collector.record("op", 1.0, True)
        clock.advance(3 * 3_600)
        collector.record("op", 1.0, True)
        m = collector.operation_metrics("op", "1m").unwrap()
        assert m.avg_memory_usage_mb > 1.0
    finally:
        collector.close()


def test_no_resource_samples_when_sampling_is_off(collector: ResultMetricsCollector) -> None:
    """sample_resources=False never starts a thread and reports no sample."""
    assert collector.latest_resource_sample() is None
    collector.close()


def test_the_clock_property_and_repr(collector: ResultMetricsCollector, clock: FakeClock) -> None:
    """The collector exposes its clock and a short repr."""
    assert collector.clock is clock
    collector.record("op", 1.0, True)
    assert repr(collector) == "ResultMetricsCollector(retention='1w', operations=1)"
    assert repr(collector.operation("op")) == 'OperationHandle(name="op")'


def test_a_failure_result_round_trips_through_record(collector: ResultMetricsCollector) -> None:
    """Failure and Success records both land in the right counters."""
    collector.record("op", 1.0, success=True)
    collector.record("op", 1.0, success=False, error_code="X", error_message="boom")
    assert isinstance(collector.operation_metrics("op"), Success)
    assert isinstance(collector.operation_metrics("nope"), Failure)
