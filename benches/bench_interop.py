"""What another library's Result costs against ours, in the same process.

Each row runs ``BATCH`` calls of a function returning a failure (a constant error, so only the
outcome's classification differs between rows): ours (`Failure`), rfs-framework's ``Failure``,
returns' ``Failure``, ``result``'s ``Err`` and ``expression``'s ``Error``.

- ``interop-monitor``: ``@monitor_result`` (timing and the metrics sample). Ours is classified in
  Rust; the others through `rfs_monitoring.interop`'s per-type cache.
- ``interop-log``: ``@log_result_operation`` with the failure level below the threshold, so a
  row measures the caller's whole share but the writer (classification, error naming, the
  metrics sample, the level check) with no writer thread to add noise.

Goal: a foreign Result costs at most 0.3 µs more per call than ours: (row - ours) / ``BATCH``.

Run for real with::

    .venv/bin/python -m pytest benches/bench_interop.py --benchmark-enable --benchmark-only \
        -p no:cacheprovider
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import expression
import pytest
import result as result_lib
import returns.result
import rfs.core.result as rfs_result

from rfs_monitoring.metrics import ResultMetricsCollector, monitor_result
from rfs_monitoring.result import Failure
from rfs_monitoring.result_logging import configure_logging, flush_logs, log_result_operation

BATCH = 1000
ERROR = ValueError("constant")

FAILURES: dict[str, Callable[[Any], Any]] = {
    "ours": Failure,
    "rfs": rfs_result.Failure,
    "returns": returns.result.Failure,
    "result": result_lib.Err,
    "expression": expression.Error,
}


@pytest.fixture(scope="module", autouse=True)
def quiet() -> Iterator[None]:
    """A fresh collector without the resource sampler; nothing reaches a real stream."""
    collector = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    configure_logging(level="INFO", stream=io.StringIO())
    yield
    flush_logs()
    configure_logging()
    ResultMetricsCollector.set_instance(previous)
    collector.close()


def _batch(fn: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(BATCH):
            fn()

    return run


def _returning(library: str) -> Callable[[], Any]:
    failure = FAILURES[library](ERROR)
    return lambda: failure


@pytest.mark.benchmark(group="interop-monitor")
@pytest.mark.parametrize("library", FAILURES)
def test_monitor_result_failure(benchmark: Any, library: str) -> None:
    fn = monitor_result(f"bench_interop_monitor_{library}")(_returning(library))
    benchmark(_batch(fn))
    metrics = ResultMetricsCollector.instance().operation_metrics(
        f"bench_interop_monitor_{library}"
    )
    assert metrics.unwrap().error_breakdown == {"ValueError": metrics.unwrap().total_requests}


@pytest.mark.benchmark(group="interop-log")
@pytest.mark.parametrize("library", FAILURES)
def test_log_result_operation_filtered_failure(benchmark: Any, library: str) -> None:
    name = f"bench_interop_log_{library}"
    fn = log_result_operation(name, failure_level="DEBUG")(_returning(library))
    benchmark(_batch(fn))
    metrics = ResultMetricsCollector.instance().operation_metrics(name).unwrap()
    assert metrics.failed_requests == metrics.total_requests > 0
