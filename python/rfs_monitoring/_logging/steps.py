"""Steps: MonoResult.log_step / log_error and FluxResult.log_step / log_error."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rfs_monitoring._logging import writer as _w
from rfs_monitoring._logging.entry import _EVENT_STEP, _now
from rfs_monitoring._logging.levels import _levels
from rfs_monitoring._logging.links import _metrics_collector, _tracing
from rfs_monitoring._logging.writer import _emit
from rfs_monitoring._outcome import error_code_of, error_message_of, error_type_of
from rfs_monitoring.context import OperationScope, _bound, _correlation_id, _operation
from rfs_monitoring.result import Failure, Result

if TYPE_CHECKING:
    from rfs_monitoring.reactive import FluxResult, MonoResult

_perf = time.perf_counter


def _step_entry(
    scope: OperationScope,
    name: str,
    ms: float,
    failed: bool,
    outcome_error: Any,
    success_type: str | None,
    metadata: dict[str, Any] | None,
    span_ids: tuple[str | None, str | None],
) -> None:
    level = 30 if failed else 20
    if level < _levels.threshold(scope.name):
        return
    _emit(
        (
            _EVENT_STEP,
            level,
            _now(),
            scope.ensure_correlation_id(),
            scope.name,
            name,
            "error" if failed else "success",
            ms,
            success_type,
            error_type_of(outcome_error) if failed else None,
            error_code_of(outcome_error) if failed else None,
            error_message_of(outcome_error) if failed else None,
            _bound.get(),
            metadata,
            span_ids[0],
            span_ids[1],
            None,
        )
    )


def _record_step(operation: str, step: str, ms: float, failed: bool, error: Any) -> None:
    """One pass of a step into the metrics collector (`ResultMetricsCollector.step`), whatever
    the log level; never raises."""
    try:
        collector = _metrics_collector()
        if collector is None:
            return
        handle = collector.step(operation, step)
        if failed:
            handle.record(ms, False, error_code_of(error), error_message_of(error))
        else:
            handle.record(ms, True)
    except Exception:
        _w._writer._report("metrics", "rfs-monitoring: recording a step sample failed; ignored")


def _step_boundary(scope: OperationScope, name: str, failed: bool, started: float) -> float:
    """Close a step: its own duration in ms, and the failure bookkeeping of the operation."""
    now = _perf()
    since = scope.boundary if scope.boundary > started else started
    scope.boundary = now
    if failed:
        if scope.failure_step is None:
            scope.failure_step = name
    else:
        # A recovered chain starts over: a later Failure names its own step.
        scope.failure_step = None
    return (now - since) * 1000.0


def _step_span_ids(scope: OperationScope, name: str, ms: float, failed: bool, code: Any) -> Any:
    tracing = _tracing()
    if tracing is None:
        return (None, None)
    try:
        return tracing.record_step(scope, name, ms, failed, code)
    except Exception:
        return (None, None)


def _mono_step(mono: MonoResult[Any, Any], name: str, errors_only: bool) -> MonoResult[Any, Any]:
    """The MonoResult behind ``mono.log_step(name)`` (``errors_only=False``) and
    ``mono.log_error(name)`` (``errors_only=True``)."""
    from rfs_monitoring.reactive import MonoResult

    async def step() -> Result[Any, Any]:
        started = _perf()
        scope = _operation.get()
        token = None
        if scope is None:
            # A chain outside any logged operation is its own operation, named after the step.
            scope = OperationScope(name, _correlation_id.get())
            scope.boundary = started
            token = _operation.set(scope)
        try:
            result: Result[Any, Any] = await mono
        finally:
            if token is not None:
                _operation.reset(token)
        try:
            failed = isinstance(result, Failure)
            ms = _step_boundary(scope, name, failed, started)
            error = result.error if isinstance(result, Failure) else None
            _record_step(scope.name, name, ms, failed, error)
            if failed or not errors_only:
                code = error_code_of(error) if failed else None
                ids = _step_span_ids(scope, name, ms, failed, code)
                success_type = None if failed else type(result.unwrap()).__name__
                _step_entry(scope, name, ms, failed, error, success_type, None, ids)
        except Exception:
            _w._writer._report("emit", "rfs-monitoring: logging a step failed; ignored")
        return result

    return MonoResult.from_async_result(step)


def _flux_step(flux: FluxResult[Any, Any], name: str, errors_only: bool) -> FluxResult[Any, Any]:
    """Emit the entry behind ``flux.log_step(name)`` / ``flux.log_error(name)`` and return a
    FluxResult with the same results."""
    try:
        failures = flux.count_failures()
        failed = failures > 0
        scope = _operation.get()
        own = scope is None
        if scope is None:
            scope = OperationScope(name, _correlation_id.get())
        ms = 0.0 if own else _step_boundary(scope, name, failed, 0.0)
        error = next((r.error for r in flux.results if isinstance(r, Failure)), None)
        _record_step(scope.name, name, ms, failed, error)
        if failed or not errors_only:
            metadata = {
                "total": flux.count_total(),
                "successes": flux.count_success(),
                "failures": failures,
            }
            code = error_code_of(error) if failed else None
            ids = _step_span_ids(scope, name, ms, failed, code)
            success_type = None if failed else type(flux).__name__
            _step_entry(scope, name, ms, failed, error, success_type, metadata, ids)
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging a step failed; ignored")
    return type(flux).from_results(flux.results)
