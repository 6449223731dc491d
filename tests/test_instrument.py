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
    """Records what `settle` hands to the sinks."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, float]] = []

    def observe(self, outcome: Any, elapsed: float) -> None:
        self.seen.append(("returned", outcome, elapsed))

    def observe_raised(self, error: BaseException, elapsed: float) -> None:
        self.seen.append(("raised", error, elapsed))


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


def test_a_finished_value_is_observed_at_once(sink: Sink) -> None:
    value = Failure("x")
    assert _instrument.settle(value, 0.25, sink.observe, sink.observe_raised) is value
    assert sink.seen == [("returned", value, 0.25)]


def test_a_mono_is_observed_each_time_it_runs(sink: Sink) -> None:
    runs = []

    async def load() -> Any:
        runs.append(1)
        await asyncio.sleep(0)
        return Success(len(runs))

    mono = MonoResult.from_async_result(load)
    settled = _instrument.settle(mono, 1.0, sink.observe, sink.observe_raised)
    assert isinstance(settled, MonoResult)
    assert sink.seen == []  # lazy: nothing ran yet
    assert asyncio.run(settled.to_result()) == Success(1)
    assert asyncio.run(settled.to_result()) == Success(2)
    assert [(kind, outcome) for kind, outcome, _ in sink.seen] == [
        ("returned", Success(1)),
        ("returned", Success(2)),
    ]
    assert all(elapsed >= 1.0 for _, _, elapsed in sink.seen)  # the call's own time counts


def test_a_raising_awaitable_is_observed_then_reraised(sink: Sink) -> None:
    async def broken() -> Any:
        raise KeyError("k")

    settled = _instrument.settle(broken(), 0.0, sink.observe, sink.observe_raised)
    with pytest.raises(KeyError):
        asyncio.run(settled)
    ((kind, error, _),) = sink.seen
    assert kind == "raised"
    assert isinstance(error, KeyError)


def test_a_coroutine_is_settled_on_what_it_returns(sink: Sink) -> None:
    async def nested() -> Any:
        return MonoResult.from_value(5)

    settled = _instrument.settle(nested(), 0.0, sink.observe, sink.observe_raised)
    inner = asyncio.run(settled)
    assert isinstance(inner, MonoResult)  # the coroutine gave a mono: settled in turn
    assert asyncio.run(inner.to_result()) == Success(5)
    assert [outcome for _, outcome, _ in sink.seen] == [Success(5)]


def test_other_libraries_chains_come_back_as_the_same_type(sink: Sink) -> None:
    async def fetch() -> returns.result.Result[int, str]:
        return returns.result.Failure("nope")

    future = returns.future.FutureResult(fetch())
    settled = _instrument.settle(future, 0.0, sink.observe, sink.observe_raised)
    assert isinstance(settled, returns.future.FutureResult)
    assert sink.seen == []
    asyncio.run(settled.awaitable())
    rfs_mono = rfs_reactive.MonoResult.from_value(3)
    again = _instrument.settle(rfs_mono, 0.0, sink.observe, sink.observe_raised)
    assert isinstance(again, rfs_reactive.MonoResult)
    assert _instrument.classify(sink.seen[0][1])[:2] == (True, "nope")


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
