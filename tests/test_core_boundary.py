"""Values that cross the Rust boundary are typed, frozen objects, and the core's refusals are
the package's own exceptions (issue #13: a typed boundary, as pydantic-core's)."""

from __future__ import annotations

import dataclasses

import pytest

from rfs_monitoring import _core
from rfs_monitoring.exceptions import InvalidArgumentError, RfsMonitoringError
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.testing import FakeClock


@pytest.fixture
def registry(clock: FakeClock) -> _core.Registry:
    registry = _core.Registry(clock=clock)
    handle = registry.handle("checkout")
    handle.record(12.0, True)
    handle.record(30.0, False, "TIMEOUT_ERROR", "upstream took too long")
    handle.exemplar(12.0, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    return registry


def test_top_errors_are_typed_and_frozen(registry: _core.Registry, clock: FakeClock) -> None:
    (top,) = registry.top_errors(clock(), 3_600, 10)
    assert isinstance(top, _core.TopError)
    assert (top.operation, top.code, top.message, top.count) == (
        "checkout",
        "TIMEOUT_ERROR",
        "upstream took too long",
        1,
    )
    assert top.first_seen == top.last_seen == clock()
    with pytest.raises(AttributeError):
        top.count = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        iter(top)  # type: ignore[call-overload]  # no positional tuple any more
    summary = registry.summary("checkout", clock(), 3_600, 10)
    assert summary is not None
    assert summary.top_errors == [top]
    assert "TopError(" in repr(top)


def test_series_points_are_typed_and_frozen(registry: _core.Registry, clock: FakeClock) -> None:
    points = registry.series("checkout", clock(), 3_600, 6)
    assert points is not None
    assert all(isinstance(point, _core.Point) for point in points)
    assert sum(point.total for point in points) == 2
    assert sum(point.failures for point in points) == 1
    last = points[-1]
    assert (last.sum_ms, last.max_ms) == (42.0, 30.0)
    assert last.p50_ms <= last.p90_ms <= last.p99_ms <= last.max_ms
    with pytest.raises(AttributeError):
        last.total = 0  # type: ignore[misc]
    assert registry.series("nothing", clock(), 3_600, 6) is None


def test_cumulative_is_typed_with_native_buckets_and_exemplars(registry: _core.Registry) -> None:
    (row,) = registry.cumulative()
    assert isinstance(row, _core.Cumulative)
    assert (row.operation, row.total, row.failures) == ("checkout", 2, 1)
    assert row.errors_by_code == [("TIMEOUT_ERROR", 1)]
    assert row.sum_seconds == pytest.approx(0.042)
    assert row.buckets[-1] == (float("inf"), 2)
    assert isinstance(row.native, _core.NativeHistogram)
    assert sum(row.native.counts) + row.native.zero_count == 2
    (exemplar,) = row.exemplars
    assert isinstance(exemplar, _core.Exemplar)
    assert (exemplar.trace_id, exemplar.span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    )
    assert exemplar.seconds == pytest.approx(0.012)
    with pytest.raises(AttributeError):
        row.total = 0  # type: ignore[misc]


def test_the_collector_builds_its_records_from_the_typed_values(clock: FakeClock) -> None:
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    collector.record("checkout", 12.0, True)
    collector.record("checkout", 30.0, False, "TIMEOUT_ERROR", "upstream took too long")
    (cumulative,) = collector.cumulative()
    assert dataclasses.astuple(cumulative.native)[1:] == (
        0,
        cumulative.native.offset,
        cumulative.native.counts,
    )
    (top,) = collector.top_errors(10, "1h")
    assert (top.operation_name, top.error_code, top.count) == ("checkout", "TIMEOUT_ERROR", 1)
    points = collector.time_series("checkout", "1h", 4).unwrap()
    assert sum(p.total for p in points) == 2


@pytest.mark.parametrize(
    "refused",
    [
        lambda: _core.Registry().handle(""),
        lambda: _core.Registry(max_operations=0),
        lambda: _core.expose("yaml", _core.Registry()),
        lambda: _core.expose("text", _core.Registry(), None, [("x", "help", "histogram", [])]),
    ],
    ids=["empty name", "no operations", "unknown format", "unknown family type"],
)
def test_the_core_raises_the_packages_own_exception(refused: object) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        refused()  # type: ignore[operator]
    # Still a ValueError, as the contract says, and one of ours.
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, RfsMonitoringError)
    assert str(caught.value)


def test_health_is_typed(registry: _core.Registry, clock: FakeClock) -> None:
    health = registry.health_json(clock(), 3_600, [], 0.99, 0.9, 1)
    assert isinstance(health, _core.Health)
    assert (health.status, health.total, health.failed, health.firing, health.operations) == (
        "unhealthy",
        2,
        1,
        0,
        1,
    )
    assert b'"checkout"' in health.rows_json
    judged = _core.judge_health([("checkout", 2, 1, 30.0)], [], 0.99, 0.9, 1)
    assert (judged.status, judged.total, judged.failed) == ("unhealthy", 2, 1)
    with pytest.raises(AttributeError):
        health.status = "healthy"  # type: ignore[misc]


def test_a_summarys_resources_are_typed(clock: FakeClock) -> None:
    """The window's mean resources come as a frozen `Resources`, not an ``(rss, cpu)`` pair,
    and fill `OperationMetrics`' averages."""
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    collector.record("search", 5.0, True)
    registry = collector._registry
    registry.record_resources(clock(), 100.0, 10.0)
    registry.record_resources(clock(), 200.0, 30.0)
    summary = registry.summary("search", clock(), 3_600, 0)
    assert summary is not None
    resources = summary.resources
    assert isinstance(resources, _core.Resources)
    assert (resources.rss_mb, resources.cpu_percent) == (150.0, 20.0)
    assert resources == summary.resources
    assert "Resources(rss_mb=150" in repr(resources)
    with pytest.raises(AttributeError):
        resources.rss_mb = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        iter(resources)  # type: ignore[call-overload]  # no positional pair any more
    metrics = collector.operation_metrics("search", "1h").unwrap()
    assert (metrics.avg_memory_usage_mb, metrics.avg_cpu_usage_percent) == (150.0, 20.0)
