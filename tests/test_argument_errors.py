"""Bad arguments to the package's public entry points raise its own exceptions (issue #13 §1:
errors are the package's own exception classes): `InvalidArgumentError` (still a `ValueError`),
`InvalidTypeError` (still a `TypeError`) and, for a shared directory that cannot be used,
`StorageError` (still an `OSError`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from pydantic import ValidationError

from rfs_monitoring.alerts import AlertConfiguration, AlertManager, AlertRule
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    RfsMonitoringError,
    StorageError,
)
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.otel_metrics import bridge_metrics
from rfs_monitoring.prometheus_source import PrometheusSource
from rfs_monitoring.testing import FakeClock


@pytest.fixture
def collector(clock: FakeClock) -> ResultMetricsCollector:
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    collector.record("search", 5.0, True)
    return collector


BAD_CALLS: dict[str, Callable[[ResultMetricsCollector], Any]] = {
    "list_operations range": lambda c: c.list_operations("2x"),
    "top_errors limit": lambda c: c.top_errors(limit=0),
    "top_errors range": lambda c: c.top_errors(time_range="9w"),
    "collector retention": lambda c: ResultMetricsCollector(retention="soon"),
    "collector steps": lambda c: ResultMetricsCollector(max_steps_per_operation=0),
    "alert interval": lambda c: AlertManager(c, interval=0),
    "alert repeat": lambda c: AlertManager(c, repeat_interval=float("nan")),
    "alert history": lambda c: AlertManager(c, history_size=0),
    "router token": lambda c: monitoring_router(c, token="  "),
    "router protect_reads": lambda c: monitoring_router(c, protect_reads=True),
    "router thresholds": lambda c: monitoring_router(c, degraded_below=0.5, unhealthy_below=0.9),
    "router min requests": lambda c: monitoring_router(c, health_min_requests=0),
    "prometheus url": lambda c: PrometheusSource("ftp://prometheus"),
    "prometheus timeout": lambda c: PrometheusSource("http://p", timeout=-1),
    "prometheus retention": lambda c: PrometheusSource("http://p", retention="forever"),
    "otel reader": lambda c: bridge_metrics(InMemoryMetricReader(), c),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_a_bad_argument_is_an_invalid_argument_error(
    call: Callable[[ResultMetricsCollector], Any],
    collector: ResultMetricsCollector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each refusal is `InvalidArgumentError`, so ``except ValueError`` still catches it."""
    monkeypatch.delenv("RFS_MONITORING_TOKEN", raising=False)
    with pytest.raises(InvalidArgumentError) as caught:
        call(collector)
    assert isinstance(caught.value, ValueError)


# -- every public entry point's refusal is one of ours and the built-in it raised before --------


async def _slow() -> Any:  # an async callable, refused by the sync overhead helpers
    return None


def _adapter(result_type: Any, **overrides: Any) -> Any:
    from rfs_monitoring.interop import register_result_adapter

    callbacks: dict[str, Any] = {"is_failure": bool, "error": str, "value": str, **overrides}
    return register_result_adapter(result_type, **callbacks)


def _mocker() -> Any:
    from rfs_monitoring.testing import ResultServiceMocker

    return ResultServiceMocker("service", "method")


def _timeout_check() -> Any:
    import asyncio

    from rfs_monitoring.reactive import MonoResult
    from rfs_monitoring.testing import assert_mono_result_timeout

    return asyncio.run(assert_mono_result_timeout(MonoResult.from_value(1), 0))


def _levels() -> dict[str, Callable[[ResultMetricsCollector], Any]]:
    from rfs_monitoring.result_logging import (
        configure_logging,
        log_result_operation,
        set_log_level,
    )

    return {
        "configure_logging level name": lambda c: configure_logging(level="LOUD"),
        "configure_logging level number": lambda c: configure_logging(level=15),
        "configure_logging level bool": lambda c: configure_logging(level=True),
        "configure_logging queue_size": lambda c: configure_logging(queue_size=0),
        "configure_logging max_block_seconds": lambda c: configure_logging(max_block_seconds=-1),
        "configure_logging max_queue_bytes": lambda c: configure_logging(max_queue_bytes=0),
        "configure_logging max_value_chars": lambda c: configure_logging(max_value_chars=8),
        "configure_logging exit_flush_seconds": lambda c: configure_logging(exit_flush_seconds=-1),
        "set_log_level": lambda c: set_log_level("NOISY"),
        "log_result_operation level": lambda c: log_result_operation(success_level="LOUD"),
    }


def _value_errors() -> dict[str, Callable[[ResultMetricsCollector], Any]]:
    from rfs_monitoring.context import bind_context, correlation_context
    from rfs_monitoring.errors import APIError, ErrorCode
    from rfs_monitoring.metrics import monitor_result
    from rfs_monitoring.reactive import FluxResult, MonoResult
    from rfs_monitoring.testing import (
        FakeClock,
        assert_operation_recorded,
        measure_overhead,
    )
    from rfs_monitoring.testing.generators import make_operation_samples, make_results
    from rfs_monitoring.testing.performance import load_benchmark_stats, parse_regression

    mono = MonoResult.from_value(1)
    return {
        **_levels(),
        "collector.step operation": lambda c: c.step("", "validate"),
        "collector.step step": lambda c: c.step("checkout", ""),
        "monitor_result name": lambda c: monitor_result(""),
        "timeout negative": lambda c: mono.timeout(-1),
        "timeout nan": lambda c: mono.timeout(float("nan")),
        "retry times": lambda c: mono.retry(-1),
        "retry delay": lambda c: mono.retry(1, delay=-1),
        "retry backoff": lambda c: mono.retry(1, backoff=0),
        "flux concurrency": lambda c: __import__("asyncio").run(
            FluxResult.from_async_results([], concurrency=0)
        ),
        "APIError code": lambda c: APIError("NOPE", "no such code"),
        "APIError status type": lambda c: APIError(ErrorCode.NOT_FOUND, "x", status_code="404"),  # type: ignore[arg-type]
        "APIError status range": lambda c: APIError(ErrorCode.NOT_FOUND, "x", status_code=200),
        "APIError retry_after": lambda c: APIError.rate_limited(retry_after=-1),
        "adapter name": lambda c: _adapter("NoDots"),
        "correlation_context id": lambda c: correlation_context("<script>"),
        "bind_context correlation_id": lambda c: bind_context(correlation_id="x"),
        "FakeClock start": lambda c: FakeClock(float("nan")),
        "FakeClock advance": lambda c: FakeClock().advance(-1),
        "make_results rate": lambda c: make_results(3, failure_rate=2.0),
        "make_operation_samples median": lambda c: make_operation_samples(3, median_ms=0),
        "measure_overhead rounds": lambda c: measure_overhead(int, int, rounds=0),
        "parse_regression": lambda c: parse_regression("a lot"),
        "load_benchmark_stats": lambda c: load_benchmark_stats({"not": "a report"}),
        "mocker then": lambda c: _mocker().return_sequence([], then="loop"),
        "mocker delay": lambda c: _mocker().with_delay(-1),
        "assert_mono_result_timeout": lambda c: _timeout_check(),
        "assert_operation_recorded range": lambda c: assert_operation_recorded(
            "search", time_range="2x", collector=c
        ),
    }


def _type_errors() -> dict[str, Callable[[ResultMetricsCollector], Any]]:
    from rfs_monitoring.interop import to_result
    from rfs_monitoring.reactive import MonoResult
    from rfs_monitoring.testing import measure_overhead
    from rfs_monitoring.web import handle_result

    return {
        "handle_result target": lambda c: handle_result(42),  # type: ignore[call-overload]
        "adapter callbacks": lambda c: _adapter("pkg.Result", is_failure=1),
        "adapter result_type": lambda c: _adapter(42),
        "to_result": lambda c: to_result("not a result"),
        "from_rfs": lambda c: MonoResult.from_rfs(42),
        "set_instance": lambda c: ResultMetricsCollector.set_instance(42),  # type: ignore[arg-type]
        "collector.operation name": lambda c: c.operation(42),  # type: ignore[arg-type]
        "measure_overhead async": lambda c: measure_overhead(_slow, _slow),
    }


OURS_AND_BUILTIN: list[tuple[str, Callable[[ResultMetricsCollector], Any], type[Exception]]] = [
    *((name, call, ValueError) for name, call in _value_errors().items()),
    *((name, call, TypeError) for name, call in _type_errors().items()),
]


@pytest.mark.parametrize(
    ("call", "builtin"),
    [(call, builtin) for _, call, builtin in OURS_AND_BUILTIN],
    ids=[name for name, _, _ in OURS_AND_BUILTIN],
)
def test_a_refusal_is_ours_and_the_builtin_it_was(
    call: Callable[[ResultMetricsCollector], Any],
    builtin: type[Exception],
    collector: ResultMetricsCollector,
) -> None:
    """``except ValueError`` / ``except TypeError`` keep working; ``except RfsMonitoringError``
    catches every refusal; the message names the bad value or what was expected."""
    ours = InvalidArgumentError if builtin is ValueError else InvalidTypeError
    with pytest.raises(ours) as caught:
        call(collector)
    assert isinstance(caught.value, builtin)
    assert isinstance(caught.value, RfsMonitoringError)
    assert str(caught.value)


def test_a_shared_directory_that_cannot_be_used_is_a_storage_error(tmp_path: Path) -> None:
    """The core's I/O failure on the shared directory is `StorageError`, still an `OSError`
    carrying the system's reason."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError) as caught:
        ResultMetricsCollector(shared_dir=blocker / "metrics", sample_resources=False)
    assert isinstance(caught.value, OSError)
    assert isinstance(caught.value, RfsMonitoringError)
    assert "shared directory" in str(caught.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: AlertRule(name="slow", metric="p99_ms", op=">", threshold=1.0, window="2x"),
        lambda: AlertConfiguration(
            rules=[
                AlertRule(name="slow", metric="p99_ms", op=">", threshold=1.0),
                AlertRule(name="slow", metric="p90_ms", op=">", threshold=1.0),
            ]
        ),
    ],
    ids=["rule window", "duplicate rule names"],
)
def test_an_alert_models_refusal_carries_ours(build: Callable[[], Any]) -> None:
    """Alert rules are pydantic models, so a refusal is pydantic's `ValidationError` (a
    `ValueError`); the error it wraps is our `InvalidArgumentError`."""
    with pytest.raises(ValidationError) as caught:
        build()
    (error,) = caught.value.errors()
    assert isinstance(error["ctx"]["error"], InvalidArgumentError)


@pytest.mark.parametrize(
    "error",
    [
        InvalidArgumentError("bad value"),
        InvalidTypeError("bad type"),
        StorageError("cannot write"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_classes_are_public_and_pickle(error: RfsMonitoringError) -> None:
    """Defined below `errors` (which raises them), they are named and pickled as
    `rfs_monitoring.exceptions`' own."""
    import pickle

    import rfs_monitoring.exceptions as public

    assert type(error).__module__ == "rfs_monitoring.exceptions"
    assert getattr(public, type(error).__name__) is type(error)
    assert type(error).__name__ in public.__all__
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
