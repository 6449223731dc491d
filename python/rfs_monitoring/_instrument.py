"""The private instrumentation layer: how one call is observed.

- `wrap`: the one wrapper of the package's decorators, for sync and async functions, calling an
  `Observer`'s hooks around each call (``enter``, then ``leave``, ``raised`` or
  ``abandoned``). The sync wrapper is native (`rfs_monitoring._core.Instrumented`: it opens the
  operation scope and times the call without a Python frame); the common case's fast path is
  native too (`rfs_monitoring._core.FastPath`: a plain `Success` that needs no entry is
  recorded into the bound metrics handle, and nothing else is done), written once and used by
  the sync and the async wrapper alike; anything else goes to the observer's ``leave``.
- `defer`: values that finish later (our `MonoResult`, another library's chain, any awaitable)
  are timed when awaited, through the same hooks.
- `classify` and `failure_fields`: the one reading of an outcome (through
  `rfs_monitoring.interop`, so every library's Results count).
- `open_operation`, `step_scope` and `close_step`: the operation scope (the native
  `rfs_monitoring.context.OperationScope`, its ``boundary`` on `time.perf_counter`'s clock) and
  each step's own duration and failure bookkeeping.
- Re-exported from `rfs_monitoring._bindings`: the process-wide collector (bound by the package
  root, so nothing here imports `rfs_monitoring.metrics`) and our chain types (registered by
  `rfs_monitoring.reactive`, so nothing here imports it).

The public decorators are observers of it, each with its fast path:
`rfs_monitoring.metrics.monitor_result` (metrics sink, no scope) and
`rfs_monitoring.result_logging.log_result_operation` (metrics, span, log and capture sinks);
`rfs_monitoring._logging.steps` hands each step to the same sinks. There is no other place that
times a call. Imports only go down from here: no module this one imports imports it back.

>>> from rfs_monitoring.result import Failure, Success
>>> classify(Success(3))
(False, None, 'int', None)
>>> classify(Failure(KeyError("k")))[:2]
(True, KeyError('k'))
>>> failure_fields(KeyError("k"))
('KeyError', "'k'")
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from time import perf_counter as _perf
from typing import Any, Protocol

from rfs_monitoring import _core
from rfs_monitoring._outcome import error_code_of, error_message_of
from rfs_monitoring.context import OperationScope, _correlation_id, _operation
from rfs_monitoring.interop import batch_items, chain_of, is_chain, is_result, read_outcome
from rfs_monitoring.result import Failure, Success

__all__ = [
    "Observer",
    "as_flux",
    "awaits_later",
    "bind_collector",
    "classify",
    "close_step",
    "collectors",
    "defer",
    "failure_fields",
    "is_mono",
    "mono_chain",
    "mono_type",
    "open_operation",
    "process_collector",
    "register_chains",
    "step_scope",
    "wrap",
]

# The process collector and our chain types are bound in `_bindings` (no imports: the package
# root binds the collector there without loading this layer); re-exported here.
from rfs_monitoring._bindings import (
    as_flux,
    bind_collector,
    collectors,
    is_mono,
    mono_chain,
    mono_type,
    process_collector,
    register_chains,
)

# -- classification -------------------------------------------------------------------------


def failure_fields(error: Any) -> tuple[str, str]:
    """``(error_code, error_message)`` of a failure's error or a raised exception (message
    unmasked: the sinks mask it on the way out)."""
    return error_code_of(error), error_message_of(error)


def classify(outcome: Any) -> tuple[bool, Any, str | None, dict[str, Any] | None]:
    """``(failed, error, success_type, batch counts)`` of a value a call returned.

    A `Failure` (of any library) is a failure with its error; a batch (`FluxResult`, rfs'
    FluxResult) is a failure when any item failed, with its counts; anything else returned is
    a success, typed by its value's class.
    """
    # Exact type checks first: `isinstance` against the ABC-based Result costs a Python-level
    # __instancecheck__ for every other library's value; subclasses go through read_outcome.
    cls = type(outcome)
    if cls is Failure:
        return True, outcome.error, None, None
    if cls is Success:
        return False, None, type(outcome.value).__name__, None
    read = read_outcome(outcome)  # another library's Result, or a subclass of ours
    if read is not None:
        if read[0]:
            return True, read[1], None, None
        return False, None, type(read[1]).__name__, None
    flux = as_flux(outcome)
    items = flux.results if flux is not None else batch_items(outcome)
    if items is None:
        return False, None, type(outcome).__name__, None
    failures = 0
    error = None
    for item in items:
        item_read = read_outcome(item)
        if item_read is not None and item_read[0]:
            if not failures:
                error = item_read[1]
            failures += 1
    counts = {"total": len(items), "successes": len(items) - failures, "failures": failures}
    if failures:
        return True, error, None, counts
    return False, None, type(outcome).__name__, counts


# -- the one wrapper ------------------------------------------------------------------------


class Observer(Protocol):
    """What a composition plugs into `wrap`: ``enter`` runs before the call (its result is
    handed back to the other hooks), ``leave`` gets what the call returned and decides what the
    caller gets (the common case's fast path lives there, once for sync and async functions),
    ``raised`` an exception the wrapper re-raises, ``abandoned`` a cancellation or an exit (a
    `BaseException` that is not an `Exception`), re-raised as well."""

    def enter(self) -> Any: ...

    def leave(
        self,
        state: Any,
        outcome: Any,
        elapsed: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any: ...

    def raised(
        self,
        state: Any,
        error: Exception,
        elapsed: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None: ...

    def abandoned(self, state: Any, error: BaseException, elapsed: float) -> None: ...


def wrap(
    fn: Callable[..., Any], observer: Observer, fast: _core.FastPath | None = None
) -> Callable[..., Any]:
    """Time every call of the sync or async function ``fn`` for ``observer``: the one wrapper
    of the package's decorators. What the call returns (a Result, a MonoResult, a FluxResult,
    another library's value, an awaitable) is the observer's to read in ``leave``, which
    returns what the caller gets; an exception is handed to ``raised`` and re-raised as is.

    ``fast`` settles the common case natively before ``leave`` is asked (see
    `rfs_monitoring._core.FastPath`): the same object for the sync wrapper (the native
    `rfs_monitoring._core.Instrumented`, which also opens the operation scope itself) and the
    async one (``fast.leave`` in place of ``observer.leave``), so the fast path is written once.
    The wrapper keeps ``fn``'s name, docstring and signature (`functools.update_wrapper`), binds
    to instances as a method and pickles by qualified name, as ``fn`` does."""
    if inspect.iscoroutinefunction(fn):
        raised, abandoned = observer.raised, observer.abandoned
        if fast is None:
            enter, leave = observer.enter, observer.leave
        else:  # the scope opened and the common case settled natively, as in the sync wrapper
            enter, leave = functools.partial(fast.enter, observer.enter), fast.leave
        perf = _perf

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            state = enter()
            start = perf()
            try:
                outcome = await fn(*args, **kwargs)
            except Exception as exc:
                raised(state, exc, perf() - start, args, kwargs)
                raise
            except BaseException as exc:
                abandoned(state, exc, perf() - start)
                raise
            return leave(state, outcome, perf() - start, args, kwargs)

        return async_wrapper

    sync_wrapper = _core.Instrumented(fn, observer, fast)
    functools.update_wrapper(sync_wrapper, fn)
    # FastAPI resolves string annotations through the wrapper's globals.
    sync_wrapper.__dict__["__globals__"] = getattr(fn, "__globals__", {})
    return sync_wrapper


# -- the operation scope and its steps ------------------------------------------------------


def open_operation(name: str) -> tuple[OperationScope, Any]:
    """A new operation scope for ``name`` (inside the current one, if any) made current, and
    the token that closes it: what a logged call runs in, so its steps and nested operations
    know it."""
    scope = OperationScope(name, _get_correlation(), _get_operation())
    return scope, _set_operation(scope)


_get_operation = _operation.get
_set_operation = _operation.set
_get_correlation = _correlation_id.get


def step_scope(name: str, started: float) -> tuple[OperationScope, Any]:
    """The operation a step belongs to, and the token to reset when the step opened one: a
    chain outside any operation is its own operation, named after the step, for as long as the
    chain runs up to the step."""
    scope = _get_operation()
    if scope is not None:
        return scope, None
    scope = OperationScope(name, _get_correlation())
    scope.boundary = started
    return scope, _set_operation(scope)


def close_step(scope: OperationScope, name: str, failed: bool, started: float) -> float:
    """Close a step of ``scope``: its own duration in ms (since the previous step ended, or the
    operation or step started, whichever is later), and the operation's failure bookkeeping
    (the first failing step is named in the operation's entry; a recovery starts over): the
    native scope's own ``close_step``."""
    return scope.close_step(name, failed, started)


# -- values that finish later --------------------------------------------------------------


def awaits_later(value: Any) -> bool:
    """Whether a returned value finishes later: one of our MonoResults, another library's
    chain, or any other awaitable that is not itself a Result (expression's Result is
    awaitable, but already an outcome)."""
    if is_mono(value) or is_chain(value):
        return True
    if getattr(type(value), "__await__", None) is None and not inspect.isgenerator(value):
        return False
    return inspect.isawaitable(value) and not is_result(value)


_NO_ARGS: tuple[Any, ...] = ()


def defer(
    value: Any,
    elapsed: float,
    observer: Observer,
    args: tuple[Any, ...] = _NO_ARGS,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """What the caller gets for a returned ``value`` that finishes later (see `awaits_later`):
    a MonoResult (ours, or another library's chain as the same type) or a coroutine that runs
    it under the same ``observer`` as `wrap`'s, each time it is awaited: ``enter``, the wait
    timed, then ``leave`` with the result (or ``raised``/``abandoned``). ``elapsed`` (seconds)
    is what the call itself took; the wait is added to it."""
    keywords = {} if kwargs is None else kwargs
    if is_mono(value):
        return mono_chain().from_async_result(
            functools.partial(
                _timed, functools.partial(_awaited, value), elapsed, observer, args, keywords
            )
        )
    if is_chain(value):  # rfs' MonoResult, returns' FutureResult: same type back
        run, rewrap = chain_of(value)
        return rewrap(
            value,
            functools.partial(
                _timed, functools.partial(run, value), elapsed, observer, args, keywords
            ),
        )
    return _timed(functools.partial(_awaited, value), elapsed, observer, args, keywords)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def _timed(
    start_run: Callable[[], Awaitable[Any]],
    call_elapsed: float,
    observer: Observer,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The deferred half of `wrap`: the same hooks around the wait."""
    state = observer.enter()
    start = _perf()
    try:
        result = await start_run()
    except Exception as exc:
        observer.raised(state, exc, call_elapsed + _perf() - start, args, kwargs)
        raise
    except BaseException as exc:
        observer.abandoned(state, exc, call_elapsed + _perf() - start)
        raise
    return observer.leave(state, result, call_elapsed + _perf() - start, args, kwargs)
