"""The request stack's cost (issue #13 §3): a trivial endpoint (fetch, validate, return a small
model) bare, and with the design's full instrumentation (`CorrelationIdMiddleware`,
`@handle_result`, `@log_result_operation`, two `log_step`s, three entries written to a file),
called in-process through ASGI (no socket), each piece against its peer in the same run.

Run with ``make bench`` (or ``pytest benches/bench_stack.py --benchmark-enable``);
``python benches/bench_stack.py`` prints the per-request cost of each piece in-process, and
``python benches/bench_stack.py --wrk`` serves the bare and the full app with uvicorn (a process
each) and alternates ``wrk -t1 -c16`` runs against them, printing each app's requests/s.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from rfs_monitoring import Failure, MonoResult, Result, Success, log_result_operation
from rfs_monitoring.context import CorrelationIdMiddleware
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.result_logging import configure_logging, flush_logs
from rfs_monitoring.web import APIError, handle_result


class User(BaseModel):
    user_id: str
    name: str


_USERS = {"123": {"user_id": "123", "name": "Ada"}}


async def fetch(user_id: str) -> Result[dict[str, str], APIError]:
    user = _USERS.get(user_id)
    return Success(user) if user is not None else Failure(APIError.not_found("user", user_id))


def validate(user: dict[str, str]) -> Result[User, APIError]:
    return Success(User(**user))


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    async def get_user(user_id: str) -> User:
        user = (await fetch(user_id)).unwrap()
        return validate(user).unwrap()

    return app


def full_app() -> FastAPI:
    """The design's endpoint: every piece of the stack."""
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @app.get("/users/{user_id}")
    @handle_result
    @log_result_operation("user_retrieval")
    async def get_user(user_id: str) -> Result[User, APIError]:
        return await (
            MonoResult.from_async_result(lambda: fetch(user_id))
            .log_step("user_service_call")
            .bind_result(validate)
            .log_step("user_validation")
            .to_result()
        )

    return app


# -- the pieces without HTTP: the logged operation and its steps -----------------------------


@log_result_operation("stack_plain_chain")
async def plain_chain(user_id: str) -> Result[User, APIError]:
    """The endpoint's chain without steps, logged."""
    return await MonoResult.from_async_result(lambda: fetch(user_id)).bind_result(validate)


@log_result_operation("stack_stepped_chain")
async def stepped_chain(user_id: str) -> Result[User, APIError]:
    """The same chain with the design's two steps."""
    return await (
        MonoResult.from_async_result(lambda: fetch(user_id))
        .log_step("user_service_call")
        .bind_result(validate)
        .log_step("user_validation")
    )


async def bare_chain(user_id: str) -> Result[User, APIError]:
    """The same work, neither logged nor chained."""
    return (await fetch(user_id)).bind(validate)


def calls(
    loop: asyncio.AbstractEventLoop, fn: Callable[[str], Any], times: int
) -> Callable[[], Any]:
    """A batch of ``times`` awaited calls of ``fn`` on ``loop``."""

    async def many() -> Any:
        result = None
        for _ in range(times):
            result = await fn("123")
        return result

    def run() -> Any:
        result = loop.run_until_complete(many())
        assert isinstance(result, Success), result
        return result

    return run


def middleware_app() -> FastAPI:
    app = bare_app()
    app.add_middleware(CorrelationIdMiddleware)
    return app


def handle_result_app() -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    @handle_result
    async def get_user(user_id: str) -> Result[User, APIError]:
        return (await fetch(user_id)).bind(validate)

    return app


class Caller:
    """Sends GET requests to ASGI apps on one event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def batch(self, app: Any, path: str, times: int) -> Callable[[], int]:
        scope_base = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
            "client": ("127.0.0.1", 1),
            "server": ("bench", 80),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def many() -> int:
            for _ in range(times):
                await app(dict(scope_base), receive, send)
            return statuses[-1]

        def run() -> int:
            statuses.clear()
            status = self.loop.run_until_complete(many())
            assert status == 200, status
            return status

        return run

    def close(self) -> None:
        self.loop.close()


BATCH = 50


@pytest.fixture(scope="module")
def logged_to_file() -> Iterator[Path]:
    """Entries go to a real file, as in production; the process collector is a fresh one."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "entries.jsonl"
        collector = ResultMetricsCollector(sample_resources=False)
        previous = ResultMetricsCollector.set_instance(collector)
        with path.open("w", encoding="utf-8") as stream:
            configure_logging(stream=stream)
            yield path
            flush_logs()
            configure_logging()
        ResultMetricsCollector.set_instance(previous)
        collector.close()


@pytest.fixture(scope="module")
def caller() -> Iterator[Caller]:
    made = Caller()
    yield made
    made.close()


def test_bare_endpoint(benchmark: Any, caller: Caller) -> None:
    benchmark(caller.batch(bare_app(), "/users/123", BATCH))


def test_middleware(benchmark: Any, caller: Caller) -> None:
    benchmark(caller.batch(middleware_app(), "/users/123", BATCH))


def test_handle_result(benchmark: Any, caller: Caller) -> None:
    benchmark(caller.batch(handle_result_app(), "/users/123", BATCH))


def test_full_stack(benchmark: Any, caller: Caller, logged_to_file: Path) -> None:
    benchmark(caller.batch(full_app(), "/users/123", BATCH))
    assert flush_logs()
    assert '"step_name":"user_validation"' in logged_to_file.read_text(encoding="utf-8").replace(
        " ", ""
    )


def per_request_report(rounds: int = 30) -> dict[str, float]:
    """Median µs per request of each app, interleaved round by round (printed by ``main``)."""
    caller = Caller()
    apps = {
        "bare": bare_app(),
        "+ middleware": middleware_app(),
        "+ handle_result": handle_result_app(),
        "full stack": full_app(),
    }
    batches = {name: caller.batch(app, "/users/123", BATCH) for name, app in apps.items()}
    times: dict[str, list[float]] = {name: [] for name in apps}
    with tempfile.TemporaryDirectory() as folder, (Path(folder) / "e.jsonl").open("w") as stream:
        configure_logging(stream=stream)
        for _ in range(5):
            for batch in batches.values():
                batch()
        for _ in range(rounds):
            for name, batch in batches.items():
                start = time.perf_counter()
                batch()
                times[name].append((time.perf_counter() - start) / BATCH * 1e6)
        flush_logs()
        configure_logging()
    caller.close()
    return {name: statistics.median(values) for name, values in times.items()}


_SERVE = """
import sys
import uvicorn
sys.path.insert(0, sys.argv[4])
import bench_stack
from rfs_monitoring.result_logging import configure_logging
app = getattr(bench_stack, sys.argv[1] + "_app")()
configure_logging(stream=open(sys.argv[3], "a", encoding="utf-8"))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def wrk_report(seconds: int, connections: int, rounds: int) -> None:
    """Serve the bare and the fully instrumented app, each with uvicorn in a process of its own
    (entries to a file), and alternate ``wrk -t1 -c<connections>`` runs of ``seconds`` against
    each for ``rounds`` rounds (which app goes first alternates too): prints each run, the
    median requests/s of each app and the median of the per-round shares (``--wrk``). Runs side
    by side, so that the load of a shared machine falls on both alike."""
    import socket
    import subprocess

    import _wrk

    names = ("bare", "full")
    ports: dict[str, int] = {}
    servers: list[subprocess.Popen[bytes]] = []
    rates: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as folder:
        try:
            for name in names:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", 0))
                    ports[name] = probe.getsockname()[1]
                servers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-c",
                            _SERVE,
                            name,
                            str(ports[name]),
                            str(Path(folder) / f"{name}.jsonl"),
                            str(Path(__file__).parent),
                        ]
                    )
                )
            for name in names:
                _wait_for_port(ports[name])
            for round_ in range(rounds):
                order = names if round_ % 2 == 0 else names[::-1]
                for name in order:
                    report = _wrk.run(
                        f"http://127.0.0.1:{ports[name]}/users/123",
                        threads=1,
                        connections=connections,
                        seconds=seconds,
                    )
                    rates[name].append(_wrk.requests_per_second(report))
                print(
                    f"round {round_ + 1}: bare {rates['bare'][-1]:7.0f}  "
                    f"full stack {rates['full'][-1]:7.0f} requests/s"
                )
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(30)
    shares = [full / bare for full, bare in zip(rates["full"], rates["bare"], strict=True)]
    print(
        f"median: bare {statistics.median(rates['bare']):.0f}, full stack "
        f"{statistics.median(rates['full']):.0f} requests/s; the full stack serves "
        f"{statistics.median(shares):.0%} of the bare endpoint's requests/s "
        f"(rounds: {min(shares):.0%} to {max(shares):.0%})"
    )


def _wait_for_port(port: int, seconds: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"no server on port {port} after {seconds} s")


if __name__ == "__main__":
    if "--wrk" in sys.argv:
        wrk_report(seconds=5, connections=16, rounds=6)
        sys.exit(0)
    report = per_request_report(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
    bare = report["bare"]
    for name, micros in report.items():
        share = bare / micros
        print(f"{name:16} {micros:8.1f} µs/request  ({micros - bare:+.1f} µs, {share:.2f}x req/s)")
