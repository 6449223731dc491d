"""Metrics cost against prometheus_client and pure-Python baselines, in the same process.

Groups (compare the rows of a group; per-call costs of batched rows are the time / ``BATCH``):

- ``record``: ``handle.record`` vs prometheus' pre-bound ``child.observe`` vs a pure-Python
  recorder appending to a list. Goal: at most 0.2x prometheus.
- ``decorator-sync``: a trivial function undecorated, with ``@monitor_result``, with
  prometheus' ``Histogram.labels(op).time()`` and with a pure-Python decorator that only reads
  the clock twice. Goal: overhead at most 0.25x prometheus' timer.
- ``decorator-async``: the same for ``async def`` in batches of ``BATCH`` awaits. Goal: at most
  1.5 µs overhead per call.
- ``query``: ``operation_metrics`` over 1h and 1w with a week of traffic vs a naive Python list
  of the same samples. Goals: 1h under 200 µs, 1w under 1 ms.
- ``query-all``: every operation's headline numbers over 1h with 1000 operations (an hourly
  sample for a week, one a minute in the last hour): ``all_operation_stats`` (one bulk call)
  vs ``operation_metrics`` per name (what the operations list did before). Goal: at most a
  third of the per-name loop (the route listing 1000 operations answers under 20 ms).
- ``memory``: bytes per operation with a week of traffic in every bucket and with one sample
  (recorded in ``extra_info``). Goals: at most 1 MB and 32 KB.

Run for real with::

    .venv/bin/python -m pytest benches/bench_metrics.py --benchmark-enable --benchmark-only \
        -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from rfs_monitoring.metrics import ResultMetricsCollector, monitor_result
from rfs_monitoring.result import Result, Success

BATCH = 1000
WEEK = 7 * 86_400
NOW = 1_700_000_000.0
#: One sample every ``STEP`` seconds for a week: every 10-second bucket of the last hour, every
#: 5-minute bucket of the day and every hour bucket of the week holds traffic.
STEP = 2.0


class Clock:
    """A settable clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def collector() -> Iterator[ResultMetricsCollector]:
    """The process-wide collector for the decorator benchmarks."""
    fresh = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(fresh)
    yield fresh
    ResultMetricsCollector.set_instance(previous)


@pytest.fixture(scope="module")
def prometheus() -> Histogram:
    """A prometheus histogram with the default buckets and an ``operation`` label."""
    return Histogram("bench_duration_seconds", "bench", ["operation"], registry=CollectorRegistry())


class PurePythonRecorder:
    """The simplest in-process recorder: one list of samples per operation."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, float, bool]]] = {}

    def record(self, operation: str, duration_ms: float, success: bool) -> None:
        self.samples.setdefault(operation, []).append((time.time(), duration_ms, success))


# -- record ---------------------------------------------------------------------------------


@pytest.mark.benchmark(group="record")
def test_record_rfs_handle(benchmark: Any, collector: ResultMetricsCollector) -> None:
    """rfs-monitoring: a bound handle's record."""
    handle = collector.operation("bench_record")
    benchmark(handle.record, 1.5, True)


@pytest.mark.benchmark(group="record")
def test_record_prometheus_child_observe(benchmark: Any, prometheus: Histogram) -> None:
    """prometheus_client: a pre-bound child's observe."""
    child = prometheus.labels("bench_record")
    benchmark(child.observe, 0.0015)


@pytest.mark.benchmark(group="record")
def test_record_pure_python_list(benchmark: Any) -> None:
    """Baseline: append the sample to a Python list."""
    recorder = PurePythonRecorder()
    benchmark(recorder.record, "bench_record", 1.5, True)


# -- decorators -----------------------------------------------------------------------------


def work() -> Result[int, str]:
    return Success(1)


def clock_twice(fn: Callable[[], Result[int, str]]) -> Callable[[], Result[int, str]]:
    @functools.wraps(fn)
    def wrapper() -> Result[int, str]:
        start = time.perf_counter()
        result = fn()
        time.perf_counter() - start
        return result

    return wrapper


@pytest.mark.benchmark(group="decorator-sync")
def test_sync_undecorated(benchmark: Any) -> None:
    """Baseline: the bare function."""
    assert benchmark(work) == Success(1)


@pytest.mark.benchmark(group="decorator-sync")
def test_sync_monitor_result(benchmark: Any, collector: ResultMetricsCollector) -> None:
    """rfs-monitoring: @monitor_result (timed and recorded in Rust)."""
    assert benchmark(monitor_result("bench_sync")(work)) == Success(1)
    assert collector.operation_metrics("bench_sync").unwrap().total_requests >= 1


@pytest.mark.benchmark(group="decorator-sync")
def test_sync_prometheus_timer(benchmark: Any, prometheus: Histogram) -> None:
    """prometheus_client: @Histogram.labels(op).time()."""
    assert benchmark(prometheus.labels("bench_sync").time()(work)) == Success(1)


@pytest.mark.benchmark(group="decorator-sync")
def test_sync_pure_python_clock_twice(benchmark: Any) -> None:
    """Baseline: a Python decorator that only reads the clock twice."""
    assert benchmark(clock_twice(work)) == Success(1)


async def awork() -> Result[int, str]:
    return Success(1)


def aclock_twice(
    fn: Callable[[], Coroutine[Any, Any, Result[int, str]]],
) -> Callable[[], Coroutine[Any, Any, Result[int, str]]]:
    @functools.wraps(fn)
    async def wrapper() -> Result[int, str]:
        start = time.perf_counter()
        result = await fn()
        time.perf_counter() - start
        return result

    return wrapper


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every async round."""
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


def batched(
    loop: asyncio.AbstractEventLoop,
    fn: Callable[[], Coroutine[Any, Any, Result[int, str]]],
) -> Callable[[], int]:
    async def many() -> int:
        ok = 0
        for _ in range(BATCH):
            ok += (await fn()).is_success()
        return ok

    return lambda: loop.run_until_complete(many())


@pytest.mark.benchmark(group="decorator-async")
def test_async_undecorated(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Baseline: BATCH awaits of the bare coroutine function."""
    assert benchmark(batched(loop, awork)) == BATCH


@pytest.mark.benchmark(group="decorator-async")
def test_async_monitor_result(
    benchmark: Any, loop: asyncio.AbstractEventLoop, collector: ResultMetricsCollector
) -> None:
    """rfs-monitoring: BATCH awaits with @monitor_result."""
    assert benchmark(batched(loop, monitor_result("bench_async")(awork))) == BATCH


@pytest.mark.benchmark(group="decorator-async")
def test_async_pure_python_clock_twice(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Baseline: BATCH awaits with a Python decorator that only reads the clock twice."""
    assert benchmark(batched(loop, aclock_twice(awork))) == BATCH


# -- queries over a week of traffic -----------------------------------------------------------


def week_of_samples() -> list[tuple[float, float, bool]]:
    rng = random.Random(3)
    count = int(WEEK / STEP)
    return [
        (NOW - WEEK + i * STEP, rng.lognormvariate(3.0, 0.8), rng.random() > 0.02)
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def samples() -> list[tuple[float, float, bool]]:
    """A week of (time, duration_ms, success) samples, one every STEP seconds."""
    return week_of_samples()


@pytest.fixture(scope="module")
def full_week(samples: list[tuple[float, float, bool]]) -> ResultMetricsCollector:
    """A collector holding the week of samples under "busy", and one sample under "idle"."""
    clock = Clock(NOW)
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    handle = collector.operation("busy")
    for t, ms, ok in samples:
        clock.now = t
        if ok:
            handle.record(ms, True)
        else:
            handle.record(ms, False, "TIMEOUT_ERROR", f"upstream {int(t) % 7} timed out")
    clock.now = NOW
    collector.record("idle", 3.0, True)
    return collector


@pytest.mark.benchmark(group="query")
def test_query_1h_rfs(benchmark: Any, full_week: ResultMetricsCollector) -> None:
    """rfs-monitoring: operation_metrics over 1h of a full week."""
    result = benchmark(full_week.operation_metrics, "busy", "1h")
    assert result.unwrap().total_requests == pytest.approx(3_600 / STEP, abs=5)


@pytest.mark.benchmark(group="query")
def test_query_1w_rfs(benchmark: Any, full_week: ResultMetricsCollector) -> None:
    """rfs-monitoring: operation_metrics over 1w of a full week."""
    result = benchmark(full_week.operation_metrics, "busy", "1w")
    assert result.unwrap().total_requests == int(WEEK / STEP)


def naive_summary(
    samples: list[tuple[float, float, bool]], now: float, window: float
) -> tuple[int, float, float, float]:
    durations = sorted(ms for t, ms, _ in samples if t >= now - window)
    n = len(durations)

    def rank(q: float) -> float:
        return durations[max(1, math.ceil(q * n)) - 1]

    return n, rank(0.5), rank(0.99), durations[-1]


@pytest.mark.benchmark(group="query")
def test_query_1w_naive_python_list(
    benchmark: Any, samples: list[tuple[float, float, bool]]
) -> None:
    """Baseline: filter and sort a Python list of the same week of samples."""
    n, *_ = benchmark(naive_summary, samples, NOW, WEEK)
    assert n == len(samples)


# -- every operation at once ------------------------------------------------------------------

OPERATIONS = 1000


@pytest.fixture(scope="module")
def thousand_operations() -> ResultMetricsCollector:
    """1000 operations, each with a sample every hour of the week and every minute of the last
    hour (5% failures)."""
    clock = Clock(NOW - WEEK + 60)
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    handles = [collector.operation(f"service.op-{i:04d}") for i in range(OPERATIONS)]
    while clock.now < NOW:
        for j, handle in enumerate(handles):
            handle.record(5.0 + (j * 7 + int(clock.now)) % 300, (j + int(clock.now)) % 20 != 0)
        clock.now += 3_600 if clock.now < NOW - 3_600 else 60
    clock.now = NOW
    return collector


@pytest.mark.benchmark(group="query-all")
def test_query_all_1000_rfs_all_operation_stats(
    benchmark: Any, thousand_operations: ResultMetricsCollector
) -> None:
    """rfs-monitoring: all_operation_stats over 1h, one call for 1000 operations."""
    stats = benchmark(thousand_operations.all_operation_stats, "1h").unwrap()
    assert len(stats) == OPERATIONS
    assert all(s.total_requests >= 50 for s in stats)


def per_operation_metrics(collector: ResultMetricsCollector, time_range: str) -> list[Any]:
    return [
        collector.operation_metrics(name, time_range).unwrap()
        for name in collector.list_operations(time_range)
    ]


@pytest.mark.benchmark(group="query-all")
def test_query_all_1000_rfs_operation_metrics_per_name(
    benchmark: Any, thousand_operations: ResultMetricsCollector
) -> None:
    """Baseline: list_operations, then operation_metrics for each of the 1000 names."""
    metrics = benchmark(per_operation_metrics, thousand_operations, "1h")
    assert len(metrics) == OPERATIONS


# -- memory -----------------------------------------------------------------------------------


@pytest.mark.benchmark(group="memory")
def test_memory_per_operation(benchmark: Any, full_week: ResultMetricsCollector) -> None:
    """Bytes held per operation: a full week of traffic, and a single sample."""
    registry = full_week._registry
    busy = registry.operation_bytes("busy")
    idle = registry.operation_bytes("idle")
    assert busy is not None
    assert idle is not None
    benchmark.extra_info["bytes_full_week"] = busy
    benchmark.extra_info["bytes_one_sample"] = idle
    benchmark(registry.operation_bytes, "idle")
    assert busy <= 1024 * 1024
    assert idle <= 32 * 1024
