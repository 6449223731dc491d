"""Per-operation latency and outcome metrics over time windows, backed by the Rust core.

`ResultMetricsCollector` records each call of an operation (duration, Success or Failure, error
code and message) into time-bucketed log-linear histograms held in Rust, and answers count,
success rate, p50/p90/p99/max, error breakdown, top errors and hourly distribution for any
window from ``1s`` up to the retention (default ``1w``). Quantiles are within 1% of the exact
value; counts are exact.

>>> clock = lambda: 1_700_000_000.0
>>> collector = ResultMetricsCollector(clock=clock, sample_resources=False)
>>> checkout = collector.operation("checkout")
>>> for ms in (12.0, 15.0, 18.0):
...     checkout.record(ms, True)
>>> collector.record("checkout", 250.0, False, "TIMEOUT_ERROR", "payment gateway timed out")
>>> metrics = collector.operation_metrics("checkout", "1h").unwrap()
>>> metrics.total_requests, metrics.failed_requests, metrics.success_rate
(4, 1, 0.75)
>>> metrics.max_response_time_ms, metrics.error_breakdown
(250.0, {'TIMEOUT_ERROR': 1})
>>> collector.operation_metrics("nope").unwrap_error().code.value
'NOT_FOUND'
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, ParamSpec, TypeVar, cast

from rfs_monitoring import _core, _shutdown
from rfs_monitoring._exceptions import InvalidTypeError
from rfs_monitoring._fork import on_fork
from rfs_monitoring._headline import latencies_of, latency_fields, latency_reader
from rfs_monitoring._instrument import (
    awaits_later,
    bind_collector,
    classify,
    defer,
    failure_fields,
    wrap,
)
from rfs_monitoring._outcome import error_code_of, error_message_of
from rfs_monitoring._sampler import ResourceSampler
from rfs_monitoring.errors import APIError
from rfs_monitoring.exceptions import ClockError, InvalidArgumentError
from rfs_monitoring.interop import read_outcome
from rfs_monitoring.masking import echo, get_masker
from rfs_monitoring.reactive import MonoResult
from rfs_monitoring.result import Failure, Result, Success

__all__ = [
    "CumulativeOperation",
    "ErrorSummary",
    "Exemplar",
    "NativeBuckets",
    "OperationHandle",
    "OperationMetrics",
    "OperationStats",
    "ResultMetricsCollector",
    "StepMetrics",
    "TimeSeriesPoint",
    "WorkerStats",
    "WorkersReport",
    "monitor_result",
    "parse_time_range",
]

P = ParamSpec("P")
R = TypeVar("R")

_logger = logging.getLogger("rfs_monitoring.metrics")

ExpositionFormat = Literal["text", "openmetrics", "protobuf"]
"""The formats of `ResultMetricsCollector.expose`."""
MetricFamily = _core.Family
"""A counter or gauge family for `ResultMetricsCollector.expose`: ``MetricFamily(name=...,
help=..., kind="counter" | "gauge", samples=[MetricSample(value, {"label": "value"}), ...])``,
a counter's name without ``_total``; an unknown ``kind`` is an `InvalidArgumentError`."""
MetricSample = _core.Sample
"""One sample of a `MetricFamily`: ``MetricSample(value, labels=None)``, labels a dict."""
ExtraFamily = MetricFamily | tuple[str, str, str, Sequence[tuple[Sequence[tuple[str, str]], float]]]
"""What `ResultMetricsCollector.expose` adds: a `MetricFamily`, or the same as a tuple
``(name, help, kind, [(labels, value), ...])`` (converted before it reaches the core)."""

OperationHandle = _core.Handle
"""A handle bound to one operation: ``handle.record(duration_ms, success, error_code=None,
error_message=None)`` skips the name lookup. Get one with `ResultMetricsCollector.operation`."""

_TIME_RANGE = re.compile(r"([1-9][0-9]{0,6})([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_TOP_ERRORS_PER_OPERATION = 10
_MAX_POINTS = 1_000
# A step series is kept under "<operation> US <step>" in a registry of its own, so steps never
# show up as operations. The unit separator cannot be typed in a name by accident.
_STEP_SEPARATOR = "\x1f"
SHARED_DIR_ENV = "RFS_MONITORING_DIR"
"""The environment variable naming the directory the default collector shares with the other
processes of the service (see `ResultMetricsCollector`)."""
_DEFAULT_ARCHIVE_DAYS = 30


def _seconds_of(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    # No stripping: the contract accepts exactly <n><unit>, and the range is echoed back as
    # ``time_window``, so " 1h" would come back unlike the "1h" it was counted as.
    match = _TIME_RANGE.fullmatch(text)
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _validation_error(message: str) -> APIError:
    return APIError.validation_error(message)


def parse_time_range(text: object, *, max_seconds: int | None = None) -> Result[int, APIError]:
    """The number of seconds in a time range such as ``"15m"``, ``"1h"``, ``"7d"`` or ``"1w"``.

    The grammar is ``<n><unit>`` with ``n >= 1`` and a unit of ``s``, ``m``, ``h``, ``d`` or
    ``w``. Anything else (``None`` included), or a range above ``max_seconds``, is a
    VALIDATION_ERROR failure.

    >>> parse_time_range("90m")
    Success(value=5400)
    >>> parse_time_range("0h").unwrap_error().code.value
    'VALIDATION_ERROR'
    >>> parse_time_range("2w", max_seconds=604_800).is_failure()
    True
    """
    seconds = _seconds_of(text)
    if seconds is None:
        return Failure(
            _validation_error(
                f"time_range must look like 30s, 15m, 1h, 1d or 1w (n >= 1), got {echo(text)}"
            )
        )
    if max_seconds is not None and seconds > max_seconds:
        return Failure(
            _validation_error(
                f"time_range {echo(text)} is longer than the retention ({max_seconds} s)"
            )
        )
    return Success(seconds)


_MAX_TIME = 253_402_300_799.0  # the core's MAX_TIME: 9999-12-31T23:59:59Z


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@functools.lru_cache(maxsize=4096)
def _masked(message: str) -> str:
    from rfs_monitoring.masking import mask_text

    return mask_text(message)


# Marks a window bound left out when an `OperationMetrics` is built by hand (compared by identity).
_UNSET_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StepMetrics:
    """One step (``log_step``/``log_error``) of an operation's chains over the same window:
    each pass's own duration (milliseconds) and outcome."""

    name: str
    total_requests: int
    failed_requests: int
    success_rate: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class OperationMetrics:
    """Performance metrics of one operation over a time window (the design document's schema).

    Latencies are milliseconds; ``success_rate`` is 0..1 (1.0 when the window holds no
    request); ``top_errors`` holds ``(masked message, count)`` pairs, most frequent first;
    ``hourly_distribution`` maps the UTC hour of day (0-23) to the requests in the window;
    ``throughput_rps`` is requests per second over the part of the window since the operation
    was first seen. The memory and CPU averages come from the background sampler (0.0 when
    resource sampling is off).

    The fields after ``hourly_distribution`` have defaults, so the design document's fields
    alone build one (a test's mocked service, say): the window then ends at construction time and
    spans ``time_window`` (zero when that is not a time range), and ``throughput_rps`` is 0.0.

    >>> m = OperationMetrics("checkout", "1h", 10, 9, 1, 0.9, 12.0, 10.0, 20.0, 40.0, 55.0,
    ...                      {"NOT_FOUND": 1}, [("order not found", 1)], 0.0, 0.0, {9: 10})
    >>> (m.window_end - m.window_start).total_seconds(), m.throughput_rps
    (3600.0, 0.0)
    """

    operation_name: str
    time_window: str
    total_requests: int
    successful_requests: int
    failed_requests: int
    success_rate: float
    avg_response_time_ms: float
    p50_response_time_ms: float
    p90_response_time_ms: float
    p99_response_time_ms: float
    max_response_time_ms: float
    error_breakdown: dict[str, int]
    top_errors: list[tuple[str, int]]
    avg_memory_usage_mb: float
    avg_cpu_usage_percent: float
    hourly_distribution: dict[int, int]
    window_start: datetime = _UNSET_TIME
    window_end: datetime = _UNSET_TIME
    throughput_rps: float = 0.0
    min_response_time_ms: float = 0.0
    p95_response_time_ms: float = 0.0
    p999_response_time_ms: float = 0.0
    steps: list[StepMetrics] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.window_end is _UNSET_TIME:
            object.__setattr__(self, "window_end", datetime.now(UTC))
        if self.window_start is _UNSET_TIME:
            span = timedelta(seconds=_seconds_of(self.time_window) or 0)
            object.__setattr__(self, "window_start", self.window_end - span)


@dataclass(frozen=True, slots=True)
class OperationStats:
    """The headline numbers of one operation over a window, as
    `ResultMetricsCollector.all_operation_stats` lists them for every operation.

    Each field equals the `OperationMetrics` field of the same name for that operation and
    window; the error breakdown, top errors, hourly distribution and resource averages are left
    out, which is what makes listing a thousand operations cheap.
    """

    operation_name: str
    time_window: str
    total_requests: int
    successful_requests: int
    failed_requests: int
    success_rate: float
    avg_response_time_ms: float
    min_response_time_ms: float
    p50_response_time_ms: float
    p90_response_time_ms: float
    p95_response_time_ms: float
    p99_response_time_ms: float
    p999_response_time_ms: float
    max_response_time_ms: float
    throughput_rps: float
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True)
class ErrorSummary:
    """One of the most frequent failures in a window (message masked).

    Each 10-second (15-minute, 1-hour) bucket tracks up to 8 distinct messages per operation
    with the space-saving algorithm: frequent messages are never undercounted, and a rare one
    may be overcounted by at most the count of the message it displaced.
    """

    operation_name: str
    error_code: str
    error_message: str
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class TimeSeriesPoint:
    """The requests of one operation that started in ``[start, start + seconds)``."""

    start: datetime
    seconds: int
    total: int
    successes: int
    failures: int
    success_rate: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class NativeBuckets:
    """Lifetime durations as an exponential histogram (Prometheus native histogram and
    OpenTelemetry exponential histogram layout): bucket ``offset + i`` holds ``counts[i]``
    durations in ``(2^((k-1)/2^schema), 2^(k/2^schema)]`` seconds for ``k = offset + i``;
    ``zero_count`` holds durations of a nanosecond or less."""

    schema: int
    zero_count: int
    offset: int
    counts: list[int]


@dataclass(frozen=True)
class CumulativeOperation:
    """Lifetime totals of one operation (since the last reset), for Prometheus exposition.

    ``buckets`` are ``(upper bound in seconds, cumulative count)`` with Prometheus' default
    bounds, the last one ``inf``; ``native`` holds the same durations at schema 6 (64 buckets
    per power of two).
    """

    operation_name: str
    total: int
    successes: int
    failures: int
    errors_by_code: dict[str, int] = field(default_factory=dict)
    sum_seconds: float = 0.0
    buckets: list[tuple[float, int]] = field(default_factory=list)
    native: NativeBuckets | None = None
    exemplars: list[Exemplar] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Exemplar:
    """The latest traced call in one classic bucket: its trace and span IDs (hex), duration in
    seconds and time (seconds since the epoch)."""

    bucket_upper_bound: float
    trace_id: str
    span_id: str
    seconds: float
    time: float


def _family(
    name: str,
    help_text: str,
    kind: str,
    samples: Sequence[tuple[Sequence[tuple[str, str]], float]],
) -> MetricFamily:
    """A family given as a tuple, as the core takes it."""
    return MetricFamily(
        name=name,
        help=help_text,
        kind=kind,
        samples=[MetricSample(float(value), dict(labels)) for labels, value in samples],
    )


def _cumulative(row: _core.Cumulative, operation_name: str) -> CumulativeOperation:
    native = row.native
    return CumulativeOperation(
        operation_name=operation_name,
        total=row.total,
        successes=row.total - row.failures,
        failures=row.failures,
        errors_by_code=row.errors_by_code,
        sum_seconds=row.sum_seconds,
        buckets=list(row.buckets.items()),
        native=NativeBuckets(native.schema, native.zero_count, native.offset, native.counts),
        exemplars=[
            Exemplar(e.bucket_upper_bound, e.trace_id, e.span_id, e.seconds, e.time)
            for e in row.exemplars
        ],
    )


# StepMetrics and TimeSeriesPoint list their latencies last, in the headline table's order,
# so they are built positionally (tests/test_headline.py checks it).
_step_latencies = latency_reader(StepMetrics.__dataclass_fields__, long=False)
_point_latencies = latency_reader(TimeSeriesPoint.__dataclass_fields__, long=False)


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """One live process on the shared directory: its numbers over the window and its latest
    resource sample (``None`` before the first)."""

    pid: int
    is_self: bool
    started_at: datetime | None
    last_write_at: datetime | None
    requests: int
    failures: int
    p99_ms: float
    rss_mb: float | None
    cpu_percent: float | None


@dataclass(frozen=True, slots=True)
class WorkersReport:
    """The processes contributing to the collector's answers: ``processes`` counts them
    (this one included); ``shared_dir`` is ``None`` for a collector of one process.
    ``segments`` counts the other processes' files read (live or not yet archived),
    ``quarantined`` the damaged files set aside, ``write_errors`` the failed writes of this
    process's segment."""

    time_window: str
    processes: int
    shared_dir: str | None
    segments: int
    archive: bool
    quarantined: int
    write_errors: int
    workers: list[WorkerStats]


def _rate(successes: int, total: int) -> float:
    return successes / total if total else 1.0


class ResultMetricsCollector:
    """Collects per-operation metrics in time buckets and answers window queries.

    ``clock`` is a zero-argument callable returning seconds since the epoch (default
    `time.time`, read in Rust), so tests drive the windows. ``retention`` uses the time-range
    grammar (default ``"1w"``). Beyond ``max_operations`` names (or ``max_error_codes`` codes
    in one operation, or ``max_steps_per_operation`` step names in one operation) samples go to
    ``_other``, with one warning. ``sample_resources`` starts a
    background thread (lazily, at the first handle) that samples the process' memory and CPU
    once a second.

    Recording never blocks on I/O and a recorded sample is visible to the next query.

    ``shared_dir`` (default: the ``RFS_MONITORING_DIR`` environment variable for the
    process-wide collector, nothing for others) makes every process using that directory
    answer for all of them: each writes its own segment there (from a Rust thread, every
    0.25 s when something changed, at exit and on SIGTERM; `sync` writes at once), and every
    query, route and ``/metrics`` merges all segments. A restart on the same directory keeps
    the windows; segments of processes that ended are merged into an archive that keeps daily
    rollups for ``archive_days`` days, so windows up to that long (``30d``) work. A process
    killed with SIGKILL loses at most what it recorded since its last write. See the README's
    "Several workers and restarts".
    """

    _instance: ClassVar[ResultMetricsCollector | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        clock: Callable[[], float] | None = None,
        retention: str = "1w",
        *,
        max_operations: int = 1000,
        max_error_codes: int = 100,
        sample_resources: bool = True,
        max_steps_per_operation: int = 16,
        shared_dir: str | os.PathLike[str] | None = None,
        archive_days: int = _DEFAULT_ARCHIVE_DAYS,
    ) -> None:
        retention_seconds = _seconds_of(retention)
        if retention_seconds is None:
            raise InvalidArgumentError(f"retention must look like 1h, 1d or 1w, got {retention!r}")
        if max_steps_per_operation < 1:
            raise InvalidArgumentError(
                f"max_steps_per_operation must be at least 1, got {max_steps_per_operation}"
            )
        self._clock: Callable[[], float] = clock if clock is not None else time.time
        self._shared_dir = os.fspath(shared_dir) if shared_dir is not None else None
        steps_dir = (
            os.path.join(self._shared_dir, "steps") if self._shared_dir is not None else None
        )
        shared: dict[str, Any] = (
            {"archive_days": archive_days} if self._shared_dir is not None else {}
        )
        self._registry = _core.Registry(
            retention_seconds,
            max_operations,
            max_error_codes,
            clock=clock,
            shared_dir=self._shared_dir,
            **shared,
        )
        # Steps: their own registry (bounded like operations: the step names of up to
        # max_operations operations), and each operation's step names in first-seen order.
        # Shared in a subdirectory of their own.
        self._steps = _core.Registry(
            retention_seconds,
            max_operations * max_steps_per_operation,
            max_error_codes,
            clock=clock,
            shared_dir=steps_dir,
            **shared,
        )
        self._max_steps_per_operation = max_steps_per_operation
        self._step_names: dict[str, list[str]] = {}
        self._step_handles: dict[tuple[str, str], _core.Handle] = {}
        self._retention = retention
        self._max_operations = max_operations
        self._handles: dict[str, _core.Handle] = {}
        self._lock = threading.Lock()
        self._warned_folding = False
        self._sampler = ResourceSampler(self._registry, self._clock) if sample_resources else None
        if self._sampler is not None:
            # A collector dropped without close() must not leave its sampling thread behind.
            weakref.finalize(self, self._sampler.signal_stop)
        _live_collectors.add(self)

    # -- the process-wide collector -----------------------------------------------------------

    @classmethod
    def instance(cls) -> ResultMetricsCollector:
        """The process-wide collector (created on first use).

        >>> ResultMetricsCollector.instance() is ResultMetricsCollector.instance()
        True
        """
        current = cls._instance
        if current is not None:
            return current
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls._default()
                _core.bump_generation()
            return cls._instance

    @classmethod
    def _default(cls) -> ResultMetricsCollector:
        """A collector with the defaults, on ``RFS_MONITORING_DIR`` when it is set."""
        return ResultMetricsCollector(shared_dir=os.environ.get(SHARED_DIR_ENV) or None)

    @classmethod
    def set_instance(cls, collector: ResultMetricsCollector) -> ResultMetricsCollector:
        """Install ``collector`` as the process-wide one and return the previous one.

        >>> fresh = ResultMetricsCollector(sample_resources=False)
        >>> previous = ResultMetricsCollector.set_instance(fresh)
        >>> ResultMetricsCollector.instance() is fresh
        True
        >>> ResultMetricsCollector.set_instance(previous) is fresh
        True
        """
        if not isinstance(collector, ResultMetricsCollector):
            raise InvalidTypeError(
                f"expected a ResultMetricsCollector, got {type(collector).__name__}"
            )
        with cls._instance_lock:
            previous = cls._instance if cls._instance is not None else cls._default()
            cls._instance = collector
            _core.bump_generation()
        return previous

    # -- recording ----------------------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], float]:
        """The clock that places samples in time buckets."""
        return self._clock

    @property
    def retention(self) -> str:
        """How long samples stay queryable, as given (``"1w"`` by default)."""
        return self._retention

    def operation(self, name: str) -> OperationHandle:
        """A handle bound to ``name``; its ``record`` skips the name lookup.

        An empty name raises ValueError. Handles stay valid across `reset`.
        """
        handle = self._handles.get(name)
        if handle is not None:
            return handle
        if not isinstance(name, str):
            raise InvalidTypeError(f"operation name must be a str, got {type(name).__name__}")
        handle = self._registry.handle(name)
        if handle.folded:
            self._warn_folded(name)
        else:
            self._handles[name] = handle
        self._start_sampler()
        return handle

    def record(
        self,
        operation: str,
        duration_ms: float,
        success: bool,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Record one call of ``operation`` by hand.

        A negative, NaN or infinite ``duration_ms`` or an empty name raises ValueError.
        """
        handle = self._handles.get(operation) or self.operation(operation)
        handle.record(duration_ms, bool(success), error_code, error_message)

    def step(self, operation: str, step: str) -> OperationHandle:
        """A handle recording the passes of ``step`` in ``operation``'s chains (`record` as an
        operation's handle). `MonoResult.log_step`/`log_error` and `FluxResult.log_step` record
        through it; past ``max_steps_per_operation`` names an operation's new steps go to
        ``_other``."""
        key = (operation, step)
        handle = self._step_handles.get(key)
        if handle is not None:
            return handle
        if not isinstance(operation, str) or not operation:
            raise InvalidArgumentError("operation name must be a non-empty string")
        if not isinstance(step, str) or not step:
            raise InvalidArgumentError("step name must be a non-empty string")
        with self._lock:
            names = self._step_names.get(operation)
            if names is None:
                if len(self._step_names) >= self._max_operations:
                    operation = _core.OTHER
                names = self._step_names.setdefault(operation, [])
            if step not in names:
                if len(names) >= self._max_steps_per_operation:
                    step = _core.OTHER
                if step not in names:
                    names.append(step)
            handle = self._steps.handle(f"{operation}{_STEP_SEPARATOR}{step}")
            if len(self._step_handles) < self._max_operations * self._max_steps_per_operation:
                self._step_handles[key] = handle
        return handle

    def _step_metrics(self, name: str, now: float, window: int) -> list[StepMetrics]:
        steps = []
        names = list(self._step_names.get(name, ()))
        if self._shared_dir is not None:
            # Steps other workers saw first: after this process's own, by name.
            prefix = f"{name}{_STEP_SEPARATOR}"
            known = set(names)
            names += [
                key[len(prefix) :]
                for key in self._steps.operations(now, window)
                if key.startswith(prefix) and key[len(prefix) :] not in known
            ]
        for step in names:
            summary = self._steps.summary(f"{name}{_STEP_SEPARATOR}{step}", now, window, 0)
            if summary is None:
                continue
            steps.append(
                StepMetrics(
                    step,
                    summary.total,
                    summary.failures,
                    _rate(summary.successes, summary.total),
                    *_step_latencies(summary),
                )
            )
        return steps

    def _warn_folded(self, name: str) -> None:
        with self._lock:
            if self._warned_folding:
                return
            self._warned_folding = True
        _logger.warning(
            "rfs-monitoring: more than %d operation names; %r and later new names are "
            "recorded as %r",
            self._max_operations,
            name,
            _core.OTHER,
        )

    @property
    def clock_errors(self) -> int:
        """How many clock readings were refused while recording (NaN, infinite, negative or
        past the year 9999); each such sample was kept at the previous sample's time."""
        return self._registry.clock_errors

    # -- queries ------------------------------------------------------------------------------

    def _now(self) -> float:
        """The clock's time for a query; a reading no window can end at is a `ClockError`."""
        if self._shared_dir is not None:
            self._report_damage()
        reading = self._clock()
        try:
            now = float(reading)
        except (TypeError, ValueError):
            now = float("nan")
        if not (0.0 <= now <= _MAX_TIME):  # NaN fails every comparison
            raise ClockError(reading)
        return now

    def _window(self, time_range: object) -> Result[int, APIError]:
        return parse_time_range(time_range, max_seconds=self._registry.horizon_seconds)

    @property
    def horizon_seconds(self) -> int:
        """The longest window a query answers, in seconds: the retention, or ``archive_days``
        days on a shared directory."""
        return self._registry.horizon_seconds

    @property
    def shared_dir(self) -> str | None:
        """The directory shared with the service's other processes, or ``None``."""
        return self._shared_dir

    # -- several processes ----------------------------------------------------------------------

    def sync(self) -> bool:
        """Write this process's segment now (on a shared directory; otherwise nothing to do).

        A Rust thread does it every 0.25 s when something changed, and so do the exit and
        SIGTERM hooks; returns whether anything was written. An I/O error is an `OSError`.
        """
        wrote = self._registry.sync()
        return self._steps.sync() or wrote

    def compact(self) -> int:
        """Merge the segments of processes that ended into the archive now (the writer thread
        does it every few seconds); returns how many were merged."""
        return self._registry.compact() + self._steps.compact()

    def _report_damage(self) -> None:
        for message in self._registry.take_damage_reports() + self._steps.take_damage_reports():
            _logger.warning(message)

    def workers(self, time_range: str = "1h") -> Result[WorkersReport, APIError]:
        """The live processes whose data this collector's answers merge (this one first, then
        every other live process that has recorded anything: a gunicorn master that only forks
        its workers is not listed), each with its requests, failures and p99 over
        ``time_range`` and its memory and CPU."""
        return self._now_and_window(time_range).map(
            lambda now_window: self._workers_report(time_range, *now_window)
        )

    def _workers_report(self, time_range: str, now: float, window: int) -> WorkersReport:
        status = self._registry.shared_status()
        rows = self._registry.workers(now, window)
        workers = [
            WorkerStats(
                pid=w.pid,
                is_self=w.is_self,
                started_at=_utc(w.started) if w.started > 0 else None,
                last_write_at=_utc(w.written) if w.written > 0 else None,
                requests=w.total,
                failures=w.failures,
                p99_ms=w.p99_ms,
                rss_mb=w.rss_mb,
                cpu_percent=w.cpu_percent,
            )
            for w in rows
        ]
        return WorkersReport(
            time_window=time_range,
            processes=len(workers),
            shared_dir=self._shared_dir,
            segments=status.segments if status is not None else 0,
            archive=status.archive if status is not None else False,
            quarantined=status.quarantined if status is not None else 0,
            write_errors=status.write_errors if status is not None else 0,
            workers=workers,
        )

    def _window_or_raise(self, time_range: object) -> int:
        window = self._window(time_range)
        if isinstance(window, Failure):
            raise InvalidArgumentError(window.error.message)
        return window.unwrap()

    def operation_metrics(
        self, name: str, time_range: str = "1h"
    ) -> Result[OperationMetrics, APIError]:
        """The metrics of ``name`` over the last ``time_range``.

        An unknown operation (or one with no sample left in retention) is a NOT_FOUND failure;
        a bad ``time_range`` (or one above the retention) a VALIDATION_ERROR failure.
        """
        window = self._window(time_range)
        if isinstance(window, Failure):
            return window
        if not isinstance(name, str) or not name:
            return Failure(_validation_error("operation name must be a non-empty string"))
        try:
            now = self._now()
        except APIError as clock_error:
            return Failure(clock_error)
        summary = self._registry.summary(name, now, window.unwrap(), _TOP_ERRORS_PER_OPERATION)
        if summary is None:
            return Failure(APIError.not_found("operation", name))
        resources = summary.resources
        if resources is not None:
            rss_mb, cpu_percent = resources.rss_mb, resources.cpu_percent
        else:
            rss_mb, cpu_percent = self._fallback_resources() or (0.0, 0.0)
        return Success(
            OperationMetrics(
                operation_name=name,
                time_window=str(time_range),
                total_requests=summary.total,
                successful_requests=summary.successes,
                failed_requests=summary.failures,
                success_rate=_rate(summary.successes, summary.total),
                error_breakdown=summary.errors_by_code,
                top_errors=[(_masked(e.message), e.count) for e in summary.top_errors],
                avg_memory_usage_mb=rss_mb,
                avg_cpu_usage_percent=cpu_percent,
                hourly_distribution=summary.hourly,
                window_start=_utc(summary.window_start),
                window_end=_utc(summary.window_end),
                throughput_rps=summary.throughput_rps,
                steps=self._step_metrics(name, now, window.unwrap()),
                **latency_fields(summary, long=True),
            )
        )

    def all_operation_stats(self, time_range: str = "1h") -> Result[list[OperationStats], APIError]:
        """`OperationStats` of every operation with a sample in the window, sorted by name.

        One call into the Rust core merges every operation's window (with the interpreter
        released), so a dashboard listing a thousand operations costs about as much as a few
        dozen `operation_metrics` calls. A bad ``time_range`` (or one above the retention) is a
        VALIDATION_ERROR failure; a collector without data gives an empty list.

        >>> collector = ResultMetricsCollector(clock=lambda: 3600.0, sample_resources=False)
        >>> collector.record("search", 8.0, True)
        >>> collector.record("checkout", 40.0, False, "TIMEOUT_ERROR")
        >>> [(s.operation_name, s.total_requests, s.success_rate)
        ...  for s in collector.all_operation_stats("15m").unwrap()]
        [('checkout', 1, 0.0), ('search', 1, 1.0)]
        >>> collector.all_operation_stats("15x").unwrap_error().code.value
        'VALIDATION_ERROR'
        """
        return self._briefs(time_range).map(
            lambda now_briefs: self._stats_of(str(time_range), *now_briefs)
        )

    def _briefs(self, time_range: str) -> Result[tuple[float, list[_core.Brief]], APIError]:
        """The clock's time and the core's `Brief` of every operation with data in the window
        (the routes build their rows straight from these)."""
        return self._now_and_window(time_range).map(
            lambda now_window: (now_window[0], self._registry.briefs(*now_window))
        )

    def _rows_json(self, time_range: str) -> Result[bytes, APIError]:
        """The operations list's rows (`OperationSummary` fields) as JSON bytes from the core."""
        return self._now_and_window(time_range).map(
            lambda now_window: self._registry.briefs_json(*now_window)
        )

    def _health_json(
        self,
        time_range: str,
        firing: Sequence[_core.FiringAlert],
        limits: tuple[float, float, int],
    ) -> Result[_core.Health, APIError]:
        """The health route's rows judged by the core; ``limits`` are ``(degraded_below,
        unhealthy_below, min_requests)``."""
        return self._now_and_window(time_range).map(
            lambda now_window: self._registry.health_json(
                now_window[0], now_window[1], list(firing), limits[0], limits[1], limits[2]
            )
        )

    def _top_errors_json(self, limit: int, time_range: str) -> Result[bytes, APIError] | None:
        """The top errors' rows as JSON bytes written by the core, messages masked by the
        process-wide masker's text rules; ``None`` when that masker has patterns of its own
        (`configure_masking(patterns=...)`), which only Python can apply."""
        masker = get_masker()
        if masker.patterns:
            return None
        return self._now_and_window(time_range).map(
            lambda now_window: self._registry.top_errors_json(
                now_window[0], now_window[1], limit, masker._text
            )
        )

    def _now_and_window(self, time_range: str) -> Result[tuple[float, int], APIError]:
        """The clock's time and the window in seconds, or the failure a route answers with."""
        window = self._window(time_range)
        if isinstance(window, Failure):
            return window
        try:
            now = self._now()
        except APIError as clock_error:
            return Failure(clock_error)
        return Success((now, window.unwrap()))

    @staticmethod
    def _stats_of(time_window: str, now: float, briefs: list[_core.Brief]) -> list[OperationStats]:
        window_end = _utc(now)
        # Every operation shares the tier shapes, so the window starts are a handful of values.
        starts: dict[float, datetime] = {}
        stats = []
        for b in briefs:
            start = starts.get(b.window_start)
            if start is None:
                start = starts[b.window_start] = _utc(b.window_start)
            stats.append(
                OperationStats(
                    b.operation,
                    time_window,
                    b.total,
                    b.successes,
                    b.failures,
                    b.successes / b.total,
                    *latencies_of(b),
                    b.throughput_rps,
                    start,
                    window_end,
                )
            )
        return stats

    def get_operation_metrics(
        self, name: str, time_range: str = "1h"
    ) -> MonoResult[OperationMetrics, APIError]:
        """`operation_metrics` as a lazy `MonoResult` (queried each time it is awaited).

        >>> import asyncio
        >>> collector = ResultMetricsCollector(clock=lambda: 3600.0, sample_resources=False)
        >>> collector.record("search", 8.0, True)
        >>> asyncio.run(collector.get_operation_metrics("search").to_result()).is_success()
        True
        """
        return MonoResult.from_async_result(lambda: self.operation_metrics(name, time_range))

    def list_operations(self, time_range: str = "1h") -> list[str]:
        """Names with at least one sample in the window, sorted (`InvalidArgumentError`, a
        ``ValueError``, on a bad range)."""
        window = self._window_or_raise(time_range)
        return self._registry.operations(self._now(), window)

    def top_errors(self, limit: int = 10, time_range: str = "1h") -> list[ErrorSummary]:
        """The most frequent failures over every operation in the window, messages masked.

        ``limit`` must be at least 1 and the range valid, else `InvalidArgumentError` (a
        ``ValueError``).
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError(f"limit must be an integer >= 1, got {limit!r}")
        window = self._window_or_raise(time_range)
        return [
            ErrorSummary(
                operation_name=e.operation,
                error_code=e.code,
                error_message=_masked(e.message),
                count=e.count,
                first_seen=_utc(e.first_seen),
                last_seen=_utc(e.last_seen),
            )
            for e in self._registry.top_errors(self._now(), window, limit)
        ]

    def time_series(
        self, name: str, time_range: str = "1h", points: int = 60
    ) -> Result[list[TimeSeriesPoint], APIError]:
        """``name`` over the window as about ``points`` consecutive points, oldest first.

        Each point is at least one bucket wide (10 s up to an hour, 15 min up to a day, 1 h
        beyond). Failures as for `operation_metrics`; ``points`` outside 1..1000 is a
        VALIDATION_ERROR failure.
        """
        window = self._window(time_range)
        if isinstance(window, Failure):
            return window
        if (
            isinstance(points, bool)
            or not isinstance(points, int)
            or not (1 <= points <= _MAX_POINTS)
        ):
            return Failure(_validation_error(f"points must be 1..{_MAX_POINTS}, got {points!r}"))
        if not isinstance(name, str) or not name:
            return Failure(_validation_error("operation name must be a non-empty string"))
        try:
            now = self._now()
        except APIError as clock_error:
            return Failure(clock_error)
        series = self._registry.series(name, now, window.unwrap(), points)
        if series is None:
            return Failure(APIError.not_found("operation", name))
        return Success(
            [
                TimeSeriesPoint(
                    _utc(p.start),
                    p.seconds,
                    p.total,
                    p.successes,
                    p.failures,
                    _rate(p.successes, p.total),
                    *_point_latencies(p),
                )
                for p in series
            ]
        )

    def cumulative(self) -> list[CumulativeOperation]:
        """Lifetime totals of every operation with samples, sorted by name."""
        return [_cumulative(row, row.operation) for row in self._registry.cumulative()]

    def expose(
        self,
        format: ExpositionFormat = "text",
        extra: Sequence[ExtraFamily] = (),
    ) -> bytes:
        """The Prometheus exposition of the lifetime totals, rendered by the core: ``"text"``
        (0.0.4), ``"openmetrics"`` (1.0) or ``"protobuf"`` (delimited ``MetricFamily``
        messages whose duration histograms carry native buckets, schema 6, beside the classic
        ones). ``extra`` adds counter and gauge families (`MetricFamily`, or the tuples
        ``(name, help, "counter" | "gauge", [(labels, value), ...])``).

        >>> c = ResultMetricsCollector(sample_resources=False)
        >>> c.record("search", 30.0, success=False, error_code="TIMEOUT_ERROR")
        >>> text = c.expose().decode()
        >>> 'rfs_operation_errors_total{error_code="TIMEOUT_ERROR",operation="search"} 1.0' in text
        True
        >>> family = MetricFamily(
        ...     name="jobs", help="Jobs run.", kind="counter", samples=[MetricSample(3, {"q": "a"})]
        ... )
        >>> 'jobs_total{q="a"} 3.0' in c.expose("text", [family]).decode()
        True
        """
        families = [f if isinstance(f, MetricFamily) else _family(*f) for f in extra]
        return _core.expose(format, self._registry, self._steps, families, _STEP_SEPARATOR)

    def step_cumulative(self) -> list[tuple[str, str, CumulativeOperation]]:
        """Lifetime totals of every step with samples: ``(operation, step, totals)``, sorted."""
        found = []
        for row in self._steps.cumulative():
            operation, _, step = row.operation.partition(_STEP_SEPARATOR)
            if not step:  # the registry's own overflow series
                operation, step = _core.OTHER, _core.OTHER
            found.append((operation, step, _cumulative(row, operation)))
        return found

    # -- resources ----------------------------------------------------------------------------

    def _start_sampler(self) -> None:
        sampler = self._sampler
        if sampler is not None and not sampler.running:
            sampler.start()

    def _fallback_resources(self) -> tuple[float, float] | None:
        sampler = self._sampler
        return sampler.latest if sampler is not None and sampler.running else None

    def latest_resource_sample(self) -> tuple[float, float] | None:
        """The latest ``(rss_mb, cpu_percent)`` sample (starting the sampler if needed), or
        None when resource sampling is off."""
        if self._sampler is None:
            return None
        self._start_sampler()
        return self._sampler.latest

    # -- lifecycle ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every sample of this process; handles stay valid. (On a shared directory,
        the other processes' segments and the archive stay.)"""
        self._registry.reset()
        self._steps.reset()

    def close(self) -> None:
        """Stop the resource sampler (it restarts lazily if the collector is used again)."""
        if self._sampler is not None:
            self._sampler.stop()

    def __repr__(self) -> str:
        return (
            f"ResultMetricsCollector(retention={self._retention!r}, "
            f"operations={len(self._handles)})"
        )


# -- fork safety -----------------------------------------------------------------------------

# The instrumentation layer's steps and decorators record into the process-wide collector.
bind_collector(ResultMetricsCollector.instance, ResultMetricsCollector)

# Every collector alive, so a fork (gunicorn workers, multiprocessing, ProcessPoolExecutor) can
# give each one fresh locks in the child.
_live_collectors: weakref.WeakSet[ResultMetricsCollector] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Let storage operations run again (first, so nothing below can leave the gate closed),
    then replace every lock another parent thread may have held at the fork: the child has only
    the forking thread.

    The child keeps the samples recorded before the fork (as prometheus_client's in-process
    metrics do) and records its own from then on; its resource sampler restarts lazily.
    """
    _core._fork_done()
    ResultMetricsCollector._instance_lock = threading.Lock()
    for collector in list(_live_collectors):
        collector._lock = threading.Lock()
        if collector._sampler is not None:
            collector._sampler.after_fork_in_child()
        if collector._shared_dir is not None:
            # The parent keeps writing its samples; the child starts a segment of its own.
            try:
                collector._registry.after_fork_in_child()
                collector._steps.after_fork_in_child()
            except OSError as exc:
                _logger.warning(
                    "rfs-monitoring: the forked child cannot share %s (%s); its samples stay "
                    "in the process",
                    collector._shared_dir,
                    exc,
                )


def _sync_all() -> None:
    """Write every shared collector's segment (at exit and on SIGTERM); never raises."""
    for collector in list(_live_collectors):
        if collector._shared_dir is not None:
            try:
                collector.sync()
            except OSError as exc:
                _logger.warning("rfs-monitoring: writing %s failed: %s", collector._shared_dir, exc)


atexit.register(_sync_all)
_shutdown.register(_sync_all)


# Before the fork, wait for storage operations running in other threads (with the interpreter
# released) and hold new ones back: a storage lock copied into the child while held, or waited
# for, would never be released there.
on_fork(
    before=_core._fork_prepare,
    after_in_parent=_core._fork_done,
    after_in_child=_after_fork_in_child,
    name="core",
)


# -- @monitor_result --------------------------------------------------------------------------


def _record_outcome(handle: _core.Handle, duration_ms: float, outcome: Any) -> None:
    """One sample of a finished call, classified by the instrumentation layer: a Failure (of
    any library), or a batch with a failed item, is a failure; anything else a success."""
    failed, error, _, _ = classify(outcome)
    if failed:
        code, message = failure_fields(error)
        handle.record(duration_ms, False, code, message)
    else:
        handle.record(duration_ms, True)


def _record_exception(handle: _core.Handle, duration_ms: float, error: BaseException) -> None:
    code, message = failure_fields(error)
    handle.record(duration_ms, False, code, message)


class _HandleSink:
    """The metrics sink for one handle, as an observer of the instrumentation layer
    (`_instrument.defer` calls it when a value that finishes later has finished)."""

    __slots__ = ("handle",)

    def __init__(self, handle: _core.Handle) -> None:
        self.handle = handle

    def enter(self) -> None:
        return None

    def leave(self, state: None, outcome: Any, elapsed: float, args: Any, kwargs: Any) -> Any:
        if awaits_later(outcome):  # a coroutine that gave a MonoResult, say: wait for it too
            return defer(outcome, elapsed, self)
        try:
            _record_outcome(self.handle, max(0.0, elapsed * 1_000.0), outcome)
        except Exception:  # metrics never break the observed call
            _logger.debug("recording a monitored call failed", exc_info=True)
        return outcome

    def raised(self, state: None, error: Exception, elapsed: float, args: Any, kwargs: Any) -> None:
        self.abandoned(state, error, elapsed)

    def abandoned(self, state: None, error: BaseException, elapsed: float) -> None:
        try:
            _record_exception(self.handle, max(0.0, elapsed * 1_000.0), error)
        except Exception:  # metrics never break the observed call
            _logger.debug("recording a monitored call failed", exc_info=True)


def _settle(handle: _core.Handle, value: Any, duration_ms: float) -> Any:
    """Record a returned value that is not a plain `Success`/`Failure` now, or, for a value
    that finishes later (a MonoResult is wrapped), each time it runs."""
    return _HandleSink(handle).leave(None, value, duration_ms / 1_000.0, (), {})


def _safe_settle(handle: _core.Handle, value: Any, duration_ms: float) -> Any:
    try:
        # A Result of any library, read through interop's per-type cache: the common case
        # first, with as few Python frames as possible (goal: +0.3 µs over our own types).
        read = read_outcome(value)
        if read is None:
            return _settle(handle, value, duration_ms)
        if read[0]:
            error = read[1]
            handle.record(duration_ms, False, error_code_of(error), error_message_of(error))
        else:
            handle.record(duration_ms, True)
        return value
    except Exception:  # metrics never break the observed call
        _logger.debug("recording a monitored call failed", exc_info=True)
        return value


def monitor_result(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Time every call of a sync or async function and record it under ``name`` (metrics only).

    A returned `Failure` is recorded as a failure with its error's code and message; a raised
    exception likewise, then re-raised unchanged; a returned `MonoResult` is recorded each time
    the chain runs; a `FluxResult` is a failure when any of its results is. The sync path is
    timed and recorded in Rust. The wrapper keeps the function's name, docstring and
    signature, so FastAPI sees the same parameters.

    >>> collector = ResultMetricsCollector(clock=lambda: 7200.0, sample_resources=False)
    >>> previous = ResultMetricsCollector.set_instance(collector)
    >>> @monitor_result("parse_port")
    ... def parse_port(text: str) -> Result[int, str]:
    ...     return Success(int(text)) if text.isdigit() else Failure("not a port")
    >>> parse_port("80"), parse_port("http")
    (Success(value=80), Failure(error='not a port'))
    >>> collector.operation_metrics("parse_port").unwrap().error_breakdown
    {'str': 1}
    >>> _ = ResultMetricsCollector.set_instance(previous)
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("monitor_result needs a non-empty operation name")

    def resolve() -> _core.Handle:
        return ResultMetricsCollector.instance().operation(name)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):
            return cast(Callable[P, R], wrap(fn, _Monitored(resolve)))
        monitor = _core.Monitor(fn, resolve, failure_fields, _safe_settle, Success, Failure)
        functools.update_wrapper(monitor, fn)
        # FastAPI resolves string annotations through the wrapper's globals.
        monitor.__dict__["__globals__"] = getattr(fn, "__globals__", {})
        return cast(Callable[P, R], monitor)

    return decorate


_UNBOUND = object()


class _Monitored:
    """The observer of `monitor_result`'s async wrapper (`_instrument.wrap`): metrics only, no
    operation scope. The common case (a Success, the same collector as last time) records into
    the handle bound on an earlier call."""

    __slots__ = ("bound", "resolve")

    def __init__(self, resolve: Callable[[], _core.Handle]) -> None:
        self.resolve = resolve
        # (collector, handle) of the last call: reused while that collector is still installed.
        self.bound: list[Any] = [_UNBOUND, None]

    def enter(self) -> None:
        return None

    def leave(self, state: None, outcome: Any, elapsed: float, args: Any, kwargs: Any) -> Any:
        duration_ms = elapsed * 1_000.0
        bound = self.bound
        if bound[0] is ResultMetricsCollector._instance and type(outcome) is Success:
            try:
                bound[1].record(duration_ms, True)
            except Exception:  # metrics never break the observed call
                _logger.debug("recording a monitored call failed", exc_info=True)
            return outcome
        return _settle_and_bind(self.resolve, bound, outcome, duration_ms)

    def raised(self, state: None, error: Exception, elapsed: float, args: Any, kwargs: Any) -> None:
        _record_raised(self.resolve, elapsed * 1_000.0, error)

    def abandoned(self, state: None, error: BaseException, elapsed: float) -> None:
        _record_raised(self.resolve, elapsed * 1_000.0, error)


def _record_raised(
    resolve: Callable[[], _core.Handle], duration_ms: float, error: BaseException
) -> None:
    try:
        _record_exception(resolve(), duration_ms, error)
    except Exception:  # metrics never break the observed call
        _logger.debug("recording a monitored call failed", exc_info=True)


def _settle_and_bind(
    resolve: Callable[[], _core.Handle], bound: list[Any], value: Any, duration_ms: float
) -> Any:
    try:
        collector = ResultMetricsCollector.instance()
        handle = resolve()
    except Exception:  # metrics never break the observed call
        _logger.debug("recording a monitored call failed", exc_info=True)
        return value
    if not handle.folded:
        bound[0], bound[1] = collector, handle
    return _safe_settle(handle, value, duration_ms)
