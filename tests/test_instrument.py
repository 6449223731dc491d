"""The private instrumentation layer (`rfs_monitoring._instrument`): one classifier, one way to
settle a value that finishes later, and the bindings the layers above plug in."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import returns.future
import returns.result
import rfs.reactive as rfs_reactive

from rfs_monitoring import _instrument
from rfs_monitoring.errors import APIError
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Success


class Sink:
    """An observer recording what the instrumentation layer hands it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, float]] = []
        self.entered = 0

    def enter(self) -> str:
        self.entered += 1
        return f"state-{self.entered}"

    def leave(self, state: str, outcome: Any, elapsed: float, args: Any, kwargs: Any) -> Any:
        self.seen.append(("returned", outcome, elapsed))
        return outcome

    def raised(self, state: str, error: Exception, elapsed: float, args: Any, kwargs: Any) -> None:
        self.seen.append(("raised", error, elapsed))

    def abandoned(self, state: str, error: BaseException, elapsed: float) -> None:
        self.seen.append(("abandoned", error, elapsed))


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Success(1), (False, None, "int", None)),
        (Failure("down"), (True, "down", None, None)),
        (returns.result.Success([1]), (False, None, "list", None)),
        (returns.result.Failure("gone"), (True, "gone", None, None)),
        ("plain", (False, None, "str", None)),
        (
            FluxResult.from_results([Success(1), Failure("a"), Failure("b")]),
            (True, "a", None, {"total": 3, "successes": 1, "failures": 2}),
        ),
        (
            FluxResult.from_values([1, 2]),
            (False, None, "FluxResult", {"total": 2, "successes": 2, "failures": 0}),
        ),
    ],
    ids=["success", "failure", "returns success", "returns failure", "plain", "flux", "flux ok"],
)
def test_classify_is_the_one_reading_of_an_outcome(outcome: Any, expected: tuple[Any, ...]) -> None:
    assert _instrument.classify(outcome) == expected


def test_failure_fields_name_a_failure_like_an_exception() -> None:
    assert _instrument.failure_fields(APIError.not_found("user", "7")) == (
        "NOT_FOUND",
        "user '7' not found",
    )
    assert _instrument.failure_fields(KeyError("k")) == ("KeyError", "'k'")


def test_the_one_wrapper_times_sync_and_async_calls(sink: Sink) -> None:
    def double(x: int) -> Any:
        return Success(x * 2)

    async def halve(x: int) -> Any:
        await asyncio.sleep(0)
        return Failure(x / 2)

    wrapped = _instrument.wrap(double, sink)
    assert wrapped.__name__ == "double"
    assert wrapped(2) == Success(4)
    awrapped = _instrument.wrap(halve, sink)
    assert asyncio.run(awrapped(3)) == Failure(1.5)
    assert [(kind, outcome) for kind, outcome, _ in sink.seen] == [
        ("returned", Success(4)),
        ("returned", Failure(1.5)),
    ]
    assert sink.entered == 2


def test_the_one_wrapper_reraises_after_observing(sink: Sink) -> None:
    def broken() -> Any:
        raise KeyError("k")

    async def cancelled() -> Any:
        raise asyncio.CancelledError

    with pytest.raises(KeyError):
        _instrument.wrap(broken, sink)()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(_instrument.wrap(cancelled, sink)())
    assert [kind for kind, _, _ in sink.seen] == ["raised", "abandoned"]


def test_a_mono_is_observed_each_time_it_runs(sink: Sink) -> None:
    runs = []

    async def load() -> Any:
        runs.append(1)
        await asyncio.sleep(0)
        return Success(len(runs))

    mono = MonoResult.from_async_result(load)
    deferred = _instrument.defer(mono, 1.0, sink)
    assert isinstance(deferred, MonoResult)
    assert sink.seen == []  # lazy: nothing ran yet
    assert asyncio.run(deferred.to_result()) == Success(1)
    assert asyncio.run(deferred.to_result()) == Success(2)
    assert [(kind, outcome) for kind, outcome, _ in sink.seen] == [
        ("returned", Success(1)),
        ("returned", Success(2)),
    ]
    assert all(elapsed >= 1.0 for _, _, elapsed in sink.seen)  # the call's own time counts
    assert sink.entered == 2


def test_a_raising_awaitable_is_observed_then_reraised(sink: Sink) -> None:
    async def broken() -> Any:
        raise KeyError("k")

    deferred = _instrument.defer(broken(), 0.0, sink)
    with pytest.raises(KeyError):
        asyncio.run(deferred)
    ((kind, error, _),) = sink.seen
    assert kind == "raised"
    assert isinstance(error, KeyError)


def test_other_libraries_chains_come_back_as_the_same_type(sink: Sink) -> None:
    async def fetch() -> returns.result.Result[int, str]:
        return returns.result.Failure("nope")

    future = returns.future.FutureResult(fetch())
    deferred = _instrument.defer(future, 0.0, sink)
    assert isinstance(deferred, returns.future.FutureResult)
    assert sink.seen == []
    asyncio.run(deferred.awaitable())
    rfs_mono = rfs_reactive.MonoResult.from_value(3)
    again = _instrument.defer(rfs_mono, 0.0, sink)
    assert isinstance(again, rfs_reactive.MonoResult)
    assert _instrument.classify(sink.seen[0][1])[:2] == (True, "nope")


def test_monitor_result_waits_for_what_a_coroutine_gives(clock: Any) -> None:
    """The metrics sink settles a coroutine's MonoResult in turn: one sample, when it ran."""
    from rfs_monitoring.metrics import monitor_result

    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    try:

        @monitor_result("nested")
        def nested() -> Any:
            async def later() -> Any:
                return MonoResult.from_error("late")

            return later()

        inner = asyncio.run(nested())
        assert isinstance(inner, MonoResult)
        assert collector.cumulative() == []
        assert asyncio.run(inner.to_result()) == Failure("late")
        assert collector.operation_metrics("nested").unwrap().failed_requests == 1
    finally:
        ResultMetricsCollector.set_instance(previous)
        collector.close()


@pytest.mark.parametrize(
    ("value", "later"),
    [
        (Success(1), False),
        ("text", False),
        (MonoResult.from_value(1), True),
        (rfs_reactive.MonoResult.from_value(1), True),
    ],
)
def test_awaits_later(value: Any, later: bool) -> None:
    assert _instrument.awaits_later(value) is later


def test_a_coroutine_awaits_later() -> None:
    async def job() -> int:
        return 1

    coroutine = job()
    assert _instrument.awaits_later(coroutine)
    coroutine.close()


def test_the_chain_types_are_registered_by_the_reactive_module() -> None:
    assert _instrument.mono_type() is MonoResult
    assert _instrument.is_mono(MonoResult.from_value(1))
    assert not _instrument.is_mono(Success(1))
    flux = FluxResult.from_values([1])
    assert _instrument.as_flux(flux) is flux
    assert _instrument.as_flux([1]) is None


@pytest.fixture
def bound() -> Iterator[None]:
    saved = (_instrument.collectors.factory, _instrument.collectors.cls)
    yield
    _instrument.bind_collector(*saved)


@pytest.mark.usefixtures("bound")
def test_the_process_collector_is_the_bound_one() -> None:
    assert _instrument.collectors.cls is ResultMetricsCollector
    assert _instrument.process_collector() is ResultMetricsCollector.instance()
    other = ResultMetricsCollector(sample_resources=False)
    _instrument.bind_collector(lambda: other)
    assert _instrument.process_collector() is other
    other.close()


def test_the_package_root_binds_the_collector_without_importing_metrics() -> None:
    code = """
import sys
import rfs_monitoring
# The root binds the collector without loading the layer (or asyncio, through context).
assert "rfs_monitoring._instrument" not in sys.modules
assert "rfs_monitoring.context" not in sys.modules
from rfs_monitoring import _instrument
assert "rfs_monitoring.metrics" not in sys.modules
collector = _instrument.process_collector()
from rfs_monitoring.metrics import ResultMetricsCollector
assert collector is ResultMetricsCollector.instance()
assert _instrument.collectors.cls is ResultMetricsCollector
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
