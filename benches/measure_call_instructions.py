"""What one instrumented call costs its caller, in instructions counted by valgrind: the
request path's share of issue #13 §3, deterministic where wall-clock figures on a shared
machine are not.

Each case runs ``CALLS`` times inside one ``functools.reduce`` call, and callgrind counts only
inside ``functools_reduce`` (``--toggle-collect``) and dumps after each (``--dump-after``), so
the figures are the caller's thread alone: the log writer renders and writes on a thread of its
own, as in production. Entries go to a file through the core's lane; OpenTelemetry is imported,
as in any FastAPI app that has it installed. Needs valgrind (``apt-get install valgrind``) and
a CPython built with symbols (pyenv's are); not part of the test suite::

    .venv/bin/python benches/measure_call_instructions.py          # about 1 minute

Cases: ``plain`` an undecorated sync function returning ``Success``; ``logged`` the same with
``@log_result_operation`` (its entry written); ``filtered`` the same with its level filtered
out; ``structlog`` the peer, one JSON line with the same fields into a file; ``async_bare``
``fetch`` then ``validate`` awaited plainly; ``async_logged`` the same under
``@log_result_operation``; ``async_stepped`` the design's chain with two ``log_step``s under it.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from pathlib import Path
from typing import Any

from _callgrind import toggled_totals

CALLS = 2000
CASES = (
    "plain",
    "logged",
    "filtered",
    "structlog",
    "async_bare",
    "async_logged",
    "async_stepped",
)


def _cases(folder: Path) -> dict[str, Any]:
    """The cases, each a function running ``CALLS`` calls."""
    import opentelemetry.trace  # noqa: F401 - imported, as in a FastAPI app that has it

    sys.path.insert(0, str(Path(__file__).parent))
    import bench_logging

    from rfs_monitoring import MonoResult, log_result_operation
    from rfs_monitoring.metrics import ResultMetricsCollector
    from rfs_monitoring.result import Result, Success
    from rfs_monitoring.result_logging import configure_logging

    configure_logging(stream=open(folder / "entries.jsonl", "a", encoding="utf-8"))  # noqa: SIM115
    ResultMetricsCollector.set_instance(ResultMetricsCollector(sample_resources=False))

    def plain(value: int) -> Result[int, str]:
        return Success(value)

    logged = log_result_operation("calls_logged")(plain)
    filtered = log_result_operation("calls_filtered", success_level="DEBUG")(plain)
    peer_stream = open(folder / "structlog.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    structlogged = bench_logging._structlog_call(bench_logging._structlog_logger(peer_stream))

    async def fetch(key: str) -> Result[dict[str, str], str]:
        return Success({"key": key})

    def validate(found: dict[str, str]) -> Result[dict[str, str], str]:
        return Success(found)

    async def async_bare(key: str) -> Result[dict[str, str], str]:
        return (await fetch(key)).bind(validate)

    @log_result_operation("calls_async_stepped")
    async def async_stepped(key: str) -> Result[dict[str, str], str]:
        return await (
            MonoResult.from_async_result(lambda: fetch(key))
            .log_step("fetched")
            .bind_result(validate)
            .log_step("validated")
        )

    async_logged = log_result_operation("calls_async_logged")(async_bare)
    loop = asyncio.new_event_loop()

    def sync_case(fn: Any) -> Any:
        def run() -> None:
            for index in range(CALLS):
                fn(index)

        return run

    def async_case(fn: Any) -> Any:
        async def many() -> None:
            for _ in range(CALLS):
                await fn("k")

        return lambda: loop.run_until_complete(many())

    return {
        "plain": sync_case(plain),
        "logged": sync_case(logged),
        "filtered": sync_case(filtered),
        "structlog": sync_case(structlogged),
        "async_bare": async_case(async_bare),
        "async_logged": async_case(async_logged),
        "async_stepped": async_case(async_stepped),
    }


def _child(folder: str) -> None:
    """Run under callgrind: each case once to warm up, then once inside ``functools.reduce``."""
    from rfs_monitoring.result_logging import flush_logs

    cases = _cases(Path(folder))
    for name in CASES:
        cases[name]()
        flush_logs()
        run = cases[name]

        def step(_: None, __: int, run: Any = run) -> None:
            run()

        functools.reduce(step, [0], None)
        flush_logs()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    totals = toggled_totals(__file__, CALLS * 100)
    if len(totals) != len(CASES):
        raise SystemExit(f"expected {len(CASES)} dumps, found {len(totals)}")
    per_call = dict(zip(CASES, (total / CALLS for total in totals), strict=True))
    for name, cost in per_call.items():
        print(f"{name:14s} {cost:>10,.0f} instructions per call")
    logged = per_call["logged"] - per_call["plain"]
    peer = per_call["structlog"] - per_call["plain"]
    print(f"logged over plain: {logged:,.0f}; structlog's line over plain: {peer:,.0f}")
    print(f"the logged call's own cost is {logged / peer:.2f}x the structlog line's")


if __name__ == "__main__":
    main()
