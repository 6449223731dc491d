"""`MonoResult` and `FluxResult`: lazy async chains over one Result and batches of Results.

A `MonoResult` describes work that produces one `Result`; nothing runs until it is awaited, and
awaiting it again runs the chain again (unless `MonoResult.cache` was applied). Every operator
returns a new `MonoResult`, so steps compose in any order:

>>> import asyncio
>>> from rfs_monitoring.result import Failure, Success
>>> async def find_user(user_id: str) -> Result[dict[str, str], str]:
...     return Success({"id": user_id}) if user_id == "42" else Failure("not found")
>>> def chain(user_id: str) -> MonoResult[str, str]:
...     return (
...         MonoResult.from_async_result(lambda: find_user(user_id))
...         .map(lambda user: user["id"])
...         .map_error(str.upper)
...         .timeout(5.0)
...     )
>>> asyncio.run(chain("42").to_result()), asyncio.run(chain("7").to_result())
(Success(value='42'), Failure(error='NOT FOUND'))

An exception raised anywhere in a chain becomes a `Failure` carrying it; cancellation,
``KeyboardInterrupt`` and ``SystemExit`` propagate untouched.

A `FluxResult` is an immutable batch of Results with counters computed once:

>>> flux = FluxResult.from_results([Success(1), Failure("x"), Success(3)])
>>> flux.count_success(), flux.count_failures(), flux.success_rate()
(2, 1, 0.6666666666666666)
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Iterator
from types import CoroutineType
from typing import Any, Generic, TypeVar, cast

from rfs_monitoring import _instrument
from rfs_monitoring._exceptions import InvalidArgumentError, InvalidTypeError
from rfs_monitoring._instrument import step_scope as _step_scope
from rfs_monitoring._logging.steps import _flux_step, step_path
from rfs_monitoring.context import _operation
from rfs_monitoring.exceptions import OperationTimeoutError
from rfs_monitoring.interop import batch_items, chain_of, is_chain, read_outcome
from rfs_monitoring.result import Failure, Result, Success

__all__ = ["FluxResult", "MonoResult", "OperationTimeoutError"]

_perf = time.perf_counter
_reset_operation = _operation.reset

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
F = TypeVar("F")

# A step is (kind, argument). `_run` dispatches on the kind inline: one coroutine and no extra
# call per step keep a chain within a small factor of hand-written code.
_MAP = 0  # Success(value) -> Success(fn(value))
_BIND = 1  # Success(value) -> fn(value), resolved to a Result
_MAP_ERROR = 2  # Failure(error) -> Failure(fn(error))
_RECOVER = 3  # Failure(error) -> fn(error), resolved to a Result
_RECOVER_VALUE = 4  # Failure(_) -> Success(the given value)
_OBSERVE = 5  # log_step / log_error: a `_core.StepPath`, called with each pass (never raises)
_SCOPE = 6  # first of a chain with observed steps: the name of the last one (see `_run`)
_Step = tuple[int, Any]


async def _resolve(value: Any) -> Result[Any, Any]:
    """The Result behind what a user callable returned: a Result (ours or another library's), a
    MonoResult (ours or rfs') or an awaitable of either. Anything else is a `TypeError` failure,
    so a wrong return type is reported, not hidden.
    """
    while True:
        if value.__class__ is Success or value.__class__ is Failure:
            return value
        if isinstance(value, Result):
            # A subclass or another implementation: `_run` relies on the exact classes.
            return Success(value.unwrap()) if value.is_success() else Failure(value.unwrap_error())
        if isinstance(value, MonoResult):
            return await value._run()
        # Another library's Result (expression's is awaitable too: read it before awaiting).
        outcome = read_outcome(value)
        if outcome is not None:
            return Failure(outcome[1]) if outcome[0] else Success(outcome[1])
        if not inspect.isawaitable(value):
            return Failure(
                TypeError(f"expected a Result or an awaitable Result, got {type(value).__name__}")
            )
        value = await value


def _check_seconds(name: str, value: float, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise InvalidArgumentError(f"{name} must be {bound}, got {value!r}")


_STEP_MARKS: dict[str, tuple[_Step, _Step]] = {}
_ERROR_MARKS: dict[str, tuple[_Step, _Step]] = {}
_MAX_MARKS = 4096  # step names are user input: the tables are dropped rather than grown past this


def _marks(name: str, errors_only: bool) -> tuple[_Step, _Step]:
    """The `_SCOPE` and `_OBSERVE` steps of ``log_step(name)`` / ``log_error(name)``."""
    table = _ERROR_MARKS if errors_only else _STEP_MARKS
    if len(table) >= _MAX_MARKS:
        table.clear()
    marks = table[name] = ((_SCOPE, name), (_OBSERVE, step_path(name, errors_only)))
    return marks


class MonoResult(Generic[T, E]):
    """A lazy, awaitable async computation of one ``Result[T, E]``.

    Build one with `from_async_result`, `from_result`, `from_value` or `from_error` (the class
    has no public constructor); chain operators; ``await`` it (or ``await mono.to_result()``) to
    run it.

    >>> import asyncio
    >>> mono = MonoResult.from_value(20).map(lambda x: x + 1).map(lambda x: x * 2)
    >>> asyncio.run(mono.to_result())
    Success(value=42)
    """

    # No __init__ on purpose: calling a class without one and setting two slots costs half of
    # object.__new__ plus an __init__ frame, and every operator builds a MonoResult.
    __slots__ = ("_source", "_steps")
    _source: Callable[[], Any]
    _steps: tuple[_Step, ...]

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_async_result(
        cls, fn: Callable[[], Awaitable[Result[T, E]] | Result[T, E]]
    ) -> MonoResult[T, E]:
        """A MonoResult that calls ``fn()`` (a zero-argument callable returning an awaitable
        Result) each time it runs. A plain Result returned by ``fn`` is accepted too.

        >>> import asyncio
        >>> calls = []
        >>> async def fetch() -> Result[int, str]:
        ...     calls.append(1)
        ...     return Success(7)
        >>> mono = MonoResult.from_async_result(fetch)
        >>> calls  # lazy: nothing ran yet
        []
        >>> asyncio.run(mono.to_result()), len(calls)
        (Success(value=7), 1)
        """
        mono = cls()
        mono._source = fn
        mono._steps = ()
        return mono

    @classmethod
    def from_result(cls, result: Result[T, E]) -> MonoResult[T, E]:
        """A MonoResult that yields ``result``.

        >>> import asyncio
        >>> asyncio.run(MonoResult.from_result(Failure("no")).to_result())
        Failure(error='no')
        """
        if not isinstance(result, Result):
            result = _native(result, "from_result() needs a Result")
        return cls.from_async_result(lambda: result)

    @classmethod
    def from_value(cls, value: T) -> MonoResult[T, Any]:
        """A MonoResult that yields ``Success(value)``.

        >>> import asyncio
        >>> asyncio.run(MonoResult.from_value("ok").to_result())
        Success(value='ok')
        """
        result: Result[T, Any] = Success(value)
        return cls.from_async_result(lambda: result)

    @classmethod
    def from_error(cls, error: E) -> MonoResult[Any, E]:
        """A MonoResult that yields ``Failure(error)``.

        >>> import asyncio
        >>> asyncio.run(MonoResult.from_error("boom").to_result())
        Failure(error='boom')
        """
        result: Result[Any, E] = Failure(error)
        return cls.from_async_result(lambda: result)

    @classmethod
    def from_rfs(cls, source: Any) -> MonoResult[Any, Any]:
        """Our MonoResult over another library's chain or Result: an rfs-framework
        ``MonoResult`` (run each time ours runs), a returns ``FutureResult``, or a Result of
        any library known to `rfs_monitoring.interop` (rfs, returns, result, expression, or
        one registered with `register_result_adapter`). Its outcome becomes our
        `Success`/`Failure`, so ``log_step``, ``timeout`` and the other operators apply.

        >>> import asyncio
        >>> asyncio.run(MonoResult.from_rfs(Failure("no")).log_step("checked").to_result())
        Failure(error='no')
        >>> MonoResult.from_rfs(42)
        Traceback (most recent call last):
        ...
        rfs_monitoring.exceptions.InvalidTypeError: from_rfs() needs a Result or a chain of one, ...
        """
        if isinstance(source, MonoResult):
            return source
        if read_outcome(source) is not None:
            result = _native(source, "from_rfs() needs a Result")
            return cls.from_async_result(lambda: result)
        if is_chain(source):
            run = chain_of(source)[0]
            return cls.from_async_result(lambda: run(source))
        raise InvalidTypeError(
            f"from_rfs() needs a Result or a chain of one, got {type(source).__name__}"
        )

    # -- running ------------------------------------------------------------------------------

    async def _run(self) -> Result[T, E]:
        # One coroutine runs the whole run of plain steps: chaining does not nest awaits, and
        # neither do the observed steps (log_step / log_error), handed to the sinks inline.
        result: Any
        steps = self._steps
        token = None
        scope: Any = None
        started = 0.0
        if steps and steps[0][0] == _SCOPE:
            # The operation the observed steps belong to: the current one, or (outside any)
            # one named after the chain's last observed step, current while the chain runs.
            started = _perf()
            scope, token = _step_scope(steps[0][1], started)
        try:
            try:
                result = self._source()
                if result.__class__ is CoroutineType:
                    result = await result
                if result.__class__ is not Success and result.__class__ is not Failure:
                    result = await _resolve(result)
            except Exception as error:
                result = Failure(error)
            for kind, fn in steps:
                if kind >= _OBSERVE:
                    if kind == _OBSERVE:  # never raises: the sinks never break the chain
                        fn(scope, result, started)
                    continue
                try:
                    # `result` is exactly a Success or a Failure here (`_resolve` normalises).
                    if result.__class__ is Success:
                        if kind == _MAP:
                            result = Success(fn(result.value))
                        elif kind == _BIND:
                            result = fn(result.value)
                            if result.__class__ is not Success and result.__class__ is not Failure:
                                result = await _resolve(result)
                    elif kind == _MAP_ERROR:
                        result = Failure(fn(result.error))
                    elif kind == _RECOVER_VALUE:
                        result = Success(fn)
                    elif kind == _RECOVER:
                        result = fn(result.error)
                        if result.__class__ is not Success and result.__class__ is not Failure:
                            result = await _resolve(result)
                except Exception as error:
                    result = Failure(error)
        finally:
            if token is not None:
                _reset_operation(token)
        return result  # type: ignore[no-any-return]  # a typing.cast() call costs a lookup

    def to_result(self) -> Coroutine[Any, Any, Result[T, E]]:
        """Run the chain; ``await mono.to_result()`` is the same as ``await mono``.

        >>> import asyncio
        >>> async def main() -> tuple[Result[int, Any], Result[int, Any]]:
        ...     mono = MonoResult.from_value(1)
        ...     return await mono, await mono.to_result()
        >>> asyncio.run(main())
        (Success(value=1), Success(value=1))
        """
        return self._run()

    def __await__(self) -> Generator[Any, None, Result[T, E]]:
        return self._run().__await__()

    def __repr__(self) -> str:
        return f"<MonoResult: {len(self._steps)} step(s), not run>"

    # -- operators ----------------------------------------------------------------------------

    def map(self, fn: Callable[[T], U]) -> MonoResult[U, E]:
        """Transform the success value with the plain function ``fn``; a Failure passes through.
        An exception raised by ``fn`` becomes a Failure.

        >>> import asyncio
        >>> asyncio.run(MonoResult.from_value(2).map(lambda x: x / 0).to_result())
        Failure(error=ZeroDivisionError('division by zero'))
        """
        # Inlined (no helper call): chains are built on the request path.
        extended: MonoResult[Any, Any] = MonoResult()
        extended._source = self._source
        extended._steps = self._steps + ((_MAP, fn),)  # noqa: RUF005 - cheaper than unpacking
        return extended

    def map_error(self, fn: Callable[[E], F]) -> MonoResult[T, F]:
        """Transform the error with ``fn``; a Success passes through.

        >>> import asyncio
        >>> asyncio.run(MonoResult.from_error("boom").map_error(len).to_result())
        Failure(error=4)
        """
        # Inlined (no helper call): chains are built on the request path.
        extended: MonoResult[Any, Any] = MonoResult()
        extended._source = self._source
        extended._steps = self._steps + ((_MAP_ERROR, fn),)  # noqa: RUF005 - cheaper than unpacking
        return extended

    def bind_result(
        self, fn: Callable[[T], Result[U, F] | Awaitable[Result[U, F]] | MonoResult[U, F]]
    ) -> MonoResult[U, E | F]:
        """Chain ``fn(value)``, which returns a Result (an awaitable Result or a MonoResult is
        accepted too); a Failure short-circuits.

        >>> import asyncio
        >>> def positive(x: int) -> Result[int, str]:
        ...     return Success(x) if x > 0 else Failure("not positive")
        >>> asyncio.run(MonoResult.from_value(-1).bind_result(positive).to_result())
        Failure(error='not positive')
        """
        # Inlined (no helper call): chains are built on the request path.
        extended: MonoResult[Any, Any] = MonoResult()
        extended._source = self._source
        extended._steps = self._steps + ((_BIND, fn),)  # noqa: RUF005 - cheaper than unpacking
        return extended

    def bind_async_result(
        self, fn: Callable[[T], Awaitable[Result[U, F]] | MonoResult[U, F]]
    ) -> MonoResult[U, E | F]:
        """Chain the async ``fn(value)`` returning an awaitable Result (or a MonoResult); a
        Failure short-circuits.

        >>> import asyncio
        >>> async def load(x: int) -> Result[str, str]:
        ...     return Success(f"item-{x}")
        >>> asyncio.run(MonoResult.from_value(3).bind_async_result(load).to_result())
        Success(value='item-3')
        """
        # Inlined (no helper call): chains are built on the request path.
        extended: MonoResult[Any, Any] = MonoResult()
        extended._source = self._source
        extended._steps = self._steps + ((_BIND, fn),)  # noqa: RUF005 - cheaper than unpacking
        return extended

    def on_error_return_result(
        self, fn: Callable[[E], Result[U, F] | Awaitable[Result[U, F]] | MonoResult[U, F]]
    ) -> MonoResult[T | U, F]:
        """Recover from a Failure with ``fn(error)``, which returns a Result (or an awaitable
        one); a Success passes through.

        >>> import asyncio
        >>> fallback = MonoResult.from_error("down").on_error_return_result(lambda e: Success(0))
        >>> asyncio.run(fallback.to_result())
        Success(value=0)
        """
        # Inlined (no helper call): chains are built on the request path.
        extended: MonoResult[Any, Any] = MonoResult()
        extended._source = self._source
        extended._steps = self._steps + ((_RECOVER, fn),)  # noqa: RUF005 - cheaper than unpacking
        return extended

    def on_error_return_value(self, value: U) -> MonoResult[T | U, Any]:
        """Replace a Failure with ``Success(value)``; a Success passes through.

        >>> import asyncio
        >>> asyncio.run(MonoResult.from_error("down").on_error_return_value([]).to_result())
        Success(value=[])
        """
        # Inlined (no helper call): chains are built on the request path.
        extended: MonoResult[Any, Any] = MonoResult()
        extended._source = self._source
        extended._steps = self._steps + ((_RECOVER_VALUE, value),)  # noqa: RUF005 - cheaper than unpacking
        return extended

    def timeout(self, seconds: float) -> MonoResult[T, E | OperationTimeoutError]:
        """Give the chain so far ``seconds`` to finish; past that its work is cancelled and the
        result is ``Failure(OperationTimeoutError)``: an `APIError` with code ``TIMEOUT_ERROR``
        (504) that is also a `TimeoutError` and whose text says "timeout". So a chain of
        ``Result[T, APIError]`` keeps that type. ``seconds`` must be finite and positive, else
        `ValueError`.

        >>> import asyncio
        >>> async def slow() -> Result[int, str]:
        ...     await asyncio.sleep(10)
        ...     return Success(1)
        >>> asyncio.run(MonoResult.from_async_result(slow).timeout(0.01).to_result())
        Failure(error=OperationTimeoutError('operation timeout after 0.01 s'))
        """
        _check_seconds("timeout", seconds, allow_zero=False)
        inner = self._run

        async def timed() -> Result[Any, Any]:
            try:
                async with asyncio.timeout(seconds):
                    return await inner()
            except TimeoutError:
                # `inner` turns every Exception into a Failure, so a TimeoutError reaching here
                # can only come from this deadline.
                return Failure(OperationTimeoutError(seconds))

        return MonoResult.from_async_result(timed)

    def retry(
        self,
        times: int,
        delay: float = 0.0,
        backoff: float = 1.0,
        *,
        when: Callable[[E], bool] | None = None,
    ) -> MonoResult[T, E]:
        """Run the chain so far again, up to ``times`` more times, while it yields a Failure.

        ``delay`` seconds pass before the first retry and are multiplied by ``backoff`` after
        each one. ``when(error)``, if given, decides whether a Failure is worth retrying. The
        last outcome is the result. Bad arguments raise `ValueError`.

        >>> import asyncio
        >>> attempts = []
        >>> async def flaky() -> Result[str, str]:
        ...     attempts.append(1)
        ...     return Success("ok") if len(attempts) == 3 else Failure("busy")
        >>> asyncio.run(MonoResult.from_async_result(flaky).retry(5).to_result()), len(attempts)
        (Success(value='ok'), 3)
        """
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise InvalidArgumentError(f"times must be an int >= 0, got {times!r}")
        _check_seconds("delay", delay, allow_zero=True)
        _check_seconds("backoff", backoff, allow_zero=False)
        inner = self._run

        async def retried() -> Result[Any, Any]:
            wait = float(delay)
            result = await inner()
            for _ in range(times):
                if result.is_success() or (when is not None and not when(result.unwrap_error())):
                    return result
                if wait > 0:
                    await asyncio.sleep(wait)
                wait *= backoff
                result = await inner()
            return result

        return MonoResult.from_async_result(retried)

    def cache(self) -> MonoResult[T, E]:
        """Run the chain so far at most once and replay its Result (a Failure too) on every
        later await, also under concurrent awaits. A run that is cancelled or raises a
        ``BaseException`` is not cached.

        >>> import asyncio
        >>> runs = []
        >>> async def load() -> Result[int, str]:
        ...     runs.append(1)
        ...     return Success(len(runs))
        >>> cached = MonoResult.from_async_result(load).cache()
        >>> async def main() -> list[Result[int, str]]:
        ...     return list(await asyncio.gather(cached.to_result(), cached.to_result()))
        >>> asyncio.run(main()), len(runs)
        ([Success(value=1), Success(value=1)], 1)
        """
        inner = self._run
        memo: list[Result[T, E]] = []
        lock = asyncio.Lock()

        async def cached() -> Result[T, E]:
            if memo:
                return memo[0]
            async with lock:
                if not memo:
                    memo.append(await inner())
            return memo[0]

        return MonoResult.from_async_result(cached)

    def _observed(self, name: str, errors_only: bool) -> MonoResult[T, E]:
        # The two steps an observed step adds, made once per name (chains are built per call).
        marks = (_ERROR_MARKS if errors_only else _STEP_MARKS).get(name) or _marks(
            name, errors_only
        )
        steps = self._steps
        extended: MonoResult[Any, Any] = MonoResult()
        extended._source = self._source
        if steps and steps[0][0] == _SCOPE:
            extended._steps = (marks[0], *steps[1:], marks[1])
        else:
            extended._steps = (marks[0], *steps, marks[1])
        return extended

    def log_step(self, name: str) -> MonoResult[T, E]:
        """Emit one structured log entry named ``name`` each time the chain passes this point
        (Success or Failure), with this step's own duration. See `rfs_monitoring.result_logging`.

        >>> import asyncio, io
        >>> from rfs_monitoring.result_logging import add_listener, configure_logging
        >>> configure_logging(stream=io.StringIO())
        >>> seen = []
        >>> remove = add_listener(seen.append)
        >>> asyncio.run(MonoResult.from_value(1).log_step("load").map(str).to_result())
        Success(value='1')
        >>> remove()
        >>> configure_logging()
        >>> seen[0]["step_name"], seen[0]["result_type"]
        ('load', 'success')
        """
        return self._observed(name, False)

    def log_error(self, name: str) -> MonoResult[T, E]:
        """Like `log_step`, but emit only when the chain holds a Failure at this point.

        >>> import asyncio, io
        >>> from rfs_monitoring.result_logging import add_listener, configure_logging
        >>> configure_logging(stream=io.StringIO())
        >>> seen = []
        >>> remove = add_listener(seen.append)
        >>> asyncio.run(MonoResult.from_value(1).log_error("load_failed").to_result())
        Success(value=1)
        >>> asyncio.run(MonoResult.from_error("down").log_error("load_failed").to_result())
        Failure(error='down')
        >>> remove()
        >>> configure_logging()
        >>> [(entry["step_name"], entry["error_message"]) for entry in seen]
        [('load_failed', 'down')]
        """
        return self._observed(name, True)


class FluxResult(Generic[T, E]):
    """An immutable batch of Results, with its counters computed once at construction.

    >>> flux = FluxResult.from_values([1, 2, 3]).map(lambda x: 10 // (x - 2))
    >>> flux.count_total(), flux.count_success(), flux.success_values()
    (3, 2, [-10, 10])
    >>> type(flux.error_values()[0]).__name__
    'ZeroDivisionError'
    """

    __slots__ = ("_results", "_successes")

    def __init__(self, results: Iterable[Result[T, E]] = ()) -> None:
        """A batch holding ``results`` in order; any item that is not a Result is a `TypeError`."""
        items = tuple(results)
        successes = 0
        if not all(isinstance(item, Result) for item in items):
            items = tuple(_native(item, "FluxResult holds Results") for item in items)
        for item in items:
            successes += item.is_success()
        self._results: tuple[Result[T, E], ...] = items
        self._successes = successes

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_results(cls, results: Iterable[Result[T, E]]) -> FluxResult[T, E]:
        """A batch of the given Results.

        >>> FluxResult.from_results([Success(1), Failure("e")]).count_total()
        2
        """
        return cls(results)

    @classmethod
    def from_rfs(cls, source: Any) -> FluxResult[Any, Any]:
        """Our FluxResult with the results of an rfs-framework ``FluxResult`` (or any iterable of
        Results of known libraries), each turned into our `Success`/`Failure`.

        >>> FluxResult.from_rfs([Success(1), Failure("x")]).count_failures()
        1
        """
        if isinstance(source, FluxResult):
            return source
        items = batch_items(source)
        return cls(source if items is None else items)

    @classmethod
    def from_values(cls, values: Iterable[T]) -> FluxResult[T, Any]:
        """A batch of ``Success(value)`` for each value.

        >>> FluxResult.from_values("ab").results
        (Success(value='a'), Success(value='b'))
        """
        return cls(Success(value) for value in values)

    @classmethod
    async def from_async_results(
        cls,
        items: Iterable[Awaitable[Result[T, E]] | Callable[[], Awaitable[Result[T, E]]]],
        concurrency: int | None = None,
    ) -> FluxResult[T, E]:
        """Run every item and collect its Result, in the order given.

        An item is a zero-argument callable returning an awaitable Result, an awaitable Result,
        or a MonoResult. At most ``concurrency`` items run at once (``None``: all of them); an
        item that raises yields a Failure carrying the exception. ``concurrency`` below 1 is a
        `ValueError`.

        >>> import asyncio
        >>> async def square(x: int) -> Result[int, str]:
        ...     await asyncio.sleep(0)
        ...     return Success(x * x)
        >>> flux = asyncio.run(
        ...     FluxResult.from_async_results([lambda x=x: square(x) for x in range(4)], 2)
        ... )
        >>> flux.success_values()
        [0, 1, 4, 9]
        """
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise InvalidArgumentError(
                f"concurrency must be None or an int >= 1, got {concurrency!r}"
            )
        pending: list[Any] = list(items)
        results: list[Result[T, E]] = [Failure(cast("E", None))] * len(pending)

        async def run_one(index: int) -> None:
            item, pending[index] = pending[index], None
            try:
                if callable(item) and not inspect.isawaitable(item):
                    item = item()
                results[index] = await _resolve(item)
            except Exception as error:
                results[index] = Failure(cast("E", error))

        indexes = iter(range(len(pending)))

        async def worker() -> None:
            for index in indexes:
                await run_one(index)

        workers = len(pending) if concurrency is None else min(concurrency, len(pending))
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(worker())
        finally:
            # Items never started (the batch was cancelled) must not warn "never awaited".
            for item in pending:
                if inspect.iscoroutine(item):
                    item.close()
        return cls(results)

    # -- reading ------------------------------------------------------------------------------

    @property
    def results(self) -> tuple[Result[T, E], ...]:
        """Every Result of the batch, in order.

        >>> FluxResult.from_values([1]).results
        (Success(value=1),)
        """
        return self._results

    def count_success(self) -> int:
        """How many Results are a Success (O(1)).

        >>> FluxResult.from_results([Success(1), Failure("e")]).count_success()
        1
        """
        return self._successes

    def count_failures(self) -> int:
        """How many Results are a Failure (O(1)).

        >>> FluxResult.from_results([Success(1), Failure("e")]).count_failures()
        1
        """
        return len(self._results) - self._successes

    def count_total(self) -> int:
        """How many Results the batch holds (O(1)).

        >>> FluxResult.from_values(range(5)).count_total()
        5
        """
        return len(self._results)

    def success_rate(self) -> float:
        """The share of successes, 0.0 to 1.0; an empty batch has rate 0.0 (nothing succeeded).

        >>> FluxResult.from_results([Success(1), Failure("e")]).success_rate()
        0.5
        >>> FluxResult().success_rate()
        0.0
        """
        return self._successes / len(self._results) if self._results else 0.0

    def success_values(self) -> list[T]:
        """The success values, in order.

        >>> FluxResult.from_results([Success(1), Failure("e"), Success(3)]).success_values()
        [1, 3]
        """
        return [result.unwrap() for result in self._results if result.is_success()]

    def error_values(self) -> list[E]:
        """The errors of the failures, in order.

        >>> FluxResult.from_results([Success(1), Failure("e")]).error_values()
        ['e']
        """
        return [result.unwrap_error() for result in self._results if result.is_failure()]

    # -- operators ----------------------------------------------------------------------------

    def map(self, fn: Callable[[T], U]) -> FluxResult[U, E | Exception]:
        """Transform every success value; an exception raised by ``fn`` fails that item only.

        >>> FluxResult.from_values([1, 2]).map(str).results
        (Success(value='1'), Success(value='2'))
        """
        return FluxResult(_guarded(result, lambda r: r.map(fn)) for result in self._results)

    def map_error(self, fn: Callable[[E], F]) -> FluxResult[T, F | Exception]:
        """Transform every error; successes pass through.

        >>> FluxResult.from_results([Failure("e")]).map_error(str.upper).results
        (Failure(error='E'),)
        """
        return FluxResult(_guarded(result, lambda r: r.map_error(fn)) for result in self._results)

    def bind_result(self, fn: Callable[[T], Result[U, F]]) -> FluxResult[U, E | F | Exception]:
        """Chain ``fn(value)`` (returning a Result) on every success value.

        >>> even = lambda x: Success(x) if x % 2 == 0 else Failure(f"{x} is odd")
        >>> FluxResult.from_values([1, 2]).bind_result(even).results
        (Failure(error='1 is odd'), Success(value=2))
        """
        return FluxResult(_guarded(result, lambda r: r.bind(fn)) for result in self._results)

    def filter_success(self) -> FluxResult[T, E]:
        """A batch of only the successes.

        >>> FluxResult.from_results([Success(1), Failure("e")]).filter_success().results
        (Success(value=1),)
        """
        return FluxResult(result for result in self._results if result.is_success())

    def filter_failures(self) -> FluxResult[T, E]:
        """A batch of only the failures.

        >>> FluxResult.from_results([Success(1), Failure("e")]).filter_failures().results
        (Failure(error='e'),)
        """
        return FluxResult(result for result in self._results if result.is_failure())

    # -- collectors ---------------------------------------------------------------------------

    def collect_results(self) -> MonoResult[list[T], E]:
        """A MonoResult of every success value as a list, or of the first Failure.

        >>> import asyncio
        >>> asyncio.run(FluxResult.from_values([1, 2]).collect_results().to_result())
        Success(value=[1, 2])
        >>> flux = FluxResult.from_results([Success(1), Failure("e1"), Failure("e2")])
        >>> asyncio.run(flux.collect_results().to_result())
        Failure(error='e1')
        """
        for result in self._results:
            if result.is_failure():
                return MonoResult.from_result(cast("Result[list[T], E]", result))
        return MonoResult.from_value(self.success_values())

    def collect_successes(self) -> MonoResult[list[T], E]:
        """A MonoResult of the success values as a list, ignoring failures (never fails).

        >>> import asyncio
        >>> flux = FluxResult.from_results([Success(1), Failure("e")])
        >>> asyncio.run(flux.collect_successes().to_result())
        Success(value=[1])
        """
        return MonoResult.from_value(self.success_values())

    def log_step(self, name: str) -> FluxResult[T, E]:
        """Emit one structured log entry named ``name`` summarising the batch; returns a
        FluxResult with the same Results. See `rfs_monitoring.result_logging`.

        >>> import io
        >>> from rfs_monitoring.result_logging import add_listener, configure_logging
        >>> configure_logging(stream=io.StringIO())
        >>> seen = []
        >>> remove = add_listener(seen.append)
        >>> FluxResult.from_values([1, 2]).log_step("batch").count_total()
        2
        >>> remove()
        >>> configure_logging()
        >>> seen[0]["step_name"], seen[0]["metadata"]
        ('batch', {'total': 2, 'successes': 2, 'failures': 0})
        """
        return cast("FluxResult[T, E]", _flux_step(self, name, False))

    def log_error(self, name: str) -> FluxResult[T, E]:
        """Like `log_step`, but emit only when the batch holds at least one Failure.

        >>> import io
        >>> from rfs_monitoring.result_logging import add_listener, configure_logging
        >>> configure_logging(stream=io.StringIO())
        >>> seen = []
        >>> remove = add_listener(seen.append)
        >>> FluxResult.from_values([1]).log_error("batch_errors").count_failures()
        0
        >>> FluxResult.from_results([Failure("x")]).log_error("batch_errors").count_failures()
        1
        >>> remove()
        >>> configure_logging()
        >>> len(seen), seen[0]["result_type"]
        (1, 'error')
        """
        return cast("FluxResult[T, E]", _flux_step(self, name, True))

    # -- container protocol -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self) -> Iterator[Result[T, E]]:
        return iter(self._results)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FluxResult):
            return NotImplemented
        return self._results == other._results

    def __hash__(self) -> int:
        return hash(self._results)

    def __repr__(self) -> str:
        return (
            f"FluxResult(total={len(self._results)}, success={self._successes}, "
            f"failures={len(self._results) - self._successes})"
        )


def _guarded(result: Result[Any, Any], step: Callable[[Result[Any, Any]], Any]) -> Result[Any, Any]:
    try:
        out = step(result)
    except Exception as error:
        return Failure(error)
    if not isinstance(out, Result):
        outcome = read_outcome(out)  # another library's Result
        if outcome is None:
            return Failure(TypeError(f"expected a Result, got {type(out).__name__}"))
        return Failure(outcome[1]) if outcome[0] else Success(outcome[1])
    return out


def _native(value: Any, problem: str) -> Result[Any, Any]:
    """Our Result with the payload of ``value``, a Result of any library; else `TypeError`."""
    outcome = read_outcome(value)
    if outcome is None:
        raise InvalidTypeError(f"{problem}, got {type(value).__name__}")
    return Failure(outcome[1]) if outcome[0] else Success(outcome[1])


# The instrumentation layer recognises these types without importing this module.
_instrument.register_chains(MonoResult, FluxResult)
