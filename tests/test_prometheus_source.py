"""The monitoring routes answered from a real Prometheus over two instances (fleet view)."""

from __future__ import annotations

import math
import random
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.prometheus_source import PrometheusSource
from servers import prometheus, query, serving_metrics


def _fleet_app(source: PrometheusSource) -> TestClient:
    app = FastAPI()
    app.include_router(
        monitoring_router(ResultMetricsCollector(sample_resources=False), source=source)
    )
    return TestClient(app)


def test_the_routes_answer_for_the_whole_fleet_from_prometheus(tmp_path: Path) -> None:
    rng = random.Random(7)
    collectors = [ResultMetricsCollector(sample_resources=False) for _ in range(2)]
    sources: list[PrometheusSource] = []
    durations: list[float] = []
    try:
        for c in collectors:  # the series exist before the first scrape
            c.record("checkout", 20.0, True)
            c.step("checkout", "load").record(2.0, True)
        with (
            serving_metrics(collectors[0]) as first,
            serving_metrics(collectors[1]) as second,
            prometheus(
                tmp_path, [first, second], flags=["--enable-feature=native-histograms"]
            ) as base,
        ):
            query(base, 'count(up{job="rfs"} == 1) == 2')
            time.sleep(2.5)  # a few scrapes of the starting values
            for instance, c in enumerate(collectors):
                for i in range(1000):
                    ms = rng.lognormvariate(3.0 + instance * 0.4, 0.5)
                    durations.append(ms)
                    failed = i % 10 == 0
                    c.record("checkout", ms, not failed, "TIMEOUT_ERROR" if i % 20 == 0 else "DB")
                    c.step("checkout", "load").record(ms / 4, True)
            query(base, 'sum(rfs_operations_total{operation="checkout"}) == 2002', 30)
            time.sleep(3)  # a few scrapes of the final values

            source = PrometheusSource(base, 'job="rfs"')
            sources.append(source)
            client = _fleet_app(source)
            listed = client.get("/monitoring/operations", params={"time_range": "5m"})
            assert listed.status_code == 200, listed.text
            (row,) = listed.json()["operations"]
            assert row["name"] == "checkout"
            assert row["total_requests"] == pytest.approx(2000, rel=0.12)
            assert row["success_rate"] == pytest.approx(0.9, abs=0.02)

            metrics = client.get(
                "/monitoring/operations/checkout/metrics", params={"time_range": "5m"}
            ).json()
            ordered = sorted(durations)
            exact_p99 = ordered[math.ceil(0.99 * len(ordered)) - 1]
            assert metrics["p99_response_time_ms"] == pytest.approx(exact_p99, rel=0.05)
            assert set(metrics["error_breakdown"]) == {"TIMEOUT_ERROR", "DB"}
            assert metrics["error_breakdown"]["TIMEOUT_ERROR"] == pytest.approx(100, rel=0.15)
            assert [s["name"] for s in metrics["steps"]] == ["load"]

            series = client.get(
                "/monitoring/operations/checkout/timeseries",
                params={"time_range": "5m", "points": 30},
            ).json()["points"]
            assert sum(p["total"] for p in series) > 0
            health = client.get("/monitoring/health/result-patterns", params={"time_range": "5m"})
            assert health.status_code == 200
            assert health.json()["operations"][0]["operation"] == "checkout"
            top = client.get("/monitoring/errors/top", params={"time_range": "5m"}).json()
            assert {e["error_code"] for e in top} == {"TIMEOUT_ERROR", "DB"}
            unknown = client.get("/monitoring/operations/nope/metrics")
            assert unknown.status_code == 404
            page = client.get("/monitoring/dashboard")
            assert page.status_code == 200
            # /metrics still exposes this process (what Prometheus scrapes).
            assert "rfs_operations_total" in client.get("/monitoring/metrics").text
    finally:
        for c in collectors:
            c.close()
        for source in sources:
            source.close()


def test_an_unreachable_prometheus_is_a_502_problem() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket closes
    source = PrometheusSource(f"http://127.0.0.1:{port}", timeout=2.0)
    client = _fleet_app(source)
    started = time.monotonic()
    try:
        for path in ("/monitoring/operations", "/monitoring/operations/x/metrics"):
            answer = client.get(path)
            assert answer.status_code == 502, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "EXTERNAL_SERVICE_ERROR"
        assert client.get("/monitoring/errors/top").status_code == 502
        assert source.list_operations() == []
        assert time.monotonic() - started < 10
    finally:
        source.close()


def test_a_prometheus_that_never_answers_is_a_504_within_the_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    held: list[Any] = []
    stop = threading.Event()

    def accept() -> None:  # accepts and never answers, until the test ends
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        source = PrometheusSource(f"http://127.0.0.1:{port}", timeout=1.0)
        client = _fleet_app(source)
        started = time.monotonic()
        answer = client.get("/monitoring/health/result-patterns")
        assert answer.status_code == 504, answer.text
        assert answer.json()["code"] == "TIMEOUT_ERROR"
        assert time.monotonic() - started < 5
        source.close()
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


def test_a_prometheus_that_trickles_its_answer_is_a_504_within_the_timeout() -> None:
    """Each byte comes well within httpx's per-read timeout, the whole answer never does: the
    source's deadline bounds the whole request."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection = listener.accept()[0]
            except OSError:
                continue
            with connection:
                connection.settimeout(1.0)
                try:
                    connection.recv(65536)
                    connection.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n"
                    )
                    for _ in range(100):  # bounded: at most 30 s, one byte every 0.3 s
                        if stop.wait(0.3):
                            break
                        connection.sendall(b" ")
                except OSError:
                    continue

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    source = PrometheusSource(f"http://127.0.0.1:{port}", timeout=1.5)
    try:
        started = time.monotonic()
        error = source.operation_metrics("pay", "1h").unwrap_error()
        assert error.status_code == 504
        assert time.monotonic() - started < 4
    finally:
        source.close()
        stop.set()
        thread.join(5)
        listener.close()


def test_a_bad_url_or_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        PrometheusSource("prometheus:9090")
    with pytest.raises(ValueError, match="timeout"):
        PrometheusSource("http://127.0.0.1:9090", timeout=0)
    with pytest.raises(ValueError, match="retention"):
        PrometheusSource("http://127.0.0.1:9090", retention="forever")
    source = PrometheusSource("http://127.0.0.1:9090", 'job="api"')
    assert "job" in repr(source)
    assert source.latest_resource_sample() is None
    source.close()


def _answering(results: dict[str, Any]) -> Any:
    """A transport answering each PromQL query with the first result whose key it contains."""

    def handle(request: httpx.Request) -> httpx.Response:
        promql = request.url.params.get("query", "")
        if "broken" in str(request.url):
            return httpx.Response(200, text="not json")
        for key, result in results.items():
            if key in promql:
                return httpx.Response(200, json={"status": "success", "data": {"result": result}})
        return httpx.Response(200, json={"status": "success", "data": {"result": []}})

    return httpx.MockTransport(handle)


def test_prometheus_answers_are_read_and_refused_by_their_shape() -> None:
    now = 1_700_000_000.0
    vector = [{"metric": {"operation": "pay"}, "value": [now, "100"]}]
    results = {
        "histogram_quantile(0.99": [{"metric": {"operation": "pay"}, "value": [now, "0.25"]}],
        "histogram_quantile": [{"metric": {"operation": "pay"}, "value": [now, "0.1"]}],
        "histogram_sum": [{"metric": {"operation": "pay"}, "value": [now, "NaN"]}],
        "error_code": [{"metric": {"error_code": "E1"}, "value": [now, "12"]}],
        'outcome="error"': [{"metric": {"operation": "pay"}, "value": [now, "12"]}],
        "[1h]": [{"metric": {}, "values": [[now - 3600, "40"], [now, "60"]]}],
        "rfs_operations_total": vector,
    }
    source = PrometheusSource(
        "http://prometheus.test", clock=lambda: now, transport=_answering(results)
    )
    try:
        metrics = source.operation_metrics("pay", "2h").unwrap()
        assert (metrics.total_requests, metrics.failed_requests) == (100, 12)
        assert metrics.p99_response_time_ms == 250.0
        assert metrics.avg_response_time_ms == 0.0  # NaN from Prometheus reads as 0
        assert sum(metrics.hourly_distribution.values()) == 100
        assert metrics.error_breakdown == {"E1": 12}
        assert source.list_operations("1h") == ["pay"]
        assert source.operation_metrics("", "1h").is_failure()
        assert source.operation_metrics("pay", "99y").is_failure()
        assert source.clock() == now
    finally:
        source.close()
    broken = PrometheusSource("http://broken.test", transport=_answering({}))
    try:
        error = broken.operation_metrics("pay", "1h").unwrap_error()
        assert error.status_code == 502
    finally:
        broken.close()
    refusing = PrometheusSource(
        "http://prometheus.test",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(400, json={"status": "error"})
        ),
    )
    try:
        assert refusing.operation_metrics("pay", "1h").unwrap_error().status_code == 502
    finally:
        refusing.close()
