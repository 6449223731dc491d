"""GET /monitoring/metrics scraped by a real Prometheus server.

Needs Debian's ``prometheus`` package (``.ci/run`` installs it); without the binary the test fails
with a message saying so. The server runs on 127.0.0.1 with a temporary configuration and
storage, scraping every second.
"""

from __future__ import annotations

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
