"""The private instrumentation layer (`rfs_monitoring._instrument`): one classifier, one way to
settle a value that finishes later, and the bindings the layers above plug in."""

from __future__ import annotations

import asyncio
import copy
import gc
import inspect
import io
import json
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import returns.future
import returns.result
import rfs.reactive as rfs_reactive
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rfs_monitoring import _core, _instrument, metrics, tracing
from rfs_monitoring._instrument import collectors
from rfs_monitoring._logging import decorator as log_decorator
from rfs_monitoring.context import (
    OperationScope,
    _operation,
    get_correlation_id,
    set_correlation_id_generator,
)
from rfs_monitoring.errors import APIError
from rfs_monitoring.metrics import ResultMetricsCollector, monitor_result
from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import (
    configure_logging,
    flush_logs,
    log_result_operation,
    reset_log_levels,
    set_log_level,
)


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


# -- the native sync wrapper and the fast path (`_core.Instrumented`, `_core.FastPath`) --------


@pytest.fixture
def log_stream(installed: ResultMetricsCollector) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Logging into memory; the fixture is the function returning the entries so far."""
    buffer = io.StringIO()
    configure_logging(stream=buffer)

    def entries() -> list[dict[str, Any]]:
        flush_logs()
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield entries
    flush_logs()
    configure_logging()
    reset_log_levels()


def _total(collector: ResultMetricsCollector, name: str) -> int:
    return collector.operation_metrics(name).unwrap().total_requests


@pytest.fixture
def leaves(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The outcomes the log decorator's Python ``leave`` saw (functions decorated after the
    fixture): what the native fast path did not settle."""
    seen: list[Any] = []
    real = log_decorator._Spec.leave

    def counted(self: Any, state: Any, outcome: Any, *rest: Any) -> Any:
        seen.append(outcome)
        return real(self, state, outcome, *rest)

    monkeypatch.setattr(log_decorator._Spec, "leave", counted)
    return seen


def test_a_filtered_call_is_settled_natively_sync_and_async(
    installed: ResultMetricsCollector,
    log_stream: Callable[[], list[dict[str, Any]]],
    leaves: list[Any],
) -> None:
    """A Success below the level threshold: one sample each call, no entry, and (once the
    collector's handle is bound) no Python ``leave``, for the sync and the async wrapper."""

    @log_result_operation("quiet_sync", success_level="DEBUG")
    def quiet(x: int) -> Result[int, str]:
        return Success(x)

    @log_result_operation("quiet_async", success_level="DEBUG")
    async def quiet_async(x: int) -> Result[int, str]:
        return Success(x)

    assert type(quiet).__name__ == "Instrumented"
    for _ in range(3):
        assert quiet(1) == Success(1)
        assert asyncio.run(quiet_async(2)) == Success(2)
    assert _total(installed, "quiet_sync") == 3
    assert _total(installed, "quiet_async") == 3
    assert log_stream() == []
    assert leaves == []


def test_changing_levels_moves_a_call_on_and_off_the_fast_path(
    installed: ResultMetricsCollector,
    log_stream: Callable[[], list[dict[str, Any]]],
    leaves: list[Any],
) -> None:
    @log_result_operation("leveled")
    def leveled() -> Result[int, str]:
        return Success(1)

    leveled()  # INFO is logged
    set_log_level("WARNING", operation="leveled")
    leveled()  # filtered
    set_log_level("DEBUG", operation="leveled")
    leveled()  # logged again
    set_log_level("ERROR")
    leveled()  # the operation's own level still lets it through
    reset_log_levels()
    set_log_level("WARNING")
    leveled()  # filtered by the global level
    assert leaves == []  # all five settled natively, logged or not
    assert [entry["level"] for entry in log_stream()] == ["info"] * 3
    assert _total(installed, "leveled") == 5


def test_a_logged_plain_success_is_settled_natively_and_written_through_emit(
    installed: ResultMetricsCollector,
    log_stream: Callable[[], list[dict[str, Any]]],
    leaves: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain Success whose level passes: the native fast path records it and hands its
    entry straight to ``emit`` (no Python ``leave``, no ``_success``), for the sync and the
    async wrapper; the entry is the one the Python path writes, its correlation ID the one the
    call saw."""
    seen: list[str | None] = []

    def no_python_path(*args: Any) -> None:
        raise AssertionError("the Python path ran")

    monkeypatch.setattr(log_decorator, "_success", no_python_path)

    @log_result_operation("loud_sync")
    def loud(x: int) -> Result[int, str]:
        seen.append(get_correlation_id())
        return Success(x)

    @log_result_operation("loud_async")
    async def loud_async(x: int) -> Result[str, str]:
        seen.append(get_correlation_id())
        return Success(str(x))

    for _ in range(2):
        assert loud(1) == Success(1)
        assert asyncio.run(loud_async(2)) == Success("2")
    entries = log_stream()
    assert leaves == []
    assert [(e["operation_name"], e["level"], e["success_type"]) for e in entries] == [
        ("loud_sync", "info", "int"),
        ("loud_async", "info", "str"),
    ] * 2
    assert [e["correlation_id"] for e in entries] == seen
    assert all(e["event"] == "result_operation" and e["step_name"] is None for e in entries)
    assert _total(installed, "loud_sync") == 2
    assert _total(installed, "loud_async") == 2


def test_a_failing_entry_never_reaches_the_caller(
    installed: ResultMetricsCollector,
    log_stream: Callable[[], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entry cannot be written (choosing the log's lane raises): the natively settled call
    still returns its value with its sample recorded, and the failure is reported by the log's
    own counters, neither raised nor left to ``sys.unraisablehook``."""
    from rfs_monitoring._logging import writer as log_writer

    log_stream()  # the lane chosen for the in-memory stream

    def failing_choice() -> Any:
        raise RuntimeError("no lane today")

    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(log_writer, "_select_lane", failing_choice)
    log_writer._lanes.forget()  # the next entry chooses again

    @log_result_operation("entry_fails")
    def call() -> Result[int, str]:
        return Success(7)

    @log_result_operation("entry_fails_async")
    async def call_async() -> Result[int, str]:
        return Success(8)

    assert call() == Success(7)
    assert asyncio.run(call_async()) == Success(8)
    assert unraisable == []
    assert _total(installed, "entry_fails") == 1
    assert _total(installed, "entry_fails_async") == 1
    monkeypatch.undo()
    assert log_stream() == []


def test_only_a_plain_success_without_extras_takes_the_fast_path(
    installed: ResultMetricsCollector,
    log_stream: Callable[[], list[dict[str, Any]]],
    leaves: list[Any],
) -> None:
    """Failures, other values and specs with extras go to Python's leave (and still log by
    their own levels); a plain Success, logged or not, does not."""

    @log_result_operation("with_args", success_level="DEBUG", log_args=True)
    def with_args(x: int) -> Result[int, str]:
        return Success(x)

    @log_result_operation("mixed", success_level="DEBUG")
    def mixed(kind: str) -> Any:
        return {"ok": Success(1), "fail": Failure("no"), "plain": 3}[kind]

    with_args(1)
    mixed("ok")
    mixed("fail")
    mixed("plain")
    assert leaves == [Success(1), Failure("no"), 3]
    assert [e["operation_name"] for e in log_stream()] == ["mixed"]  # the failure, WARNING
    assert _total(installed, "mixed") == 3


def test_a_swapped_collector_is_followed_by_the_fast_path(
    log_stream: Callable[[], list[dict[str, Any]]],
) -> None:
    @log_result_operation("swapped", success_level="DEBUG")
    def logged() -> Result[int, str]:
        return Success(1)

    @monitor_result("swapped_monitor")
    def monitored() -> Result[int, str]:
        return Success(1)

    first = ResultMetricsCollector(sample_resources=False)
    second = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(first)
    try:
        logged(), monitored()
        ResultMetricsCollector.set_instance(second)
        logged(), monitored()
        logged(), monitored()
    finally:
        ResultMetricsCollector.set_instance(previous)
        first.close()
        second.close()
    assert (_total(first, "swapped"), _total(second, "swapped")) == (1, 2)
    assert (_total(first, "swapped_monitor"), _total(second, "swapped_monitor")) == (1, 2)


def test_an_installed_collector_assigned_directly_is_followed(
    installed: ResultMetricsCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path keys its handle on the collector generation, which every assignment of
    ``ResultMetricsCollector._instance`` bumps (its metaclass), not only ``set_instance``."""

    @monitor_result("assigned")
    def monitored() -> Result[int, str]:
        return Success(1)

    other = ResultMetricsCollector(sample_resources=False)
    try:
        monitored()
        monkeypatch.setattr(ResultMetricsCollector, "_instance", other)
        monitored()
        monkeypatch.undo()
        monitored()
    finally:
        other.close()
    assert (_total(installed, "assigned"), _total(other, "assigned")) == (2, 1)


class _RaisingHandle:
    def record(self, *args: Any) -> None:
        raise RuntimeError("metrics broken")


def test_a_failing_metrics_handle_never_reaches_the_caller(
    installed: ResultMetricsCollector,
    log_stream: Callable[[], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collector whose handles raise, and a handle that starts raising after the fast path
    bound it: the calls return their outcome, the failure is reported, not raised."""

    @log_result_operation("fragile_log", success_level="DEBUG")
    def fragile_log() -> Result[int, str]:
        return Success(1)

    @monitor_result("fragile_monitor")
    def fragile_monitor() -> Result[int, str]:
        return Success(2)

    assert fragile_log() == Success(1)  # binds the real handles
    assert fragile_monitor() == Success(2)
    monkeypatch.setattr(ResultMetricsCollector, "operation", lambda self, name: _RaisingHandle())
    fresh = ResultMetricsCollector(sample_resources=False)
    ResultMetricsCollector.set_instance(fresh)
    try:
        for _ in range(2):
            assert fragile_log() == Success(1)
            assert fragile_monitor() == Success(2)
            assert asyncio.run(_instrument.wrap(_async_success, _NoopObserver())()) == Success(0)
    finally:
        ResultMetricsCollector.set_instance(installed)
        fresh.close()
    assert fresh.cumulative() == []
    assert log_stream() == []


def test_a_handle_that_raises_on_the_native_path_falls_back_and_reports(
    installed: ResultMetricsCollector,
) -> None:
    """The fast path's bound handle raising (here: a duration the core refuses) hands the
    sample to the observer's fallback, which never raises either."""
    fallback: list[float] = []
    fast = _core.FastPath("refused", Success, _NoopObserver().leave, fallback.append, collectors)
    assert fast.leave(None, Success(1), float("nan"), (), {}) == Success(1)
    assert len(fallback) == 1
    assert fast.leave(None, Success(1), 0.001, (), {}) == Success(1)
    assert len(fallback) == 1
    assert _total(installed, "refused") == 1
    # The decorators' own fallbacks: the sample is refused again, reported, never raised.
    monitored = metrics._Monitored(lambda: installed.operation("refused"))
    fast = _core.FastPath("refused", Success, monitored.leave, monitored.record_success, collectors)
    assert fast.leave(None, Success(2), float("nan"), (), {}) == Success(2)
    spec = log_decorator._Spec(
        "refused",
        _module_level_plain,
        log_args=False,
        log_result=False,
        success_level="DEBUG",
        failure_level="WARNING",
        error_level="ERROR",
        metadata=None,
        record_metrics=True,
    )
    scope = OperationScope("refused", None)
    token = _operation.set(scope)
    assert spec.fast.leave((scope, token, None), Success(3), float("nan"), (), {}) == Success(3)
    assert _operation.get() is None
    assert _total(installed, "refused") == 1


def _module_level_plain() -> Result[int, str]:
    return Success(0)


async def _async_success() -> Result[int, str]:
    return Success(0)


class _NoopObserver:
    def enter(self) -> None:
        return None

    def leave(self, state: Any, outcome: Any, elapsed: float, args: Any, kwargs: Any) -> Any:
        return outcome

    def raised(self, state: Any, error: Exception, elapsed: float, args: Any, kwargs: Any) -> None:
        return None

    def abandoned(self, state: Any, error: BaseException, elapsed: float) -> None:
        return None


def test_steps_and_nested_operations_see_the_natively_opened_scope(
    log_stream: Callable[[], list[dict[str, Any]]],
) -> None:
    """Inside a natively wrapped sync call: a nested operation shares the correlation ID the
    outer one hands out, a failing step is named in the outer entry, and the step's duration
    is measured from the scope's boundary (the native clock reads `time.perf_counter`'s)."""

    @log_result_operation("inner")
    def inner() -> Result[int, str]:
        return Success(1)

    @log_result_operation("outer")
    def outer() -> Result[int, str]:
        inner()
        time.sleep(0.002)
        flux = FluxResult.from_results([Success(1), Failure("bad row")]).log_step("rows")
        return Failure(f"{flux.count_failures()} failed")

    assert outer() == Failure("1 failed")
    nested, step, operation = log_stream()
    assert (nested["operation_name"], step["step_name"], operation["operation_name"]) == (
        "inner",
        "rows",
        "outer",
    )
    assert step["correlation_id"] == nested["correlation_id"] == operation["correlation_id"]
    assert operation["metadata"]["failure_step"] == "rows"
    assert 2.0 <= step["processing_time_ms"] <= operation["processing_time_ms"]


def test_the_native_scope_boundary_is_on_the_perf_counter_clock() -> None:
    seen: list[float] = []

    @log_result_operation("bounded")
    def bounded() -> Result[int, str]:
        scope = _operation.get()
        assert scope is not None
        seen.append(scope.boundary)
        return Success(1)

    before = time.perf_counter()
    bounded()
    after = time.perf_counter()
    assert before <= seen[0] <= after
    native = _core.perf_counter()
    assert after <= native <= time.perf_counter()


def test_the_native_scope_keeps_the_scope_semantics() -> None:
    parent = OperationScope("outer", None)
    child = OperationScope("inner", None, parent)
    previous = set_correlation_id_generator(lambda: "req-7")
    try:
        assert child.ensure_correlation_id() == "req-7"
    finally:
        set_correlation_id_generator(previous)
    assert parent.correlation_id == "req-7"
    assert child.ensure_correlation_id() == "req-7"
    child.failure_step = "load"
    child.boundary = 1.5
    child.span = span = object()
    child.failure_step = None
    assert (child.name, child.parent, child.boundary, child.failure_step, child.span) == (
        "inner",
        parent,
        1.5,
        None,
        span,
    )


@log_result_operation("pickled_log")
def logged_module_level(x: int) -> Result[int, str]:
    return Success(x)


@monitor_result("pickled_monitor")
def monitored_module_level(x: int) -> Result[int, str]:
    return Success(x)


class _Service:
    @log_result_operation("method_log")
    def find(self, x: int) -> Result[int, str]:
        return Success(x + 1)

    @monitor_result("method_monitor")
    def count(self, x: int) -> Result[int, str]:
        return Success(x + 2)


def test_natively_wrapped_functions_behave_as_functions(installed: ResultMetricsCollector) -> None:
    """Methods bind, signatures and names are kept, decorated functions pickle by name."""
    service = _Service()
    assert (service.find(1), service.count(1)) == (Success(2), Success(3))
    assert str(inspect.signature(_Service.find)) == "(self, x: 'int') -> 'Result[int, str]'"
    assert str(inspect.signature(service.count)) == "(x: 'int') -> 'Result[int, str]'"
    assert (_Service.find.__name__, _Service.count.__qualname__) == ("find", "_Service.count")
    for wrapped in (logged_module_level, monitored_module_level, _Service.find):
        assert pickle.loads(pickle.dumps(wrapped)) is wrapped
        assert copy.deepcopy(wrapped) is wrapped
    again = pickle.loads(pickle.dumps(service.count))
    assert again(0) == Success(2)
    assert _total(installed, "method_log") == 1


def test_fastapi_serves_a_natively_wrapped_sync_endpoint(installed: ResultMetricsCollector) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from rfs_monitoring.web import handle_result

    app = FastAPI()

    @app.get("/items/{item_id}")
    @handle_result
    @log_result_operation("item_lookup", success_level="DEBUG")
    def item(item_id: int, q: str = "x") -> Result[dict[str, Any], str]:
        return Success({"id": item_id, "q": q})

    with TestClient(app) as client:
        assert client.get("/items/3?q=y").json() == {"id": 3, "q": "y"}
        assert client.get("/items/nope").status_code == 422
    assert _total(installed, "item_lookup") == 1


def test_a_generic_observer_sees_every_hook_of_the_native_wrapper(sink: Sink) -> None:
    def pick(kind: str, **extra: Any) -> Any:
        if kind == "raise":
            raise KeyError("k")
        if kind == "exit":
            raise SystemExit(3)
        return Success(extra)

    wrapped = _instrument.wrap(pick, sink)
    assert wrapped("ok", a=1) == Success({"a": 1})
    with pytest.raises(KeyError) as raised:
        wrapped("raise")
    assert raised.value.__traceback__ is not None
    with pytest.raises(SystemExit):
        wrapped("exit")
    assert [kind for kind, _, _ in sink.seen] == ["returned", "raised", "abandoned"]
    assert sink.seen[1][1] is raised.value
    assert sink.entered == 3


def test_decorated_functions_that_go_away_are_collected() -> None:
    """The native wrapper, its fast path and the observer hold each other: the garbage collector
    sees through them (no spec is left behind by functions decorated and dropped)."""

    def specs() -> int:
        gc.collect()
        return sum(isinstance(o, log_decorator._Spec) for o in gc.get_objects())

    before = specs()
    for _ in range(50):

        @log_result_operation("transient")
        def transient() -> Result[int, str]:
            return Success(1)

        transient()
        del transient
    assert specs() == before


def test_the_scope_is_opened_natively_unless_a_span_may_start(
    installed: ResultMetricsCollector,
    log_stream: Callable[[], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    exporter: InMemorySpanExporter,
) -> None:
    """With a recording tracer provider every call asks the observer's ``enter`` (its span is
    exported even when the entry is filtered out); with none, the kept "no spans" answer lets
    the native wrapper open the scope itself."""
    entered: list[int] = []
    real = log_decorator._Spec.enter

    def counted(self: Any) -> Any:
        entered.append(1)
        return real(self)

    monkeypatch.setattr(log_decorator._Spec, "enter", counted)

    @log_result_operation("spanned", success_level="DEBUG")
    def spanned() -> Result[int, str]:
        return Success(1)

    spanned()
    spanned()
    assert len(entered) == 2
    assert [span.name for span in exporter.get_finished_spans()] == ["spanned", "spanned"]
    tracing.set_tracer_provider(None)
    spanned()  # works the "no spans" answer out, through enter
    spanned()
    spanned()
    assert len(entered) == 3
    assert _total(installed, "spanned") == 5
    assert log_stream() == []
