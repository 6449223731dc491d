"""Basic logging example: one JSON line per Result operation, steps, correlation IDs, masking.

Run it as a script (``python examples/monitoring/basic_logging.py``): it prints the JSON lines
the operations emit, then a short summary. Nothing here needs a server.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from dataclasses import dataclass
from typing import Any

from rfs_monitoring import (
    Failure,
    MonoResult,
    Result,
    ResultMetricsCollector,
    Success,
    configure_logging,
    flush_logs,
    log_result_operation,
)
from rfs_monitoring.context import bind_context, correlation_context
from rfs_monitoring.errors import APIError
from rfs_monitoring.result_logging import set_log_level


@dataclass(frozen=True)
class UserResponse:
    user_id: str
    name: str


class UserRepository:
    """An in-memory stand-in for a real service."""

    def __init__(self) -> None:
        self._users = {"123": {"user_id": "123", "name": "Ada"}}

    async def get_user_async(self, user_id: str) -> Result[dict[str, str], APIError]:
        await asyncio.sleep(0.01)
        user = self._users.get(user_id)
        if user is None:
            return Failure(APIError.not_found("user", user_id))
        return Success(user)


users = UserRepository()


def validate_user_response(user: dict[str, str]) -> Result[UserResponse, APIError]:
    if not user.get("name"):
        return Failure(APIError.validation_error("user has no name"))
    return Success(UserResponse(**user))


@log_result_operation("user_retrieval")
async def get_user(user_id: str) -> Result[UserResponse, APIError]:
    """The design document's chain, with a step entry per stage."""
    return await (
        MonoResult.from_async_result(lambda: users.get_user_async(user_id))
        .log_step("user_service_call")
        .bind_result(validate_user_response)
        .log_step("user_validation")
        .map_error(lambda e: APIError.from_service_error(e))
        .log_error("user_retrieval_error")
        .timeout(5.0)
        .to_result()
    )


@log_result_operation("login", log_args=True)
def login(username: str, password: str) -> Result[str, APIError]:
    """Arguments are logged masked: the password never reaches the log."""
    if password != "correct horse":
        return Failure(APIError.unauthorized(f"bad password={password} for {username}"))
    return Success("session-started")


@log_result_operation("health_check")
def health_check() -> Result[str, str]:
    return Success("ok")


async def run(stream: io.StringIO) -> list[dict[str, Any]]:
    """Emit a few entries to ``stream`` and return them parsed."""
    previous = ResultMetricsCollector.set_instance(ResultMetricsCollector(sample_resources=False))
    configure_logging(stream=stream, service_name="basic-logging-example", environment="demo")
    try:
        with correlation_context("example-request-1"), bind_context(user_id="u-42"):
            await get_user("123")
            await get_user("404")
        login("ada", "hunter2")
        set_log_level("WARNING", operation="health_check")  # silence a noisy operation
        health_check()
        set_log_level("INFO", operation="health_check")
        health_check()
        flush_logs()
    finally:
        collector = ResultMetricsCollector.set_instance(previous)
        collector.close()
        configure_logging()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def main() -> int:
    entries = asyncio.run(run(io.StringIO()))
    for entry in entries:
        print(json.dumps(entry, sort_keys=True))
    steps = sum(1 for e in entries if e["step_name"] is not None)
    errors = sum(1 for e in entries if e["result_type"] == "error")
    print(f"# {len(entries)} entries ({steps} steps, {errors} errors)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
