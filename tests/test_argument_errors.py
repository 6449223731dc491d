"""Bad arguments to the metrics queries, the alert manager, the monitoring router and the
Prometheus and OpenTelemetry bridges raise the package's own `InvalidArgumentError` (issue #13
§1: errors are the package's own exception classes), which is still a `ValueError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from rfs_monitoring.alerts import AlertManager
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.exceptions import InvalidArgumentError
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.otel_metrics import bridge_metrics
from rfs_monitoring.prometheus_source import PrometheusSource
from rfs_monitoring.testing import FakeClock


@pytest.fixture
def collector(clock: FakeClock) -> ResultMetricsCollector:
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    collector.record("search", 5.0, True)
    return collector


BAD_CALLS: dict[str, Callable[[ResultMetricsCollector], Any]] = {
    "list_operations range": lambda c: c.list_operations("2x"),
    "top_errors limit": lambda c: c.top_errors(limit=0),
    "top_errors range": lambda c: c.top_errors(time_range="9w"),
    "collector retention": lambda c: ResultMetricsCollector(retention="soon"),
    "collector steps": lambda c: ResultMetricsCollector(max_steps_per_operation=0),
    "alert interval": lambda c: AlertManager(c, interval=0),
    "alert repeat": lambda c: AlertManager(c, repeat_interval=float("nan")),
    "alert history": lambda c: AlertManager(c, history_size=0),
    "router token": lambda c: monitoring_router(c, token="  "),
    "router protect_reads": lambda c: monitoring_router(c, protect_reads=True),
    "router thresholds": lambda c: monitoring_router(c, degraded_below=0.5, unhealthy_below=0.9),
    "router min requests": lambda c: monitoring_router(c, health_min_requests=0),
    "prometheus url": lambda c: PrometheusSource("ftp://prometheus"),
    "prometheus timeout": lambda c: PrometheusSource("http://p", timeout=-1),
    "prometheus retention": lambda c: PrometheusSource("http://p", retention="forever"),
    "otel reader": lambda c: bridge_metrics(InMemoryMetricReader(), c),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_a_bad_argument_is_an_invalid_argument_error(
    call: Callable[[ResultMetricsCollector], Any],
    collector: ResultMetricsCollector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each refusal is `InvalidArgumentError`, so ``except ValueError`` still catches it."""
    monkeypatch.delenv("RFS_MONITORING_TOKEN", raising=False)
    with pytest.raises(InvalidArgumentError) as caught:
        call(collector)
    assert isinstance(caught.value, ValueError)
