"""Behaviour of FluxResult: construction, counters, async collection with a concurrency limit."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success


def mixed() -> FluxResult[int, str]:
    return FluxResult.from_results([Success(1), Failure("a"), Success(3), Failure("b")])


# -- construction and reading -------------------------------------------------------------------


def test_constructors_keep_order_and_content() -> None:
    """from_results and from_values hold the Results in the given order."""
    assert mixed().results == (Success(1), Failure("a"), Success(3), Failure("b"))
    assert FluxResult.from_values(iter([1, 2])).results == (Success(1), Success(2))
    assert FluxResult().results == ()


def test_a_non_result_item_is_a_type_error() -> None:
    """A FluxResult only holds Results."""
    with pytest.raises(TypeError, match="holds Results"):
        FluxResult.from_results([Success(1), 2])  # type: ignore[list-item]


def test_counters_and_rates() -> None:
    """count_success/failures/total and success_rate describe the batch."""
    flux = mixed()
    assert (flux.count_success(), flux.count_failures(), flux.count_total()) == (2, 2, 4)
    assert flux.success_rate() == 0.5
    assert FluxResult.from_values([1]).success_rate() == 1.0
    assert FluxResult().success_rate() == 0.0


def test_counters_do_not_rescan_the_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts are computed at construction: later calls never look at the Results again."""
    flux = FluxResult.from_results([Success(i) if i % 3 else Failure(i) for i in range(3000)])

    def forbidden(self: Any) -> bool:
        raise AssertionError("a counter re-scanned the results")

    monkeypatch.setattr(Success, "is_success", forbidden)
    monkeypatch.setattr(Failure, "is_success", forbidden)
    for _ in range(100):
        assert flux.count_success() == 2000
        assert flux.count_failures() == 1000
        assert flux.count_total() == 3000
        assert flux.success_rate() == 2000 / 3000


def test_value_accessors_and_filters() -> None:
    """success_values, error_values and the filters split the batch in order."""
    flux = mixed()
    assert flux.success_values() == [1, 3]
    assert flux.error_values() == ["a", "b"]
    assert flux.filter_success().results == (Success(1), Success(3))
    assert flux.filter_failures().results == (Failure("a"), Failure("b"))


def test_container_protocol_and_value_semantics() -> None:
    """len, iteration, equality, hashing and repr behave like an immutable value."""
    flux = mixed()
    assert len(flux) == 4
    assert list(flux) == list(flux.results)
    assert flux == mixed()
    assert hash(flux) == hash(mixed())
    assert flux != FluxResult.from_values([1])
    assert flux != "not a flux"
    assert repr(flux) == "FluxResult(total=4, success=2, failures=2)"


# -- operators ----------------------------------------------------------------------------------


def test_map_fails_only_the_items_whose_function_raises() -> None:
    """map transforms successes; an item whose function raises becomes its own Failure."""
    out = FluxResult.from_values([2, 0, 5]).map(lambda x: 10 // x)
    assert out.results[0] == Success(5)
    assert isinstance(out.results[1].unwrap_error(), ZeroDivisionError)
    assert out.results[2] == Success(2)
    assert (out.count_success(), out.count_failures()) == (2, 1)


def test_map_error_and_bind_result() -> None:
    """map_error transforms errors; bind_result chains per item and checks its return type."""
    assert mixed().map_error(str.upper).error_values() == ["A", "B"]
    bound = FluxResult.from_values([1, 2]).bind_result(
        lambda x: Success(x) if x == 1 else "oops"  # type: ignore[arg-type,return-value]
    )
    assert bound.results[0] == Success(1)
    assert isinstance(bound.results[1].unwrap_error(), TypeError)


@pytest.mark.asyncio
async def test_collectors_return_mono_results() -> None:
    """collect_results gives all values or the first Failure; collect_successes never fails."""
    all_ok = FluxResult.from_values([1, 2]).collect_results()
    assert isinstance(all_ok, MonoResult)
    assert await all_ok == Success([1, 2])
    assert await mixed().collect_results() == Failure("a")
    successes = mixed().collect_successes()
    assert isinstance(successes, MonoResult)
    assert await successes == Success([1, 3])


def test_log_step_and_log_error_keep_the_results() -> None:
    """log_step/log_error return a FluxResult with the same Results."""
    flux = mixed()
    assert flux.log_step("batch").results == flux.results
    assert flux.log_error("batch_errors").results == flux.results


# -- from_async_results -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_from_async_results_keeps_input_order() -> None:
    """Results come back in input order even when later items finish first."""

    async def delayed(value: int, seconds: float) -> Result[int, Any]:
        await asyncio.sleep(seconds)
        return Success(value)

    items = [lambda i=i: delayed(i, 0.02 * (3 - i)) for i in range(4)]
    flux = await FluxResult.from_async_results(items)
    assert flux.success_values() == [0, 1, 2, 3]


@pytest.mark.asyncio
async def test_from_async_results_accepts_every_item_kind() -> None:
    """Callables (async or sync), coroutines and MonoResults are all accepted."""

    async def answer(value: int) -> Result[int, Any]:
        return Success(value)

    flux = await FluxResult.from_async_results(
        [lambda: answer(1), answer(2), MonoResult.from_value(3), lambda: Success(4)]
    )
    assert flux.success_values() == [1, 2, 3, 4]


@pytest.mark.asyncio
async def test_from_async_results_captures_exceptions_per_item() -> None:
    """An item that raises, or returns no Result, fails alone."""

    async def boom() -> Result[int, Any]:
        raise RuntimeError("item failed")

    def raises_at_call() -> Result[int, Any]:
        raise KeyError("k")

    flux = await FluxResult.from_async_results(
        [boom, raises_at_call, lambda: 5, MonoResult.from_value(1)]  # type: ignore[list-item]
    )
    errors = flux.error_values()
    assert [type(e) for e in errors] == [RuntimeError, KeyError, TypeError]
    assert flux.success_values() == [1]


class InFlight:
    """Items that record how many of them run at the same time."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0

    async def item(self, value: int) -> Result[int, Any]:
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            await asyncio.sleep(0.005)
            await asyncio.sleep(0)
        finally:
            self.current -= 1
        return Success(value)


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_from_async_results_honours_the_concurrency_limit(limit: int) -> None:
    """Never more than `concurrency` items run at once, and the limit is actually reached."""
    probe = InFlight()
    flux = await FluxResult.from_async_results(
        [lambda i=i: probe.item(i) for i in range(20)], concurrency=limit
    )
    assert flux.success_values() == list(range(20))
    assert probe.peak == limit


@pytest.mark.asyncio
async def test_from_async_results_without_limit_runs_everything_at_once() -> None:
    """concurrency=None starts every item together."""
    probe = InFlight()
    await FluxResult.from_async_results([lambda i=i: probe.item(i) for i in range(12)])
    assert probe.peak == 12


@pytest.mark.asyncio
async def test_from_async_results_of_nothing_is_empty() -> None:
    """An empty input gives an empty batch."""
    flux = await FluxResult.from_async_results([], concurrency=4)
    assert flux.count_total() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [0, -2, True, 1.5, "2"])
async def test_from_async_results_rejects_a_bad_limit(limit: Any) -> None:
    """concurrency must be None or an int >= 1."""
    with pytest.raises(ValueError, match="concurrency"):
        await FluxResult.from_async_results([MonoResult.from_value(1)], concurrency=limit)


@pytest.mark.asyncio
async def test_cancelling_a_batch_closes_items_never_started() -> None:
    """Cancellation propagates, and coroutines not yet started are closed, not leaked."""
    started = asyncio.Event()

    async def slow() -> Result[int, Any]:
        started.set()
        await asyncio.sleep(30)
        return Success(0)

    async def never() -> Result[int, Any]:
        return Success(1)

    waiting = [never() for _ in range(3)]
    task = asyncio.ensure_future(FluxResult.from_async_results([slow(), *waiting], concurrency=1))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CLOSED for c in waiting)
