"""`log_result_operation`: the decorator (sync, async, MonoResult, FluxResult)."""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar, cast, overload

from rfs_monitoring import _core
from rfs_monitoring._bindings import spans as _spans
from rfs_monitoring._instrument import (
    awaits_later,
    classify,
    defer,
    failure_fields,
    open_operation,
    wrap,
)
from rfs_monitoring._instrument import collectors as _collectors
from rfs_monitoring._logging import writer as _w
from rfs_monitoring._logging.entry import _EVENT_OPERATION, _MaskedArgs, _raw_entry
from rfs_monitoring._logging.levels import _level_number, _levels
from rfs_monitoring._logging.links import _OTEL_TRACE, _current_collector, _modules, _tracing
from rfs_monitoring._logging.writer import _emit, _emit_success
from rfs_monitoring.context import OperationScope, _correlation_id, _operation
from rfs_monitoring.interop import read_outcome
from rfs_monitoring.masking import get_masker
from rfs_monitoring.result import Success

P = ParamSpec("P")
R = TypeVar("R")

_perf = time.perf_counter
_get_operation = _operation.get
_set_operation = _operation.set
_reset_operation = _operation.reset
_get_correlation = _correlation_id.get
_NO_COLLECTOR: Any = object()  # a spec's collector before its first sample


class _Hooks:
    """The hooks `_Spec` (the call itself) and `_Deferred` (a value awaited later) share: an
    exception or an abandoned call ends the operation the same way for both."""

    __slots__ = ()

    @property
    def spec(self) -> _Spec:
        raise NotImplementedError

    def raised(
        self,
        state: tuple[OperationScope, Any, Any],
        error: Exception,
        elapsed: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        scope, token, span = state
        _reset_operation(token)
        _finish(self.spec, scope, None, error, elapsed, args, kwargs, span)

    def abandoned(
        self, state: tuple[OperationScope, Any, Any], error: BaseException, elapsed: float
    ) -> None:
        _reset_operation(state[1])
        _end_span_quietly(state[2])


class _Spec(_Hooks):
    """Everything a decorated function decides once, at decoration time, plus its caches (the
    metrics handle per collector, the level threshold per level-table version); the observer
    that `rfs_monitoring._instrument.wrap` calls around each call (metrics, span, log sinks)."""

    __slots__ = (
        "collector",
        "error_level",
        "failure_level",
        "fast",
        "handle",
        "log_args",
        "log_result",
        "metadata",
        "name",
        "plain",
        "record_metrics",
        "signature",
        "success_level",
    )

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        log_args: bool,
        log_result: bool,
        success_level: str | int,
        failure_level: str | int,
        error_level: str | int,
        metadata: Mapping[str, Any] | None,
        record_metrics: bool,
    ) -> None:
        self.name = name
        self.log_args = log_args
        self.log_result = log_result
        self.success_level = _level_number(success_level)
        self.failure_level = _level_number(failure_level)
        self.error_level = _level_number(error_level)
        self.metadata = dict(metadata or {})
        self.record_metrics = record_metrics
        self.collector: Any = _NO_COLLECTOR
        self.handle: Any = None
        self.signature: inspect.Signature | None = None
        if log_args:
            try:
                self.signature = inspect.signature(fn)
            except (TypeError, ValueError):
                self.signature = None
        # Most calls return a Success and log no extras: they take the native short path
        # (`_core.FastPath`: the scope's context variable reset and the metrics sample recorded
        # without a Python frame, then the entry, if its level passes, through
        # `_emit_success`).
        self.plain = not (self.metadata or log_args or log_result)
        self.fast = _core.FastPath(
            name,
            Success,
            self.leave,
            self.record_success,
            _collectors if record_metrics else None,
            operation=_operation,
            correlation=_correlation_id,
            levels=_levels,
            level=self.success_level if self.plain else None,
            spans=_spans,
            emit=_w._lanes,
        )

    # -- the observer of `_instrument.wrap` ---------------------------------------------------

    def enter(self) -> tuple[OperationScope, Any, Any]:
        scope, token = open_operation(self.name)
        span = None if _OTEL_TRACE not in _modules else _start_span(self.name, scope)
        scope.boundary = _perf()
        return scope, token, span

    def leave(
        self,
        state: tuple[OperationScope, Any, Any],
        outcome: Any,
        elapsed: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        # A Success filtered out by level was settled by `self.fast` before this is called.
        scope, token, span = state
        _reset_operation(token)
        if self.plain and span is None and type(outcome) is Success:
            _success(self, scope, outcome, elapsed)
            return outcome
        if awaits_later(outcome):
            # A MonoResult (ours or another library's chain), or a coroutine: timed and logged
            # when awaited, so the caller still gets something awaitable.
            _detach_quietly(span)
            return defer(outcome, elapsed, _Deferred(self, scope, span), args, kwargs)
        _finish(self, scope, outcome, None, elapsed, args, kwargs, span)
        return outcome

    @property
    def spec(self) -> _Spec:
        return self

    # -- caches -------------------------------------------------------------------------------

    def current_threshold(self) -> int:
        """The level threshold for this operation, kept by the fast path per level-table
        version."""
        return self.fast.threshold()

    def record_success(self, ms: float) -> None:
        """`record` of a success; never raises (the fast path's fallback when its bound handle
        raised)."""
        self.record(ms, True, None, None)

    def record(self, ms: float, ok: bool, code: str | None, message: str | None) -> None:
        """One metrics sample; never raises."""
        if not self.record_metrics:
            return
        try:
            collector = _current_collector()
            if collector is None:
                return
            if collector is not self.collector:
                self.handle = collector.operation(self.name)
                self.collector = collector
            if ok:
                self.handle.record(ms, True)
            else:
                self.handle.record(ms, False, code, message)
        except Exception:
            _w._writer._report(
                "metrics", "rfs-monitoring: recording a metrics sample failed; ignored"
            )

    def exemplar(self, ms: float, span: Any) -> None:
        """Keep a traced call (recorded just before) as its bucket's OpenMetrics exemplar."""
        if not self.record_metrics or self.handle is None:
            return
        trace_id, span_id = span.trace_id, span.span_id
        if trace_id is None or span_id is None:
            return
        try:
            self.handle.exemplar(ms, trace_id, span_id)
        except Exception:
            _w._writer._report("metrics", "rfs-monitoring: recording an exemplar failed; ignored")

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.signature is not None:
            try:
                bound = self.signature.bind_partial(*args, **kwargs)
            except TypeError:
                pass
            else:
                values = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
                return _MaskedArgs(get_masker().mask(values))
        return _MaskedArgs(get_masker().mask({"args": list(args), "kwargs": dict(kwargs)}))


def _success(spec: _Spec, scope: OperationScope, outcome: Any, elapsed: float) -> None:
    """`_finish` for the common case: a Success, no extras, no span; never raises."""
    try:
        ms = elapsed * 1000.0
        spec.record(ms, True, None, None)
        level = spec.success_level
        if level < spec.fast.threshold():
            return
        _emit_success(level, scope, ms, type(outcome.value).__name__)
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


def _finish(
    spec: _Spec,
    scope: OperationScope,
    outcome: Any,
    exc: Exception | None,
    elapsed: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    span: Any,
) -> None:
    """Log and record a completed call: one that returned ``outcome``, or (``exc`` not
    ``None``) one that raised ``exc``, which the caller re-raises; never raises."""
    try:
        ms = elapsed * 1000.0
        if exc is None:
            failed, error, success_type, counts = classify(outcome)
            level = spec.failure_level if failed else spec.success_level
        else:
            failed, error, success_type, counts = True, exc, None, None
            level = spec.error_level
        code = message = None
        if failed:
            code, message = failure_fields(error)
        spec.record(ms, not failed, code, message)
        if span is not None:
            spec.exemplar(ms, span)
            span.end(failed, code, exc)
        if level < spec.current_threshold():
            return
        metadata = counts
        if spec.metadata or spec.log_args or spec.log_result or failed:
            metadata = {**spec.metadata, **(counts or {})}
            if exc is not None:
                metadata["raised"] = True
            if spec.log_args:
                metadata["args"] = spec.arguments(args, kwargs)
            if spec.log_result and not failed:
                read = read_outcome(outcome)
                if read is not None:
                    metadata["result"] = read[1]
            if failed and scope.failure_step is not None:
                metadata["failure_step"] = scope.failure_step
        _emit(
            _raw_entry(
                _EVENT_OPERATION,
                level,
                scope,
                None,
                failed,
                ms,
                success_type,
                error,
                code,
                message,
                metadata,
                None if span is None else span.trace_id,
                None if span is None else span.span_id,
                exc,
            )
        )
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


def _end_span_quietly(span: Any) -> None:
    if span is not None:
        with contextlib.suppress(Exception):
            span.end(False, None, None)


def _start_span(name: str, scope: OperationScope) -> Any:
    """The operation's span when a tracer provider records (OpenTelemetry imported), else
    None; never raises."""
    trace = _modules.get(_OTEL_TRACE)
    if trace is None or not (
        _spans.on or _spans.provider is not getattr(trace, "_TRACER_PROVIDER", None)
    ):  # `_tracing()`'s answer, kept by the tracing module, read inline: "no spans"
        return None
    tracing = _tracing()
    if tracing is None:
        return None
    try:
        return tracing.start_operation(name, scope)
    except Exception:
        return None


class _Deferred(_Hooks):
    """The observer of a logged call's value that finishes later (`_instrument.defer`): each
    await runs inside the operation, then logs and records.

    The span started when the function was called covers the first await (one span per
    operation); a second await gets a span of its own. The creation call's correlation ID, if
    one was handed out, is kept when no request ID is set at await time.
    """

    __slots__ = ("creation", "owner", "pending")

    def __init__(self, spec: _Spec, creation: OperationScope, span: Any) -> None:
        self.owner = spec
        self.creation = creation
        self.pending = [span] if span is not None else []

    @property
    def spec(self) -> _Spec:
        return self.owner

    def enter(self) -> tuple[OperationScope, Any, Any]:
        spec = self.owner
        scope = OperationScope(
            spec.name, _get_correlation() or self.creation.correlation_id, _get_operation()
        )
        token = _set_operation(scope)
        span = self.pending.pop() if self.pending else None
        if span is not None:
            span.attach()
        elif _OTEL_TRACE in _modules:
            span = _start_span(spec.name, scope)
        scope.boundary = _perf()
        return scope, token, span

    def leave(
        self,
        state: tuple[OperationScope, Any, Any],
        result: Any,
        elapsed: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        scope, token, span = state
        _reset_operation(token)
        _finish(self.owner, scope, result, None, elapsed, args, kwargs, span)
        return result


def _detach_quietly(span: Any) -> None:
    if span is not None:
        with contextlib.suppress(Exception):
            span.detach()


@overload
def log_result_operation(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def log_result_operation(
    name: str | None = None,
    *,
    log_args: bool = False,
    log_result: bool = False,
    success_level: str | int = "INFO",
    failure_level: str | int = "WARNING",
    error_level: str | int = "ERROR",
    metadata: Mapping[str, Any] | None = None,
    record_metrics: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def log_result_operation(
    name: str | Callable[..., Any] | None = None,
    *,
    log_args: bool = False,
    log_result: bool = False,
    success_level: str | int = "INFO",
    failure_level: str | int = "WARNING",
    error_level: str | int = "ERROR",
    metadata: Mapping[str, Any] | None = None,
    record_metrics: bool = True,
) -> Any:
    """Log every call of the decorated function as one structured entry and record one metrics
    sample (``ResultMetricsCollector.instance()``), for sync and async functions returning a
    Result, a MonoResult or a FluxResult.

    - ``Success``: ``success_level`` (INFO); ``Failure``: ``failure_level`` (WARNING), classified
      by its error (``error_type``, ``error_code``, masked ``error_message``).
    - A raised exception is logged at ``error_level`` (ERROR) with its traceback, recorded as an
      error and re-raised unchanged.
    - A returned MonoResult is wrapped: the operation is timed and logged when it is awaited
      (each time it is awaited).
    - A FluxResult is an error when any item failed; the counts are in ``metadata``.
    - ``log_args=True`` adds the (masked) arguments to ``metadata["args"]``, ``log_result=True``
      the (masked) success value to ``metadata["result"]``; ``metadata`` adds fixed fields.
    - When no correlation ID is set, one is generated for the call (`get_correlation_id` returns
      it inside the call; nested operations share it).

    ``name`` defaults to the function's qualified name. The wrapper keeps the function's
    signature (`functools.wraps`), so FastAPI and ``@handle_result`` stack on top of it. An
    unknown level is a `ValueError` here, at decoration time. Used bare
    (``@log_result_operation``), it names the operation after the function.
    """
    for level in (success_level, failure_level, error_level):
        _level_number(level)
    label = name if isinstance(name, str) else None

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        spec = _Spec(
            label or str(getattr(fn, "__qualname__", repr(fn))),
            fn,
            log_args=log_args,
            log_result=log_result,
            success_level=success_level,
            failure_level=failure_level,
            error_level=error_level,
            metadata=metadata,
            record_metrics=record_metrics,
        )
        return cast("Callable[P, R]", wrap(fn, spec, spec.fast))

    if callable(name):
        return decorate(name)
    return decorate
