"""rfs-monitoring: observability and testing for Python services written in the Result pattern.

A returned `Failure` counts as an error in logs, metrics and spans. The public names are imported
lazily, so ``import rfs_monitoring`` stays cheap for code that only needs `Result`.

>>> from rfs_monitoring import Success
>>> Success(1).map(str)
Success(value='1')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rfs_monitoring import _bindings
from rfs_monitoring._core import __version__
from rfs_monitoring.result import Failure, Result, Success

if TYPE_CHECKING:
    from rfs_monitoring.interop import ResultAdapter, register_result_adapter
    from rfs_monitoring.metrics import OperationMetrics, ResultMetricsCollector, monitor_result
    from rfs_monitoring.reactive import FluxResult, MonoResult
    from rfs_monitoring.result_logging import (
        ResultLogEntry,
        configure_logging,
        flush_logs,
        log_result_operation,
    )

__all__ = [
    "Failure",
    "FluxResult",
    "MonoResult",
    "OperationMetrics",
    "Result",
    "ResultAdapter",
    "ResultLogEntry",
    "ResultMetricsCollector",
    "Success",
    "__version__",
    "configure_logging",
    "flush_logs",
    "log_result_operation",
    "monitor_result",
    "register_result_adapter",
]

_LAZY: dict[str, str] = {
    "MonoResult": "rfs_monitoring.reactive",
    "FluxResult": "rfs_monitoring.reactive",
    "log_result_operation": "rfs_monitoring.result_logging",
    "ResultLogEntry": "rfs_monitoring.result_logging",
    "configure_logging": "rfs_monitoring.result_logging",
    "flush_logs": "rfs_monitoring.result_logging",
    "ResultMetricsCollector": "rfs_monitoring.metrics",
    "OperationMetrics": "rfs_monitoring.metrics",
    "monitor_result": "rfs_monitoring.metrics",
    "register_result_adapter": "rfs_monitoring.interop",
    "ResultAdapter": "rfs_monitoring.interop",
}


def _process_collector() -> Any:
    """The package root composes the layers: the instrumentation layer records into the
    process-wide collector without importing `rfs_monitoring.metrics`, which, once loaded here,
    binds its own (faster) factory in place of this one."""
    metrics = importlib.import_module("rfs_monitoring.metrics")
    return metrics.ResultMetricsCollector.instance()


if _bindings.collectors.factory is None:
    _bindings.bind_collector(_process_collector)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rfs_monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
