"""OpenTelemetry metrics: rfs-monitoring's per-operation numbers through the SDK's readers.

``pip install "rfs-monitoring[otel]"``. `bridge_metrics` adds, to every collection of an SDK
``MetricReader`` (a ``PeriodicExportingMetricReader`` with an OTLP exporter, an
``InMemoryMetricReader`` in tests, any other), the lifetime totals the metrics core keeps, so
anything OpenTelemetry reaches (a collector, a vendor) gets the same numbers as ``/metrics``:

- ``rfs.operation.duration`` (unit ``s``): an exponential histogram per operation, at scale 6
  (64 buckets per power of two: any quantile within about 0.5%), with the trace and span of a
  recent traced call as exemplars;
- ``rfs.operations``: a monotonic sum per operation and outcome (``success``/``error``: a
  returned failure is an error);
- ``rfs.operation.errors``: a monotonic sum per operation and error code;
- ``rfs.step.duration`` and ``rfs.steps``: the same for the steps of the chains.

Everything is cumulative since the collector started (or was reset). The SDK (1.45) has no
public hook for external producers, so the bridge wraps the reader's collection callback, which
the ``MeterProvider`` sets when it is given the reader: call `bridge_metrics` after creating the
provider.

>>> from opentelemetry.sdk.metrics import MeterProvider
>>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
>>> from rfs_monitoring.metrics import ResultMetricsCollector
>>> collector = ResultMetricsCollector(sample_resources=False)
>>> collector.record("checkout", 12.0, success=False, error_code="DATABASE_ERROR")
>>> reader = InMemoryMetricReader()
>>> provider = MeterProvider(metric_readers=[reader])
>>> bridge_metrics(reader, collector)
>>> data = reader.get_metrics_data()
>>> sorted(m.name for m in data.resource_metrics[-1].scope_metrics[0].metrics)
['rfs.operation.duration', 'rfs.operation.errors', 'rfs.operations']
>>> provider.shutdown()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from rfs_monitoring._core import __version__
from rfs_monitoring.exceptions import InvalidArgumentError
from rfs_monitoring.metrics import CumulativeOperation, ResultMetricsCollector

__all__ = ["bridge_metrics", "metrics_data"]

_SCOPE = InstrumentationScope("rfs_monitoring", __version__)


def _nanos(seconds: float) -> int:
    return int(seconds * 1e9)


def _histogram_point(
    attributes: dict[str, str], totals: CumulativeOperation, start: int, now: int
) -> ExponentialHistogramDataPoint:
    native = totals.native
    counts = list(native.counts) if native is not None else []
    # Prometheus' bucket k holds (base^(k-1), base^k]; OpenTelemetry's bucket k holds
    # (base^k, base^(k+1)]: the same buckets, indexed one lower.
    offset = native.offset - 1 if native is not None else 0
    scale = native.schema if native is not None else 0
    nonzero = [offset + i for i, n in enumerate(counts) if n]
    base = 2.0 ** (2.0**-scale)
    # The core keeps no lifetime min/max: the bounds of the outermost buckets stand for them.
    low = base ** nonzero[0] if nonzero else 0.0
    high = base ** (nonzero[-1] + 1) if nonzero else 0.0
    exemplars = [
        Exemplar(
            filtered_attributes=None,
            value=e.seconds,
            time_unix_nano=_nanos(e.time),
            span_id=int(e.span_id, 16),
            trace_id=int(e.trace_id, 16),
        )
        for e in totals.exemplars
    ]
    return ExponentialHistogramDataPoint(
        attributes=attributes,
        start_time_unix_nano=start,
        time_unix_nano=now,
        count=totals.total,
        sum=totals.sum_seconds,
        scale=scale,
        zero_count=native.zero_count if native is not None else 0,
        positive=Buckets(offset=offset, bucket_counts=counts),
        negative=Buckets(offset=0, bucket_counts=[]),
        flags=0,
        min=0.0 if native is not None and native.zero_count else low,
        max=high,
        exemplars=exemplars,
    )


def _sum(name: str, description: str, points: list[NumberDataPoint]) -> Metric:
    return Metric(
        name=name,
        description=description,
        unit="1",
        data=Sum(
            data_points=points,
            aggregation_temporality=AggregationTemporality.CUMULATIVE,
            is_monotonic=True,
        ),
    )


def _histogram(name: str, description: str, points: list[ExponentialHistogramDataPoint]) -> Metric:
    return Metric(
        name=name,
        description=description,
        unit="s",
        data=ExponentialHistogram(
            data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE
        ),
    )


def _number(attributes: dict[str, str], value: int, start: int, now: int) -> NumberDataPoint:
    return NumberDataPoint(
        attributes=attributes, start_time_unix_nano=start, time_unix_nano=now, value=value
    )


def _metrics(
    series: Sequence[tuple[dict[str, str], CumulativeOperation]],
    prefix: str,
    start: int,
    now: int,
    *,
    with_errors: bool,
) -> list[Metric]:
    durations = [_histogram_point(attrs, totals, start, now) for attrs, totals in series]
    outcomes = [
        _number({**attrs, "outcome": outcome}, count, start, now)
        for attrs, totals in series
        for outcome, count in (("success", totals.successes), ("error", totals.failures))
    ]
    found: list[Metric] = []
    if durations:
        found.append(
            _histogram(
                f"rfs.{prefix}.duration",
                f"Duration of Result-pattern {prefix}s, successes and failures alike.",
                durations,
            )
        )
        found.append(
            _sum(
                f"rfs.{prefix}s",
                f"Result-pattern {prefix}s by outcome (a returned Failure counts as error).",
                outcomes,
            )
        )
    if with_errors:
        errors = [
            _number({**attrs, "error_code": code}, count, start, now)
            for attrs, totals in series
            for code, count in sorted(totals.errors_by_code.items())
        ]
        if errors:
            found.append(_sum("rfs.operation.errors", "Failed operations by error code.", errors))
    return found


def metrics_data(
    collector: ResultMetricsCollector, resource: Resource | None = None, *, start: float
) -> MetricsData:
    """The collector's lifetime totals as OpenTelemetry ``MetricsData`` (one resource, one
    instrumentation scope ``rfs_monitoring``); ``start`` is when the totals began (seconds)."""
    now = _nanos(time.time())
    begin = _nanos(start)
    operations = [({"operation": c.operation_name}, c) for c in collector.cumulative()]
    steps = [
        ({"operation": operation, "step": step}, totals)
        for operation, step, totals in collector.step_cumulative()
    ]
    metrics = _metrics(operations, "operation", begin, now, with_errors=True)
    metrics += _metrics(steps, "step", begin, now, with_errors=False)
    scope = ScopeMetrics(scope=_SCOPE, metrics=metrics, schema_url="")
    return MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=resource if resource is not None else Resource.create(),
                scope_metrics=[scope],
                schema_url="",
            )
        ]
    )


def bridge_metrics(
    reader: MetricReader,
    collector: ResultMetricsCollector | None = None,
) -> None:
    """Add the per-operation metrics of ``collector`` (default: the process-wide collector,
    looked up at each collection) to every collection of ``reader``.

    The reader must already belong to a ``MeterProvider``; the metrics share the resource of the
    provider's own. A failure to read the collector never breaks the reader's collection: its
    own metrics still go out.
    """
    original: Callable[..., Any] | None = getattr(reader, "_collect", None)
    if original is None:
        raise InvalidArgumentError(
            "bridge_metrics: give the reader to a MeterProvider first "
            "(MeterProvider(metric_readers=[reader])), then bridge it"
        )
    started = time.time()
    # The provider's resource, for collections where the provider has no metric of its own.
    config = getattr(getattr(original, "__self__", None), "_sdk_config", None)
    provider_resource: Resource | None = getattr(config, "resource", None)

    def collect(metric_reader: MetricReader, timeout_millis: float = 10_000) -> MetricsData:
        own = original(metric_reader, timeout_millis=timeout_millis)
        existing = list(own.resource_metrics) if own is not None else []
        resource = existing[0].resource if existing else provider_resource
        try:
            source = collector if collector is not None else ResultMetricsCollector.instance()
            ours = metrics_data(source, resource, start=started).resource_metrics
        except Exception:  # the reader's own metrics must still go out
            ours = []
        return MetricsData(resource_metrics=[*existing, *ours])

    reader._collect = collect  # type: ignore[assignment]
