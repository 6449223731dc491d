"""Monitoring route latency through the ASGI app, against a bare FastAPI baseline.

Data: 1000 operations with a week of traffic (a sample per operation every hour of the week and
every minute of the last hour), on a fake clock.

Groups (compare the rows of a group):

- ``route-metrics``: ``GET /monitoring/operations/{name}/metrics?time_range=1w`` vs a bare
  FastAPI route answering the same JSON precomputed (the framework's own floor).
  Goal: p99 under 5 ms (the design document asks for dashboard answers under 200 ms).
- ``route-operations``: ``GET /monitoring/operations`` listing 1000 operations vs the bare route
  answering the same precomputed list. Goal: under 20 ms.
- ``route-health``: ``GET /monitoring/health/result-patterns`` over 1000 operations (the
  dashboard asks for it with the list on every refresh) vs the bare route answering the same
  body precomputed.

Requests go straight into the ASGI app (no sockets, no HTTP client), so the numbers are the
app's own cost; ``extra_info`` holds the p99 in milliseconds. Run for real with::

    .venv/bin/python -m pytest benches/bench_routes.py --benchmark-enable --benchmark-only \\
        -p no:cacheprovider

Requests per second over loopback HTTP are measured by hand with Debian's ``wrk`` against
uvicorn (not in CI)::

    .venv/bin/python benches/bench_routes.py --wrk [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.metrics import ResultMetricsCollector

OPERATIONS = 1000
NOW = 1_700_000_000.0
WEEK = 7 * 86_400


class Clock:
    """A settable clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def week_of_traffic() -> ResultMetricsCollector:
    """1000 operations, each with a sample every hour of the week and every minute of the last
    hour (5% failures with two codes)."""
    clock = Clock(NOW - WEEK + 60)
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    handles = [collector.operation(f"service.op-{i:04d}") for i in range(OPERATIONS)]

    def tick() -> None:
        for j, handle in enumerate(handles):
            failed = (j + int(clock.now)) % 20 == 0
            handle.record(
                5.0 + (j * 7 + int(clock.now)) % 300, not failed, "E1" if failed else None
            )

    while clock.now < NOW - 3600:
        tick()
        clock.now += 3600
    while clock.now < NOW:
        tick()
        clock.now += 60
    clock.now = NOW
    return collector


def build_apps(collector: ResultMetricsCollector) -> tuple[FastAPI, FastAPI, dict[str, bytes]]:
    """Our router's app, and a bare app answering the same bodies precomputed."""
    ours = FastAPI()
    ours.include_router(monitoring_router(collector))
    bodies: dict[str, bytes] = {}
    bare = FastAPI()

    @bare.get("/bare/{key}")
    async def precomputed(key: str) -> Response:
        return Response(bodies[key], media_type="application/json")

    return ours, bare, bodies


class ASGICaller:
    """Calls an ASGI app with a GET and returns the status and body, on one event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def get(self, app: Any, path: str, query: str = "") -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1),
            "server": ("bench", 80),
        }
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        self.loop.run_until_complete(app(scope, receive, send))
        return status, b"".join(chunks)

    def close(self) -> None:
        self.loop.close()


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[FastAPI, FastAPI, dict[str, bytes], ASGICaller]]:
    """The apps over a week of traffic for 1000 operations, and an ASGI caller."""
    collector = week_of_traffic()
    ours, bare, bodies = build_apps(collector)
    caller = ASGICaller()
    yield ours, bare, bodies, caller
    caller.close()
    collector.close()


def p99_ms(benchmark: Any) -> float:
    """The 99th percentile of the measured rounds, in milliseconds (0 when disabled)."""
    stats = getattr(benchmark, "stats", None)
    data = sorted(stats.stats.data) if stats is not None else []
    return data[min(len(data) - 1, int(len(data) * 0.99))] * 1000 if data else 0.0


def run(benchmark: Any, fn: Callable[[], tuple[int, bytes]]) -> bytes:
    """Benchmark ``fn`` (a request), check it answered 200 and record its p99."""
    status, body = benchmark(fn)
    assert isinstance(body, bytes)
    assert status == 200, body[:300]
    benchmark.extra_info["p99_ms"] = round(p99_ms(benchmark), 3)
    return body


@pytest.mark.benchmark(group="route-metrics")
def test_operation_metrics_1w_ours(benchmark: Any, setup: Any) -> None:
    """GET /operations/{name}/metrics over a week with 1000 operations."""
    ours, _, bodies, caller = setup
    path = "/monitoring/operations/service.op-0500/metrics"
    body = run(benchmark, lambda: caller.get(ours, path, "time_range=1w"))
    assert json.loads(body)["total_requests"] > 7 * 24
    bodies["metrics"] = body


@pytest.mark.benchmark(group="route-metrics")
def test_operation_metrics_1w_bare_fastapi(benchmark: Any, setup: Any) -> None:
    """Baseline: a bare FastAPI route answering the same body, precomputed."""
    ours, bare, bodies, caller = setup
    bodies["metrics"] = caller.get(
        ours, "/monitoring/operations/service.op-0500/metrics", "time_range=1w"
    )[1]
    run(benchmark, lambda: caller.get(bare, "/bare/metrics"))


@pytest.mark.benchmark(group="route-operations")
def test_operations_list_1000_ours(benchmark: Any, setup: Any) -> None:
    """GET /operations with 1000 operations over the last hour."""
    ours, _, _, caller = setup
    body = run(benchmark, lambda: caller.get(ours, "/monitoring/operations", "time_range=1h"))
    assert len(json.loads(body)["operations"]) == OPERATIONS


@pytest.mark.benchmark(group="route-operations")
def test_operations_list_1000_bare_fastapi(benchmark: Any, setup: Any) -> None:
    """Baseline: a bare FastAPI route answering the same list, precomputed."""
    ours, bare, bodies, caller = setup
    bodies["operations"] = caller.get(ours, "/monitoring/operations", "time_range=1h")[1]
    run(benchmark, lambda: caller.get(bare, "/bare/operations"))


@pytest.mark.benchmark(group="route-health")
def test_health_1000_ours(benchmark: Any, setup: Any) -> None:
    """GET /health/result-patterns with 1000 operations over the last 5 minutes."""
    ours, _, _, caller = setup
    body = run(benchmark, lambda: caller.get(ours, "/monitoring/health/result-patterns"))
    assert json.loads(body)["total_operations"] == OPERATIONS


@pytest.mark.benchmark(group="route-health")
def test_health_1000_bare_fastapi(benchmark: Any, setup: Any) -> None:
    """Baseline: a bare FastAPI route answering the same health body, precomputed."""
    ours, bare, bodies, caller = setup
    bodies["health"] = caller.get(ours, "/monitoring/health/result-patterns")[1]
    run(benchmark, lambda: caller.get(bare, "/bare/health"))


# -- manual: requests/s under wrk ------------------------------------------------------------


def _serve_in_thread(app: FastAPI) -> tuple[int, Any, threading.Thread]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return port, server, thread


def wrk_report(seconds: int, connections: int) -> None:
    """Serve the router over a week of traffic with uvicorn and print wrk's requests/s."""
    import _wrk

    collector = week_of_traffic()
    app, _, _ = build_apps(collector)
    port, server, thread = _serve_in_thread(app)
    try:
        for path in [
            "/monitoring/operations/service.op-0500/metrics?time_range=1w",
            "/monitoring/operations/service.op-0500/metrics?time_range=1h",
            "/monitoring/operations?time_range=1h",
            "/monitoring/health/result-patterns?time_range=5m",
        ]:
            out = _wrk.run(
                f"http://127.0.0.1:{port}{path}",
                threads=2,
                connections=connections,
                seconds=seconds,
                latency=True,
            )
            rps = next(line for line in out.splitlines() if line.startswith("Requests/sec"))
            p99 = next(line for line in out.splitlines() if line.strip().startswith("99%"))
            print(f"{path}\n  {rps.strip()}   latency {p99.strip()}")
    finally:
        server.should_exit = True
        thread.join(30)
        collector.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="requests/s of the monitoring routes under wrk")
    parser.add_argument("--wrk", action="store_true", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    arguments = parser.parse_args()
    wrk_report(arguments.seconds, arguments.connections)
