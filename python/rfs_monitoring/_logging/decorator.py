"""`log_result_operation`: the decorator (sync, async, MonoResult, FluxResult)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
import types
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from rfs_monitoring._logging import links as _links
from rfs_monitoring._logging import writer as _w
from rfs_monitoring._logging.entry import _EVENT_OPERATION, _MaskedArgs, _now
from rfs_monitoring._logging.levels import _level_number, _levels
from rfs_monitoring._logging.links import _OTEL_TRACE, _metrics_collector, _modules, _tracing
from rfs_monitoring._logging.writer import _emit
from rfs_monitoring._outcome import error_code_of, error_message_of, error_type_of
from rfs_monitoring.context import OperationScope, _bound, _correlation_id, _operation
from rfs_monitoring.interop import batch_items, chain_of, is_chain, is_result, read_outcome
from rfs_monitoring.masking import get_masker
from rfs_monitoring.result import Failure, Result, Success

if TYPE_CHECKING:
    from rfs_monitoring.reactive import FluxResult

P = ParamSpec("P")
R = TypeVar("R")

_perf = time.perf_counter
_get_operation = _operation.get
_set_operation = _operation.set
_reset_operation = _operation.reset
_get_correlation = _correlation_id.get
_get_bound = _bound.get


class _Spec:
    """Everything a decorated function decides once, at decoration time, plus its caches (the
    metrics handle per collector, the level threshold per level-table version)."""

    __slots__ = (
        "collector",
        "error_level",
        "failure_level",
        "handle",
        "log_args",
        "log_result",
        "metadata",
        "name",
        "record_metrics",
        "signature",
        "success_level",
        "threshold",
        "version",
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
        self.collector: Any = None
        self.handle: Any = None
        self.signature: inspect.Signature | None = None
        if log_args:
            try:
                self.signature = inspect.signature(fn)
            except (TypeError, ValueError):
                self.signature = None
        self.version = -1
        self.threshold = 20

    def current_threshold(self) -> int:
        version = _levels.version
        if self.version != version:
            # The version is read first: a change racing with this read leaves a stale version
            # behind, so the next call recomputes instead of keeping a stale threshold.
            self.threshold = _levels.threshold(self.name)
            self.version = version
        return self.threshold

    def record(self, ms: float, ok: bool, code: str | None, message: str | None) -> None:
        """One metrics sample; never raises."""
        if not self.record_metrics:
            return
        try:
            cls = _links._collector_class
            if cls is not None:
                # The installed collector is a class attribute: reading it skips instance()'s
                # call frame; instance() still creates the first one.
                collector = getattr(cls, "_instance", None) or cls.instance()
            else:
                collector = _metrics_collector()
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


def _classify(outcome: Any) -> tuple[bool, Any, str | None, dict[str, Any] | None]:
    """(failed, error, success_type, metadata) of what a decorated function returned."""
    # Exact type checks: `isinstance` against our ABC-based classes costs a Python-level
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
    flux = _as_flux(outcome)
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


def _success(spec: _Spec, scope: OperationScope, outcome: Any, elapsed: float) -> None:
    """`_finish` for the common case: a Success, no extras, no span; never raises."""
    try:
        ms = elapsed * 1000.0
        spec.record(ms, True, None, None)
        level = spec.success_level
        if level < (
            spec.threshold if spec.version == _levels.version else spec.current_threshold()
        ):
            return
        _emit(
            (
                _EVENT_OPERATION,
                level,
                _now(),
                scope.ensure_correlation_id(),
                spec.name,
                None,
                "success",
                ms,
                type(outcome.value).__name__,
                None,
                None,
                None,
                _get_bound(),
                None,
                None,
                None,
                None,
            )
        )
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


def _finish(
    spec: _Spec,
    scope: OperationScope,
    outcome: Any,
    elapsed: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    span: Any,
) -> None:
    """Log and record a completed call that returned ``outcome``; never raises."""
    try:
        ms = elapsed * 1000.0
        failed, error, success_type, metadata = _classify(outcome)
        code = message = None
        if failed:
            code = error_code_of(error)
            message = error_message_of(error)
        spec.record(ms, not failed, code, message)
        if span is not None:
            spec.exemplar(ms, span)
            span.end(failed, code, None)
        level = spec.failure_level if failed else spec.success_level
        if level < spec.current_threshold():
            return
        if spec.metadata or spec.log_args or spec.log_result or failed:
            metadata = {**spec.metadata, **(metadata or {})}
            if spec.log_args:
                metadata["args"] = spec.arguments(args, kwargs)
            if spec.log_result and not failed:
                read = read_outcome(outcome)
                if read is not None:
                    metadata["result"] = read[1]
            if failed and scope.failure_step is not None:
                metadata["failure_step"] = scope.failure_step
        _emit(
            (
                _EVENT_OPERATION,
                level,
                _now(),
                scope.ensure_correlation_id(),
                spec.name,
                None,
                "error" if failed else "success",
                ms,
                success_type,
                error_type_of(error) if failed else None,
                code,
                message,
                _get_bound(),
                metadata,
                None if span is None else span.trace_id,
                None if span is None else span.span_id,
                None,
            )
        )
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


def _finish_exception(
    spec: _Spec,
    scope: OperationScope,
    exc: Exception,
    elapsed: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    span: Any,
) -> None:
    """Log and record a call that raised ``exc`` (the caller re-raises it); never raises."""
    try:
        ms = elapsed * 1000.0
        code = error_code_of(exc)
        message = error_message_of(exc)
        spec.record(ms, False, code, message)
        if span is not None:
            spec.exemplar(ms, span)
            span.end(True, code, exc)
        level = spec.error_level
        if level < spec.current_threshold():
            return
        metadata: dict[str, Any] = {**spec.metadata, "raised": True}
        if spec.log_args:
            metadata["args"] = spec.arguments(args, kwargs)
        if scope.failure_step is not None:
            metadata["failure_step"] = scope.failure_step
        _emit(
            (
                _EVENT_OPERATION,
                level,
                _now(),
                scope.ensure_correlation_id(),
                spec.name,
                None,
                "error",
                ms,
                None,
                error_type_of(exc),
                code,
                message,
                _get_bound(),
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


def _awaitable(value: Any) -> bool:
    """`inspect.isawaitable` without its ABC check for the common, non-awaitable value."""
    if getattr(type(value), "__await__", None) is not None:
        return True
    return type(value) is types.GeneratorType and inspect.isawaitable(value)


def _is_mono(value: Any) -> bool:
    reactive = _modules.get("rfs_monitoring.reactive")
    return reactive is not None and isinstance(value, reactive.MonoResult)


def _as_flux(value: Any) -> FluxResult[Any, Any] | None:
    reactive = _modules.get("rfs_monitoring.reactive")
    if reactive is not None and isinstance(value, reactive.FluxResult):
        return cast("FluxResult[Any, Any]", value)
    return None


def _start_span(spec: _Spec, scope: OperationScope) -> Any:
    tracing = _tracing()
    if tracing is None:
        return None
    try:
        return tracing.start_operation(spec.name, scope)
    except Exception:
        return None


def _deferred_mono(
    spec: _Spec,
    mono: Any,
    pre_elapsed: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    creation: OperationScope,
    span: Any,
) -> Any:
    """A MonoResult that runs ``mono`` inside the operation and logs when awaited (for any
    other awaitable, a coroutine doing the same).

    The span started when the function was called covers the first await (one span per
    operation); a second await gets a span of its own. The creation call's correlation ID, if
    one was handed out, is kept when no request ID is set at await time.
    """

    pending = [span] if span is not None else []
    # Another library's chain (rfs' MonoResult, returns' FutureResult) is run through its own
    # entry point and handed back as the same type, so the caller's chain goes on unchanged.
    chain = chain_of(mono) if is_chain(mono) else None

    async def run() -> Result[Any, Any]:
        scope = OperationScope(
            spec.name, _get_correlation() or creation.correlation_id, _get_operation()
        )
        token = _set_operation(scope)
        span = pending.pop() if pending else None
        if span is not None:
            span.attach()
        elif _OTEL_TRACE in _modules:
            span = _start_span(spec, scope)
        start = scope.boundary = _perf()
        try:
            result: Result[Any, Any] = await (mono if chain is None else chain[0](mono))
        except Exception as exc:
            elapsed = pre_elapsed + _perf() - start
            _reset_operation(token)
            _finish_exception(spec, scope, exc, elapsed, args, kwargs, span)
            raise
        except BaseException:
            _reset_operation(token)
            _end_span_quietly(span)
            raise
        elapsed = pre_elapsed + _perf() - start
        _reset_operation(token)
        _finish(spec, scope, result, elapsed, args, kwargs, span)
        return result

    if chain is not None:
        return chain[1](mono, run)
    if not _is_mono(mono):
        return run()
    from rfs_monitoring.reactive import MonoResult

    return MonoResult.from_async_result(run)


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
        op_name = spec.name
        # Most calls return a Success and log no extras: they take the short path.
        plain = not (spec.metadata or spec.log_args or spec.log_result)
        success_number = spec.success_level
        records = spec.record_metrics
        levels = _levels

        if inspect.iscoroutinefunction(fn):
            afn = cast("Callable[..., Awaitable[Any]]", fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                scope = OperationScope(op_name, _get_correlation(), _get_operation())
                token = _set_operation(scope)
                span = None if _OTEL_TRACE not in _modules else _start_span(spec, scope)
                start = scope.boundary = _perf()
                try:
                    outcome = await afn(*args, **kwargs)
                except Exception as exc:
                    elapsed = _perf() - start
                    _reset_operation(token)
                    _finish_exception(spec, scope, exc, elapsed, args, kwargs, span)
                    raise
                except BaseException:
                    _reset_operation(token)
                    _end_span_quietly(span)
                    raise
                elapsed = _perf() - start
                _reset_operation(token)
                if plain and span is None and type(outcome) is Success:
                    if spec.version == levels.version and success_number < spec.threshold:
                        # Filtered out: the metrics sample is all that is left to do.
                        if records:
                            spec.record(elapsed * 1000.0, True, None, None)
                        return outcome
                    _success(spec, scope, outcome, elapsed)
                    return outcome
                if _is_mono(outcome) or (
                    # another library's chain: awaitable (no cost for our Results)
                    getattr(type(outcome), "__await__", None) is not None and is_chain(outcome)
                ):
                    _detach_quietly(span)
                    return _deferred_mono(
                        spec, cast(Any, outcome), elapsed, args, kwargs, scope, span
                    )
                _finish(spec, scope, outcome, elapsed, args, kwargs, span)
                return outcome

            return cast("Callable[P, R]", async_wrapper)

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            scope = OperationScope(op_name, _get_correlation(), _get_operation())
            token = _set_operation(scope)
            span = None if _OTEL_TRACE not in _modules else _start_span(spec, scope)
            start = scope.boundary = _perf()
            try:
                outcome = fn(*args, **kwargs)
            except Exception as exc:
                elapsed = _perf() - start
                _reset_operation(token)
                _finish_exception(spec, scope, exc, elapsed, args, kwargs, span)
                raise
            except BaseException:
                _reset_operation(token)
                _end_span_quietly(span)
                raise
            elapsed = _perf() - start
            _reset_operation(token)
            if plain and span is None and type(outcome) is Success:
                if spec.version == levels.version and success_number < spec.threshold:
                    # Filtered out: the metrics sample is all that is left to do.
                    if records:
                        spec.record(elapsed * 1000.0, True, None, None)
                    return outcome
                _success(spec, scope, outcome, elapsed)
                return outcome
            if _is_mono(outcome) or (_awaitable(outcome) and not is_result(outcome)):
                # A MonoResult (ours or another library's chain), or a coroutine from a plain
                # function: timed and logged when awaited, so the caller still gets something
                # awaitable. (expression's Result is awaitable too, but already an outcome.)
                _detach_quietly(span)
                return _deferred_mono(spec, cast(Any, outcome), elapsed, args, kwargs, scope, span)
            _finish(spec, scope, outcome, elapsed, args, kwargs, span)
            return outcome

        return cast("Callable[P, R]", sync_wrapper)

    if callable(name):
        return decorate(name)
    return decorate
