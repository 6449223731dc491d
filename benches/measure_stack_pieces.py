"""Where the request stack's instructions go: the design's stack built up piece by piece, each
app one piece more than the one before, served in-process through ASGI (no socket) and counted
by valgrind on the caller's thread (the log writer's thread is not counted here; the whole
figure, all threads under uvicorn, is ``measure_stack_instructions.py``'s).

The ladder, each step's cost the difference to the step before:

1. ``bare``: the endpoint alone (fetch, validate, return a small model);
2. ``+ middleware``: `CorrelationIdMiddleware` in front of it;
3. ``+ handle_result``: the endpoint returns a ``Result`` through `@handle_result`;
4. ``+ logged chain``: a `MonoResult` chain under `@log_result_operation` (one entry);
5. ``+ two steps``: the chain's two ``log_step``s (two entries, two step samples): the
   design's full stack, ``bench_stack.full_app``.

Each app serves ``REQUESTS`` requests inside one ``functools.reduce`` call (callgrind counts
only there). Needs valgrind and a CPython built with symbols (pyenv's are); not part of the
test suite::

    .venv/bin/python benches/measure_stack_pieces.py          # about 1 minute
"""

# No `from __future__ import annotations`: the endpoints below are defined in a function, and
# FastAPI reads their annotations as objects.
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _callgrind import toggled_totals

REQUESTS = 400
LADDER = ("bare", "+ middleware", "+ handle_result", "+ logged chain", "+ two steps")


def _apps() -> dict[str, Any]:
    """The ladder's apps (module-level annotations resolve through ``bench_stack``)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_stack
    from bench_stack import User, fetch, validate
    from fastapi import FastAPI

    from rfs_monitoring import MonoResult, Result, log_result_operation
    from rfs_monitoring.context import CorrelationIdMiddleware
    from rfs_monitoring.web import APIError, handle_result

    def served(endpoint: Callable[..., Any]) -> FastAPI:
        app = FastAPI()
        app.add_middleware(CorrelationIdMiddleware)
        app.get("/users/{user_id}")(endpoint)
        return app

    @handle_result
    async def handled(user_id: str) -> Result[User, APIError]:
        return (await fetch(user_id)).bind(validate)

    @handle_result
    @log_result_operation("user_retrieval_without_steps")
    async def logged(user_id: str) -> Result[User, APIError]:
        return await MonoResult.from_async_result(lambda: fetch(user_id)).bind_result(validate)

    return {
        "bare": bench_stack.bare_app(),
        "+ middleware": bench_stack.middleware_app(),
        "+ handle_result": served(handled),
        "+ logged chain": served(logged),
        "+ two steps": bench_stack.full_app(),
    }


def _child(folder: str) -> None:
    """Run under callgrind: each app once to warm up, then once inside ``functools.reduce``."""
    import opentelemetry.trace  # noqa: F401 - imported, as in a FastAPI app that has it

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_stack import Caller

    from rfs_monitoring.metrics import ResultMetricsCollector
    from rfs_monitoring.result_logging import configure_logging, flush_logs

    configure_logging(stream=open(Path(folder) / "entries.jsonl", "a", encoding="utf-8"))  # noqa: SIM115
    ResultMetricsCollector.set_instance(ResultMetricsCollector(sample_resources=False))
    caller = Caller()
    for name, app in _apps().items():
        batch = caller.batch(app, "/users/123", REQUESTS)
        batch()
        flush_logs()

        def step(_: None, __: int, batch: Callable[[], int] = batch) -> None:
            batch()

        functools.reduce(step, [0], None)
        flush_logs()
        print(name, file=sys.stderr)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    totals = toggled_totals(__file__, REQUESTS * 1000)
    if len(totals) != len(LADDER):
        raise SystemExit(f"expected {len(LADDER)} dumps, found {len(totals)}")
    per_request = [total / REQUESTS for total in totals]
    previous = per_request[0]
    for name, cost in zip(LADDER, per_request, strict=True):
        print(f"{name:16s} {cost:>10,.0f} instructions per request  (+{cost - previous:,.0f})")
        previous = cost
    print(
        f"the full stack adds {per_request[-1] - per_request[0]:,.0f} instructions per request "
        "on the caller's thread"
    )


if __name__ == "__main__":
    main()
