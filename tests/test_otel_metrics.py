"""The OpenTelemetry metrics bridge, read through the SDK's in-memory reader."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    InMemoryMetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from rfs_monitoring import Result, Success, log_result_operation, tracing
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.otel_metrics import bridge_metrics


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    memory = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[memory], resource=Resource.create({"service.name": "shop"})
    )
    yield memory
    provider.shutdown()


def _metrics(data: MetricsData | None) -> dict[str, Any]:
    assert data is not None
    return {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def _quantile(point: Any, q: float) -> float:
    """The upper bound of the bucket holding the q-quantile (OpenTelemetry's indexing)."""
    base = 2.0 ** (2.0**-point.scale)
    rank = max(1, math.ceil(q * point.count)) - point.zero_count
    running = 0
    for i, n in enumerate(point.positive.bucket_counts):
        running += n
        if running >= rank:
            return float(base ** (point.positive.offset + i + 1))
    raise AssertionError("rank past the buckets")


def test_operations_become_exponential_histograms_and_sums(
    reader: InMemoryMetricReader,
) -> None:
    collector = ResultMetricsCollector(sample_resources=False)
    try:
        rng = random.Random(5)
        samples = [rng.lognormvariate(3.0, 0.7) for _ in range(5000)]
        for i, ms in enumerate(samples):
            collector.record("search", ms, i % 50 != 0, "TIMEOUT_ERROR")
        collector.step("search", "query").record(4.0, True)
        bridge_metrics(reader, collector)
        metrics = _metrics(reader.get_metrics_data())
        assert set(metrics) == {
            "rfs.operation.duration",
            "rfs.operations",
            "rfs.operation.errors",
            "rfs.step.duration",
            "rfs.steps",
        }
        duration = metrics["rfs.operation.duration"]
        assert isinstance(duration.data, ExponentialHistogram)
        assert duration.unit == "s"
        (point,) = duration.data.data_points
        assert point.attributes == {"operation": "search"}
        assert point.scale == 6
        assert point.count == 5000
        assert point.sum == pytest.approx(sum(samples) / 1000)
        assert sum(point.positive.bucket_counts) + point.zero_count == 5000
        ordered = sorted(samples)
        for q in (0.5, 0.9, 0.99):
            exact = ordered[math.ceil(q * len(ordered)) - 1] / 1000
            assert _quantile(point, q) == pytest.approx(exact, rel=0.012), q
        assert point.min <= ordered[0] / 1000 <= ordered[-1] / 1000 <= point.max
        outcomes = metrics["rfs.operations"]
        assert isinstance(outcomes.data, Sum)
        assert outcomes.data.is_monotonic
        by_outcome = {p.attributes["outcome"]: p.value for p in outcomes.data.data_points}
        assert by_outcome == {"success": 4900, "error": 100}
        (errors,) = metrics["rfs.operation.errors"].data.data_points
        assert (errors.attributes, errors.value) == (
            {"operation": "search", "error_code": "TIMEOUT_ERROR"},
            100,
        )
        (step,) = metrics["rfs.step.duration"].data.data_points
        assert step.attributes == {"operation": "search", "step": "query"}
    finally:
        collector.close()


def test_the_providers_own_metrics_and_resource_come_along(
    metrics_collector: ResultMetricsCollector,
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "shop"})
    )
    try:
        orders = provider.get_meter("shop").create_counter("shop.orders")
        orders.add(3)
        # No collector given: the process-wide one, looked up at each collection.
        bridge_metrics(reader)
        metrics_collector.record("late", 1.0, True)
        data = reader.get_metrics_data()
        assert data is not None
        metrics = _metrics(data)
        assert {"shop.orders", "rfs.operations"} <= set(metrics)
        assert all(r.resource.attributes["service.name"] == "shop" for r in data.resource_metrics)
    finally:
        provider.shutdown()


def test_the_resource_is_the_providers_without_metrics_of_its_own(
    reader: InMemoryMetricReader, metrics_collector: ResultMetricsCollector
) -> None:
    bridge_metrics(reader)
    metrics_collector.record("alone", 1.0, True)
    data = reader.get_metrics_data()
    assert data is not None
    (resource_metrics,) = data.resource_metrics
    assert resource_metrics.resource.attributes["service.name"] == "shop"


def test_exemplars_carry_the_trace_of_a_traced_call(
    reader: InMemoryMetricReader, metrics_collector: ResultMetricsCollector
) -> None:
    provider = TracerProvider()
    previous = tracing.set_tracer_provider(provider)
    try:

        @log_result_operation("traced")
        def traced() -> Result[int, str]:
            return Success(1)

        traced()
    finally:
        tracing.set_tracer_provider(previous)
        provider.shutdown()
    bridge_metrics(reader, metrics_collector)
    (point,) = _metrics(reader.get_metrics_data())["rfs.operation.duration"].data.data_points
    (exemplar,) = point.exemplars
    assert exemplar.trace_id > 0
    assert exemplar.span_id > 0
    assert exemplar.value > 0


def test_a_broken_collector_never_breaks_the_readers_collection(
    reader: InMemoryMetricReader,
) -> None:
    class Broken(ResultMetricsCollector):
        def cumulative(self) -> Any:
            raise RuntimeError("boom")

    broken = Broken(sample_resources=False)
    try:
        bridge_metrics(reader, broken)
        data = reader.get_metrics_data()
        assert data is not None
        assert _metrics(data) == {}
    finally:
        broken.close()


def test_a_reader_without_a_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="MeterProvider first"):
        bridge_metrics(InMemoryMetricReader())
