"""Several processes on one shared directory: what a directory costs, in the same process.

Groups (compare the rows of a group):

- ``record-shared``: ``handle.record`` of a collector on a shared directory vs one without vs
  prometheus_client's pre-bound ``child.observe``. Goals: the directory costs nothing on the
  record path (the writer thread does the work), and both stay at most 0.2x prometheus.
- ``query-shared``: ``operation_metrics(name, "1w")`` of one operation whose week of traffic is
  spread over 1, 4, 16 and 64 live segments (each a collector of its own, as a worker
  process is). Goal: 4 segments under 2 ms.
- ``query-shared-all``: ``all_operation_stats("1w")`` over 1000 operations held by 4 segments,
  and the rows the operations route answers from (written as JSON by the core). Goal: the
  list under 30 ms.

Run for real with::

    .venv/bin/python -m pytest benches/bench_shared.py --benchmark-enable --benchmark-only \
        -p no:cacheprovider
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from rfs_monitoring.metrics import ResultMetricsCollector

WEEK = 7 * 86_400
NOW = 1_700_000_000.0
#: One sample every STEP seconds for a week in every segment: every hourly bucket holds data.
STEP = 300.0
OPERATIONS = 1000


class Clock:
    """A settable clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- record -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain() -> Iterator[ResultMetricsCollector]:
    collector = ResultMetricsCollector(sample_resources=False)
    yield collector
    collector.close()


@pytest.fixture(scope="module")
def on_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResultMetricsCollector]:
    collector = ResultMetricsCollector(
        shared_dir=tmp_path_factory.mktemp("record"), sample_resources=False
    )
    yield collector
    collector.close()


@pytest.mark.benchmark(group="record-shared")
def test_record_without_a_directory(benchmark: Any, plain: ResultMetricsCollector) -> None:
    """rfs-monitoring: a bound handle's record, no shared directory."""
    benchmark(plain.operation("bench_record").record, 1.5, True)


@pytest.mark.benchmark(group="record-shared")
def test_record_on_a_shared_directory(benchmark: Any, on_directory: ResultMetricsCollector) -> None:
    """rfs-monitoring: a bound handle's record, on a shared directory (the writer thread
    writes the segment every 0.25 s meanwhile)."""
    benchmark(on_directory.operation("bench_record").record, 1.5, True)
    on_directory.sync()
    assert on_directory.operation_metrics("bench_record").unwrap().total_requests >= 1


@pytest.mark.benchmark(group="record-shared")
def test_record_prometheus_child_observe(benchmark: Any) -> None:
    """prometheus_client: a pre-bound child's observe."""
    histogram = Histogram("bench_shared_seconds", "bench", ["op"], registry=CollectorRegistry())
    benchmark(histogram.labels("bench_record").observe, 0.0015)


# -- queries over N segments ------------------------------------------------------------------


def segments(
    directory: Path, count: int, names: list[str], step: float
) -> list[ResultMetricsCollector]:
    """``count`` collectors on ``directory``, each with a week of ``names`` every ``step`` s."""
    clock = Clock(NOW)
    workers = [
        ResultMetricsCollector(shared_dir=directory, clock=clock, sample_resources=False)
        for _ in range(count)
    ]
    for n, worker in enumerate(workers):
        handles = [worker.operation(name) for name in names]
        clock.now = NOW - WEEK + 1 + n
        while clock.now < NOW:
            for j, handle in enumerate(handles):
                handle.record(1.0 + (int(clock.now) + j) % 500, (int(clock.now) + j) % 20 != 0)
            clock.now += step
    clock.now = NOW
    for worker in workers:
        worker.sync()
    time.sleep(0.25)  # past the readers' listing interval
    return workers


@pytest.fixture(scope="module", params=[1, 4, 16, 64])
def merged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, ResultMetricsCollector]]:
    count: int = request.param
    workers = segments(tmp_path_factory.mktemp(f"segments-{count}"), count, ["busy"], STEP)
    yield count, workers[0]
    for worker in workers:
        worker.close()


@pytest.mark.benchmark(group="query-shared")
def test_query_1w_over_segments(benchmark: Any, merged: tuple[int, ResultMetricsCollector]) -> None:
    """operation_metrics over 1w, merging N segments (one per worker)."""
    count, reader = merged
    benchmark.extra_info["segments"] = count
    result = benchmark(reader.operation_metrics, "busy", "1w").unwrap()
    assert result.total_requests == count * int(WEEK / STEP)


@pytest.fixture(scope="module")
def thousand_over_four(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ResultMetricsCollector]:
    names = [f"service.op-{i:04d}" for i in range(OPERATIONS)]
    workers = segments(tmp_path_factory.mktemp("thousand"), 4, names, 3_600.0)
    yield workers[0]
    for worker in workers:
        worker.close()


@pytest.mark.benchmark(group="query-shared-all")
def test_query_1w_1000_operations_over_4_segments(
    benchmark: Any, thousand_over_four: ResultMetricsCollector
) -> None:
    """all_operation_stats over 1w: 1000 operations, each in 4 segments."""
    stats = benchmark(thousand_over_four.all_operation_stats, "1w").unwrap()
    assert len(stats) == OPERATIONS
    assert all(s.total_requests == 4 * 168 for s in stats)


@pytest.mark.benchmark(group="query-shared-all")
def test_route_rows_1w_1000_operations_over_4_segments(
    benchmark: Any, thousand_over_four: ResultMetricsCollector
) -> None:
    """What GET /operations?time_range=1w answers from: the rows of 1000 operations in 4
    segments, written as JSON by the core."""
    rows = benchmark(thousand_over_four._rows_json, "1w").unwrap()
    assert rows.count(b'"name"') == OPERATIONS
