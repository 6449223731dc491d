"""Links to the metrics collector and to tracing, found on first use.

The collector comes through the instrumentation layer's binding (`rfs_monitoring._bindings`),
so logging never imports `rfs_monitoring.metrics`: the package root binds it.
"""

from __future__ import annotations

import sys
from typing import Any

from rfs_monitoring._bindings import collectors, process_collector

_modules = sys.modules
_OTEL_TRACE = "opentelemetry.trace"


def _metrics_collector() -> Any:
    """The process-wide collector (created on first use), or ``None`` when none is bound."""
    try:
        return process_collector()
    except ImportError:  # the metrics module cannot be loaded: log without samples
        return None


def _tracing() -> Any:
    """`rfs_monitoring.tracing` when spans may be produced, else ``None``.

    OpenTelemetry costs nothing unless the application imported it (FastAPI does when it is
    installed), and little while no tracer provider is set: the answer is kept by the tracing
    module (`rfs_monitoring.tracing.enabled`) for as long as the providers stay the same."""
    global _tracing_module
    if _OTEL_TRACE not in _modules:
        return None
    module = _tracing_module
    if module is None:
        from rfs_monitoring import tracing as module

        _tracing_module = module
    return module if module.enabled() else None


def _current_collector() -> Any:
    """The process-wide collector in force (created on first use), or ``None`` when none is
    bound: what the metrics sinks record into."""
    cls = collectors.cls
    if cls is not None:
        # The installed collector is a class attribute: reading it skips instance()'s call
        # frame; instance() still creates the first one.
        return getattr(cls, "_instance", None) or cls.instance()
    return _metrics_collector()


_tracing_module: Any = None


def _resource_sample() -> tuple[float | None, float | None]:
    """The latest resource sample of the installed collector; none before one exists (an entry
    never creates the collector, nor its sampler thread)."""
    cls = collectors.cls
    collector = None if cls is None else getattr(cls, "_instance", None)
    if collector is None:
        return None, None
    try:
        sample = collector.latest_resource_sample()
    except Exception:
        return None, None
    if not sample:
        return None, None
    return float(sample[0]), float(sample[1])
