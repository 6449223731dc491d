"""Threshold alerts on operation metrics: rules, a state machine per alert, and notifiers.

An `AlertRule` compares one metric of one operation (or of every operation, ``"*"``) over a
window with a threshold. `AlertManager` evaluates the rules against a `ResultMetricsCollector`,
on demand with `AlertManager.evaluate` or every ``interval`` seconds on a background thread, and
moves each (rule, operation) pair through the states of Prometheus' alerting model::

    inactive -> pending -> firing -> resolved -> (pending again when it breaches again)

A pair becomes ``pending`` when the rule first breaches, ``firing`` once it has breached for
``for_seconds``, and ``resolved`` once it has stopped breaching for ``keep_firing_for_seconds``.
Notifiers hear exactly one event when an alert fires and one when it resolves, and a reminder
only after ``repeat_interval``. Each notifier runs on its own thread with its own bounded queue,
never on the caller's path, so a dead webhook never slows a request nor another notifier, and a
notifier that raises never stops the evaluation.

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
import json
import logging
import math
import operator
import queue
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from rfs_monitoring._fork import on_fork
from rfs_monitoring._headline import LONG_NAME, RANK
from rfs_monitoring.exceptions import InvalidArgumentError
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
    "AlertmanagerNotifier",
    "CallbackNotifier",
    "LogNotifier",
    "Notifier",
    "WebhookNotifier",
    "prometheus_rules",
    "rule_expression",
]

_log = logging.getLogger("rfs_monitoring.alerts")
_MAX_TIME = 253_402_300_799.0  # the metrics core's latest time: 9999-12-31T23:59:59Z
_T = TypeVar("_T")

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
_MAX_WINDOW_SECONDS = 90 * 86_400  # the metrics core's longest retention


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
        case "rps":
            return float(metrics.throughput_rps)
        case "error_count":
            return float(metrics.failed_requests)
        case _:  # a headline latency, read under its long name
            return float(getattr(metrics, LONG_NAME[metric]))


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
    threshold: float = Field(allow_inf_nan=False, strict=True)
    window: str = Field(default="5m", max_length=9)
    """The time range the metric is computed over, such as ``"5m"`` (``<n>s|m|h|d|w``)."""
    for_seconds: float = Field(default=0.0, ge=0, le=7 * 86400, allow_inf_nan=False, strict=True)
    """How long the rule must keep breaching before the alert fires (0: at once)."""
    keep_firing_for_seconds: float = Field(
        default=0.0, ge=0, le=7 * 86400, allow_inf_nan=False, strict=True
    )
    """How long a firing alert stays firing after the breach clears, against flapping."""
    min_requests: int = Field(default=1, ge=0, le=1_000_000_000, strict=True)
    """Requests the window must hold before the rule is judged (quiet operations never alert)."""
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    """Free-form labels copied into every event (team, runbook URL, ...)."""

    @field_validator("window")
    @classmethod
    def _window_is_a_time_range(cls, value: str) -> str:
        from rfs_monitoring.metrics import parse_time_range

        # No window longer than the longest retention a collector can have (90 days); the
        # monitoring route also checks it against its collector's own retention.
        parsed = parse_time_range(value, max_seconds=_MAX_WINDOW_SECONDS)
        if parsed.is_failure():
            raise InvalidArgumentError(
                getattr(parsed.unwrap_error(), "message", "invalid time range")
            )
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
    ``timeout_seconds`` bounds each network operation (connect, each read, each write);
    ``deadline_seconds`` bounds the whole delivery, retries and backoff included, so a server
    that answers one byte at a time cannot hold the notifier for longer.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://", max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120, strict=True)
    deadline_seconds: float = Field(default=30.0, gt=0, le=600, strict=True)
    """The most one delivery may take, every attempt and backoff included."""
    max_retries: int = Field(default=3, ge=0, le=10, strict=True)
    backoff_seconds: float = Field(default=0.5, ge=0, le=60, strict=True)
    """Delay before the first retry; it doubles on each further retry."""

    def notify(self, event: AlertEvent, *, stop: threading.Event | None = None) -> None:
        """Deliver the event; raises `httpx.HTTPError` once every attempt has failed or the
        deadline has passed (`httpx.TimeoutException`).

        ``stop`` cuts an attempt or the backoff short when the manager is shutting down.
        """
        delivery = self._deliver(self._payload(event), stop)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(delivery)
            return
        # Called from a coroutine: run the delivery on its own loop in a helper thread.
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(delivery)
            except BaseException as exc:  # handed back to the caller below
                errors.append(exc)

        helper = threading.Thread(target=run, name="rfs-alert-webhook", daemon=True)
        helper.start()
        helper.join()
        if errors:
            raise errors[0]

    def _payload(self, event: AlertEvent) -> Any:
        """The JSON body posted for ``event``."""
        return {"source": "rfs-monitoring", "event": event.model_dump(mode="json")}

    def _endpoint(self) -> str:
        """Where the body is posted."""
        return self.url

    async def _deliver(self, payload: Any, stop: threading.Event | None) -> None:
        deadline = time.monotonic() + self.deadline_seconds
        delay = self.backoff_seconds
        async with httpx.AsyncClient(timeout=self.timeout_seconds, headers=self.headers) as client:
            for attempt in range(self.max_retries + 1):
                try:
                    response = await self._bounded(
                        client.post(self._endpoint(), json=payload), deadline, stop
                    )
                    if response.status_code != 429 and response.status_code < 500:
                        response.raise_for_status()
                        return
                    response.raise_for_status()
                except httpx.HTTPStatusError as exc:
                    status = exc.response.status_code
                    if (status != 429 and status < 500) or attempt == self.max_retries:
                        raise
                except httpx.TransportError:
                    if attempt == self.max_retries or time.monotonic() >= deadline:
                        raise
                    if stop is not None and stop.is_set():
                        raise
                await self._bounded(asyncio.sleep(delay), deadline, stop)
                delay *= 2

    async def _bounded(
        self, work: Awaitable[_T], deadline: float, stop: threading.Event | None
    ) -> _T:
        """``work`` cancelled at ``deadline`` (`httpx.TimeoutException`) or when ``stop`` is set
        (`httpx.TransportError`): httpx's own timeouts bound each read, not the whole answer."""
        task = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(_until_set(stop))
        try:
            remaining = max(0.0, deadline - time.monotonic())
            done, _ = await asyncio.wait(
                {task, watcher}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                return task.result()
        finally:
            for pending in (task, watcher):
                pending.cancel()
            await asyncio.gather(task, watcher, return_exceptions=True)
        if stop is not None and stop.is_set():
            raise httpx.TransportError("alert manager stopped before delivery")
        raise httpx.TimeoutException(f"no delivery within the {self.deadline_seconds:g} s deadline")


async def _until_set(stop: threading.Event | None) -> None:
    """Returns once ``stop`` is set (never without one)."""
    # A threading.Event cannot be awaited; polling it keeps the delivery on one thread.
    while stop is None or not stop.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.02)


_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


def _label_name(key: str) -> str:
    """A Prometheus/Alertmanager label name: ``[A-Za-z_][A-Za-z0-9_]*``."""
    name = _LABEL_NAME.sub("_", key) or "_"
    return name if not name[0].isdigit() else f"_{name}"


class AlertmanagerNotifier(WebhookNotifier):
    """Sends firing and resolved alerts to Prometheus Alertmanager's v2 API
    (``POST {url}/api/v2/alerts``), so Alertmanager groups, silences, inhibits and routes them
    (Slack, PagerDuty, e-mail) like the rest of a team's alerts.

    Each alert carries the labels ``alertname`` (the rule), ``operation``, ``severity`` and the
    rule's own labels, and the annotations ``summary``, ``value``, ``threshold`` and, with
    ``dashboard_url``, ``dashboard`` (a link to the operation on the dashboard, also sent as
    ``generatorURL``). A firing alert's ``endsAt`` lies ``expires_after_seconds`` ahead (keep it
    above the manager's ``repeat_interval``, whose reminders renew it), so an alert whose
    resolve was lost still expires; a resolved alert is sent with ``endsAt`` at its resolve time.
    Delivery has the webhook's timeout, deadline and retries.

    >>> notifier = AlertmanagerNotifier(url="http://127.0.0.1:9093")
    >>> notifier.type, notifier._endpoint()
    ('alertmanager', 'http://127.0.0.1:9093/api/v2/alerts')
    """

    type: Literal["alertmanager"] = "alertmanager"  # type: ignore[assignment]
    dashboard_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    """The dashboard page (``.../monitoring/dashboard``), linked from each alert."""
    expires_after_seconds: float = Field(
        default=3 * 3600.0, gt=0, le=30 * 86400, allow_inf_nan=False, strict=True
    )
    """How long a firing alert stays active in Alertmanager without a renewal."""

    def _endpoint(self) -> str:
        return f"{self.url.rstrip('/')}/api/v2/alerts"

    def _payload(self, event: AlertEvent) -> Any:
        labels = {_label_name(k): v for k, v in event.labels.items() if v}
        labels.update(alertname=event.rule, operation=event.operation, severity=event.severity)
        annotations = {
            "summary": event.summary,
            "value": "no data" if event.value is None else f"{event.value:.6g}",
            "threshold": f"{event.op} {event.threshold:.6g} ({event.metric} over {event.window})",
        }
        alert: dict[str, Any] = {"labels": labels, "annotations": annotations}
        if self.dashboard_url is not None:
            link = f"{self.dashboard_url}#op={quote(event.operation)}&range={event.window}"
            annotations["dashboard"] = link
            alert["generatorURL"] = link
        started = event.active_since or event.fired_at or event.at
        alert["startsAt"] = started.isoformat()
        if event.status == "resolved":
            ended = event.resolved_at or event.at
        else:
            ended = event.at + timedelta(seconds=self.expires_after_seconds)
        alert["endsAt"] = ended.isoformat()
        return [alert]


class CallbackNotifier(BaseModel):
    """Calls a Python function with each `AlertEvent` (configured in code, not over HTTP)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    type: Literal["callback"] = "callback"
    callback: SkipJsonSchema[Callable[[AlertEvent], object]] = Field(exclude=True)

    def notify(self, event: AlertEvent) -> None:
        """Call the function."""
        self.callback(event)


Notifier = Annotated[
    LogNotifier | WebhookNotifier | AlertmanagerNotifier | SkipJsonSchema[CallbackNotifier],
    Field(discriminator="type"),
]
"""Any notifier; the JSON body of ``POST /alerts/configure`` accepts ``log``, ``webhook`` and
``alertmanager``."""


def _default_notifiers() -> list[
    LogNotifier | WebhookNotifier | AlertmanagerNotifier | CallbackNotifier
]:
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
                raise InvalidArgumentError(f"duplicate rule name {rule.name!r}")
            seen.add(rule.name)
        return self


def _masked_labels(labels: dict[str, str]) -> dict[str, str]:
    """A rule's labels as every output shows them (states, events, webhook bodies): masked."""
    masked = mask(labels)
    return {str(k): str(v) for k, v in masked.items()}


def _promql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _duration(seconds: float) -> str:
    """A Prometheus duration: ``90s``, ``1500ms``."""
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{round(seconds * 1000)}ms"


def rule_expression(rule: AlertRule, selector: str = "") -> str:
    """The PromQL of ``rule`` over the series rfs-monitoring exports (``/metrics``): the same
    metric, window, comparison and ``min_requests`` as `AlertManager` evaluates, per operation.

    ``selector`` adds label matchers, such as ``'job="checkout-api"'``. Latencies come from the
    classic histogram buckets (``max_ms`` is their upper bound, an estimate).

    >>> rule_expression(AlertRule(name="r", operation="search", metric="rps", op="<",
    ...                           threshold=1, window="5m", min_requests=0))
    '(sum by (operation) (rate(rfs_operations_total{operation="search"}[5m]))) < 1.0'
    """
    matchers = [selector] if selector else []
    if rule.operation != "*":
        matchers.append(f'operation="{_promql_string(rule.operation)}"')

    def series(name: str, *extra: str) -> str:
        return f"{name}{{{','.join([*matchers, *extra])}}}[{rule.window}]"

    def per_operation(function: str, name: str, *extra: str) -> str:
        return f"sum by (operation) ({function}({series(name, *extra)}))"

    total = per_operation("rate", "rfs_operations_total")
    match rule.metric:
        case "success_rate" | "error_rate":
            outcome = 'outcome="success"' if rule.metric == "success_rate" else 'outcome="error"'
            expr = f"{per_operation('rate', 'rfs_operations_total', outcome)} / {total}"
        case "avg_ms":
            expr = (
                f"{per_operation('rate', 'rfs_operation_duration_seconds_sum')} / "
                f"{per_operation('rate', 'rfs_operation_duration_seconds_count')} * 1000"
            )
        case "rps":
            expr = total
        case "error_count":
            expr = per_operation("increase", "rfs_operations_total", 'outcome="error"')
        case _:  # a quantile of the headline table (max_ms is its rank 1)
            rates = f"rate({series('rfs_operation_duration_seconds_bucket')})"
            buckets = f"sum by (operation, le) ({rates})"
            expr = f"histogram_quantile({RANK[rule.metric]:g}, {buckets}) * 1000"
    condition = f"({expr}) {rule.op} {rule.threshold!r}"
    if rule.min_requests > 0:
        requests = per_operation("increase", "rfs_operations_total")
        condition += f" and on (operation) ({requests} >= {rule.min_requests})"
    return condition


def prometheus_rules(
    config: AlertConfiguration, *, group: str = "rfs-monitoring", selector: str = ""
) -> str:
    """``config``'s rules as a Prometheus rule file (YAML), so the same alerts can run
    fleet-wide in Prometheus over every instance's ``/metrics``: each rule's PromQL
    (`rule_expression`), ``for``, ``keep_firing_for``, the labels ``severity`` and the rule's
    own, and a ``summary`` annotation. ``promtool check rules`` accepts the file.

    >>> print(prometheus_rules(AlertConfiguration(rules=[AlertRule(
    ...     name="slow search", operation="search", metric="p99_ms", op=">", threshold=250,
    ...     window="5m", for_seconds=60)])).splitlines()[3])
          - alert: "slow search"
    """
    lines = ["groups:", f"  - name: {json.dumps(group)}", "    rules:"]
    for rule in config.rules:
        lines.append(f"      - alert: {json.dumps(rule.name)}")
        lines.append(f"        expr: {json.dumps(rule_expression(rule, selector))}")
        if rule.for_seconds:
            lines.append(f"        for: {_duration(rule.for_seconds)}")
        if rule.keep_firing_for_seconds:
            lines.append(f"        keep_firing_for: {_duration(rule.keep_firing_for_seconds)}")
        lines.append("        labels:")
        labels = {_label_name(k): v for k, v in rule.labels.items()}
        labels["severity"] = rule.severity
        lines.extend(f"          {name}: {json.dumps(value)}" for name, value in labels.items())
        summary = (
            f"{rule.name}: {{{{ $labels.operation }}}} {rule.metric} = {{{{ $value }}}} "
            f"{rule.op} {rule.threshold:.6g} over {rule.window}"
        )
        lines.append("        annotations:")
        lines.append(f"          summary: {json.dumps(summary)}")
    if not config.rules:
        lines[-1] = "    rules: []"
    return "\n".join(lines) + "\n"


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

    def shift(self, seconds: float) -> None:
        """Move every remembered time by ``seconds`` (the clock was stepped)."""
        for slot in ("active_since", "fired_at", "resolved_at", "clear_since", "last_notified",
                     "last_evaluated"):  # fmt: skip
            value = getattr(self, slot)
            if value is not None:
                setattr(self, slot, value + seconds)

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


class _Worker:
    """One notifier's bounded queue and daemon thread: a slow notifier delays only itself."""

    def __init__(self, notifier: Any, capacity: int, owner: _Dispatcher) -> None:
        self.notifier = notifier
        self.queue: queue.Queue[AlertEvent | None] = queue.Queue(capacity)
        self.owner = owner
        self.thread = threading.Thread(
            target=self._run,
            name=f"rfs-alert-notifier-{getattr(notifier, 'type', 'custom')}",
            daemon=True,
        )
        self.thread.start()

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            try:
                if event is None:
                    return
                if not self.owner.stopping.is_set():
                    self.owner.deliver(self.notifier, event)
            finally:
                self.queue.task_done()

    def retire(self) -> None:
        """Exit once the queued events are delivered (the sentinel waits its turn)."""
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except queue.Full:  # make room: the oldest undelivered event is dropped
                try:
                    self.queue.get_nowait()
                    self.queue.task_done()
                    self.owner.dropped += 1
                except queue.Empty:
                    pass


class _Dispatcher:
    """Delivers events to each notifier on that notifier's own daemon thread and bounded queue,
    in order per notifier, isolating every failure; a full queue drops (and counts) the event."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._workers: dict[int, _Worker] = {}
        self._retired: list[_Worker] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.dropped = 0
        self.failures = 0

    def submit(self, event: AlertEvent, notifiers: Sequence[Any]) -> None:
        if not notifiers:
            return
        with self._lock:
            self.stopping.clear()
            wanted = {id(n): n for n in notifiers}
            for key in [k for k in self._workers if k not in wanted]:
                stale = self._workers.pop(key)  # a notifier no longer configured
                stale.retire()
                self._retired.append(stale)
            self._retired = [w for w in self._retired if w.thread.is_alive()]
            workers = []
            for key, notifier in wanted.items():
                worker: _Worker | None = self._workers.get(key)
                if (
                    worker is None
                    or worker.notifier is not notifier
                    or not worker.thread.is_alive()
                ):
                    worker = self._workers[key] = _Worker(notifier, self._capacity, self)
                workers.append(worker)
        for worker in workers:
            try:
                worker.queue.put_nowait(event)
            except queue.Full:
                self.dropped += 1
                _log.error(
                    "alert notification queue of a %s notifier full; dropped %s",
                    getattr(worker.notifier, "type", type(worker.notifier).__name__),
                    event.summary,
                )

    def deliver(self, notifier: Any, event: AlertEvent) -> None:
        try:
            if isinstance(notifier, WebhookNotifier):
                notifier.notify(event, stop=self.stopping)
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

    def _all_workers(self) -> list[_Worker]:
        with self._lock:
            return [*self._workers.values(), *self._retired]

    def flush(self, timeout: float | None) -> bool:
        """Wait until every queued event has been delivered (or ``timeout`` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self._all_workers():
            pending = worker.queue
            with pending.all_tasks_done:
                while pending.unfinished_tasks:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    pending.all_tasks_done.wait(remaining)
        return True

    def after_fork_in_child(self) -> None:
        """Forget the parent's threads, queues and locks (only the forking thread exists in the
        child); the parent delivers the events it had queued."""
        self._workers = {}
        self._retired = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def close(self, timeout: float) -> None:
        """Stop every worker: in-flight webhook deliveries are cut short, queued events are
        dropped; waits up to ``timeout`` for the threads to end."""
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = [*self._workers.values(), *self._retired]
            self._workers = {}
            self._retired = []
            self.stopping.set()
        for worker in workers:
            worker.retire()
        for worker in workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))


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
            raise InvalidArgumentError(
                f"interval must be a positive number of seconds, got {interval!r}"
            )
        if not (math.isfinite(repeat_interval) and repeat_interval > 0):
            raise InvalidArgumentError(f"repeat_interval must be positive, got {repeat_interval!r}")
        if history_size < 1:
            raise InvalidArgumentError(f"history_size must be at least 1, got {history_size!r}")
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
        self._last_now: float | None = None
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
            if not (0.0 <= now <= _MAX_TIME):  # NaN too: no state moves on a broken clock
                self._clock_failed(now)
                return []
            self._follow_clock_step(now)
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

    def _follow_clock_step(self, now: float) -> None:
        """A clock stepped back by ``d`` seconds moves every alert's remembered times back by
        ``d``: the durations (``for_seconds``, ``keep_firing_for_seconds``, repeats) go on as if
        the clock had always read the new time, and the times shown are on the new clock."""
        last, self._last_now = self._last_now, now
        if last is None or now >= last:
            return
        step = last - now
        for inst in self._instances.values():
            inst.shift(-step)

    def _clock_failed(self, now: float) -> None:
        self.evaluation_errors += 1
        _log.error("alert evaluation skipped: the clock returned %r, not a time", now)

    def _evaluation_failed(self, rule: AlertRule, exc: Exception) -> None:
        self.evaluation_errors += 1
        _log.error(
            "alert rule %s could not be evaluated: %s: %s", rule.name, type(exc).__name__, exc
        )

    @staticmethod
    def _value(source: MetricsSource, rule: AlertRule, operation: str) -> float | None:
        result = source.operation_metrics(operation, rule.window)
        if result.is_failure():
            error = result.unwrap_error()
            if getattr(error, "code", None) == "SERVICE_UNAVAILABLE":
                raise error  # a broken clock: judge nothing rather than "no data"
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
        """Stop the background evaluation and wait up to ``timeout`` in all for it and for
        queued notifications."""
        deadline = time.monotonic() + timeout
        thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join(timeout)
        self._thread = None
        self._dispatcher.flush(max(0.0, deadline - time.monotonic()))

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until queued notifications are delivered; False if ``timeout`` passed first."""
        return self._dispatcher.flush(timeout)

    @property
    def notifications_dropped(self) -> int:
        """How many notifications were dropped because a notifier's queue was full (or the
        manager closed before delivering them)."""
        return self._dispatcher.dropped

    def close(self, timeout: float = 2.0) -> None:
        """Stop everything within about ``timeout`` seconds: the evaluation thread, then the
        notifier threads, after giving queued notifications half of the time to go out. An
        in-flight webhook delivery is cut short; a callback that never returns is the only
        thing that can outlive it (its daemon thread is left behind)."""
        deadline = time.monotonic() + timeout
        self.stop(timeout / 2)
        self._dispatcher.close(max(0.0, deadline - time.monotonic()))

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


on_fork(after_in_child=_after_fork_in_child, name="alerts")
