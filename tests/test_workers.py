"""One truth under several workers and across restarts (issue #12), proven on real servers.

uvicorn with 3 spawned workers and gunicorn with 3 forked uvicorn workers (``--preload``, and
``--max-requests`` so workers are recycled mid-run) serve an app whose operation fails in a
known pattern. Every worker's monitoring routes and ``/metrics`` must then answer the exact
totals, failures and error breakdown of all requests, and so must a new server started on the
same directory after the first one stopped.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from servers import free_port, wait_for

pytestmark = pytest.mark.timeout(300)

_APP = """
import os

from fastapi import FastAPI, Request

from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.metrics import monitor_result
from rfs_monitoring.result import Failure, Success


class WorkError:
    def __init__(self, code: str) -> None:
        self.code = code
        self.message = f"work failed: {code}"


app = FastAPI()
app.include_router(monitoring_router())


@app.middleware("http")
async def whoami(request: Request, call_next):
    response = await call_next(request)
    response.headers["x-worker-pid"] = str(os.getpid())
    return response


@monitor_result("work")
async def work(n: int):
    if n % 5 == 0:
        return Failure(WorkError("E_FIVE"))
    if n % 7 == 0:
        return Failure(WorkError("E_SEVEN"))
    return Success(n)


@app.get("/work/{n}")
async def endpoint(n: int):
    result = await work(n)
    return {"ok": result.is_success()}
"""

REQUESTS = 420


def _expected(count: int) -> tuple[int, dict[str, int]]:
    five = sum(1 for n in range(count) if n % 5 == 0)
    seven = sum(1 for n in range(count) if n % 5 and n % 7 == 0)
    return five + seven, {"E_FIVE": five, "E_SEVEN": seven}


@contextlib.contextmanager
def _server(command: Sequence[str], cwd: Path, shared: Path, log: Path) -> Iterator[str]:
    """Runs ``command`` (a server on the port it names) with ``RFS_MONITORING_DIR=shared``;
    yields its base URL once it answers, and stops it with SIGTERM (as a deploy does)."""
    env = {
        **os.environ,
        "RFS_MONITORING_DIR": str(shared),
        "PYTHONPATH": os.pathsep.join([str(cwd), *sys.path]),
    }
    port = command[-1]
    base = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(list(command[:-1]), cwd=cwd, env=env, stdout=out, stderr=out)
        try:
            wait_for(
                lambda: httpx.get(f"{base}/work/1", timeout=5).status_code == 200,
                f"{command[0]} did not start (log: {log})",
                timeout=90,
            )
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:  # pragma: no cover - only when a server hangs
                process.kill()
                process.wait(10)


def _get(url: str, **params: str) -> httpx.Response:
    """A GET on a new connection. A worker that gunicorn recycles (``--max-requests``) may close
    a connection it accepted without answering (the request never reached the application): the
    request is sent again, on another connection, up to 5 times."""
    for attempt in range(5):
        try:
            return httpx.get(url, params=params, headers={"connection": "close"}, timeout=10)
        except (httpx.RemoteProtocolError, httpx.ConnectError):
            if attempt == 4:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def _drive(base: str, count: int) -> set[str]:
    """``count`` requests, each on a new connection so that the kernel spreads them over the
    workers; returns the pids that answered."""
    pids: set[str] = set()
    for n in range(count):
        response = _get(f"{base}/work/{n}")
        assert response.status_code == 200, response.text
        pids.add(response.headers["x-worker-pid"])
    return pids


def _metrics(base: str) -> tuple[str, dict[str, object]]:
    response = _get(f"{base}/monitoring/operations/work/metrics", time_range="1h")
    assert response.status_code == 200, response.text
    return response.headers["x-worker-pid"], response.json()


def _scrape(base: str) -> tuple[str, str]:
    response = _get(f"{base}/monitoring/metrics")
    assert response.status_code == 200, response.text
    return response.headers["x-worker-pid"], response.text


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.index("}") + 1]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{labels} in:\n{text}")


def _check_every_worker(base: str, count: int, starts: int, workers: int) -> None:
    """Every worker's routes and ``/metrics`` answer the totals of all ``count`` requests and of
    the ``starts`` requests (``/work/1``, a success) that found each server up."""
    failures, breakdown = _expected(count)
    total = count + starts

    # Other workers' samples show within a second (each writes its segment every 0.25 s and
    # readers look at the directory at most every 0.2 s); twice that for a loaded machine.
    time.sleep(2.0)
    seen_routes: set[str] = set()
    seen_scrapes: set[str] = set()
    for _ in range(200):
        pid, body = _metrics(base)
        seen_routes.add(pid)
        assert body["total_requests"] == total, (pid, body)
        assert body["failed_requests"] == failures, (pid, body)
        assert body["error_breakdown"] == breakdown, (pid, body)
        pid, text = _scrape(base)
        seen_scrapes.add(pid)
        assert _sample(text, "rfs_operation_duration_seconds_count", operation="work") == total
        assert _sample(text, "rfs_operations_total", operation="work", outcome="error") == failures
        for code, n in breakdown.items():
            assert (
                _sample(text, "rfs_operation_errors_total", error_code=code, operation="work") == n
            )
        if len(seen_routes) >= workers and len(seen_scrapes) >= workers:
            break
    assert len(seen_routes) >= 2, seen_routes
    assert len(seen_scrapes) >= 2, seen_scrapes


def _write_app(tmp_path: Path) -> None:
    (tmp_path / "workers_app.py").write_text(_APP)


def test_uvicorn_three_spawned_workers_and_a_restart_answer_for_every_request(
    tmp_path: Path,
) -> None:
    _write_app(tmp_path)
    shared = tmp_path / "shared"
    log = tmp_path / "uvicorn.log"
    port = str(free_port())
    command = [
        sys.executable, "-m", "uvicorn", "workers_app:app", "--workers", "3",
        "--host", "127.0.0.1", "--port", port, "--log-level", "warning", port,
    ]  # fmt: skip
    with _server(command, tmp_path, shared, log) as base:
        pids = _drive(base, REQUESTS)
        assert len(pids) >= 2, f"the kernel sent every request to one worker: {pids}"
        _check_every_worker(base, REQUESTS, 1, 3)
    # A deploy: the same directory, new processes. The windows and the counters go on.
    with _server(command, tmp_path, shared, log) as base:
        _check_every_worker(base, REQUESTS, 2, 3)


def test_gunicorn_preloaded_forked_workers_recycled_by_max_requests_count_every_request(
    tmp_path: Path,
) -> None:
    """gunicorn forks its workers from a master that imported the app (``--preload``) and
    replaces each one after about 60 requests (prometheus_client's multiprocess issues #443 and
    #275: files pile up; #347: corruption with restarting workers)."""
    _write_app(tmp_path)
    shared = tmp_path / "shared"
    log = tmp_path / "gunicorn.log"
    port = str(free_port())
    command = [
        sys.executable, "-m", "gunicorn", "workers_app:app", "--preload",
        "--workers", "3", "--worker-class", "uvicorn_worker.UvicornWorker",
        "--max-requests", "60", "--max-requests-jitter", "20",
        "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "20",
        # The control socket's default path is one per user: another gunicorn on the machine
        # (a concurrent test run) would take it over.
        "--no-control-socket", port,
    ]  # fmt: skip
    with _server(command, tmp_path, shared, log) as base:
        pids = _drive(base, REQUESTS)
        assert len(pids) > 3, f"no worker was recycled: {pids}"
        _check_every_worker(base, REQUESTS, 1, 3)

        # Recycled workers are compacted away: the live workers' files, the archive and the
        # locks stay, not one file per pid that ever ran.
        def few_files() -> list[str] | None:
            files = sorted(p.name for p in shared.rglob("*") if p.is_file())
            return None if len(files) > 4 * 3 + 8 else files

        wait_for(few_files, f"{len(pids)} workers' files were compacted", timeout=30)
    with _server(command, tmp_path, shared, log) as base:
        _check_every_worker(base, REQUESTS, 2, 3)
