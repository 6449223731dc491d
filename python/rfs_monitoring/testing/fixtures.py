"""The rfs-monitoring pytest plugin, loaded through the ``pytest11`` entry point.

Fixtures:

- ``result_mocker``: ``result_mocker(target, method)`` starts a `ResultServiceMocker` that is
  stopped (the original restored) when the test ends.
- ``fake_clock``: a `FakeClock`; a ``metrics_collector`` in the same test runs on it.
- ``metrics_collector``: a fresh `ResultMetricsCollector` installed as the process-wide instance
  for one test, the previous one restored after. Resource sampling is off unless the test is
  marked ``@pytest.mark.rfs_metrics(sample_resources=True)`` (the marker's keywords go to the
  collector).
- ``captured_result_logs``: the entries of `capture_result_logs` for the whole test.
- ``benchmark_async``: times a coroutine function through pytest-benchmark (`AsyncBenchmark`).

Log entries still queued when a test's call or teardown ends are written before pytest stops
capturing that test's output, so they show in its report instead of between tests.

Options: ``--rfs-baseline PATH`` compares this run's pytest-benchmark medians with a saved
pytest-benchmark JSON and fails the run when one is slower than ``--rfs-max-regression``
(default 10%).

It stays light at import: FastAPI, OpenTelemetry, hypothesis and the metrics module are only
imported by the fixtures that need them.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rfs_monitoring.testing.clock import FakeClock
from rfs_monitoring.testing.performance import (
    AsyncBenchmark,
    BenchmarkComparison,
    compare_benchmarks,
    load_benchmark_stats,
    parse_regression,
)
from rfs_monitoring.testing.result_helpers import (
    CapturedLogs,
    ResultMockerFactory,
    ResultServiceMocker,
    capture_result_logs,
)

if TYPE_CHECKING:
    from rfs_monitoring.metrics import ResultMetricsCollector

__all__ = [
    "benchmark_async",
    "captured_result_logs",
    "fake_clock",
    "metrics_collector",
    "result_mocker",
]


@dataclass
class _BaselineCheck:
    path: Path
    baseline: dict[str, float]
    max_regression: float
    comparisons: list[BenchmarkComparison] = field(default_factory=list)
    measured: int = 0


_BASELINE = pytest.StashKey[_BaselineCheck]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rfs-monitoring", "rfs-monitoring benchmark baselines")
    group.addoption(
        "--rfs-baseline",
        metavar="PATH",
        default=None,
        help="pytest-benchmark JSON to compare this run's medians with; slower benchmarks fail "
        "the run",
    )
    group.addoption(
        "--rfs-max-regression",
        metavar="TOLERANCE",
        default="10%",
        help="how much slower than the baseline a benchmark may be (10%% or 0.1; default 10%%)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rfs_metrics(**kwargs): keyword arguments for the metrics_collector fixture's "
        "ResultMetricsCollector (e.g. sample_resources=True, retention='1d')",
    )
    path = config.getoption("rfs_baseline")
    if not path:
        return
    try:
        tolerance = parse_regression(config.getoption("rfs_max_regression"))
        baseline = load_benchmark_stats(path)
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--rfs-baseline: {exc}") from None
    config.stash[_BASELINE] = _BaselineCheck(Path(path), baseline, tolerance)


def _flush_result_logs() -> None:
    # Only when the application's tests have loaded logging: the plugin itself stays light.
    module = sys.modules.get("rfs_monitoring.result_logging")
    if module is not None:
        module.flush_logs(timeout=2.0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield
    _flush_result_logs()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    yield
    _flush_result_logs()


def _current_medians(config: pytest.Config) -> dict[str, float]:
    # pytest-benchmark keeps this run's results on its session object; there is no public hook
    # that hands them over unless a JSON file is written.
    session = getattr(config, "_benchmarksession", None)
    medians: dict[str, float] = {}
    for bench in getattr(session, "benchmarks", ()):
        try:
            medians[bench.fullname] = float(bench.stats.median)
        except (AttributeError, TypeError, ValueError, ArithmeticError):
            continue
    return medians


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    check = session.config.stash.get(_BASELINE, None)
    if check is None:
        return
    current = _current_medians(session.config)
    check.measured = len(current)
    check.comparisons = compare_benchmarks(current, check.baseline, check.max_regression)
    if any(c.regressed for c in check.comparisons) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    check = config.stash.get(_BASELINE, None)
    if check is None:
        return
    terminalreporter.section("rfs-monitoring benchmark baseline")
    terminalreporter.write_line(f"baseline: {check.path} (tolerance +{check.max_regression:.0%})")
    if not check.comparisons:
        terminalreporter.write_line(
            f"no benchmark of this run ({check.measured} measured) is in the baseline; "
            "are benchmarks disabled?"
        )
    for comparison in check.comparisons:
        terminalreporter.write_line(str(comparison), red=comparison.regressed)
    regressed = sum(c.regressed for c in check.comparisons)
    if regressed:
        terminalreporter.write_line(f"{regressed} benchmark(s) regressed", red=True, bold=True)


@pytest.fixture
def result_mocker() -> Iterator[ResultMockerFactory]:
    """Start `mock_result_service` mocks that are all stopped when the test ends.

    ``mock = result_mocker(users, "get_user").return_success(user)``
    """
    started: list[ResultServiceMocker] = []

    def start(
        target: object, method: str, *, is_async: bool | None = None, result_type: Any = None
    ) -> ResultServiceMocker:
        mock = ResultServiceMocker(
            target, method, is_async=is_async, result_type=result_type
        ).start()
        started.append(mock)
        return mock

    try:
        yield start
    finally:
        for mock in reversed(started):
            mock.stop()


@pytest.fixture
def fake_clock() -> FakeClock:
    """A `FakeClock` at 2024-01-01T00:00:00Z; move it with ``advance`` and ``set``."""
    return FakeClock()


@pytest.fixture
def metrics_collector(request: pytest.FixtureRequest) -> Iterator[ResultMetricsCollector]:
    """A fresh collector installed as ``ResultMetricsCollector.instance()`` for this test.

    It runs on ``fake_clock`` when the test uses that fixture too.
    """
    from rfs_monitoring.metrics import ResultMetricsCollector

    options: dict[str, Any] = {"sample_resources": False}
    marker = request.node.get_closest_marker("rfs_metrics")
    if marker is not None:
        options.update(marker.kwargs)
    if "fake_clock" in request.fixturenames and "clock" not in options:
        options["clock"] = request.getfixturevalue("fake_clock")
    collector = ResultMetricsCollector(**options)
    previous = ResultMetricsCollector.set_instance(collector)
    try:
        yield collector
    finally:
        ResultMetricsCollector.set_instance(previous)
        collector.close()


@pytest.fixture
def captured_result_logs() -> Iterator[CapturedLogs]:
    """Every Result log entry the test emits (masked dicts, after level filtering)."""
    with capture_result_logs() as entries:
        yield entries


@pytest.fixture
def benchmark_async(request: pytest.FixtureRequest) -> Iterator[AsyncBenchmark]:
    """Time a coroutine function from a sync test: ``benchmark_async(fetch, "42")``."""
    benchmark = (
        request.getfixturevalue("benchmark")
        if request.config.pluginmanager.hasplugin("benchmark")
        else None
    )
    runner = AsyncBenchmark(benchmark)
    try:
        yield runner
    finally:
        runner.close()
