"""Behaviour of MonoResult: laziness, exception capture, cancellation, timeout, retry, cache."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest

from rfs_monitoring._core import StepPath
from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.exceptions import OperationTimeoutError
from rfs_monitoring.reactive import MonoResult
from rfs_monitoring.result import Failure, Result, Success


class Counter:
    """A source that counts its runs and answers with a fixed Result."""

    def __init__(self, result: Result[Any, Any] | None = None) -> None:
        self.calls = 0
        self.result: Result[Any, Any] = Success(1) if result is None else result

    async def __call__(self) -> Result[Any, Any]:
        self.calls += 1
        await asyncio.sleep(0)
        return self.result


# -- laziness and re-running --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_building_a_chain_runs_nothing() -> None:
    """No source, map or bind runs before the chain is awaited."""
    source = Counter()
    touched: list[str] = []
    mono = (
        MonoResult.from_async_result(source)
        .map(lambda x: touched.append("map") or x)
        .bind_result(lambda x: touched.append("bind") or Success(x))
        .timeout(1.0)
        .retry(2)
    )
    assert source.calls == 0
    assert touched == []
    assert await mono == Success(1)
    assert (source.calls, touched) == (1, ["map", "bind"])


@pytest.mark.asyncio
async def test_awaiting_again_runs_the_chain_again() -> None:
    """Each await re-runs the source; awaiting the mono equals awaiting to_result()."""
    source = Counter(Success("v"))
    mono = MonoResult.from_async_result(source).map(str.upper)
    assert await mono == await mono.to_result() == Success("V")
    assert source.calls == 2


def test_repr_says_the_chain_has_not_run() -> None:
    """The repr shows the step count and never runs anything."""
    assert repr(MonoResult.from_value(1).map(str)) == "<MonoResult: 1 step(s), not run>"


@pytest.mark.asyncio
async def test_constructors_yield_their_result() -> None:
    """from_value, from_error, from_result and a sync source give the expected Result."""
    assert await MonoResult.from_value(3) == Success(3)
    assert await MonoResult.from_error("e") == Failure("e")
    assert await MonoResult.from_result(Failure(2)) == Failure(2)
    assert await MonoResult.from_async_result(lambda: Success("sync")) == Success("sync")


def test_from_result_rejects_a_non_result() -> None:
    """from_result() with anything but a Result is a TypeError."""
    with pytest.raises(TypeError, match="needs a Result"):
        MonoResult.from_result(42)  # type: ignore[arg-type]


# -- exception capture --------------------------------------------------------------------------


async def _raise_async() -> Result[int, Any]:
    raise ValueError("async boom")


def _raise_sync() -> Result[int, Any]:
    raise KeyError("sync boom")


def _raiser(error: BaseException) -> Callable[[Any], Any]:
    def fn(_: Any) -> Any:
        raise error

    return fn


@pytest.mark.asyncio
@pytest.mark.parametrize("source", [_raise_async, _raise_sync], ids=["async", "sync"])
async def test_an_exception_in_the_source_becomes_a_failure(source: Any) -> None:
    """A source that raises yields a Failure holding the exception; later maps are skipped."""
    result = await MonoResult.from_async_result(source).map(lambda x: x + 1)
    assert result.is_failure()
    assert isinstance(result.unwrap_error(), ValueError | KeyError)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "build",
    [
        lambda m, f: m.map(f),
        lambda m, f: m.bind_result(f),
        lambda m, f: m.bind_async_result(f),
        lambda m, f: m.map(str).map_error(f).bind_result(lambda _: Failure("x")).map_error(f),
        lambda m, f: m.bind_result(lambda _: Failure("x")).on_error_return_result(f),
    ],
    ids=["map", "bind_result", "bind_async_result", "map_error", "on_error_return_result"],
)
async def test_an_exception_in_an_operator_becomes_a_failure(build: Any) -> None:
    """Whatever operator raises, the chain yields Failure(exception) instead of raising."""
    error = RuntimeError("operator boom")
    result = await build(MonoResult.from_value(1), _raiser(error))
    assert result == Failure(error)


@pytest.mark.asyncio
async def test_a_step_after_a_captured_exception_still_runs_on_the_failure() -> None:
    """map_error after a raising map sees the captured exception."""
    result = await MonoResult.from_value(1).map(lambda x: x / 0).map_error(type)
    assert result == Failure(ZeroDivisionError)


@pytest.mark.asyncio
async def test_a_source_returning_no_result_is_a_type_error_failure() -> None:
    """A value that is not a Result (nor an awaitable of one) is reported as TypeError."""
    result = await MonoResult.from_async_result(lambda: 42)  # type: ignore[arg-type,return-value]
    assert result.is_failure()
    assert isinstance(result.unwrap_error(), TypeError)
    assert "int" in str(result.unwrap_error())


@pytest.mark.asyncio
async def test_bind_accepts_results_monos_and_awaitables() -> None:
    """bind_result and bind_async_result resolve a Result, a MonoResult or a coroutine."""

    async def later(x: int) -> Result[int, str]:
        return Success(x + 100)

    mono = (
        MonoResult.from_value(1)
        .bind_result(lambda x: Success(x + 1))
        .bind_result(lambda x: MonoResult.from_value(x * 10))
        .bind_async_result(later)
        .bind_async_result(lambda x: MonoResult.from_async_result(lambda: later(x)))
    )
    assert await mono == Success(220)


@pytest.mark.asyncio
async def test_error_recovery_operators() -> None:
    """on_error_return_* replace a Failure and leave a Success alone."""
    assert await MonoResult.from_error("e").on_error_return_value(0) == Success(0)
    assert await MonoResult.from_value(5).on_error_return_value(0) == Success(5)
    recovered = MonoResult.from_error("e").on_error_return_result(lambda e: Success(len(e)))
    assert await recovered == Success(1)
    assert await MonoResult.from_value(5).on_error_return_result(lambda e: Success(0)) == Success(5)
    still_failed = MonoResult.from_error("e").on_error_return_result(lambda e: Failure(e * 2))
    assert await still_failed == Failure("ee")
    from_cache = MonoResult.from_error("e").on_error_return_result(
        lambda e: MonoResult.from_value(f"cached after {e}")
    )
    assert await from_cache == Success("cached after e")


# -- what must propagate ------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("error_type", [KeyboardInterrupt, SystemExit])
async def test_keyboard_interrupt_and_system_exit_propagate(error_type: type) -> None:
    """KeyboardInterrupt and SystemExit are never turned into a Failure."""

    async def source() -> Result[int, Any]:
        raise error_type()

    with pytest.raises(error_type):
        await MonoResult.from_async_result(source)
    with pytest.raises(error_type):
        await MonoResult.from_value(1).map(_raiser(error_type()))


@pytest.mark.asyncio
async def test_cancelling_the_awaiting_task_cancels_the_chain() -> None:
    """Cancelling the task that awaits a chain raises CancelledError inside and out."""
    started = asyncio.Event()
    observed: list[str] = []

    async def slow() -> Result[int, Any]:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            observed.append("cancelled")
            raise
        return Success(1)

    task = asyncio.ensure_future(MonoResult.from_async_result(slow).map(str).to_result())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert observed == ["cancelled"]


# -- timeout ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_timeout_cancels_the_work_and_yields_a_timeout_failure() -> None:
    """An expired timeout cancels the source and yields Failure(OperationTimeoutError)."""
    cancelled = asyncio.Event()

    async def slow() -> Result[int, Any]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Success(1)

    result = await MonoResult.from_async_result(slow).timeout(0.05)
    assert cancelled.is_set()
    error = result.unwrap_error()
    assert isinstance(error, OperationTimeoutError)
    assert isinstance(error, TimeoutError)
    assert "timeout" in str(error).lower()
    assert error.seconds == 0.05
    assert APIError.from_service_error(error).code is ErrorCode.TIMEOUT_ERROR
    assert APIError.from_service_error(error).status_code == 504


@pytest.mark.asyncio
async def test_timeout_covers_the_whole_chain_before_it() -> None:
    """A slow bind step before timeout() counts against the deadline too."""

    async def slow_step(x: int) -> Result[int, Any]:
        await asyncio.sleep(30)
        return Success(x)

    mono = MonoResult.from_value(1).bind_async_result(slow_step).timeout(0.05).map(str)
    assert isinstance((await mono).unwrap_error(), OperationTimeoutError)


@pytest.mark.asyncio
async def test_a_fast_chain_is_untouched_by_timeout() -> None:
    """A chain finishing in time keeps its own Result, Failure included."""
    assert await MonoResult.from_value(1).timeout(5.0) == Success(1)
    assert await MonoResult.from_error("e").timeout(5.0) == Failure("e")


@pytest.mark.asyncio
async def test_a_timeout_error_raised_by_the_work_is_not_the_deadline() -> None:
    """The work's own TimeoutError is captured as is, not reported as the deadline."""
    own = TimeoutError("upstream took too long")

    async def source() -> Result[int, Any]:
        raise own

    assert await MonoResult.from_async_result(source).timeout(5.0) == Failure(own)


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, "1", True, None])
def test_timeout_rejects_bad_durations(seconds: Any) -> None:
    """timeout() needs a finite positive number of seconds."""
    with pytest.raises(ValueError, match="timeout"):
        MonoResult.from_value(1).timeout(seconds)


# -- retry --------------------------------------------------------------------------------------


class Flaky:
    """Fails ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> Result[str, str]:
        self.calls += 1
        return Success("ok") if self.calls > self.failures else Failure(f"busy {self.calls}")


@pytest.mark.asyncio
async def test_retry_reruns_the_source_until_success() -> None:
    """retry(times) re-runs the source on Failure and stops at the first Success."""
    source = Flaky(failures=2)
    assert await MonoResult.from_async_result(source).retry(5) == Success("ok")
    assert source.calls == 3


@pytest.mark.asyncio
async def test_retry_gives_up_with_the_last_failure() -> None:
    """After times + 1 attempts the last Failure is the result."""
    source = Flaky(failures=10)
    assert await MonoResult.from_async_result(source).retry(3) == Failure("busy 4")
    assert source.calls == 4


@pytest.mark.asyncio
async def test_retry_zero_times_runs_once_and_success_is_not_retried() -> None:
    """retry(0) is a single attempt; a Success is never retried."""
    failing = Flaky(failures=10)
    await MonoResult.from_async_result(failing).retry(0)
    succeeding = Counter()
    await MonoResult.from_async_result(succeeding).retry(3)
    assert (failing.calls, succeeding.calls) == (1, 1)


@pytest.mark.asyncio
async def test_retry_waits_delay_times_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The waits are delay, delay*backoff, delay*backoff**2, ..."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("rfs_monitoring.reactive.asyncio.sleep", fake_sleep)
    await MonoResult.from_async_result(Flaky(failures=10)).retry(3, delay=0.5, backoff=2)
    assert waits == [0.5, 1.0, 2.0]


@pytest.mark.asyncio
async def test_retry_with_a_real_delay_waits_between_attempts() -> None:
    """A positive delay really sleeps between attempts (without a tight timing claim)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    source = Flaky(failures=2)
    assert await MonoResult.from_async_result(source).retry(2, delay=0.01) == Success("ok")
    assert loop.time() - started >= 0.02


@pytest.mark.asyncio
async def test_retry_when_predicate_stops_retrying_unwanted_errors() -> None:
    """when(error) False returns the Failure at once; an exception in it becomes a Failure."""
    source = Flaky(failures=10)
    mono = MonoResult.from_async_result(source).retry(5, when=lambda e: e == "busy 1")
    assert await mono == Failure("busy 2")
    assert source.calls == 2
    broken = MonoResult.from_async_result(Flaky(failures=10)).retry(5, when=_raiser(KeyError("k")))
    assert isinstance((await broken).unwrap_error(), KeyError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"times": -1}, "times"),
        ({"times": 1.5}, "times"),
        ({"times": True}, "times"),
        ({"times": 1, "delay": -1}, "delay"),
        ({"times": 1, "delay": math.nan}, "delay"),
        ({"times": 1, "backoff": 0}, "backoff"),
    ],
)
def test_retry_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    """retry() validates times, delay and backoff."""
    with pytest.raises(ValueError, match=match):
        MonoResult.from_value(1).retry(**kwargs)


# -- cache --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cache_runs_the_source_once_under_concurrent_awaits() -> None:
    """Ten concurrent awaits of a cached mono share one run of the source."""
    source = Counter(Success("shared"))
    cached = MonoResult.from_async_result(source).cache()
    results = await asyncio.gather(*(cached.to_result() for _ in range(10)))
    assert results == [Success("shared")] * 10
    assert await cached == Success("shared")
    assert source.calls == 1


@pytest.mark.asyncio
async def test_cache_replays_a_failure_and_later_steps_still_run() -> None:
    """A cached Failure is replayed; steps added after cache() run on every await."""
    source = Counter(Failure("down"))
    mono = MonoResult.from_async_result(source).cache().map_error(str.upper)
    assert await mono == await mono == Failure("DOWN")
    assert source.calls == 1


@pytest.mark.asyncio
async def test_a_cancelled_first_run_is_not_cached() -> None:
    """If the run that fills the cache is cancelled, the next await runs the source again."""
    gate = asyncio.Event()
    calls: list[int] = []

    async def source() -> Result[int, Any]:
        calls.append(1)
        if len(calls) == 1:
            gate.set()
            await asyncio.sleep(30)
        return Success(len(calls))

    cached = MonoResult.from_async_result(source).cache()
    first = asyncio.ensure_future(cached.to_result())
    await gate.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await cached == Success(2)
    assert await cached == Success(2)


# -- every operator composes --------------------------------------------------------------------

OPERATORS: dict[str, Callable[[MonoResult[Any, Any]], Any]] = {
    "map": lambda m: m.map(lambda x: x),
    "map_error": lambda m: m.map_error(lambda e: e),
    "bind_result": lambda m: m.bind_result(Success),
    "bind_async_result": lambda m: m.bind_async_result(MonoResult.from_value),
    "on_error_return_result": lambda m: m.on_error_return_result(Failure),
    "on_error_return_value": lambda m: m.on_error_return_value(0),
    "timeout": lambda m: m.timeout(5.0),
    "retry": lambda m: m.retry(1),
    "cache": lambda m: m.cache(),
    "log_step": lambda m: m.log_step("step"),
    "log_error": lambda m: m.log_error("errors"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(OPERATORS))
async def test_every_operator_returns_a_mono_result(name: str) -> None:
    """Each operator returns a MonoResult, so any operator can follow any other."""
    out = OPERATORS[name](MonoResult.from_value(7))
    assert isinstance(out, MonoResult)
    assert await out.map(lambda x: x + 1) == Success(8)


@pytest.mark.asyncio
async def test_all_operators_chain_in_any_order() -> None:
    """The full operator set chains forwards and backwards with the same outcome."""
    names = sorted(OPERATORS)
    forwards: MonoResult[Any, Any] = MonoResult.from_value(7)
    backwards: MonoResult[Any, Any] = MonoResult.from_value(7)
    for name in names:
        forwards = OPERATORS[name](forwards)
    for name in reversed(names):
        backwards = OPERATORS[name](backwards)
    assert await forwards == await backwards == Success(7)


@pytest.mark.asyncio
async def test_result_subclasses_are_normalised_to_success_and_failure() -> None:
    """A Result subclass from a source or a bind is handled like the plain Success/Failure."""

    class TaggedSuccess(Success[int]):
        __slots__ = ()

    class TaggedFailure(Failure[str]):
        __slots__ = ()

    mono = MonoResult.from_async_result(lambda: TaggedSuccess(1)).map(lambda x: x + 1)
    assert await mono == Success(2)
    failed = MonoResult.from_value(1).bind_result(lambda _: TaggedFailure("e")).map_error(str.upper)
    assert await failed == Failure("E")


def test_log_steps_run_inline_in_the_chain() -> None:
    """A log_step adds an observed step to the same chain (one coroutine runs it all) instead
    of wrapping the chain in another MonoResult and coroutine per step."""
    source = MonoResult.from_value(1)
    chain = source.log_step("a").map(str).log_error("b")
    assert chain._source is source._source
    kinds = [kind for kind, _ in chain._steps]
    assert kinds.count(max(kinds)) == 1  # one scope marker, first, naming the last step
    assert chain._steps[0][1] == "b"
    assert [
        (spec.name, spec.errors_only) for _, spec in chain._steps if isinstance(spec, StepPath)
    ] == [("a", False), ("b", True)]
    assert asyncio.run(chain.to_result()) == Success("1")
