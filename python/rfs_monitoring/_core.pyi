"""Typed stubs of the Rust extension module ``rfs_monitoring._core``."""

import os
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from typing import Any, Literal, final

from typing_extensions import disjoint_base

__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "LATENCIES",
    "OTHER",
    "REPLACEMENT",
    "TRACKABLE_MS",
    "UNKNOWN_CODE",
    "Brief",
    "CorrelatedRequest",
    "Cumulative",
    "Exemplar",
    "Family",
    "FastPath",
    "FiringAlert",
    "Handle",
    "Headline",
    "Health",
    "HealthRow",
    "Instrumented",
    "LaneInForce",
    "Latency",
    "LogPipeline",
    "NativeHistogram",
    "OperationScope",
    "PipelineState",
    "Point",
    "Registry",
    "RenderedChunks",
    "RequestIds",
    "Resources",
    "Sample",
    "SharedStatus",
    "SpanSwitch",
    "StepPath",
    "Summary",
    "TextMasker",
    "TopError",
    "Worker",
    "__version__",
    "_fork_done",
    "_fork_prepare",
    "bump_generation",
    "expose",
    "judge_health",
    "mask_text",
    "perf_counter",
    "render_log_chunks",
    "reset_uuid4_pool",
    "splice_header",
    "uuid4_hex",
]

__version__: str
TRACKABLE_MS: float
OTHER: str
UNKNOWN_CODE: str
DEFAULT_SENSITIVE_KEYS: list[str]
REPLACEMENT: str
LATENCIES: tuple[Latency, ...]
"""The core's headline table: every latency a `Headline` carries, in field order."""

@final
class Latency:
    """One row of the core's headline table."""

    @property
    def field(self) -> str:
        """The `Headline` attribute (``p50_ms``, ``mean_ms``)."""
    @property
    def statistic(self) -> Literal["mean", "min", "max", "quantile"]: ...
    @property
    def rank(self) -> float | None:
        """The rank it is the nearest-rank quantile of (0 for min, 1 for max, None for mean)."""
    @property
    def short(self) -> str:
        """The short name of the contract (``p50_ms``, ``avg_ms``)."""
    @property
    def long(self) -> str:
        """The long name of the contract (``p50_response_time_ms``)."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class Registry:
    """Per-operation statistics in time buckets.

    A refused setting or name raises `rfs_monitoring.exceptions.InvalidArgumentError` (a
    `ValueError`); the shared directory's I/O failing (opening it, `sync`, `compact`,
    `after_fork_in_child`) raises `rfs_monitoring.exceptions.StorageError` (an `OSError`).
    """

    def __new__(
        cls,
        retention_seconds: int = 604800,
        max_operations: int = 1000,
        max_error_codes: int = 100,
        clock: Callable[[], float] | None = None,
        queue_capacity: int = 8192,
        shared_dir: str | os.PathLike[str] | None = None,
        archive_days: int = 30,
        sync_interval: float = 0.25,
    ) -> Registry: ...
    @property
    def retention_seconds(self) -> int: ...
    @property
    def horizon_seconds(self) -> int: ...
    def sync(self) -> bool: ...
    def compact(self) -> int: ...
    def after_fork_in_child(self) -> None: ...
    def take_damage_reports(self) -> list[str]: ...
    def shared_status(self) -> SharedStatus | None: ...
    def workers(self, now: float, window: int) -> list[Worker]: ...
    @property
    def clock_errors(self) -> int: ...
    def now(self) -> float: ...
    def handle(self, name: str) -> Handle: ...
    def record_resources(self, t: float, rss_mb: float, cpu_percent: float) -> None: ...
    def summary(self, name: str, now: float, window: int, top: int) -> Summary | None: ...
    def briefs(self, now: float, window: int) -> list[Brief]: ...
    def operations(self, now: float, window: int) -> list[str]: ...
    def top_errors(self, now: float, window: int, limit: int) -> list[TopError]: ...
    def series(self, name: str, now: float, window: int, points: int) -> list[Point] | None: ...
    def briefs_json(self, now: float, window: int) -> bytes: ...
    def top_errors_json(self, now: float, window: int, limit: int, masker: TextMasker) -> bytes: ...
    def health_json(
        self,
        now: float,
        window: int,
        firing: Sequence[FiringAlert],
        degraded_below: float,
        unhealthy_below: float,
        min_requests: int,
    ) -> Health: ...
    def cumulative(self) -> list[Cumulative]: ...
    def operation_bytes(self, name: str) -> int | None: ...
    def expired(self) -> int: ...
    def reset(self) -> None: ...

@final
class Worker:
    """One process contributing to a shared directory."""

    @property
    def pid(self) -> int: ...
    @property
    def token(self) -> int: ...
    @property
    def is_self(self) -> bool: ...
    @property
    def started(self) -> float: ...
    @property
    def written(self) -> float: ...
    @property
    def total(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def p99_ms(self) -> float: ...
    @property
    def rss_mb(self) -> float | None: ...
    @property
    def cpu_percent(self) -> float | None: ...

@final
class SharedStatus:
    """The state of a shared directory, as one process sees it."""

    @property
    def dir(self) -> str: ...
    @property
    def segments(self) -> int: ...
    @property
    def archive(self) -> bool: ...
    @property
    def quarantined(self) -> int: ...
    @property
    def write_errors(self) -> int: ...
    @property
    def compactions(self) -> int: ...

@final
class Handle:
    """A handle bound to one operation."""

    @property
    def name(self) -> str: ...
    @property
    def folded(self) -> bool: ...
    def exemplar(self, duration_ms: float, trace_id: str, span_id: str) -> None: ...
    def record(
        self,
        duration_ms: float,
        success: bool,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None: ...

@disjoint_base
class Headline:
    """The headline numbers of one operation over a window (base of `Summary`, `Brief` and
    `Point`): one latency attribute per row of `LATENCIES`."""

    @property
    def total(self) -> int: ...
    @property
    def successes(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def sum_ms(self) -> float: ...
    @property
    def mean_ms(self) -> float: ...
    @property
    def min_ms(self) -> float: ...
    @property
    def max_ms(self) -> float: ...
    @property
    def p50_ms(self) -> float: ...
    @property
    def p90_ms(self) -> float: ...
    @property
    def p95_ms(self) -> float: ...
    @property
    def p99_ms(self) -> float: ...
    @property
    def p999_ms(self) -> float: ...
    @property
    def window_start(self) -> float: ...
    @property
    def throughput_rps(self) -> float: ...

@final
class Summary(Headline):
    """The statistics of one operation over a window: its headline numbers and breakdowns."""

    @property
    def errors_by_code(self) -> dict[str, int]:
        """Failures by error code, most frequent first."""
    @property
    def top_errors(self) -> list[TopError]: ...
    @property
    def hourly(self) -> dict[int, int]:
        """Requests by hour of the day (UTC), the hours with requests only."""
    @property
    def window_end(self) -> float: ...
    @property
    def resources(self) -> Resources | None: ...

@final
class Resources:
    """The mean process resources of the samples in a window."""

    @property
    def rss_mb(self) -> float: ...
    @property
    def cpu_percent(self) -> float: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Brief(Headline):
    """One operation's headline numbers, as `Registry.briefs` lists them."""

    @property
    def operation(self) -> str: ...

@final
class Health:
    """The health route's rows judged by the core: the rows as JSON and what the route sums."""

    @property
    def rows_json(self) -> bytes: ...
    @property
    def status(self) -> str: ...
    @property
    def total(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def firing(self) -> int: ...
    @property
    def operations(self) -> int: ...

@final
class TopError:
    """One of the most frequent failures in a window (message unmasked, possibly cut)."""

    @property
    def operation(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def first_seen(self) -> float: ...
    @property
    def last_seen(self) -> float: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Point(Headline):
    """The samples of one operation that started in ``[start, start + seconds)``: their
    headline numbers (throughput over the point's width)."""

    @property
    def start(self) -> float: ...
    @property
    def seconds(self) -> int: ...

@final
class Exemplar:
    """The latest traced call in one classic bucket."""

    @property
    def bucket_upper_bound(self) -> float: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def time(self) -> float: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class NativeHistogram:
    """Lifetime durations as a native (exponential) histogram at ``schema``."""

    @property
    def schema(self) -> int: ...
    @property
    def zero_count(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def counts(self) -> list[int]: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Cumulative:
    """Lifetime totals of one operation (since the last reset), for exposition."""

    @property
    def operation(self) -> str: ...
    @property
    def total(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def errors_by_code(self) -> dict[str, int]:
        """Failures by error code, most frequent first."""
    @property
    def sum_seconds(self) -> float: ...
    @property
    def buckets(self) -> dict[float, int]:
        """Cumulative counts by upper bound in seconds, increasing, the last one ``inf``."""
    @property
    def native(self) -> NativeHistogram: ...
    @property
    def exemplars(self) -> list[Exemplar]: ...

@final
class OperationScope:
    """The mutable state of one logged operation, shared by the steps of its chains (re-exported
    by `rfs_monitoring.context`). ``boundary`` is on `time.perf_counter`'s clock."""

    name: str
    correlation_id: str | None
    parent: OperationScope | None
    boundary: float
    failure_step: str | None
    span: Any
    def __new__(
        cls, name: str, correlation_id: str | None, parent: OperationScope | None = None
    ) -> OperationScope: ...
    def close_step(self, name: str, failed: bool, started: float) -> float:
        """Close a step: its own duration in ms (since the previous step ended or ``started``,
        whichever is later); the first failing step is kept in ``failure_step``, a success
        clears it."""
    def ensure_correlation_id(self) -> str:
        """The operation's correlation ID, generated on first use; a nested operation shares
        its parent's."""

@final
class FastPath:
    """The common case of one decorated function, settled natively for its sync and async
    wrappers: a plain `Success` is recorded into the bound handle and, when its level passes,
    its entry handed to ``emit(level, scope, ms, success_type)``; anything else goes to
    ``leave``. ``operation`` (the operation's context variable), ``correlation``, ``levels``
    and ``spans`` are given together, for `log_result_operation`."""

    def __new__(
        cls,
        name: str,
        success: type,
        leave: Callable[[Any, Any, float, tuple[Any, ...], dict[str, Any]], Any],
        fallback: Callable[[float], None],
        collectors: Any,
        *,
        operation: Any = None,
        correlation: Any = None,
        levels: Any = None,
        level: int | None = None,
        spans: Any = None,
        emit: Callable[[int, Any, float, str], None] | LaneInForce | None = None,
    ) -> FastPath: ...
    def leave(
        self,
        state: Any,
        outcome: Any,
        elapsed: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
    ) -> Any:
        """What the caller gets for ``outcome`` (``elapsed`` in seconds)."""
    def enter(self, python_enter: Callable[[], Any]) -> Any:
        """The state an async call starts with (the scope opened natively when no span can
        be started, else ``python_enter()``'s)."""
    def threshold(self) -> int:
        """The operation's level threshold under the current level table."""

@final
class Instrumented:
    """The sync wrapper of the package's decorators (`rfs_monitoring._instrument.wrap`)."""

    __dict__: dict[str, Any]
    def __new__(
        cls, func: Callable[..., Any], observer: Any, fast: FastPath | None = None
    ) -> Instrumented: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, instance: object | None, owner: type | None = None, /) -> Any: ...
    def __reduce__(self) -> str | tuple[Any, ...]: ...

@final
class LaneInForce:
    """The log's lane in force (as ``_select_lane`` chose it) and the entry of a plain
    `Success` handed to it by its fields (`rfs_monitoring._logging.writer._lanes`)."""

    def __new__(
        cls, *, writer: Any, config: Any, masking: Any, sys: Any, bound: Callable[[], Any]
    ) -> LaneInForce: ...
    @property
    def lane(self) -> Any:
        """The lane chosen last: the core's pipeline, or None for the Python lane."""
    def chose(self, lane: Any, config: Any, masker: Any, stdout: Any) -> None:
        """Record the lane chosen for ``config``, ``masker`` and ``stdout``."""
    def forget(self) -> None:
        """Forget the choice: the next entry chooses again."""
    def chosen_for(self, config: Any, masker: Any, stdout: Any) -> tuple[bool, Any]:
        """``(True, lane)`` when the lane was chosen for these, else ``(False, None)``."""
    def current(self) -> Any:
        """The lane in force (chosen again when what it was chosen for changed)."""
    def emit_success(
        self, level: int, scope: Any, ms: float, success_type: str, step: str | None = None
    ) -> None:
        """Hand the entry of a plain `Success` over; never raises."""

@final
class SpanSwitch:
    """Whether spans may be produced, kept for the provider it was worked out for
    (`rfs_monitoring._bindings.spans`)."""

    on: bool
    provider: Any
    version: int
    def __new__(cls, provider: Any) -> SpanSwitch: ...

@final
class StepPath:
    """One observed step of MonoResult chains (``log_step`` / ``log_error``): a `Success` is
    closed, recorded and its entry handed to ``emit`` natively; anything else goes to the
    step's Python sinks. Never raises: a failure goes to ``report``."""

    def __new__(
        cls,
        name: str,
        errors_only: bool,
        success: type,
        *,
        sinks: Any,
        emit: Callable[[int, Any, float, str, str | None], None] | LaneInForce,
        collectors: Any,
        levels: Any,
        spans: Any,
    ) -> StepPath: ...
    @property
    def name(self) -> str:
        """The step's name."""
    @property
    def errors_only(self) -> bool:
        """Whether the step logs only failures (``log_error``)."""
    def __call__(self, scope: Any, result: Any, started: float) -> None:
        """One pass of a chain through the step."""

def bump_generation() -> None:
    """Tells every fast path that the process-wide collector changed."""

def perf_counter() -> float:
    """`time.perf_counter()` read through the native clock."""

@final
class HealthRow:
    """One operation's row for `judge_health`, read from elsewhere (a Prometheus source)."""

    def __new__(cls, *, operation: str, total: int, failures: int, p99_ms: float) -> HealthRow: ...
    @property
    def operation(self) -> str: ...
    @property
    def total(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def p99_ms(self) -> float: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class FiringAlert:
    """An alert firing for an operation, as the health route counts it."""

    def __new__(cls, *, operation: str, rule: str, severity: str) -> FiringAlert: ...
    @property
    def operation(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def severity(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Sample:
    """One sample of an extra family: its labels (in order) and its value."""

    def __new__(cls, value: float, labels: dict[str, str] | None = None) -> Sample: ...
    @property
    def value(self) -> float: ...
    @property
    def labels(self) -> dict[str, str]:
        """The labels, in the order given."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class Family:
    """A counter or gauge family added to an exposition (`expose`'s ``extra``); an unknown
    ``kind`` raises `rfs_monitoring.exceptions.InvalidArgumentError`."""

    def __new__(cls, *, name: str, help: str, kind: str, samples: Sequence[Sample]) -> Family: ...
    @property
    def name(self) -> str: ...
    @property
    def help(self) -> str: ...
    @property
    def kind(self) -> Literal["counter", "gauge"]:
        """``"counter"`` or ``"gauge"``."""
    @property
    def samples(self) -> list[Sample]: ...

@final
class PipelineState:
    """The log pipeline's counters and state (`LogPipeline.state`)."""

    @property
    def pending(self) -> int: ...
    @property
    def queued_bytes(self) -> int: ...
    @property
    def written(self) -> int: ...
    @property
    def diverted(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def sink_errors(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def last_error_time(self) -> float | None: ...
    @property
    def fallback_active(self) -> bool: ...

def judge_health(
    rows: Sequence[HealthRow],
    firing: Sequence[FiringAlert],
    degraded_below: float,
    unhealthy_below: float,
    min_requests: int,
) -> Health: ...
def expose(
    format: str,
    operations: Registry,
    steps: Registry | None = None,
    extra: Sequence[Family] = ...,
    separator: str = "\x1f",
) -> bytes: ...
def _fork_prepare() -> None: ...
def _fork_done() -> None: ...

@final
class TextMasker:
    """A masking policy for free text, applied in linear time (see ``rfs_monitoring.masking``)."""

    def __new__(cls, extra_keys: list[str] = ..., replacement: str = ...) -> TextMasker: ...
    @property
    def replacement(self) -> str: ...
    def mask(self, text: str) -> str: ...
    def is_sensitive_key(self, key: str) -> bool: ...

def mask_text(text: str) -> str: ...

@final
class RenderedChunks:
    """What `render_log_chunks` made of a batch: the chunks and the lines each holds, or the
    indices of the items left to Python (then no chunks)."""

    @property
    def chunks(self) -> list[str]: ...
    @property
    def lines(self) -> list[int]: ...
    @property
    def left(self) -> list[int]: ...

def render_log_chunks(
    batch: list[Any],
    masker: TextMasker,
    fixed_json: str,
    memory: str,
    cpu: str,
    format_exception: Callable[[BaseException], str],
    chunk_chars: int,
    masked_args: type,
) -> RenderedChunks: ...

@final
class LogPipeline:
    """The log pipeline: a bounded queue and the core's writer thread (see
    ``rfs_monitoring._logging.writer``)."""

    def __new__(
        cls,
        format_exception: Callable[[BaseException], str],
        masked_args: type,
        capacity: int = ...,
        max_bytes: int = ...,
        max_block: float = ...,
    ) -> LogPipeline: ...
    def configure(
        self, masker: TextMasker, fixed_json: str, pauses: Sequence[float], chunk_chars: int
    ) -> None: ...
    def set_masker(self, masker: TextMasker) -> None: ...
    def set_limits(self, capacity: int, max_bytes: int, max_block: float) -> None: ...
    def set_sink(self, fd: int, fallback: bool) -> None: ...
    def set_resources(self, memory: str, cpu: str) -> None: ...
    def put(self, raw: Any, size: int) -> int: ...
    def put_success(
        self,
        level: int,
        correlation_id: str,
        operation: str,
        ms: float,
        success_type: str,
        bound: Any,
        step: str | None = None,
    ) -> int: ...
    def put_line(self, line: str, size: int) -> int: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def give_up(self) -> int: ...
    def set_direct(self, seconds: float) -> None: ...
    def report(self) -> None: ...
    def state(self) -> PipelineState: ...

# -- correlation IDs (rust/bindings/src/correlation.rs) ----------------------------------------

def uuid4_hex() -> str:
    """A fresh UUID4 hex string (what ``uuid.uuid4().hex`` looks like), from OS randomness
    drawn in batches."""

def reset_uuid4_pool() -> None:
    """In a forked child: drops the IDs inherited from the parent (which it hands out next)."""

@final
class RequestIds:
    """What `CorrelationIdMiddleware` does per request around the application."""

    def __new__(
        cls,
        header: bytes,
        accept: Sequence[bytes],
        context: tuple[Any, Any, Any, Any, Any],
        echo: bool = True,
        generator: Callable[[], str] | None = None,
    ) -> RequestIds: ...
    def ids(self, headers: Iterable[Any]) -> tuple[str | None, str | None]:
        """The accepted correlation ID and the valid ``X-Request-ID`` of raw ASGI headers."""

    def enter(
        self, scope: MutableMapping[str, Any], send: Any, default: Callable[[], str]
    ) -> CorrelatedRequest | None:
        """Takes the request's ID, puts it in ``scope["state"]``, sets the request's context;
        ``None`` (nothing done) for a scope neither HTTP nor WebSocket."""

@final
class CorrelatedRequest:
    """One request under the middleware: its ``send`` and the context to restore."""

    def send(self, message: MutableMapping[str, Any]) -> Any:
        """Sends ``message``, with the ID header spliced into the response start."""

    @property
    def started(self) -> bool:
        """Whether the response start went through ``send``."""

    def leave(self) -> None:
        """The context variables back to their values from before the request."""

def splice_header(message: MutableMapping[str, Any], name: bytes, value: bytes) -> dict[str, Any]:
    """A copy of a response start ``message`` carrying the header ``(name, value)``, replacing
    any header of that name whatever its case; the header list is a new list."""
