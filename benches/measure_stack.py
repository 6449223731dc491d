"""The whole stack under load: what the design's full instrumentation costs a trivial endpoint,
in requests per second, against the same endpoint bare, side by side in one run.

Run by hand (needs Debian's ``wrk``; about a minute)::

    .venv/bin/python benches/measure_stack.py [--seconds 5] [--rounds 3] [--connections 16]

Two uvicorn servers (one worker each, loopback) serve the same endpoint: fetch a user,
validate it into a pydantic model, return it. The *bare* one is plain FastAPI. The
*instrumented* one is the design document's endpoint: ``CorrelationIdMiddleware``,
``@handle_result``, ``@log_result_operation`` and a ``MonoResult`` chain with two
``log_step``s, three log entries per request written to a file. ``wrk -t1`` drives each in
turn, alternating, ``--rounds`` times; the table gives each round's requests/s, the medians and
the instrumented share of the bare throughput.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

_APP = """
import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from rfs_monitoring import Failure, MonoResult, Result, Success, log_result_operation
from rfs_monitoring.context import CorrelationIdMiddleware
from rfs_monitoring.result_logging import configure_logging
from rfs_monitoring.web import APIError, handle_result


class UserResponse(BaseModel):
    user_id: str
    name: str


USERS = {"123": {"user_id": "123", "name": "Ada"}}

bare = FastAPI()


@bare.get("/users/{user_id}")
async def bare_user(user_id: str) -> UserResponse:
    user = USERS.get(user_id)
    if user is None:
        raise HTTPException(404, "not found")
    return UserResponse(**user)


configure_logging(stream=open(os.environ["RFS_STACK_LOG"], "w", encoding="utf-8"))
full = FastAPI()
full.add_middleware(CorrelationIdMiddleware)


async def fetch(user_id: str) -> Result[dict[str, str], APIError]:
    user = USERS.get(user_id)
    return Success(user) if user is not None else Failure(APIError.not_found("user", user_id))


def validate(user: dict[str, str]) -> Result[UserResponse, APIError]:
    return Success(UserResponse(**user))


@full.get("/users/{user_id}")
@handle_result
@log_result_operation("user_retrieval")
async def full_user(user_id: str) -> Result[UserResponse, APIError]:
    return await (
        MonoResult.from_async_result(lambda: fetch(user_id))
        .log_step("user_service_call")
        .bind_result(validate)
        .log_step("user_validation")
        .to_result()
    )
"""


def _serve(app: str, port: int, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RFS_STACK_LOG": str(log),
        "PYTHONPATH": os.pathsep.join([str(cwd), *sys.path]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", f"stack_app:{app}", "--port", str(port),
         "--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"],
        cwd=cwd, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/users/123", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{app} did not start")
        time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wrk(wrk: str, port: int, seconds: int, connections: int) -> float:
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/users/123"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if match is None or "Non-2xx" in out:
        raise SystemExit(f"wrk failed:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="rfs-stack-"))
    (work / "stack_app.py").write_text(_APP)
    servers = {}
    try:
        for name in ("bare", "full"):
            port = _free_port()
            servers[name] = (port, _serve(name, port, work, work / f"{name}.log"))
        for port, _ in servers.values():  # warm up both
            _wrk(wrk, port, 1, args.connections)
        rates: dict[str, list[float]] = {"bare": [], "full": []}
        for _ in range(args.rounds):
            for name, (port, _) in servers.items():
                rates[name].append(_wrk(wrk, port, args.seconds, args.connections))
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(30)
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} alternating rounds")
    for name, values in rates.items():
        shown = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{name:>5}: {shown}  (median {statistics.median(values):,.0f} requests/s)")
    share = statistics.median(rates["full"]) / statistics.median(rates["bare"])
    print(f"instrumented / bare: {share:.3f} (the stack costs {1 - share:.1%} of the throughput)")
    lines = sum(1 for _ in (work / "full.log").open(encoding="utf-8"))
    print(f"log lines written by the instrumented server: {lines:,}")


if __name__ == "__main__":
    main()
