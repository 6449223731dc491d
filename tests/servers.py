"""Real servers for the tests, on 127.0.0.1 only: uvicorn serving an app in a thread, and
Debian's Prometheus and Alertmanager as subprocesses with temporary configuration and storage.

A missing binary fails the test with the Debian package to install (``.ci/run`` installs them).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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


def binary(name: str, package: str) -> str:
    """The path of ``name``, or a test failure naming the Debian package that brings it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"the {name} binary is not installed: this test needs Debian's {package} package "
            f"(apt-get install -y {package})",
            pytrace=False,
        )
    return found


def wait_for(check: Callable[[], Any], what: str, timeout: float = 45.0) -> Any:
    """Call ``check`` until it returns something true; fail saying ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s; last: {last!r}")


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """uvicorn serving ``app`` on a free port, in a thread; yields the port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "uvicorn did not start", 30)
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.contextmanager
def serving_metrics(collector: ResultMetricsCollector) -> Iterator[int]:
    """The monitoring router over ``collector``, served; yields the port."""
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    with serving(app) as port:
        yield port


@contextlib.contextmanager
def subprocess_server(
    command: Sequence[str], log_path: Path, ready: Callable[[], Any]
) -> Iterator[None]:
    """Run ``command`` with its output in ``log_path`` until ``ready()`` is true, and end it
    (terminate, then kill) when the block ends."""
    with log_path.open("w") as log:
        process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(ready, f"{command[0]} did not become ready")
            yield
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _ready(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code == 200


@contextlib.contextmanager
def prometheus(
    tmp_path: Path,
    targets: Sequence[int],
    *,
    flags: Sequence[str] = (),
    rule_files: Sequence[Path] = (),
) -> Iterator[str]:
    """Debian's Prometheus scraping ``/monitoring/metrics`` of the apps on ``targets`` every
    second (job ``rfs``), evaluating ``rule_files`` every second; yields its base URL."""
    config = tmp_path / "prometheus.yml"
    listed = ", ".join(f"'127.0.0.1:{port}'" for port in targets)
    rules = "".join(f"rule_files: ['{path}']\n" for path in rule_files[:1])
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        f"{rules}"
        "scrape_configs:\n"
        "  - job_name: rfs\n"
        "    metrics_path: /monitoring/metrics\n"
        "    static_configs:\n"
        f"      - targets: [{listed}]\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        binary("prometheus", "prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *flags,
    ]
    with subprocess_server(command, tmp_path / "prometheus.log", lambda: _ready(f"{base}/-/ready")):
        yield base


@contextlib.contextmanager
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """Debian's Alertmanager (no clustering, a receiver that drops everything); yields its
    base URL."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: 'null'\n  group_wait: 0s\nreceivers:\n  - name: 'null'\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        binary("prometheus-alertmanager", "prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with subprocess_server(
        command, tmp_path / "alertmanager.log", lambda: _ready(f"{base}/-/ready")
    ):
        yield base


def query(base: str, promql: str, timeout: float = 45.0) -> list[dict[str, Any]]:
    """Run an instant query until it returns a non-empty vector."""

    def attempt() -> list[dict[str, Any]] | None:
        response = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
        if response.status_code != 200:  # 503 while Prometheus starts up
            return None
        body = response.json()
        result: list[dict[str, Any]] = body["data"]["result"]
        return result if body.get("status") == "success" and result else None

    found: list[dict[str, Any]] = wait_for(attempt, f"no result for {promql!r}", timeout)
    return found
