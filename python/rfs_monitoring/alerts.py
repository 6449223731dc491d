"""Threshold alerts on operation metrics: rules, a state machine per alert, and notifiers.

An `AlertRule` compares one metric of one operation (or of every operation, ``"*"``) over a
window with a threshold. `AlertManager` evaluates the rules against a `ResultMetricsCollector`,
on demand with `AlertManager.evaluate` or every ``interval`` seconds on a background thread, and
moves each (rule, operation) pair through the states of Prometheus' alerting model::

    inactive -> pending -> firing -> resolved -> (pending again when it breaches again)

A pair becomes ``pending`` when the rule first breaches, ``firing`` once it has breached for
``for_seconds``, and ``resolved`` once it has stopped breaching for ``keep_firing_for_seconds``.
Notifiers hear exactly one event when an alert fires and one when it resolves, and a reminder
only after ``repeat_interval``. They run on a dispatcher thread, never on the caller's path, so a
dead webhook never slows a request and a notifier that raises never stops the evaluation.

>>> from rfs_monitoring.metrics import ResultMetricsCollector
>>> now = [1_700_000_000.0]
>>> collector = ResultMetricsCollector(clock=lambda: now[0], sample_resources=False)
>>> for i in range(10):
...     collector.record("checkout", 12.0, success=i < 7, error_code="DATABASE_ERROR")
>>> events = []
>>> rule = AlertRule(name="checkout-errors", operation="checkout", metric="error_rate",
...                  op=">", threshold=0.05, window="5m")
>>> config = AlertConfiguration(rules=[rule], notifiers=[CallbackNotifier(callback=events.append)])
>>> manager = AlertManager(collector, config)
>>> [(e.status, e.operation, round(e.value or 0, 2)) for e in manager.evaluate()]
[('firing', 'checkout', 0.3)]
>>> manager.flush()
True
>>> [e.status for e in events]
['firing']
>>> manager.close()
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import operator
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from rfs_monitoring.masking import mask, mask_text
from rfs_monitoring.result import Result

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "AlertConfiguration",
    "AlertEvent",
    "AlertManager",
    "AlertMetric",
    "AlertRule",
    "AlertState",
    "AlertStatus",
    "CallbackNotifier",
    "LogNotifier",
    "Notifier",
    "WebhookNotifier",
]

_log = logging.getLogger("rfs_monitoring.alerts")

AlertMetric = Literal[
    "success_rate", "error_rate", "p50_ms", "p90_ms", "p99_ms", "avg_ms", "max_ms", "rps",
    "error_count",
]  # fmt: skip
"""The metrics a rule can watch: rates are 0..1, latencies milliseconds, ``rps`` requests/s."""

AlertStatus = Literal["inactive", "pending", "firing", "resolved"]
"""Where an alert is in its life cycle."""

_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_NAME_PATTERN = r"^[A-Za-z0-9_.:\-*/ ]+$"


class _Metrics(Protocol):
    """The part of `OperationMetrics` a rule reads."""

    total_requests: int
    failed_requests: int
    success_rate: float
    avg_response_time_ms: float
    p50_response_time_ms: float
    p90_response_time_ms: float
    p99_response_time_ms: float
    max_response_time_ms: float
    throughput_rps: float


class MetricsSource(Protocol):
    """What the alert manager needs from a collector (`ResultMetricsCollector` has it)."""

    @property
    def clock(self) -> Callable[[], float]: ...

    def list_operations(self, time_range: str = ...) -> list[str]: ...

    def operation_metrics(self, name: str, time_range: str = ...) -> Result[Any, Any]: ...


def _metric_value(metrics: _Metrics, metric: AlertMetric) -> float:
    """The value of ``metric`` in an `OperationMetrics`."""
    match metric:
        case "success_rate":
            return float(metrics.success_rate)
        case "error_rate":
            total = metrics.total_requests
            return metrics.failed_requests / total if total else 0.0
        case "p50_ms":
            return float(metrics.p50_response_time_ms)
        case "p90_ms":
            return float(metrics.p90_response_time_ms)
        case "p99_ms":
            return float(metrics.p99_response_time_ms)
        case "avg_ms":
            return float(metrics.avg_response_time_ms)
        case "max_ms":
            return float(metrics.max_response_time_ms)
        case "rps":
            return float(metrics.throughput_rps)
        case "error_count":
            return float(metrics.failed_requests)


class AlertRule(BaseModel):
    """A threshold on one metric of one operation, or of each operation with ``"*"``.

    >>> AlertRule(name="slow", operation="*", metric="p99_ms", op=">", threshold=250,
    ...           window="5m", for_seconds=60).describe("search", 310.0)
    'slow: search p99_ms = 310 > 250 over 5m'
    >>> AlertRule(name="bad", metric="p99_ms", op="!=", threshold=1)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for AlertRule
    op
    ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=_NAME_PATTERN)
    """Identifies the rule; unique within a configuration."""
    operation: str = Field(default="*", min_length=1, max_length=200)
    """An operation name, or ``"*"`` for every operation with data in the window."""
    metric: AlertMetric
    op: Literal[">", ">=", "<", "<="]
    threshold: float = Field(allow_inf_nan=False)
    window: str = "5m"
    """The time range the metric is computed over, such as ``"5m"`` (``<n>s|m|h|d|w``)."""
    for_seconds: float = Field(default=0.0, ge=0, le=7 * 86400, allow_inf_nan=False)
    """How long the rule must keep breaching before the alert fires (0: at once)."""
    keep_firing_for_seconds: float = Field(default=0.0, ge=0, le=7 * 86400, allow_inf_nan=False)
    """How long a firing alert stays firing after the breach clears, against flapping."""
    min_requests: int = Field(default=1, ge=0)
    """Requests the window must hold before the rule is judged (quiet operations never alert)."""
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    """Free-form labels copied into every event (team, runbook URL, ...)."""

    @field_validator("window")
    @classmethod
    def _window_is_a_time_range(cls, value: str) -> str:
        from rfs_monitoring.metrics import parse_time_range

        parsed = parse_time_range(value)
        if parsed.is_failure():
            raise ValueError(getattr(parsed.unwrap_error(), "message", "invalid time range"))
        return value

    def breaches(self, value: float) -> bool:
        """Whether ``value`` crosses the threshold.

        >>> AlertRule(name="r", metric="success_rate", op="<", threshold=0.99).breaches(0.95)
        True
        """
        return _COMPARATORS[self.op](value, self.threshold)

    def describe(self, operation: str, value: float | None) -> str:
        """One line saying what the rule saw."""
        shown = "no data" if value is None else f"{value:.6g}"
        return (
            f"{self.name}: {operation} {self.metric} = {shown} {self.op} "
            f"{self.threshold:.6g} over {self.window}"
        )


class AlertEvent(BaseModel):
    """One transition of one alert: what notifiers receive and the history keeps."""

    model_config = ConfigDict(frozen=True)

    rule: str
    operation: str
    status: AlertStatus
    """The state entered: ``pending``, ``firing``, ``resolved``, or ``inactive`` when a pending
    breach cleared."""
    previous_status: AlertStatus
    severity: Literal["info", "warning", "critical"]
    metric: AlertMetric
    op: Literal[">", ">=", "<", "<="]
    threshold: float
    window: str
    value: float | None
    """The metric's value at this evaluation (``None`` when the window had no data)."""
    at: datetime
    active_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    repeat: bool = False
    """True for a reminder about an alert that is still firing after ``repeat_interval``."""
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str


class AlertState(BaseModel):
    """The current state of one (rule, operation) pair."""

    rule: str
    operation: str
    status: AlertStatus
    severity: Literal["info", "warning", "critical"]
    metric: AlertMetric
    op: Literal[">", ">=", "<", "<="]
    threshold: float
    window: str
    value: float | None
    active_since: datetime | None
    """When the current breach started (pending or firing), else ``None``."""
    fired_at: datetime | None
    resolved_at: datetime | None
    last_evaluated_at: datetime | None
    labels: dict[str, str]
    summary: str


class LogNotifier(BaseModel):
    """Writes each event as a structured log record on the ``rfs_monitoring.alerts`` logger."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["log"] = "log"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    """Level of firing events; resolved events are logged at INFO."""

    def notify(self, event: AlertEvent) -> None:
        """Log the event with its fields as ``extra`` (structlog and JSON formatters keep them)."""
        level = logging.INFO if event.status == "resolved" else logging.getLevelName(self.level)
        _log.log(level, event.summary, extra={"alert": event.model_dump(mode="json")})


class WebhookNotifier(BaseModel):
    """POSTs each event as JSON to ``url``, with a timeout and retries with exponential backoff.

    Retried on connection errors, timeouts, 429 and 5xx answers; other 4xx answers are final.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://", max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    """Delay before the first retry; it doubles on each further retry."""

    def notify(self, event: AlertEvent, *, stop: threading.Event | None = None) -> None:
        """Deliver the event; raises `httpx.HTTPError` once every attempt has failed.

        ``stop`` cuts the backoff short when the manager is shutting down.
        """
        payload = {"source": "rfs-monitoring", "event": event.model_dump(mode="json")}
        delay = self.backoff_seconds
        with httpx.Client(timeout=self.timeout_seconds, headers=self.headers) as client:
            for attempt in range(self.max_retries + 1):
                try:
                    response = client.post(self.url, json=payload)
                    if response.status_code != 429 and response.status_code < 500:
                        response.raise_for_status()
                        return
                    response.raise_for_status()
                except httpx.HTTPStatusError as exc:
                    status = exc.response.status_code
                    if (status != 429 and status < 500) or attempt == self.max_retries:
                        raise
                except httpx.TransportError:
                    if attempt == self.max_retries:
                        raise
                if stop is not None and stop.wait(delay):
                    raise httpx.TransportError("alert manager stopped before delivery")
                if stop is None:
                    time.sleep(delay)
                delay *= 2


class CallbackNotifier(BaseModel):
    """Calls a Python function with each `AlertEvent` (configured in code, not over HTTP)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    type: Literal["callback"] = "callback"
    callback: SkipJsonSchema[Callable[[AlertEvent], object]] = Field(exclude=True)

    def notify(self, event: AlertEvent) -> None:
        """Call the function."""
        self.callback(event)


Notifier = Annotated[
    LogNotifier | WebhookNotifier | SkipJsonSchema[CallbackNotifier], Field(discriminator="type")
]
"""Any notifier; the JSON body of ``POST /alerts/configure`` accepts ``log`` and ``webhook``."""


def _default_notifiers() -> list[LogNotifier | WebhookNotifier | CallbackNotifier]:
    return [LogNotifier()]


class AlertConfiguration(BaseModel):
    """The rules and the notifiers their events go to.

    >>> AlertConfiguration.model_validate({
    ...     "rules": [{"name": "r", "metric": "p99_ms", "op": ">", "threshold": 100}],
    ...     "notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    ... }).notifiers[0].timeout_seconds
    5.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[AlertRule] = Field(default_factory=list, max_length=1000)
    notifiers: list[Notifier] = Field(default_factory=_default_notifiers, max_length=50)

    @model_validator(mode="after")
    def _rule_names_are_unique(self) -> Self:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"duplicate rule name {rule.name!r}")
            seen.add(rule.name)
        return self


def _masked_labels(labels: dict[str, str]) -> dict[str, str]:
    """A rule's labels as every output shows them (states, events, webhook bodies): masked."""
    masked = mask(labels)
    return {str(k): str(v) for k, v in masked.items()}


def _utc(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class _Instance:
    """Mutable state of one (rule, operation) pair; guarded by the manager's lock."""

    __slots__ = (
        "active_since",
        "clear_since",
        "fired_at",
        "last_evaluated",
        "last_notified",
        "operation",
        "resolved_at",
        "rule",
        "status",
        "value",
    )

    def __init__(self, rule: AlertRule, operation: str) -> None:
        self.rule = rule
        self.operation = operation
        self.status: AlertStatus = "inactive"
        self.value: float | None = None
        self.active_since: float | None = None
        self.fired_at: float | None = None
        self.resolved_at: float | None = None
        self.clear_since: float | None = None
        self.last_notified: float | None = None
        self.last_evaluated: float | None = None

    def state(self) -> AlertState:
        return AlertState(
            rule=self.rule.name,
            operation=self.operation,
            status=self.status,
            severity=self.rule.severity,
            metric=self.rule.metric,
            op=self.rule.op,
            threshold=self.rule.threshold,
            window=self.rule.window,
            value=self.value,
            active_since=_utc(self.active_since),
            fired_at=_utc(self.fired_at),
            resolved_at=_utc(self.resolved_at),
            last_evaluated_at=_utc(self.last_evaluated),
            labels=_masked_labels(self.rule.labels),
            summary=self.rule.describe(self.operation, self.value),
        )

    def event(self, previous: AlertStatus, now: float, *, repeat: bool = False) -> AlertEvent:
        return AlertEvent(
            rule=self.rule.name,
            operation=self.operation,
            status=self.status,
            previous_status=previous,
            severity=self.rule.severity,
            metric=self.rule.metric,
            op=self.rule.op,
            threshold=self.rule.threshold,
            window=self.rule.window,
            value=self.value,
            at=datetime.fromtimestamp(now, UTC),
            active_since=_utc(self.active_since),
            fired_at=_utc(self.fired_at),
            resolved_at=_utc(self.resolved_at),
            repeat=repeat,
            labels=_masked_labels(self.rule.labels),
            summary=self.rule.describe(self.operation, self.value),
        )

    def step(self, value: float | None, now: float, repeat_interval: float) -> list[AlertEvent]:
        """Advance the state machine with this evaluation's value; return the transitions."""
        rule = self.rule
        self.value = value
        self.last_evaluated = now
        breach = value is not None and rule.breaches(value)
        previous = self.status
        if self.status in ("inactive", "resolved"):
            if not breach:
                return []
            self.active_since = now
            self.fired_at = None
            self.resolved_at = None
            self.clear_since = None
            if rule.for_seconds <= 0:
                return [self._fire(now)]
            self.status = "pending"
            return [self.event(previous, now)]
        if self.status == "pending":
            if not breach:
                self.status = "inactive"
                self.active_since = None
                return [self.event(previous, now)]
            if self.active_since is not None and now - self.active_since >= rule.for_seconds:
                return [self._fire(now)]
            return []
        # firing
        if breach:
            self.clear_since = None
            if self.last_notified is not None and now - self.last_notified >= repeat_interval:
                self.last_notified = now
                return [self.event("firing", now, repeat=True)]
            return []
        if self.clear_since is None:
            self.clear_since = now
        if now - self.clear_since < rule.keep_firing_for_seconds:
            return []
        self.status = "resolved"
        self.resolved_at = now
        self.active_since = None
        self.clear_since = None
        self.last_notified = now
        return [self.event("firing", now)]

    def _fire(self, now: float) -> AlertEvent:
        previous = self.status
        self.status = "firing"
        self.fired_at = now
        self.last_notified = now
        return self.event(previous, now)


class _Dispatcher:
    """Delivers events to notifiers on one daemon thread, in order, isolating every failure."""

    def __init__(self, capacity: int) -> None:
        self._queue: queue.Queue[tuple[AlertEvent, tuple[Any, ...]] | None] = queue.Queue(capacity)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self.failures = 0

    def submit(self, event: AlertEvent, notifiers: Sequence[Any]) -> None:
        if not notifiers:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="rfs-alert-notifier", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait((event, tuple(notifiers)))
        except queue.Full:
            self.dropped += 1
            _log.error("alert notification queue full; dropped %s", event.summary)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                event, notifiers = item
                for notifier in notifiers:
                    self._deliver(notifier, event)
            finally:
                self._queue.task_done()

    def _deliver(self, notifier: Any, event: AlertEvent) -> None:
        try:
            if isinstance(notifier, WebhookNotifier):
                notifier.notify(event, stop=self._stop)
            else:
                notifier.notify(event)
        except Exception as exc:  # a notifier must never stop the others or the loop
            self.failures += 1
            _log.error(
                "alert notifier %s failed for %s: %s",
                getattr(notifier, "type", type(notifier).__name__),
                event.summary,
                mask_text(f"{type(exc).__name__}: {exc}"),  # httpx errors quote the URL
            )

    def flush(self, timeout: float | None) -> bool:
        """Wait until every queued event has been delivered (or ``timeout`` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def after_fork_in_child(self) -> None:
        """Forget the parent's thread, queue and locks (only the forking thread exists in the
        child); the parent delivers the events it had queued."""
        self._queue = queue.Queue(self._queue.maxsize)
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def close(self, timeout: float) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._queue.put(None)
        thread.join(timeout)


class AlertManager:
    """Evaluates alert rules against a collector and notifies on transitions.

    ``collector`` defaults to `ResultMetricsCollector.instance()` (looked up at each evaluation),
    ``clock`` to the collector's clock. ``interval`` is the background evaluation period,
    ``repeat_interval`` how long a firing alert waits before a reminder, ``history_size`` how many
    transitions `history` keeps.

    Use it as a context manager (``with`` or ``async with``) or call `start` and `stop` to run
    the background evaluation; `evaluate` works in either case.

    The background evaluation runs in the process that started it: a forked child (a gunicorn
    worker, a multiprocessing worker) keeps the rules, states and history but evaluates only on
    demand until it calls `start` itself.
    """

    def __init__(
        self,
        collector: MetricsSource | None = None,
        config: AlertConfiguration | None = None,
        *,
        clock: Callable[[], float] | None = None,
        interval: float = 15.0,
        repeat_interval: float = 3600.0,
        history_size: int = 1000,
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if not (math.isfinite(repeat_interval) and repeat_interval > 0):
            raise ValueError(f"repeat_interval must be positive, got {repeat_interval!r}")
        if history_size < 1:
            raise ValueError(f"history_size must be at least 1, got {history_size!r}")
        self._collector = collector
        self._clock = clock
        self.interval = interval
        self.repeat_interval = repeat_interval
        self._config = config if config is not None else AlertConfiguration()
        self._instances: dict[tuple[str, str], _Instance] = {}
        self._history: collections.deque[AlertEvent] = collections.deque(maxlen=history_size)
        self._lock = threading.RLock()
        self._dispatcher = _Dispatcher(capacity=10_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.evaluation_errors = 0
        _live_managers.add(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self._dispatcher.after_fork_in_child()

    # -- configuration -------------------------------------------------------------------------

    @property
    def config(self) -> AlertConfiguration:
        """The configuration in force."""
        return self._config

    @property
    def collector(self) -> MetricsSource:
        """The collector the rules read (the process-wide one unless one was given)."""
        if self._collector is not None:
            return self._collector
        from rfs_monitoring.metrics import ResultMetricsCollector

        return ResultMetricsCollector.instance()

    def configure(self, config: AlertConfiguration) -> None:
        """Replace the rules and notifiers.

        Alerts of rules that keep their exact definition keep their state; the others start over
        (an alert of a removed rule disappears without a resolve notification).
        """
        with self._lock:
            kept = {rule.name: rule for rule in config.rules}
            self._instances = {
                key: inst for key, inst in self._instances.items() if kept.get(key[0]) == inst.rule
            }
            self._config = config

    # -- evaluation ----------------------------------------------------------------------------

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        try:
            return self.collector.clock()
        except Exception:
            return time.time()

    def evaluate(self) -> list[AlertEvent]:
        """Evaluate every rule now; return the transitions and queue their notifications.

        Notifications go to the dispatcher thread: this call never waits for a notifier.
        """
        source = self.collector
        with self._lock:
            now = self._now()
            config = self._config
            events: list[AlertEvent] = []
            for rule in config.rules:
                events.extend(self._evaluate_rule(source, rule, now))
            self._history.extend(events)
        for event in events:
            if event.status in ("firing", "resolved"):
                self._dispatcher.submit(event, config.notifiers)
        return events

    def _evaluate_rule(
        self, source: MetricsSource, rule: AlertRule, now: float
    ) -> list[AlertEvent]:
        try:
            if rule.operation == "*":
                operations: Iterable[str] = source.list_operations(rule.window)
            else:
                operations = (rule.operation,)
            # Alerts already active for operations that went quiet must still resolve.
            names = list(dict.fromkeys([
                *operations,
                *(op for (name, op), inst in self._instances.items()
                  if name == rule.name and inst.status in ("pending", "firing")),
            ]))  # fmt: skip
        except Exception as exc:
            self._evaluation_failed(rule, exc)
            return []
        events: list[AlertEvent] = []
        for name in names:
            try:
                value = self._value(source, rule, name)
            except Exception as exc:
                self._evaluation_failed(rule, exc)
                continue
            key = (rule.name, name)
            inst = self._instances.get(key)
            if inst is None:
                inst = self._instances[key] = _Instance(rule, name)
            events.extend(inst.step(value, now, self.repeat_interval))
        return events

    def _evaluation_failed(self, rule: AlertRule, exc: Exception) -> None:
        self.evaluation_errors += 1
        _log.error(
            "alert rule %s could not be evaluated: %s: %s", rule.name, type(exc).__name__, exc
        )

    @staticmethod
    def _value(source: MetricsSource, rule: AlertRule, operation: str) -> float | None:
        result = source.operation_metrics(operation, rule.window)
        if result.is_failure():
            return None  # no data in the window: nothing to judge
        metrics = result.unwrap()
        if metrics.total_requests < rule.min_requests or metrics.total_requests == 0:
            return None
        return _metric_value(metrics, rule.metric)

    # -- reading -------------------------------------------------------------------------------

    def states(self) -> list[AlertState]:
        """Every alert evaluated so far, firing first, then pending, then by rule and operation."""
        order = {"firing": 0, "pending": 1, "resolved": 2, "inactive": 3}
        with self._lock:
            states = [inst.state() for inst in self._instances.values()]
        return sorted(states, key=lambda s: (order[s.status], s.rule, s.operation))

    def firing(self) -> list[AlertState]:
        """The alerts firing now."""
        return [state for state in self.states() if state.status == "firing"]

    def history(self, limit: int | None = None) -> list[AlertEvent]:
        """Recent transitions, newest first (at most ``history_size``)."""
        with self._lock:
            events = list(reversed(self._history))
        return events if limit is None else events[:limit]

    @property
    def notification_failures(self) -> int:
        """How many notifier calls failed (after their retries)."""
        return self._dispatcher.failures

    # -- background evaluation -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the background evaluation thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start evaluating every ``interval`` seconds on a daemon thread (idempotent)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="rfs-alert-manager", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluate()
            except Exception as exc:  # the loop outlives any bad evaluation
                self.evaluation_errors += 1
                _log.error("alert evaluation failed: %s: %s", type(exc).__name__, exc)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background evaluation and wait up to ``timeout`` for queued notifications."""
        thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join(timeout)
        self._thread = None
        self._dispatcher.flush(timeout)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until queued notifications are delivered; False if ``timeout`` passed first."""
        return self._dispatcher.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop everything, including the notifier thread."""
        self.stop(timeout)
        self._dispatcher.close(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)


# Every AlertManager alive, so a forked child gets fresh locks in each: a lock another parent
# thread held at the fork (the evaluation thread, a request reading `/alerts`) would otherwise
# stay held in the child forever.
_live_managers: weakref.WeakSet[AlertManager] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for manager in list(_live_managers):
        manager._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork_in_child)
