"""Steps: MonoResult.log_step / log_error and FluxResult.log_step / log_error.

A composition of the instrumentation layer (`rfs_monitoring._instrument`: the operation scope
and each step's own duration) and the sinks: the step's metrics sample, its span and its log
entry. `rfs_monitoring.reactive` calls in here directly; this module never imports it back (the
chain types are read through the instrumentation layer).

A step runs on the request path, so what does not change between its passes is decided once per
(operation, step) and kept in a `_StepSite`: the metrics handle (for the collector it came from:
a collector swapped in is seen on the next pass) and whether the step's success and failure
entries pass the operation's level threshold (re-read when the level table's version moves).
"""

from __future__ import annotations

from typing import Any

from rfs_monitoring import _core
from rfs_monitoring._bindings import spans as _spans
from rfs_monitoring._instrument import close_step, failure_fields
from rfs_monitoring._instrument import collectors as _collectors
from rfs_monitoring._logging import writer as _w
from rfs_monitoring._logging.entry import _EVENT_STEP, _raw_entry
from rfs_monitoring._logging.levels import _levels
from rfs_monitoring._logging.links import _OTEL_TRACE, _current_collector, _modules, _tracing
from rfs_monitoring._logging.writer import _emit, _emit_success
from rfs_monitoring.context import OperationScope, _correlation_id, _operation
from rfs_monitoring.result import Failure, Success

_get_operation = _operation.get
_get_correlation = _correlation_id.get

_SUCCESS_LEVEL = 20  # INFO
_FAILURE_LEVEL = 30  # WARNING


_NO_COLLECTOR: Any = object()  # a site's collector before its first sample


class _StepSite:
    """One (operation, step) pair's caches: the metrics handle and the collector it belongs
    to, and, for the level table's ``version``, whether a success / a failure is logged."""

    __slots__ = (
        "collector",
        "handle",
        "log_failure",
        "log_success",
        "operation",
        "step",
        "version",
    )

    def __init__(self, operation: str, step: str) -> None:
        self.operation = operation
        self.step = step
        self.collector: Any = _NO_COLLECTOR
        self.handle: Any = None
        self.version = -1
        self.log_success = True
        self.log_failure = True

    def levels(self) -> None:
        """Re-read the operation's threshold (the level table's version moved)."""
        version = _levels.version
        # The version is read first: a change racing with this read leaves a stale version
        # behind, so the next pass reads again instead of keeping a stale answer.
        threshold = _levels.threshold(self.operation)
        self.log_success = threshold <= _SUCCESS_LEVEL
        self.log_failure = threshold <= _FAILURE_LEVEL
        self.version = version

    def record(self, ms: float, failed: bool, code: str | None, message: str | None) -> None:
        """The metrics sink: one pass into the process collector (`ResultMetricsCollector.step`),
        whatever the log level; never raises."""
        try:
            collector = _current_collector()
            if collector is None:
                return
            if collector is not self.collector:
                self.handle = collector.step(self.operation, self.step)
                self.collector = collector
            if failed:
                self.handle.record(ms, False, code, message)
            else:
                self.handle.record(ms, True)
        except Exception:
            _w._writer._report("metrics", "rfs-monitoring: recording a step sample failed; ignored")


_sites: dict[tuple[str, str], _StepSite] = {}
_MAX_SITES = 4096  # step names are user input: the cache is dropped rather than grown past this


def _site(operation: str, step: str) -> _StepSite:
    """The cached site of ``step`` in ``operation`` (created on its first pass)."""
    key = (operation, step)
    site = _sites.get(key)
    if site is None:
        if len(_sites) >= _MAX_SITES:
            _sites.clear()
        site = _sites[key] = _StepSite(operation, step)
    return site


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
) -> None:
    """The span and log sinks: a child span of the operation's (when a tracer provider
    records) and one entry (the caller checked the level). Without a span, a plain Success's
    entry goes to the core by its fields (`_emit_success`)."""
    trace_id = span_id = None
    trace = _modules.get(_OTEL_TRACE)
    if trace is None or not (
        _spans.on or _spans.provider is not getattr(trace, "_TRACER_PROVIDER", None)
    ):  # `_tracing()`'s kept answer read inline (see `rfs_monitoring.tracing.enabled`): no spans
        if not failed and metadata is None and success_type is not None:
            _emit_success(_SUCCESS_LEVEL, scope, ms, success_type, name)
            return
    else:
        tracing = _tracing()
        if tracing is not None:
            try:
                trace_id, span_id = tracing.record_step(scope, name, ms, failed, code)
            except Exception:
                trace_id = span_id = None
    _emit(
        _raw_entry(
            _EVENT_STEP,
            _FAILURE_LEVEL if failed else _SUCCESS_LEVEL,
            scope,
            name,
            failed,
            ms,
            success_type,
            error,
            code,
            message,
            metadata,
            trace_id,
            span_id,
        )
    )


def _step_span(scope: OperationScope, name: str, ms: float, failed: bool, code: Any) -> None:
    """The span sink alone, for a pass whose entry the level filters out."""
    tracing = _tracing()
    if tracing is not None:
        try:
            tracing.record_step(scope, name, ms, failed, code)
        except Exception:
            return


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
        site = _sites.get((scope.name, name)) or _site(scope.name, name)
        if site.version != _levels.version:
            site.levels()
        if failed:
            code, message = failure_fields(error)
            site.record(ms, True, code, message)
            if site.log_failure:
                _step_entry(scope, name, ms, True, error, code, message, None, metadata)
            else:
                _step_span(scope, name, ms, True, code)
            return
        site.record(ms, False, None, None)
        if errors_only:
            return
        if site.log_success:
            _step_entry(scope, name, ms, False, None, None, None, success_type, metadata)
        else:
            _step_span(scope, name, ms, False, None)
    except Exception:
        _w._writer._report("emit", "rfs-monitoring: logging a step failed; ignored")


def _report_step_failure(error: BaseException) -> None:
    """What a `_core.StepPath` does with a failure of its own: reported once, never raised."""
    _w._writer._report("emit", "rfs-monitoring: logging a step failed; ignored")


def step_path(name: str, errors_only: bool) -> _core.StepPath:
    """The observer of ``log_step(name)`` (``errors_only`` False) or ``log_error(name)``
    (True) in MonoResult chains, called once per pass with the operation's scope, the chain's
    result so far and when the chain started (see `rfs_monitoring.reactive.MonoResult._run`).

    Native (`_core.StepPath`): a Success (the request path's common case) is closed, recorded
    into the handle bound for the installed collector and, when its level passes and no span
    can be started, its entry goes to `_emit_success`, without a Python frame of its own. A
    Failure, a sample only Python can place, or a pass that may start a span goes to this
    module's sinks (`_observe`, `_step_entry`, `_step_span`), read from this module when they
    are needed, as Python code reads them."""
    return _core.StepPath(
        name,
        errors_only,
        Success,
        sinks=_modules[__name__],
        emit=_w._lanes,
        collectors=_collectors,
        levels=_levels,
        spans=_spans,
    )


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
