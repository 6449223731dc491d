"""Testing helpers for Result-pattern code: mocks, assertions, fixtures, generators.

- `mock_result_service` / `ResultServiceMocker`: replace a service method with a Result-aware,
  signature-checked mock (async when the original is) for the duration of a ``with`` block.
- `assert_result_success`, `assert_result_error`, `assert_flux_result_stats`,
  `assert_mono_result_timeout`, `assert_operation_recorded`: assertions whose messages show the
  actual value or error; they accept any object with ``is_success``/``unwrap``/``unwrap_error``.
- `capture_result_logs`: the log entries emitted inside a block, as masked dicts.
- `measure_overhead`, `assert_overhead_below` (and async twins), `compare_benchmarks`: cost of
  instrumentation and benchmark baselines on noisy machines.
- `FakeClock`: drives the metrics collector's windows.
- `rfs_monitoring.testing.generators`: hypothesis strategies and plain data factories.
- `rfs_monitoring.testing.fixtures`: the pytest plugin (``result_mocker``, ``metrics_collector``,
  ``fake_clock``, ``captured_result_logs``, ``benchmark_async``; ``--rfs-baseline``), loaded
  automatically through the ``pytest11`` entry point.

Everything here is light to import (no FastAPI, OpenTelemetry or hypothesis), because the pytest
plugin loads it in every test run.

>>> from rfs_monitoring.result import Success
>>> assert_result_success(Success(41).map(lambda x: x + 1), int, value=42)
42
"""

from __future__ import annotations

from rfs_monitoring.testing.clock import FakeClock
from rfs_monitoring.testing.performance import (
    AsyncBenchmark,
    BenchmarkComparison,
    OverheadReport,
    assert_overhead_below,
    assert_overhead_below_async,
    compare_benchmarks,
    load_benchmark_stats,
    measure_overhead,
    measure_overhead_async,
)
from rfs_monitoring.testing.result_helpers import (
    CapturedLogs,
    MockCall,
    MockTargetError,
    ResultLike,
    ResultMockerFactory,
    ResultServiceMocker,
    assert_flux_result_stats,
    assert_mono_result_timeout,
    assert_operation_recorded,
    assert_result_error,
    assert_result_success,
    capture_result_logs,
    mock_result_service,
)

__all__ = [
    "AsyncBenchmark",
    "BenchmarkComparison",
    "CapturedLogs",
    "FakeClock",
    "MockCall",
    "MockTargetError",
    "OverheadReport",
    "ResultLike",
    "ResultMockerFactory",
    "ResultServiceMocker",
    "assert_flux_result_stats",
    "assert_mono_result_timeout",
    "assert_operation_recorded",
    "assert_overhead_below",
    "assert_overhead_below_async",
    "assert_result_error",
    "assert_result_success",
    "capture_result_logs",
    "compare_benchmarks",
    "load_benchmark_stats",
    "measure_overhead",
    "measure_overhead_async",
    "mock_result_service",
]
