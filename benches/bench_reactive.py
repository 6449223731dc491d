"""Cost of a 5-operator MonoResult chain against the same logic as plain async code.

pytest-benchmark cannot time a coroutine, so each round runs a batch of ``BATCH`` awaits on one
persistent event loop; the per-call time is the round time divided by ``BATCH``. Goal: the chain
costs at most 2x the plain code.

Run for real with::

    .venv/bin/python -m pytest benches/bench_reactive.py --benchmark-enable --benchmark-only \
        -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success

BATCH = 1000


async def fetch(x: int) -> Result[int, str]:
    return Success(x) if x % 10 else Failure("unlucky")


def increment(value: int) -> int:
    return value + 1


def validate(value: int) -> Result[int, str]:
    return Success(value * 2) if value % 3 else Failure("multiple of three")


def describe(error: str) -> str:
    return f"error: {error}"


def halve(value: int) -> int:
    return value // 2


def chain(x: int) -> MonoResult[int, str]:
    """Five operators after the source, as the design document writes them."""
    return (
        MonoResult.from_async_result(lambda: fetch(x))
        .map(increment)
        .bind_result(validate)
        .map_error(describe)
        .on_error_return_value(-1)
        .map(halve)
    )


async def plain(x: int) -> Result[int, Any]:
    """The same logic written directly against Result."""
    result: Result[int, Any] = await fetch(x)
    result = result.map(increment).bind(validate).map_error(describe)
    if result.is_failure():
        result = Success(-1)
    return result.map(halve)


async def run_chain() -> int:
    total = 0
    for x in range(BATCH):
        total += (await chain(x).to_result()).unwrap()
    return total


async def run_plain() -> int:
    total = 0
    for x in range(BATCH):
        total += (await plain(x)).unwrap()
    return total


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


def on(loop: asyncio.AbstractEventLoop, batch: Callable[[], Coroutine[Any, Any, int]]) -> int:
    return loop.run_until_complete(batch())


@pytest.mark.benchmark(group="mono-chain-5-operators")
def test_bench_plain_async_baseline(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Baseline: the logic as plain async code over Result, BATCH calls per round."""
    assert benchmark(on, loop, run_plain) == on(loop, run_chain)


@pytest.mark.benchmark(group="mono-chain-5-operators")
def test_bench_mono_result_chain(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """The 5-operator MonoResult chain, BATCH calls per round."""
    assert benchmark(on, loop, run_chain) == on(loop, run_plain)


@pytest.mark.benchmark(group="flux-from-async-results")
def test_bench_flux_collection(benchmark: Any, loop: asyncio.AbstractEventLoop) -> None:
    """FluxResult.from_async_results over BATCH items with a concurrency limit of 50."""

    async def collect() -> int:
        flux = await FluxResult.from_async_results([chain(x) for x in range(BATCH)], concurrency=50)
        return flux.count_success()

    assert benchmark(on, loop, collect) == BATCH


def test_chain_to_plain_ratio(loop: asyncio.AbstractEventLoop, request: Any) -> None:
    """Report chain/plain per-call times, rounds interleaved so load spikes hit both alike."""
    rounds = 1 if request.config.getoption("benchmark_disable", False) else 40
    best = {run_plain: math.inf, run_chain: math.inf}
    for _ in range(rounds):
        for batch in best:
            started = time.perf_counter()
            on(loop, batch)
            best[batch] = min(best[batch], (time.perf_counter() - started) / BATCH)
    plain_s, chain_s = best[run_plain], best[run_chain]
    print(
        f"\nplain {plain_s * 1e6:.2f} us/call, chain {chain_s * 1e6:.2f} us/call, "
        f"ratio {chain_s / plain_s:.2f}x (best of {rounds} interleaved rounds of {BATCH})"
    )
    assert 0 < plain_s < math.inf
    assert 0 < chain_s < math.inf
