"""Steps: MonoResult.log_step / log_error and FluxResult.log_step / log_error.

A composition of the instrumentation layer (`rfs_monitoring._instrument`: the operation scope
and each step's own duration) and the sinks: the step's metrics sample, its span and its log
entry. `rfs_monitoring.reactive` calls in here directly; this module never imports it back (the
chain types are read through the instrumentation layer).
"""

from __future__ import annotations

import time
from typing import Any

from rfs_monitoring._instrument import close_step, failure_fields
from rfs_monitoring._logging import writer as _w
from rfs_monitoring._logging.entry import _EVENT_STEP, _raw_entry
from rfs_monitoring._logging.levels import _levels
from rfs_monitoring._logging.links import _metrics_collector, _tracing
from rfs_monitoring._logging.writer import _emit
from rfs_monitoring.context import OperationScope, _correlation_id, _operation
from rfs_monitoring.result import Failure

_perf = time.perf_counter
_get_operation = _operation.get
_reset_operation = _operation.reset
_get_correlation = _correlation_id.get


def _step_entry(
    scope: OperationScope,
    name: str,
    ms: float,
    failed: bool,
    error: Any,
    code: str | None,
    message: str | None,
    success_type: str | None,
    metadata: dict[str, Any] | None,
    span_ids: tuple[str | None, str | None],
) -> None:
    """The log sink: one entry, unless the operation's level filters it out."""
    level = 30 if failed else 20
    if level < _levels.threshold(scope.name):
        return
    _emit(
        _raw_entry(
            _EVENT_STEP,
            level,
            scope,
            name,
            failed,
            ms,
            success_type,
            error,
            code,
            message,
            metadata,
            span_ids[0],
            span_ids[1],
        )
    )


def _record_step(
    operation: str, step: str, ms: float, failed: bool, code: str | None, message: str | None
) -> None:
    """The metrics sink: one pass of a step into the collector (`ResultMetricsCollector.step`),
    whatever the log level; never raises."""
    try:
        collector = _metrics_collector()
        if collector is None:
            return
        handle = collector.step(operation, step)
        if failed:
            handle.record(ms, False, code, message)
        else:
            handle.record(ms, True)
    except Exception:
        _w._writer._report("metrics", "rfs-monitoring: recording a step sample failed; ignored")


def _step_span_ids(scope: OperationScope, name: str, ms: float, failed: bool, code: Any) -> Any:
    """The span sink: a child span of the operation's, when a tracer provider records."""
    tracing = _tracing()
    if tracing is None:
        return (None, None)
    try:
        return tracing.record_step(scope, name, ms, failed, code)
    except Exception:
        return (None, None)


def _observe(
    scope: OperationScope,
    name: str,
    ms: float,
    failed: bool,
    error: Any,
    success_type: str | None,
    metadata: dict[str, Any] | None,
    errors_only: bool,
) -> None:
    """Hand one pass of a step to the sinks (its error classified once); never raises."""
    try:
        code = message = None
        if failed:
            code, message = failure_fields(error)
        _record_step(scope.name, name, ms, failed, code, message)
        if failed or not errors_only:
            ids = _step_span_ids(scope, name, ms, failed, code)
            _step_entry(scope, name, ms, failed, error, code, message, success_type, metadata, ids)
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging a step failed; ignored")


def _observe_mono_step(
    scope: OperationScope, spec: tuple[str, bool], result: Any, started: float
) -> None:
    """One pass of a MonoResult chain through ``log_step(name)`` (``errors_only`` False) or
    ``log_error(name)`` (True), with the chain's ``result`` so far (exactly a `Success` or a
    `Failure`): the step closed in its operation and handed to the sinks; never raises."""
    name, errors_only = spec
    try:
        failed = result.__class__ is Failure
        ms = close_step(scope, name, failed, started)
        if failed:
            _observe(scope, name, ms, True, result.error, None, None, errors_only)
        else:
            success_type = type(result.value).__name__
            _observe(scope, name, ms, False, None, success_type, None, errors_only)
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging a step failed; ignored")


def _flux_step(flux: Any, name: str, errors_only: bool) -> Any:
    """Emit the entry behind ``flux.log_step(name)`` / ``flux.log_error(name)`` and return a
    FluxResult with the same results."""
    try:
        failures = flux.count_failures()
        failed = failures > 0
        scope = _get_operation()
        own = scope is None
        if scope is None:
            scope = OperationScope(name, _get_correlation())
        ms = 0.0 if own else close_step(scope, name, failed, 0.0)
        error = next((r.error for r in flux.results if isinstance(r, Failure)), None)
        metadata = {
            "total": flux.count_total(),
            "successes": flux.count_success(),
            "failures": failures,
        }
        success_type = None if failed else type(flux).__name__
        _observe(scope, name, ms, failed, error, success_type, metadata, errors_only)
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging a step failed; ignored")
    return type(flux).from_results(flux.results)
