"""Alert rules, the alert state machine and notifiers, end to end with a fake clock."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from rfs_monitoring.alerts import (
    AlertConfiguration,
    AlertEvent,
    AlertManager,
    AlertRule,
    CallbackNotifier,
    LogNotifier,
    WebhookNotifier,
)
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.testing import FakeClock

T0 = 1_700_000_000.0


def record(c: ResultMetricsCollector, op: str, ok: int, failed: int, ms: float = 10.0) -> None:
    """Record ``ok`` successes and ``failed`` failures of ``op``."""
    for _ in range(ok):
        c.record(op, ms, True)
    for _ in range(failed):
        c.record(op, ms, False, error_code="DATABASE_ERROR", error_message="db down")


def error_rule(**overrides: Any) -> AlertRule:
    """An error-rate rule on ``checkout`` over one minute."""
    fields: dict[str, Any] = {
        "name": "checkout-errors",
        "operation": "checkout",
        "metric": "error_rate",
        "op": ">",
        "threshold": 0.1,
        "window": "1m",
    }
    fields.update(overrides)
    return AlertRule(**fields)


class Receiver:
    """A real HTTP server on 127.0.0.1 recording the JSON bodies POSTed to it."""

    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.status = status
        self.hold: threading.Event | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.attempts += 1
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(receiver.status)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                receiver.headers = dict(self.headers)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.headers: dict[str, str] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver that accepts everything."""
    r = Receiver()
    yield r
    r.close()


@dataclass
class FakeSource:
    """A metrics source whose answers the test sets, for failure paths the collector never has."""

    clock: Any = field(default_factory=FakeClock)
    fail_list: bool = False
    fail_metrics: bool = False

    def list_operations(self, time_range: str = "1h") -> list[str]:
        if self.fail_list:
            raise RuntimeError("listing broke")
        return ["a"]

    def operation_metrics(self, name: str, time_range: str = "1h") -> Result[Any, Any]:
        if self.fail_metrics:
            raise RuntimeError("metrics broke")
        return Failure("not found")


# -- rules ----------------------------------------------------------------------------------------


def test_rule_rejects_unknown_metric_operator_and_window() -> None:
    """A rule with an unknown metric, operator or time range is a validation error."""
    for bad in ({"metric": "latency"}, {"op": "=="}, {"window": "5x"}, {"window": "0m"}):
        with pytest.raises(ValidationError):
            error_rule(**bad)


def test_rule_rejects_nan_threshold_and_negative_for() -> None:
    """NaN thresholds and negative durations are refused."""
    with pytest.raises(ValidationError):
        error_rule(threshold=float("nan"))
    with pytest.raises(ValidationError):
        error_rule(for_seconds=-1)
    with pytest.raises(ValidationError):
        error_rule(extra_field=1)


def test_configuration_rejects_duplicate_rule_names() -> None:
    """Two rules with one name are refused."""
    with pytest.raises(ValidationError, match="duplicate rule name"):
        AlertConfiguration(rules=[error_rule(), error_rule()])


def test_configuration_parses_json_notifiers_but_not_callbacks() -> None:
    """JSON configures log and webhook notifiers; a callback needs Python."""
    config = AlertConfiguration.model_validate_json(
        '{"rules": [], "notifiers": [{"type": "log"}, '
        '{"type": "webhook", "url": "http://127.0.0.1:1/x", "max_retries": 0}]}'
    )
    assert [n.type for n in config.notifiers] == ["log", "webhook"]
    with pytest.raises(ValidationError):
        AlertConfiguration.model_validate_json('{"notifiers": [{"type": "callback"}]}')
    with pytest.raises(ValidationError):
        AlertConfiguration.model_validate_json('{"notifiers": [{"type": "webhook", "url": "x"}]}')


def test_configuration_schema_leaves_out_callbacks() -> None:
    """The JSON schema (and so OpenAPI) documents only the JSON-configurable notifiers."""
    text = json.dumps(AlertConfiguration.model_json_schema())
    assert "WebhookNotifier" in text
    assert "CallbackNotifier" not in text


@pytest.mark.parametrize(
    ("metric", "op", "threshold"),
    [
        ("success_rate", "<", 0.9),
        ("error_rate", ">=", 0.5),
        ("p50_ms", ">", 100),
        ("p90_ms", ">", 100),
        ("p99_ms", ">", 100),
        ("avg_ms", ">", 100),
        ("max_ms", ">", 100),
        ("error_count", ">", 3),
        ("rps", "<=", 1000),
    ],
)
def test_every_metric_can_fire(
    collector: ResultMetricsCollector, metric: str, op: str, threshold: float
) -> None:
    """Each metric is read from the operation's metrics and compared with the threshold."""
    record(collector, "checkout", ok=5, failed=5, ms=200.0)
    rule = error_rule(metric=metric, op=op, threshold=threshold)
    manager = AlertManager(collector, AlertConfiguration(rules=[rule], notifiers=[]))
    events = manager.evaluate()
    assert [e.status for e in events] == ["firing"]
    assert events[0].value is not None


# -- state machine -----------------------------------------------------------------------------


def test_alert_goes_pending_then_firing_after_for_seconds(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """A breach is pending until it has held for ``for_seconds``, then fires once."""
    seen: list[AlertEvent] = []
    config = AlertConfiguration(
        rules=[error_rule(for_seconds=30)], notifiers=[CallbackNotifier(callback=seen.append)]
    )
    manager = AlertManager(collector, config)
    record(collector, "checkout", ok=5, failed=5)
    assert [e.status for e in manager.evaluate()] == ["pending"]
    clock.advance(10)
    assert manager.evaluate() == []
    assert manager.states()[0].status == "pending"
    clock.advance(25)
    record(collector, "checkout", ok=1, failed=1)
    events = manager.evaluate()
    assert [(e.previous_status, e.status) for e in events] == [("pending", "firing")]
    assert events[0].active_since is not None
    assert events[0].fired_at is not None
    assert events[0].fired_at > events[0].active_since
    assert manager.flush()
    assert [e.status for e in seen] == ["firing"]
    assert [s.rule for s in manager.firing()] == ["checkout-errors"]
    manager.close()


def test_pending_alert_that_clears_goes_back_to_inactive_without_notification(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """A breach shorter than ``for_seconds`` never notifies."""
    seen: list[AlertEvent] = []
    config = AlertConfiguration(
        rules=[error_rule(for_seconds=300)], notifiers=[CallbackNotifier(callback=seen.append)]
    )
    manager = AlertManager(collector, config)
    record(collector, "checkout", ok=5, failed=5)
    manager.evaluate()
    clock.advance(120)  # the failures left the one-minute window
    record(collector, "checkout", ok=10, failed=0)
    assert [e.status for e in manager.evaluate()] == ["inactive"]
    manager.flush()
    assert seen == []
    assert [e.status for e in manager.history()] == ["inactive", "pending"]


def test_firing_alert_resolves_once_and_notifies_once(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """Firing and resolving each notify exactly once, however often the rule is evaluated."""
    seen: list[AlertEvent] = []
    config = AlertConfiguration(
        rules=[error_rule()], notifiers=[CallbackNotifier(callback=seen.append)]
    )
    manager = AlertManager(collector, config)
    record(collector, "checkout", ok=5, failed=5)
    for _ in range(5):
        manager.evaluate()
        clock.advance(1)
    clock.advance(120)
    record(collector, "checkout", ok=10, failed=0)
    for _ in range(3):
        manager.evaluate()
    manager.flush()
    assert [(e.status, e.repeat) for e in seen] == [("firing", False), ("resolved", False)]
    state = manager.states()[0]
    assert state.status == "resolved"
    assert state.resolved_at is not None
    assert state.active_since is None


def test_keep_firing_for_rides_out_a_short_recovery(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """A firing alert stays firing through a recovery shorter than ``keep_firing_for_seconds``."""
    manager = AlertManager(
        collector,
        AlertConfiguration(rules=[error_rule(keep_firing_for_seconds=300)], notifiers=[]),
    )
    record(collector, "checkout", ok=1, failed=9)
    assert [e.status for e in manager.evaluate()] == ["firing"]
    clock.advance(120)
    record(collector, "checkout", ok=10, failed=0)
    assert manager.evaluate() == []  # recovered: the clear timer starts
    clock.advance(100)
    record(collector, "checkout", ok=1, failed=9)  # flaps back: the clear timer restarts
    assert manager.evaluate() == []
    clock.advance(120)
    record(collector, "checkout", ok=10, failed=0)
    assert manager.evaluate() == []
    clock.advance(200)
    record(collector, "checkout", ok=10, failed=0)
    assert manager.evaluate() == []
    assert manager.states()[0].status == "firing"
    clock.advance(120)
    record(collector, "checkout", ok=10, failed=0)
    assert [e.status for e in manager.evaluate()] == ["resolved"]


def test_firing_alert_repeats_only_after_repeat_interval(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """A still-firing alert sends one reminder per ``repeat_interval``."""
    manager = AlertManager(
        collector,
        AlertConfiguration(rules=[error_rule(window="1h")], notifiers=[]),
        repeat_interval=300,
    )
    record(collector, "checkout", ok=1, failed=9)
    assert [e.status for e in manager.evaluate()] == ["firing"]
    clock.advance(299)
    assert manager.evaluate() == []
    clock.advance(1)
    events = manager.evaluate()
    assert [(e.status, e.repeat) for e in events] == [("firing", True)]


def test_wildcard_rule_tracks_each_operation_and_resolves_quiet_ones(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """A ``"*"`` rule has one alert per operation; an operation that goes quiet resolves."""
    manager = AlertManager(
        collector, AlertConfiguration(rules=[error_rule(operation="*")], notifiers=[])
    )
    record(collector, "checkout", ok=1, failed=9)
    record(collector, "search", ok=10, failed=0)
    events = manager.evaluate()
    assert [(e.operation, e.status) for e in events] == [("checkout", "firing")]
    assert {s.operation: s.status for s in manager.states()} == {
        "checkout": "firing",
        "search": "inactive",
    }
    clock.advance(120)  # nothing recorded: checkout has no data left in the window
    events = manager.evaluate()
    assert [(e.operation, e.status, e.value) for e in events] == [("checkout", "resolved", None)]


def test_min_requests_keeps_quiet_operations_from_alerting(
    collector: ResultMetricsCollector,
) -> None:
    """A window with fewer requests than ``min_requests`` is not judged."""
    manager = AlertManager(
        collector, AlertConfiguration(rules=[error_rule(min_requests=20)], notifiers=[])
    )
    record(collector, "checkout", ok=1, failed=9)
    assert manager.evaluate() == []
    assert manager.states()[0].value is None


def test_unknown_operation_is_never_judged(collector: ResultMetricsCollector) -> None:
    """A rule on an operation with no data stays inactive."""
    manager = AlertManager(
        collector, AlertConfiguration(rules=[error_rule(operation="nothing")], notifiers=[])
    )
    assert manager.evaluate() == []
    assert manager.states()[0].status == "inactive"


def test_reconfigure_keeps_unchanged_rules_and_drops_changed_ones(
    collector: ResultMetricsCollector,
) -> None:
    """configure() keeps the state of identical rules and restarts changed or removed ones."""
    keep = error_rule(name="keep")
    change = error_rule(name="change")
    manager = AlertManager(collector, AlertConfiguration(rules=[keep, change], notifiers=[]))
    record(collector, "checkout", ok=1, failed=9)
    manager.evaluate()
    manager.configure(
        AlertConfiguration(rules=[keep, error_rule(name="change", threshold=0.2)], notifiers=[])
    )
    assert [s.rule for s in manager.states()] == ["keep"]
    assert [e.rule for e in manager.evaluate()] == ["change"]
    assert manager.config.rules[1].threshold == 0.2


def test_history_is_bounded_and_newest_first(
    collector: ResultMetricsCollector, clock: FakeClock
) -> None:
    """history() keeps at most ``history_size`` transitions, newest first."""
    manager = AlertManager(
        collector, AlertConfiguration(rules=[error_rule()], notifiers=[]), history_size=3
    )
    for _ in range(4):
        record(collector, "checkout", ok=1, failed=9)
        manager.evaluate()
        clock.advance(120)
        record(collector, "checkout", ok=10, failed=0)
        manager.evaluate()
        clock.advance(120)
    history = manager.history()
    assert len(history) == 3
    assert [e.status for e in history] == ["resolved", "firing", "resolved"]
    assert history[0].at > history[1].at
    assert len(manager.history(limit=1)) == 1


def test_manager_validates_its_arguments() -> None:
    """Intervals must be positive and history at least one entry."""
    with pytest.raises(ValueError, match="interval"):
        AlertManager(interval=0)
    with pytest.raises(ValueError, match="repeat_interval"):
        AlertManager(repeat_interval=float("inf"))
    with pytest.raises(ValueError, match="history_size"):
        AlertManager(history_size=0)


def test_manager_defaults_to_the_process_collector(clock: FakeClock) -> None:
    """Without a collector the manager reads ResultMetricsCollector.instance() at each run."""
    mine = ResultMetricsCollector(clock=clock, sample_resources=False)
    previous = ResultMetricsCollector.set_instance(mine)
    try:
        manager = AlertManager(config=AlertConfiguration(rules=[error_rule()], notifiers=[]))
        assert manager.collector is mine
        record(mine, "checkout", ok=1, failed=9)
        assert [e.status for e in manager.evaluate()] == ["firing"]
        assert manager.evaluate()[0:0] == []
        assert manager.states()[0].last_evaluated_at is not None
    finally:
        ResultMetricsCollector.set_instance(previous)
        mine.close()


def test_broken_source_is_counted_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A collector that raises makes the rule unevaluated and logged, never an exception."""
    source = FakeSource(fail_list=True)
    manager = AlertManager(
        source, AlertConfiguration(rules=[error_rule(operation="*")], notifiers=[])
    )
    with caplog.at_level(logging.ERROR, "rfs_monitoring.alerts"):
        assert manager.evaluate() == []
    source.fail_list = False
    source.fail_metrics = True
    manager.evaluate()
    assert manager.evaluation_errors == 2
    assert "could not be evaluated" in caplog.text


def test_clock_falls_back_to_time_when_the_source_clock_breaks() -> None:
    """A source whose clock raises still gets evaluated, on wall-clock time."""

    def broken() -> float:
        raise RuntimeError("no clock")

    manager = AlertManager(
        FakeSource(clock=broken), AlertConfiguration(rules=[error_rule()], notifiers=[])
    )
    assert manager.evaluate() == []
    evaluated = manager.states()[0].last_evaluated_at
    assert evaluated is not None
    assert abs(evaluated.timestamp() - time.time()) < 3600


# -- notifiers -------------------------------------------------------------------------------------


def test_webhook_receives_firing_and_resolved_json(
    collector: ResultMetricsCollector, clock: FakeClock, receiver: Receiver
) -> None:
    """A real webhook receiver gets one JSON POST on firing and one on resolve."""
    hook = WebhookNotifier(url=receiver.url, headers={"X-Team": "payments"}, backoff_seconds=0)
    manager = AlertManager(
        collector,
        AlertConfiguration(rules=[error_rule(labels={"team": "payments"})], notifiers=[hook]),
    )
    record(collector, "checkout", ok=1, failed=9)
    manager.evaluate()
    clock.advance(120)
    manager.evaluate()
    assert manager.flush(10)
    assert [b["event"]["status"] for b in receiver.bodies] == ["firing", "resolved"]
    first = receiver.bodies[0]
    assert first["source"] == "rfs-monitoring"
    assert first["event"]["labels"] == {"team": "payments"}
    assert first["event"]["value"] == pytest.approx(0.9)
    assert receiver.headers.get("X-Team") == "payments"
    manager.close()


def test_webhook_retries_with_backoff_until_delivered(
    collector: ResultMetricsCollector,
) -> None:
    """A webhook answering 503 twice is retried and delivered on the third attempt."""
    flaky = Receiver(fail_first=2)
    try:
        hook = WebhookNotifier(url=flaky.url, max_retries=3, backoff_seconds=0.01)
        manager = AlertManager(
            collector, AlertConfiguration(rules=[error_rule()], notifiers=[hook])
        )
        record(collector, "checkout", ok=1, failed=9)
        manager.evaluate()
        assert manager.flush(10)
        assert flaky.attempts == 3
        assert len(flaky.bodies) == 1
        assert manager.notification_failures == 0
        manager.close()
    finally:
        flaky.close()


def test_webhook_client_error_is_not_retried() -> None:
    """A 4xx answer other than 429 is final: one attempt, then an error."""
    rejecting = Receiver(fail_first=10, status=400)
    try:
        hook = WebhookNotifier(url=rejecting.url, max_retries=3, backoff_seconds=0)
        event = _event()
        with pytest.raises(httpx.HTTPStatusError):
            hook.notify(event)
        assert rejecting.attempts == 1
    finally:
        rejecting.close()


def test_webhook_gives_up_after_its_retries() -> None:
    """Persistent 5xx answers and refused connections raise after max_retries + 1 attempts."""
    down = Receiver(fail_first=10, status=500)
    try:
        with pytest.raises(httpx.HTTPStatusError):
            WebhookNotifier(url=down.url, max_retries=2, backoff_seconds=0).notify(_event())
        assert down.attempts == 3
    finally:
        down.close()
    closed = Receiver()
    url = closed.url
    closed.close()
    with pytest.raises(httpx.TransportError):
        WebhookNotifier(url=url, max_retries=1, backoff_seconds=0.01).notify(_event())


def test_dead_webhook_never_slows_evaluation_or_other_notifiers(
    collector: ResultMetricsCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """evaluate() returns while a webhook hangs; the callback notifier gets the event meanwhile
    (each notifier has its own thread); the webhook's failure is logged."""
    hanging = Receiver(fail_first=10, status=500)
    release = threading.Event()
    hanging.hold = release
    seen: list[AlertEvent] = []
    hook = WebhookNotifier(url=hanging.url, max_retries=0, timeout_seconds=30)
    manager = AlertManager(
        collector,
        AlertConfiguration(
            rules=[error_rule()], notifiers=[hook, CallbackNotifier(callback=seen.append)]
        ),
    )
    record(collector, "checkout", ok=1, failed=9)
    try:
        with caplog.at_level(logging.ERROR, "rfs_monitoring.alerts"):
            assert [e.status for e in manager.evaluate()] == ["firing"]
            assert manager.flush(0.05) is False  # the webhook is still hanging
            for _ in range(500):  # the callback does not wait for the webhook
                if seen and hanging.attempts:
                    break
                time.sleep(0.01)
            assert [e.status for e in seen] == ["firing"]
            assert hanging.attempts == 1
            release.set()
            assert manager.flush(20)
    finally:
        release.set()
        hanging.close()
    assert [e.status for e in seen] == ["firing"]
    assert manager.notification_failures == 1
    assert "alert notifier webhook failed" in caplog.text
    manager.close()


def test_raising_callback_is_isolated(collector: ResultMetricsCollector) -> None:
    """A callback that raises is counted and does not stop the next notifier."""
    seen: list[AlertEvent] = []

    def boom(event: AlertEvent) -> None:
        raise RuntimeError("boom")

    manager = AlertManager(
        collector,
        AlertConfiguration(
            rules=[error_rule()],
            notifiers=[CallbackNotifier(callback=boom), CallbackNotifier(callback=seen.append)],
        ),
    )
    record(collector, "checkout", ok=1, failed=9)
    manager.evaluate()
    assert manager.flush()
    assert manager.notification_failures == 1
    assert len(seen) == 1
    manager.close()


def test_log_notifier_writes_a_structured_record(
    collector: ResultMetricsCollector, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The log notifier logs firing at its level and resolved at INFO, with the event attached."""
    manager = AlertManager(
        collector,
        AlertConfiguration(rules=[error_rule()], notifiers=[LogNotifier(level="ERROR")]),
    )
    with caplog.at_level(logging.INFO, "rfs_monitoring.alerts"):
        record(collector, "checkout", ok=1, failed=9)
        manager.evaluate()
        clock.advance(120)
        manager.evaluate()
        manager.flush()
    records = [r for r in caplog.records if hasattr(r, "alert")]
    assert [(r.levelname, r.alert["status"]) for r in records] == [
        ("ERROR", "firing"),
        ("INFO", "resolved"),
    ]
    manager.close()


def test_flush_times_out_while_a_notifier_is_busy(collector: ResultMetricsCollector) -> None:
    """flush() returns False when deliveries take longer than the timeout."""
    release = threading.Event()
    manager = AlertManager(
        collector,
        AlertConfiguration(
            rules=[error_rule()], notifiers=[CallbackNotifier(callback=lambda e: release.wait(5))]
        ),
    )
    record(collector, "checkout", ok=1, failed=9)
    manager.evaluate()
    assert manager.flush(0.05) is False
    release.set()
    assert manager.flush(5) is True
    manager.close()


# -- background evaluation ---------------------------------------------------------------------


def test_background_thread_evaluates_and_survives_errors(
    collector: ResultMetricsCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The started manager evaluates on its own; an evaluation that raises does not stop it."""
    fired = threading.Event()
    manager = AlertManager(
        collector,
        AlertConfiguration(
            rules=[error_rule()], notifiers=[CallbackNotifier(callback=lambda e: fired.set())]
        ),
        interval=0.01,
    )
    calls = {"n": 0}
    real = manager.evaluate

    def flaky_evaluate() -> list[AlertEvent]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first evaluation breaks")
        return real()

    monkeypatch.setattr(manager, "evaluate", flaky_evaluate)
    record(collector, "checkout", ok=1, failed=9)
    with manager:
        assert manager.running
        manager.start()  # idempotent
        assert fired.wait(10)
    assert not manager.running
    assert manager.evaluation_errors >= 1


@pytest.mark.asyncio
async def test_async_context_manager_starts_and_stops(collector: ResultMetricsCollector) -> None:
    """``async with`` runs the background evaluation for the block's duration."""
    seen: list[AlertEvent] = []
    manager = AlertManager(
        collector,
        AlertConfiguration(
            rules=[error_rule()], notifiers=[CallbackNotifier(callback=seen.append)]
        ),
        interval=0.01,
    )
    record(collector, "checkout", ok=1, failed=9)
    async with manager:
        for _ in range(500):
            if seen:
                break
            await asyncio.sleep(0.01)
    assert not manager.running
    assert [e.status for e in seen] == ["firing"]


def _event() -> AlertEvent:
    """A firing event built by a manager over a fake source."""
    collector = ResultMetricsCollector(clock=FakeClock(), sample_resources=False)
    record(collector, "checkout", ok=1, failed=9)
    manager = AlertManager(collector, AlertConfiguration(rules=[error_rule()], notifiers=[]))
    event = manager.evaluate()[0]
    collector.close()
    return event


def test_fake_source_success_path_is_exercised() -> None:
    """A source answering Success values with the OperationMetrics fields works too."""

    class Metrics:
        total_requests = 10
        failed_requests = 0
        success_rate = 1.0
        avg_response_time_ms = 1.0
        p50_response_time_ms = 1.0
        p90_response_time_ms = 1.0
        p99_response_time_ms = 1.0
        max_response_time_ms = 1.0
        throughput_rps = 0.0

    class Source(FakeSource):
        def operation_metrics(self, name: str, time_range: str = "1h") -> Result[Any, Any]:
            return Success(Metrics())

    manager = AlertManager(
        Source(),
        AlertConfiguration(
            rules=[error_rule(operation="a", metric="error_rate", op=">=", threshold=0.0)],
            notifiers=[],
        ),
    )
    assert [e.value for e in manager.evaluate()] == [0.0]
