"""GET /monitoring/metrics scraped by a real Prometheus server.

Needs Debian's ``prometheus`` package (``.ci/run`` installs it); without the binary the test fails
with a message saying so. The server runs on 127.0.0.1 with a temporary configuration and
storage, scraping every second.
"""

from __future__ import annotations

import math
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.metrics import ResultMetricsCollector


def free_port() -> int:
    """A free 127.0.0.1 port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
def app_port(collector: ResultMetricsCollector) -> Iterator[int]:
    """uvicorn serving the monitoring router on a free port, in a thread."""
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def prometheus(app_port: int, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server scraping the app every second; yields its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "the prometheus binary is not installed: this test needs Debian's prometheus "
            "package (apt-get install -y prometheus)",
            pytrace=False,
        )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: rfs\n"
        "    metrics_path: /monitoring/metrics\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{app_port}']\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def query(base: str, promql: str, timeout: float = 45.0) -> list[dict[str, Any]]:
    """Run an instant query until it returns a non-empty vector."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
            if response.status_code != 200:  # 503 "Service Unavailable" while it starts up
                last = f"{response.status_code} {response.text[:200]}"
                time.sleep(0.5)
                continue
            last = response.json()
            if last.get("status") == "success" and last["data"]["result"]:
                result: list[dict[str, Any]] = last["data"]["result"]
                return result
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"no result for {promql!r} within {timeout} s: {last!r}")


def test_prometheus_p99_agrees_with_ours_within_the_bucket(
    prometheus: str, collector: ResultMetricsCollector
) -> None:
    """PromQL histogram_quantile(0.99) over our buckets lands in the bucket holding our p99."""
    up = query(prometheus, 'up{job="rfs"} == 1')
    assert up[0]["value"][1] == "1"
    promql = (
        "histogram_quantile(0.99, sum by (le) "
        '(rfs_operation_duration_seconds_bucket{operation="checkout"}))'
    )
    theirs = float(query(prometheus, promql)[0]["value"][1])
    ours = collector.operation_metrics("checkout", "1h").unwrap().p99_response_time_ms / 1000
    bounds = [0.0] + [bound for bound, _ in collector.cumulative()[0].buckets]
    bucket = next(i for i in range(1, len(bounds)) if theirs <= bounds[i])
    lower, upper = bounds[bucket - 1], bounds[bucket]
    assert lower <= ours <= upper, (ours, theirs, lower, upper)
    assert lower < theirs <= upper

    totals = query(prometheus, 'rfs_operations_total{operation="checkout"}')
    by_outcome = {s["metric"]["outcome"]: float(s["value"][1]) for s in totals}
    assert by_outcome == {"success": 4800.0, "error": 200.0}
    errors = query(prometheus, "rfs_operation_errors_total")
    assert errors[0]["metric"]["error_code"] == "DATABASE_ERROR"
    assert float(query(prometheus, "process_resident_memory_bytes")[0]["value"][1]) > 0


# -- native histograms ----------------------------------------------------------------------------


def _exact_quantile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _serve(collector: ResultMetricsCollector) -> tuple[uvicorn.Server, threading.Thread, int]:
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return server, thread, port


def test_native_histograms_give_prometheus_quantiles_within_two_percent(tmp_path: Path) -> None:
    """Two instances, 20k lognormal samples each, scraped as protobuf by a real Prometheus with
    native histograms: histogram_quantile over the sum is within 2% of the exact quantiles of
    all 40k samples (classic buckets were 17% off the p99)."""
    binary = shutil.which("prometheus")
    assert binary is not None, "this test needs Debian's prometheus package"
    rng = random.Random(11)
    everything: list[float] = []
    servers = []
    collectors = []
    try:
        for instance in range(2):
            c = ResultMetricsCollector(sample_resources=False)
            for _ in range(20_000):
                ms = rng.lognormvariate(3.5 + 0.3 * instance, 0.6)
                everything.append(ms)
                c.record("checkout", ms, True)
            collectors.append(c)
            servers.append(_serve(c))
        config = tmp_path / "prometheus.yml"
        targets = ", ".join(f"'127.0.0.1:{port}'" for _, _, port in servers)
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: rfs\n"
            "    metrics_path: /monitoring/metrics\n"
            "    static_configs:\n"
            f"      - targets: [{targets}]\n"
        )
        port = free_port()
        log = (tmp_path / "prometheus.log").open("w")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=native-histograms",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
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
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()
    finally:
        for server, thread, _ in servers:
            server.should_exit = True
            thread.join(30)
        for c in collectors:
            c.close()


def test_promtool_accepts_the_text_exposition(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "this test needs Debian's prometheus package (promtool)"
    c = ResultMetricsCollector(sample_resources=False)
    try:
        c.record("checkout", 12.0, False, error_code="DATABASE_ERROR")
        c.record('we"ird\\name', 3.0, True)
        c.step("checkout", "load").record(2.0, True)
        from rfs_monitoring.dashboard_api import process_families

        body = c.expose("text", process_families())
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=body, capture_output=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        c.close()


def test_the_route_negotiates_the_format_by_accept(collector: ResultMetricsCollector) -> None:
    from fastapi.testclient import TestClient

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

    binary = shutil.which("prometheus")
    assert binary is not None, "this test needs Debian's prometheus package"
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
        server, thread, app_port = _serve(collector)
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: rfs\n"
            "    metrics_path: /monitoring/metrics\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{app_port}']\n"
        )
        port = free_port()
        log = (tmp_path / "prometheus.log").open("w")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
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
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()
            server.should_exit = True
            thread.join(30)
    finally:
        ResultMetricsCollector.set_instance(previous)
        tracing.set_tracer_provider(previous_provider)
        provider.shutdown()
        collector.close()
