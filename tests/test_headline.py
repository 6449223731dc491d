"""One headline type from the core outward: `rfs_monitoring._headline.LATENCIES` names every
headline latency once, and every record and the alert rules follow it."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from rfs_monitoring import _core
from rfs_monitoring._headline import LATENCIES, LONG_NAME, Latencies, latency_fields
from rfs_monitoring.alerts import AlertMetric, _metric_value
from rfs_monitoring.dashboard_api import OperationSummary
from rfs_monitoring.metrics import (
    OperationMetrics,
    OperationStats,
    ResultMetricsCollector,
    StepMetrics,
    TimeSeriesPoint,
)
from rfs_monitoring.testing import FakeClock


def _fields(record: type) -> set[str]:
    return {f.name for f in dataclasses.fields(record)}


def test_every_latency_is_read_from_the_core_headline() -> None:
    assert len(typing.get_args(Latencies)) == len(LATENCIES)
    for latency in LATENCIES:
        assert latency.core in dir(_core.Headline)
        assert latency.core in dir(_core.Summary)
        assert latency.core in dir(_core.Brief)


@pytest.mark.parametrize("record", [OperationMetrics, OperationStats])
def test_the_long_records_carry_every_latency(record: type) -> None:
    assert {latency.long for latency in LATENCIES} <= _fields(record)


@pytest.mark.parametrize("record", [StepMetrics, TimeSeriesPoint, OperationSummary])
def test_the_short_records_use_the_short_names(record: type) -> None:
    latency_like = {name for name in _fields(record) if name.endswith("_ms")}
    assert latency_like <= {latency.short for latency in LATENCIES}


def test_the_alert_latencies_are_the_tables_short_names() -> None:
    metrics = {m for m in typing.get_args(AlertMetric) if m.endswith("_ms")}
    assert metrics <= set(LONG_NAME)


def test_records_and_alerts_agree_with_the_core(clock: FakeClock) -> None:
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    for ms in (1.0, 2.0, 3.0, 50.0, 900.0):
        collector.record("search", ms, True)
    summary = collector._registry.summary("search", clock(), 3_600, 0)
    assert summary is not None
    metrics = collector.operation_metrics("search", "1h").unwrap()
    (stats,) = collector.all_operation_stats("1h").unwrap()
    for latency in LATENCIES:
        expected = getattr(summary, latency.core)
        assert getattr(metrics, latency.long) == expected
        assert getattr(stats, latency.long) == expected
    for metric in (m for m in typing.get_args(AlertMetric) if m in LONG_NAME):
        assert _metric_value(metrics, metric) == getattr(summary, _core_name(metric))
    assert latency_fields(summary, long=False, only={"p50_ms", "name"}) == {
        "p50_ms": summary.p50_ms
    }


def _core_name(short: str) -> str:
    return next(latency.core for latency in LATENCIES if latency.short == short)
