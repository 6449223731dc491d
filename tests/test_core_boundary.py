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
    assert row.errors_by_code == {"TIMEOUT_ERROR": 1}
    assert row.sum_seconds == pytest.approx(0.042)
    bounds = list(row.buckets)
    assert bounds == sorted(bounds)
    assert bounds[-1] == float("inf")
    assert row.buckets[float("inf")] == 2
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
        lambda: _core.Family(name="x", help="help", kind="histogram", samples=[]),
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
    row = _core.HealthRow(operation="checkout", total=2, failures=1, p99_ms=30.0)
    judged = _core.judge_health([row], [], 0.99, 0.9, 1)
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


def test_a_summarys_breakdowns_are_mappings(registry: _core.Registry, clock: FakeClock) -> None:
    """Error codes and hours come as dicts, not lists of positional pairs."""
    summary = registry.summary("checkout", clock(), 3_600, 10)
    assert summary is not None
    assert summary.errors_by_code == {"TIMEOUT_ERROR": 1}
    assert summary.hourly == {int(clock() // 3_600 % 24): 2}


def test_health_inputs_are_typed(registry: _core.Registry, clock: FakeClock) -> None:
    """The health judgement takes `HealthRow`s and `FiringAlert`s with named fields; the
    positional tuples it took before are refused."""
    alert = _core.FiringAlert(operation="checkout", rule="slow", severity="critical")
    assert (alert.operation, alert.rule, alert.severity) == ("checkout", "slow", "critical")
    assert alert == _core.FiringAlert(operation="checkout", rule="slow", severity="critical")
    assert "FiringAlert(" in repr(alert)
    health = registry.health_json(clock(), 3_600, [alert], 0.5, 0.1, 1)
    assert health.firing == 1
    row = _core.HealthRow(operation="search", total=10, failures=0, p99_ms=5.0)
    assert (row.operation, row.total, row.failures, row.p99_ms) == ("search", 10, 0, 5.0)
    assert "HealthRow(" in repr(row)
    assert _core.judge_health([row], [], 0.99, 0.9, 1).status == "healthy"
    # The critical alert on an operation without rows still counts, and makes it unhealthy.
    judged = _core.judge_health([row], [alert], 0.99, 0.9, 1)
    assert (judged.status, judged.total, judged.operations, judged.firing) == (
        "unhealthy",
        10,
        2,
        1,
    )
    with pytest.raises(AttributeError):
        row.total = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        _core.judge_health([("search", 10, 0, 5.0)], [], 0.99, 0.9, 1)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        registry.health_json(clock(), 3_600, [("checkout", "slow", "critical")], 0.5, 0.1, 1)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        _core.HealthRow("search", 10, 0, 5.0)  # type: ignore[call-arg]  # keywords only


def test_extra_families_are_typed(registry: _core.Registry) -> None:
    """`expose` takes `Family` objects of `Sample`s; the collector still accepts the tuple
    form and converts it before the core sees it."""
    sample = _core.Sample(2.0, {"queue": "fast", "area": "eu"})
    assert (sample.value, sample.labels) == (2.0, {"queue": "fast", "area": "eu"})
    assert sample == _core.Sample(2.0, {"queue": "fast", "area": "eu"})
    family = _core.Family(name="jobs", help="Jobs run.", kind="counter", samples=[sample])
    assert (family.name, family.help, family.kind, family.samples) == (
        "jobs",
        "Jobs run.",
        "counter",
        [sample],
    )
    assert "Family(" in repr(family)
    assert "Sample(" in repr(sample)
    text = _core.expose("text", registry, None, [family]).decode()
    assert 'jobs_total{area="eu",queue="fast"} 2.0' in text
    with pytest.raises(TypeError):
        _core.expose("text", registry, None, [("jobs", "Jobs.", "counter", [])])  # type: ignore[list-item]
    collector = ResultMetricsCollector(sample_resources=False)
    legacy = collector.expose("text", [("jobs", "Jobs run.", "gauge", [([("queue", "a")], 3)])])
    assert b'jobs{queue="a"} 3.0' in legacy
    typed = collector.expose("text", [family])
    assert b'jobs_total{area="eu",queue="fast"} 2.0' in typed


def test_the_log_pipelines_state_is_typed() -> None:
    """`LogPipeline.state` is a frozen `PipelineState`, not a nine-slot tuple."""
    pipeline = _core.LogPipeline(str, tuple)
    state = pipeline.state()
    assert isinstance(state, _core.PipelineState)
    assert (state.pending, state.written, state.dropped, state.sink_errors) == (0, 0, 0, 0)
    assert (state.last_error, state.last_error_time, state.fallback_active) == (None, None, False)
    assert state.queued_bytes == state.diverted == 0
    assert "PipelineState(" in repr(state)
    with pytest.raises(AttributeError):
        state.dropped = 1  # type: ignore[misc]
