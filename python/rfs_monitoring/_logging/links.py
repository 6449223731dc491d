"""Lazy links to the metrics collector and to tracing, found on first use."""

from __future__ import annotations

import importlib
import sys
from typing import Any

_metrics_module: Any = None
_collector_class: Any = None
_modules = sys.modules
_OTEL_TRACE = "opentelemetry.trace"


def _metrics_collector() -> Any:
    global _metrics_module
    module = _metrics_module
    if module is None:
        try:
            module = importlib.import_module("rfs_monitoring.metrics")
        except ImportError:
            module = False  # not importable: do not retry on every call
        _metrics_module = module
    if module is False:
        return None
    global _collector_class
    cls = _collector_class = module.ResultMetricsCollector
    return cls.instance()


_tracing_module: Any = None


def _tracing() -> Any:
    # OpenTelemetry costs nothing unless the application imported it (FastAPI does when it is
    # installed), and little while no tracer provider is set.
    global _tracing_module
    if _OTEL_TRACE not in _modules:
        return None
    module = _tracing_module
    if module is None:
        from rfs_monitoring import tracing as module

        _tracing_module = module
    return module if module.enabled() else None


def _resource_sample() -> tuple[float | None, float | None]:
    module = _metrics_module
    if not module:  # not imported yet, or not importable: no sample to read
        return None, None
    try:
        sample = module.ResultMetricsCollector.instance().latest_resource_sample()
    except Exception:
        return None, None
    if not sample:
        return None, None
    return float(sample[0]), float(sample[1])
