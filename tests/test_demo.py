"""Smoke tests of the demo: the example app, the ``rfs-monitoring demo`` command and its pieces."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from rfs_monitoring import cli, result_logging
from rfs_monitoring._demo import (
    Incident,
    Latency,
    ShiftableClock,
    TrafficGenerator,
    backfill_history,
    create_app,
)
from rfs_monitoring.metrics import ResultMetricsCollector

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "monitoring" / "metrics_dashboard.py"


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


def operations(client: Any) -> dict[str, dict[str, Any]]:
    """The operations table of a running demo, by name."""
    response = client.get("/monitoring/operations", params={"time_range": "5m"})
    assert response.status_code == 200
    return {row["name"]: row for row in response.json()["operations"]}


def get_user(client: Any, user_id: str) -> Any:
    """``GET /users/{user_id}``, asked again while the demo's injected 1% database errors answer."""
    for _ in range(20):
        body = client.get(f"/users/{user_id}").json()
        if body.get("code") != "DATABASE_ERROR":
            return body
    raise AssertionError(f"/users/{user_id} answered DATABASE_ERROR 20 times in a row")


def load_example() -> ModuleType:
    """Import examples/monitoring/metrics_dashboard.py as a module."""
    spec = importlib.util.spec_from_file_location("metrics_dashboard_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_app_serves_live_traffic_and_the_dashboard() -> None:
    """The demo app's traffic generator makes every operation show up with failures."""
    app = create_app(rps=200, history=False)
    with TestClient(app) as client:
        rows = wait_for(lambda: (ops := operations(client)) and len(ops) == 4 and ops)
        assert set(rows) == {
            "user_retrieval",
            "order_creation",
            "order_lookup",
            "payment_authorization",
        }
        wait_for(lambda: sum(r["failed_requests"] for r in operations(client).values()) > 0)
        page = client.get("/monitoring/dashboard")
        assert page.status_code == 200
        assert "<canvas" in page.text
        assert get_user(client, "u1")["user_id"] == "u1"
        assert get_user(client, "nobody")["code"] == "NOT_FOUND"
        report = client.get("/analytics/performance").json()
        assert report["operation"] == "user_retrieval"
        assert report["requests"] > 0
        alerts = client.get("/monitoring/alerts").json()
        assert alerts["evaluating"] is True
        assert len(alerts["rules"]) == 3


def test_demo_app_backfills_an_hour_and_restores_the_collector() -> None:
    """With history the 1h window holds thousands of requests at once; shutdown restores the
    process collector."""
    before = ResultMetricsCollector.instance()
    app = create_app(traffic=False)
    with TestClient(app) as client:
        body = client.get("/monitoring/operations").json()
        assert sum(r["total_requests"] for r in body["operations"]) > 10_000
        assert ResultMetricsCollector.instance() is not before
        series = client.get(
            "/monitoring/operations/payment_authorization/timeseries", params={"points": 60}
        ).json()["points"]
        assert sum(1 for p in series if p["total"] > 0) > 50
    assert ResultMetricsCollector.instance() is before


def test_orders_flow_through_payment_and_lookup() -> None:
    """A created order can be read back; bad bodies are rejected."""
    app = create_app(traffic=False, history=False)
    with TestClient(app) as client:
        for _ in range(20):  # a few percent of attempts fail by design
            created = client.post("/orders", json={"user_id": "u3", "sku": "mug", "quantity": 2})
            if created.status_code == 200:
                break
        assert created.status_code == 200
        order = created.json()
        assert order["status"] == "paid"
        assert client.get(f"/orders/{order['order_id']}").json() == order
        assert client.get("/orders/o-nope").status_code == 404
        invalid = client.post("/orders", json={"user_id": "u3", "sku": "x", "quantity": 0})
        assert invalid.status_code == 422
        assert invalid.headers["content-type"] == "application/problem+json"
        assert invalid.json()["correlation_id"]
        unknown = client.get("/no/such/route")
        assert (unknown.status_code, unknown.headers["content-type"]) == (
            404,
            "application/problem+json",
        )
        assert get_user(client, "u0")["code"] == "VALIDATION_ERROR"  # deactivated user


def test_example_serves_traffic_in_process() -> None:
    """The example module builds an app whose lifespan starts traffic and the alerts."""
    example = load_example()
    with TestClient(example.app) as client:
        wait_for(lambda: len(operations(client)) == 4)
        assert client.get("/monitoring/dashboard").status_code == 200
        assert example.alerts.running
        assert example.dashboard_url(9999) == "http://127.0.0.1:9999/monitoring/dashboard"
    assert not example.alerts.running
    example.collector.close()


@contextlib.contextmanager
def serving(args: list[str], port: int) -> Iterator[subprocess.Popen[str]]:
    """Run a demo server process; interrupt it like Ctrl-C on exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _until_serving(port: int) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/monitoring/operations?time_range=5m", timeout=2)
    except httpx.TransportError:
        return None


@pytest.mark.parametrize("command", ["example", "cli"])
def test_demo_process_prints_the_url_serves_and_stops_on_ctrl_c(command: str) -> None:
    """`make demo`'s script and `rfs-monitoring demo` serve on 127.0.0.1, print the dashboard
    URL, and exit 0 on SIGINT."""
    port = free_port()
    if command == "example":
        args = [sys.executable, str(EXAMPLE), "--port", str(port)]
    else:
        args = [sys.executable, "-m", "rfs_monitoring.cli", "demo", "--port", str(port)]
        args += ["--no-history", "--rps", "50"]
    with serving(args, port) as process:
        wait_for(lambda: process.poll() is not None or _until_serving(port), timeout=60)
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        wait_for(lambda: len(_until_serving(port).json()["operations"]) >= 3)  # type: ignore[union-attr]
        page = httpx.get(f"http://127.0.0.1:{port}/monitoring/dashboard", timeout=5)
        assert page.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        output = process.stdout.read() if process.stdout else ""
    assert f"http://127.0.0.1:{port}/monitoring/dashboard" in output
    assert "Traceback" not in output


def test_cli_version_help_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """The command prints its version, help without a command, and refuses bad values."""
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("rfs-monitoring ")
    assert cli.main([]) == 1
    assert "demo" in capsys.readouterr().out
    assert cli.main(["demo", "--port", "0"]) == 2
    assert "invalid port" in capsys.readouterr().err
    assert cli.main(["demo", "--rps", "0"]) == 2
    assert "--rps" in capsys.readouterr().err


def test_cli_explains_a_missing_uvicorn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without uvicorn the demo says which extra to install."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert cli.run_demo() == 2
    assert "rfs-monitoring[server]" in capsys.readouterr().err


def test_cli_runs_uvicorn_with_the_demo_app(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """run_demo hands the demo app to uvicorn on the requested interface and announces it."""
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, host: str, port: int, log_level: str) -> None:
        seen.update(host=host, port=port)
        with TestClient(app):
            pass

    monkeypatch.setattr(uvicorn, "run", fake_run)
    configured: list[dict[str, Any]] = []
    monkeypatch.setattr(
        result_logging, "configure_logging", lambda **kwargs: configured.append(kwargs)
    )
    monkeypatch.setenv("RFS_MONITORING_TOKEN", "known-token")
    assert (
        cli.main(["demo", "--host", "0.0.0.0", "--port", "8123", "--no-traffic", "--no-history"])
        == 0
    )
    assert seen == {"host": "0.0.0.0", "port": 8123}
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/monitoring/dashboard" in out
    assert "known-token" in out
    assert configured == [
        {"level": "ERROR", "service_name": "rfs-demo-shop", "environment": "demo"}
    ]


def test_latency_model_has_a_slow_tail() -> None:
    """The lognormal latency's p99 is far above its median."""
    rng = random.Random(1)
    samples = sorted(Latency(median_ms=20).sample(rng) for _ in range(5000))
    median, p99 = samples[2500], samples[int(5000 * 0.99)]
    assert 15 < median < 27
    assert p99 > 5 * median


def test_incident_is_periodic() -> None:
    """An incident is active for ``duration`` seconds of every ``period``."""
    incident = Incident(period=100, duration=10, first_in=0)
    start = time.time()
    active = [incident.active(start + t + 0.5) for t in range(300)]
    assert 25 <= sum(active) <= 35


def test_backfill_spreads_samples_over_the_window_and_restores_the_clock() -> None:
    """Backfilled samples cover the past hour; the clock is live again afterwards."""
    clock = ShiftableClock()
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    count = backfill_history(collector, clock, seconds=600, rps=10)
    assert count > 3000
    assert clock.at is None
    assert abs(clock() - time.time()) < 5
    assert sum(r.total for r in collector.cumulative()) == count
    assert collector.operation_metrics("user_retrieval", "5m").unwrap().total_requests < count
    collector.close()


def test_traffic_generator_validates_its_rate() -> None:
    """A rate must be positive and finite."""
    with pytest.raises(ValueError, match="rps"):
        TrafficGenerator(object(), rps=0)


def test_simulated_failures_reach_the_api_as_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    """When every dice roll fails, the repositories' errors come back as problem responses."""
    from rfs_monitoring import _demo

    class AlwaysFails(random.Random):
        def random(self) -> float:
            return 0.0

        def lognormvariate(self, mu: float, sigma: float) -> float:
            return 1.0

    monkeypatch.setattr(_demo, "_rng", AlwaysFails())
    app = create_app(traffic=False, history=False)
    with TestClient(app) as client:
        assert client.get("/users/u1").json()["code"] == "DATABASE_ERROR"
        created = client.post("/orders", json={"user_id": "u3", "sku": "mug", "quantity": 1})
        assert created.json()["code"] == "DATABASE_ERROR"
    order = _demo.OrderResponse(
        order_id="o-1", user_id="u1", sku="mug", quantity=1, total_cents=1, status="paid"
    )
    assert asyncio.run(_demo.orders.save(order)).unwrap_error().code == "CONFLICT"
    declined = asyncio.run(_demo.payments.authorize("u1", 100)).unwrap_error()
    assert declined.code == "EXTERNAL_SERVICE_ERROR"
