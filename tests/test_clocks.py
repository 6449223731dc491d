"""Clock steps and broken clocks: samples stay in every window that covers now, alert state
survives, and a clock the collector cannot use is a clear error (never a 500, never a silent
loss). Driven by the package's FakeClock."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rfs_monitoring.alerts import AlertConfiguration, AlertManager, AlertRule
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.exceptions import ClockError
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.testing import FakeClock

T0 = 1_704_067_200.0
HOUR = 3_600.0
DAY = 86_400.0
WINDOWS = ("5m", "1h", "1d", "1w")


@pytest.fixture
def clock() -> FakeClock:
    """The collector's clock."""
    return FakeClock(T0)


@pytest.fixture
def collector(clock: FakeClock) -> Iterator[ResultMetricsCollector]:
    """A collector on the fake clock."""
    c = ResultMetricsCollector(clock=clock, sample_resources=False)
    yield c
    c.close()


def burst(collector: ResultMetricsCollector, n: int = 100, ok: bool = True) -> None:
    for _ in range(n):
        collector.record("checkout", 12.0, ok, None if ok else "DATABASE_ERROR")


def totals(collector: ResultMetricsCollector) -> dict[str, int]:
    out = {}
    for window in WINDOWS:
        metrics = collector.operation_metrics("checkout", window)
        out[window] = metrics.unwrap().total_requests if metrics.is_success() else 0
    return out


@pytest.mark.parametrize("step", [2 * HOUR, HOUR, DAY])
def test_a_clock_stepped_back_loses_nothing(
    collector: ResultMetricsCollector, clock: FakeClock, step: float
) -> None:
    """The samples after the step are in every window at the new time; once the clock is
    corrected, the samples before it are whole again."""
    burst(collector)
    clock.set(T0 - step)
    burst(collector)
    assert totals(collector) == dict.fromkeys(WINDOWS, 100)
    clock.set(T0 + 60)
    after = totals(collector)
    assert after["5m"] == after["1h"] == 100
    assert after["1w"] == 200


@pytest.mark.parametrize("step", [2 * HOUR, 10 * 60, DAY])
def test_a_clock_stepped_forward_then_corrected_loses_nothing(
    collector: ResultMetricsCollector, clock: FakeClock, step: float
) -> None:
    """Samples taken while the clock was ahead are in the windows at that time; after the
    correction the samples before the step and after it are all in the windows that cover now."""
    burst(collector)
    clock.set(T0 + step)
    burst(collector)
    assert totals(collector)["5m"] == 100
    clock.set(T0 + 60)
    burst(collector)
    after = totals(collector)
    assert after["5m"] == after["1h"] == 200
    # The coarse windows count whole 15 min / 1 h buckets, which may hold the step's samples.
    assert after["1d"] >= 200
    assert after["1w"] >= 200


def test_eight_days_ahead_then_corrected_keeps_the_next_samples_visible_everywhere(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """A step past the tolerance (one day) may lose the samples before it from the fine windows
    (documented), but never the samples after the correction."""
    burst(collector)
    clock.set(T0 + 8 * DAY)
    burst(collector)
    clock.set(T0 + 60)
    burst(collector)
    after = totals(collector)
    assert all(after[window] >= 100 for window in WINDOWS), after
    assert after["5m"] == 100


def test_a_pending_alert_survives_a_backward_step_and_fires_on_time(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Still breaching after a backward step (1 h and a bit: the old rings dropped samples more
    than 3600 s behind their newest): pending, then firing once for_seconds have passed on the
    new clock."""
    rule = AlertRule(
        name="errors", operation="checkout", metric="error_rate", op=">", threshold=0.5,
        window="1m", for_seconds=300,
    )  # fmt: skip
    manager = AlertManager(collector, AlertConfiguration(rules=[rule], notifiers=[]))
    try:
        burst(collector, 10, ok=False)
        assert [e.status for e in manager.evaluate()] == ["pending"]
        clock.set(T0 + 120 - 2 * HOUR)
        burst(collector, 10, ok=False)
        assert manager.evaluate() == []
        [state] = manager.states()
        assert state.status == "pending"
        assert state.active_since is not None
        # On the new clock: the step counts as no time (nothing else tells how long it was).
        assert state.active_since.timestamp() == T0 + 120 - 2 * HOUR
        clock.advance(299)
        burst(collector, 10, ok=False)
        assert manager.evaluate() == []
        clock.advance(1)
        burst(collector, 10, ok=False)
        assert [e.status for e in manager.evaluate()] == ["firing"]
    finally:
        manager.close()


@pytest.mark.parametrize("reading", [-5.0, 1e19, float("nan"), float("inf"), -float("inf")])
def test_a_broken_clock_is_a_503_problem_on_every_route(reading: float) -> None:
    """Negative, far-future, NaN and infinite readings: problem+json 503, never a 500."""
    now = [T0]
    collector = ResultMetricsCollector(clock=lambda: now[0], sample_resources=False)
    burst(collector, 3, ok=False)
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    client = TestClient(app, raise_server_exceptions=False)
    now[0] = reading
    try:
        for path in (
            "/monitoring/operations/checkout/metrics",
            "/monitoring/operations/checkout/timeseries",
            "/monitoring/errors/top",
            "/monitoring/operations",
            "/monitoring/health/result-patterns",
        ):
            response = client.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "SERVICE_UNAVAILABLE"
            assert response.json()["correlation_id"]
        with pytest.raises(ClockError):
            collector.top_errors()
        with pytest.raises(ClockError):
            collector.list_operations()
        assert isinstance(collector.operation_metrics("checkout").unwrap_error(), ClockError)
    finally:
        collector.close()


@pytest.mark.parametrize("reading", [float("nan"), float("inf"), -1.0, 1e19])
def test_samples_recorded_on_a_broken_clock_are_kept_and_reported(
    reading: float, caplog: pytest.LogCaptureFixture
) -> None:
    """No silent loss: the sample is kept at the previous sample's time, counted, and logged."""
    clock = FakeClock(T0)
    value = [None]

    def broken_or_fake() -> float:
        return clock() if value[0] is None else value[0]

    collector = ResultMetricsCollector(clock=broken_or_fake, sample_resources=False)
    try:
        burst(collector, 5)
        value[0] = reading  # type: ignore[assignment]
        with caplog.at_level(logging.WARNING, "rfs_monitoring.metrics"):
            burst(collector, 5)
        assert collector.clock_errors == 5
        assert "the metrics clock returned" in caplog.text
        assert [c.total for c in collector.cumulative()] == [10]
        value[0] = None
        assert totals(collector)["5m"] == 10  # visible where the last good sample was
    finally:
        collector.close()


def test_a_clock_that_raises_while_recording_keeps_the_sample() -> None:
    """A clock that raises is a broken clock too: the sample is kept and counted."""
    calls = [0]

    def flaky() -> float:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("clock source unavailable")
        return T0

    collector = ResultMetricsCollector(clock=flaky, sample_resources=False)
    try:
        burst(collector, 3)
        assert collector.clock_errors == 1
        assert totals(collector)["5m"] == 3
    finally:
        collector.close()


def test_an_alert_manager_on_a_broken_clock_keeps_its_state(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """An evaluation on a broken clock moves nothing and counts an evaluation error."""
    rule = AlertRule(
        name="errors", operation="checkout", metric="error_rate", op=">", threshold=0.5,
        window="1m", for_seconds=300,
    )  # fmt: skip
    manager = AlertManager(collector, AlertConfiguration(rules=[rule], notifiers=[]))
    try:
        burst(collector, 10, ok=False)
        manager.evaluate()
        clock.set(-5.0)
        assert manager.evaluate() == []
        assert manager.evaluation_errors == 1
        assert [s.status for s in manager.states()] == ["pending"]
        other = AlertManager(
            collector, AlertConfiguration(rules=[rule], notifiers=[]), clock=lambda: T0
        )
        assert other.evaluate() == []  # the collector's own queries refuse the clock
        assert other.evaluation_errors == 1
        assert [s.status for s in other.states()] == []
        other.close()
    finally:
        manager.close()


def test_a_clock_error_reads_and_pickles_as_itself() -> None:
    """ClockError keeps the reading, prints it and survives pickling."""
    import pickle

    error = ClockError(-5.0)
    assert repr(error) == "ClockError(-5.0)"
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.reading, copy.status_code) == (ClockError, -5.0, 503)
