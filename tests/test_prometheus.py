"""GET /monitoring/metrics scraped by a real Prometheus server.

Needs Debian's ``prometheus`` package (``.ci/run`` installs it); without the binary the test fails
with a message saying so. The server runs on 127.0.0.1 with a temporary configuration and
storage, scraping every second.
"""

from __future__ import annotations

import math
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rfs_monitoring.dashboard_api import monitoring_router, process_families
from rfs_monitoring.metrics import ResultMetricsCollector
from servers import binary, prometheus, query, serving_metrics


@pytest.fixture
def collector() -> Iterator[ResultMetricsCollector]:
    """Lognormal checkout latencies (median 40 ms, a slow tail) and some failures."""
    c = ResultMetricsCollector(sample_resources=False)
    rng = random.Random(3)
    for i in range(5000):
        ms = rng.lognormvariate(3.7, 0.5) * (8 if rng.random() < 0.02 else 1)
        c.record("checkout", ms, i % 25 != 0, error_code="DATABASE_ERROR")
    for _ in range(300):
        c.record("search", rng.uniform(1, 4), True)
    yield c
    c.close()


@pytest.fixture
def scraping(collector: ResultMetricsCollector, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server scraping the app every second; yields its base URL."""
    with serving_metrics(collector) as port, prometheus(tmp_path, [port]) as base:
        yield base


def test_prometheus_p99_agrees_with_ours_within_the_bucket(
    scraping: str, collector: ResultMetricsCollector
) -> None:
    """PromQL histogram_quantile(0.99) over our buckets lands in the bucket holding our p99."""
    up = query(scraping, 'up{job="rfs"} == 1')
    assert up[0]["value"][1] == "1"
    promql = (
        "histogram_quantile(0.99, sum by (le) "
        '(rfs_operation_duration_seconds_bucket{operation="checkout"}))'
    )
    theirs = float(query(scraping, promql)[0]["value"][1])
    ours = collector.operation_metrics("checkout", "1h").unwrap().p99_response_time_ms / 1000
    bounds = [0.0] + [bound for bound, _ in collector.cumulative()[0].buckets]
    bucket = next(i for i in range(1, len(bounds)) if theirs <= bounds[i])
    lower, upper = bounds[bucket - 1], bounds[bucket]
    assert lower <= ours <= upper, (ours, theirs, lower, upper)
    assert lower < theirs <= upper

    totals = query(scraping, 'rfs_operations_total{operation="checkout"}')
    by_outcome = {s["metric"]["outcome"]: float(s["value"][1]) for s in totals}
    assert by_outcome == {"success": 4800.0, "error": 200.0}
    errors = query(scraping, "rfs_operation_errors_total")
    assert errors[0]["metric"]["error_code"] == "DATABASE_ERROR"
    assert float(query(scraping, "process_resident_memory_bytes")[0]["value"][1]) > 0


# -- native histograms ----------------------------------------------------------------------------


def _exact_quantile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_native_histograms_give_prometheus_quantiles_within_two_percent(tmp_path: Path) -> None:
    """Two instances, 20k lognormal samples each, scraped as protobuf by a real Prometheus with
    native histograms: histogram_quantile over the sum is within 2% of the exact quantiles of
    all 40k samples (classic buckets were 17% off the p99)."""
    rng = random.Random(11)
    everything: list[float] = []
    collectors = []
    for instance in range(2):
        c = ResultMetricsCollector(sample_resources=False)
        for _ in range(20_000):
            ms = rng.lognormvariate(3.5 + 0.3 * instance, 0.6)
            everything.append(ms)
            c.record("checkout", ms, True)
        collectors.append(c)
    try:
        with (
            serving_metrics(collectors[0]) as first,
            serving_metrics(collectors[1]) as second,
            prometheus(
                tmp_path, [first, second], flags=["--enable-feature=native-histograms"]
            ) as base,
        ):
            query(base, 'count(up{job="rfs"} == 1) == 2')
            for q in (0.5, 0.9, 0.99):
                promql = (
                    f'histogram_quantile({q}, sum(rfs_operation_duration_seconds{{job="rfs"}}))'
                )
                theirs = float(query(base, promql)[0]["value"][1]) * 1000
                exact = _exact_quantile(everything, q)
                assert abs(theirs - exact) / exact < 0.02, (q, theirs, exact)
            count = query(base, 'histogram_count(sum(rfs_operation_duration_seconds{job="rfs"}))')
            assert float(count[0]["value"][1]) == 40_000
    finally:
        for c in collectors:
            c.close()


def test_promtool_accepts_the_text_exposition(tmp_path: Path) -> None:
    promtool = binary("promtool", "prometheus")
    c = ResultMetricsCollector(sample_resources=False)
    try:
        c.record("checkout", 12.0, False, error_code="DATABASE_ERROR")
        c.record('we"ird\\name', 3.0, True)
        c.step("checkout", "load").record(2.0, True)
        body = c.expose("text", process_families())
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=body, capture_output=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        c.close()


def test_the_route_negotiates_the_format_by_accept(collector: ResultMetricsCollector) -> None:
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    client = TestClient(app)
    protobuf = client.get(
        "/monitoring/metrics",
        headers={
            "Accept": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
            "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"
        },
    )
    assert protobuf.headers["content-type"].startswith("application/vnd.google.protobuf")
    assert b"rfs_operation_duration_seconds" in protobuf.content
    open_metrics = client.get(
        "/monitoring/metrics", headers={"Accept": "application/openmetrics-text;version=1.0.0"}
    )
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")
    assert "# TYPE rfs_operations counter" in open_metrics.text
    plain = client.get("/monitoring/metrics", headers={"Accept-Encoding": "gzip"})
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert plain.headers["content-encoding"] == "gzip"
    assert 'rfs_operations_total{operation="checkout",outcome="error"} 200.0' in plain.text
    assert "process_resident_memory_bytes" in plain.text


def test_prometheus_stores_the_exemplars_of_traced_calls(tmp_path: Path) -> None:
    """A real Prometheus with exemplar storage scrapes OpenMetrics and keeps the trace IDs of
    traced calls beside the duration buckets."""
    from opentelemetry.sdk.trace import TracerProvider

    from rfs_monitoring import tracing
    from rfs_monitoring.result import Success
    from rfs_monitoring.result_logging import log_result_operation

    provider = TracerProvider()
    previous_provider = tracing.set_tracer_provider(provider)
    collector = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    try:

        @log_result_operation("traced")
        def traced() -> Success[int]:
            return Success(1)

        for _ in range(5):
            traced()
        with (
            serving_metrics(collector) as port,
            prometheus(tmp_path, [port], flags=["--enable-feature=exemplar-storage"]) as base,
        ):
            query(base, 'up{job="rfs"} == 1')
            deadline = time.monotonic() + 45
            found: list[Any] = []
            while time.monotonic() < deadline and not found:
                now = time.time()
                answer = httpx.get(
                    f"{base}/api/v1/query_exemplars",
                    params={
                        "query": 'rfs_operation_duration_seconds_bucket{operation="traced"}',
                        "start": now - 600,
                        "end": now + 60,
                    },
                    timeout=5,
                ).json()
                found = [e for series in answer.get("data") or [] for e in series["exemplars"]]
                time.sleep(0.5)
            assert found, "no exemplar stored"
            assert len(found[0]["labels"]["trace_id"]) == 32
    finally:
        ResultMetricsCollector.set_instance(previous)
        tracing.set_tracer_provider(previous_provider)
        provider.shutdown()
        collector.close()
