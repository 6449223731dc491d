"""FastAPI monitoring routes: JSON metrics, health, top errors, alerts, Prometheus and a dashboard.

`monitoring_router` returns an `APIRouter` to include in any FastAPI app::

    app = FastAPI()
    app.include_router(monitoring_router())           # GET /monitoring/dashboard

Routes (under ``prefix``, default ``/monitoring``):

==========================================  ===================================================
``GET /operations?time_range=1h``            every operation with its summary numbers
``GET /operations/{name}/metrics``           `OperationMetrics` of one operation
``GET /operations/{name}/timeseries``        per-bucket points of a window (``points=60``)
``GET /health/result-patterns``              `ResultPatternHealth` (503 when unhealthy)
``GET /errors/top?limit=10&time_range=1h``   the most frequent errors
``GET /alerts``                              rules, alert states and recent transitions
``POST /alerts/configure``                   replace the rules and notifiers (write route)
``PUT /logging/level``                       change a log level at run time (write route)
``GET /metrics``                             Prometheus / OpenMetrics exposition
``GET /dashboard``                           the live dashboard page
==========================================  ===================================================

Every error is an RFC 9457 ``application/problem+json`` body; a bad query value is a 400
``VALIDATION_ERROR``, never a 500. Reads are open unless ``protect_reads=True``. Write routes are
refused with 403 until the router is given an ``auth`` dependency or a ``token`` (or the
``RFS_MONITORING_TOKEN`` environment variable); with a token they need
``Authorization: Bearer <token>`` (401 otherwise), checked before the request body is read.

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> from rfs_monitoring.metrics import ResultMetricsCollector
>>> collector = ResultMetricsCollector(sample_resources=False)
>>> collector.record("checkout", 12.5, success=True)
>>> app = FastAPI()
>>> app.include_router(monitoring_router(collector))
>>> client = TestClient(app)
>>> client.get("/monitoring/operations/checkout/metrics").json()["total_requests"]
1
>>> client.get("/monitoring/errors/top", params={"limit": 0}).json()["code"]
'VALIDATION_ERROR'
>>> client.put("/monitoring/logging/level", json={"level": "DEBUG"}).status_code
403
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import hmac
import importlib.resources
import json
import os
import re
from base64 import b64encode
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from rfs_monitoring._core import FiringAlert
from rfs_monitoring.alerts import (
    AlertConfiguration,
    AlertEvent,
    AlertManager,
    AlertRule,
    AlertState,
    CallbackNotifier,
)
from rfs_monitoring.context import correlation_id_from_headers
from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.exceptions import InvalidArgumentError
from rfs_monitoring.masking import mask
from rfs_monitoring.metrics import (
    SHARED_DIR_ENV,
    ErrorSummary,
    ExpositionFormat,
    MetricFamily,
    MetricSample,
    OperationMetrics,
    ResultMetricsCollector,
    TimeSeriesPoint,
    WorkersReport,
    parse_time_range,
)
from rfs_monitoring.prometheus_source import PrometheusSource
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.web import handle_result, problem_of_status, problem_response

if TYPE_CHECKING:
    from starlette.responses import Response as StarletteResponse


__all__ = [
    "AlertsOverview",
    "HealthThresholds",
    "LogLevelRequest",
    "LogLevelState",
    "LogWriterHealth",
    "OperationHealth",
    "OperationSummary",
    "OperationsOverview",
    "ResourceUsage",
    "ResultPatternHealth",
    "TimeSeries",
    "monitoring_router",
    "negotiate_exposition",
    "process_families",
    "prometheus_registry",
]

HealthStatus = Literal["healthy", "degraded", "unhealthy"]

DEGRADED_BELOW = 0.99
"""An operation whose success rate falls below this is ``degraded``."""
UNHEALTHY_BELOW = 0.90
"""An operation whose success rate falls below this is ``unhealthy``."""
HEALTH_MIN_REQUESTS = 20
"""Requests a window needs before its success rate is judged (one failure of one is noise)."""

TOKEN_ENV = "RFS_MONITORING_TOKEN"

# -- response models ---------------------------------------------------------------------------


@dataclass(slots=True)
class OperationSummary:
    """One row of the operations table (a plain slotted dataclass: the list holds up to 1000,
    and a frozen one costs seven times as much to build)."""

    name: str
    total_requests: int
    failed_requests: int
    success_rate: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    rps: float


class OperationsOverview(BaseModel):
    """Every operation with data in the window."""

    time_range: str
    generated_at: datetime
    operations: list[OperationSummary]


class TimeSeries(BaseModel):
    """Per-bucket points of one operation over a window, oldest first."""

    operation: str
    time_range: str
    points: list[TimeSeriesPoint]


class ResourceUsage(BaseModel):
    """The latest process resource sample."""

    rss_mb: float
    cpu_percent: float


class HealthThresholds(BaseModel):
    """The success rates that make an operation ``degraded`` or ``unhealthy``, and how many
    requests a window needs before its success rate is judged (``monitoring_router`` arguments)."""

    degraded_below: float = DEGRADED_BELOW
    unhealthy_below: float = UNHEALTHY_BELOW
    min_requests: int = HEALTH_MIN_REQUESTS


class OperationHealth(BaseModel):
    """Health of one operation and why."""

    operation: str
    status: HealthStatus
    total_requests: int
    success_rate: float
    p99_ms: float
    firing_alerts: list[str]
    reasons: list[str]


class LogWriterHealth(BaseModel):
    """The log writer's queue and counters (`rfs_monitoring.result_logging.log_writer_state`)."""

    queue_depth: int
    """Entries queued or being written."""
    queued_bytes: int
    written: int
    """Entries written to the configured sink."""
    diverted: int
    """Entries written to stderr because the sink kept failing."""
    dropped: int
    """Entries lost (queue full past the wait, nowhere to write)."""
    sink_errors: int
    last_error: str | None
    last_error_time: datetime | None
    fallback_active: bool
    """True while the sink keeps failing and entries go to stderr."""


class ResultPatternHealth(BaseModel):
    """Overall health of the Result-pattern operations: the worst operation's status.

    ``unhealthy`` when an operation's success rate is below ``thresholds.unhealthy_below``
    (default 0.90) or a critical alert fires, ``degraded`` below ``thresholds.degraded_below``
    (default 0.99) or when any other alert fires, else ``healthy``. Success rates are judged
    once a window holds ``thresholds.min_requests`` requests (default 20).
    """

    status: HealthStatus
    checked_at: datetime
    time_range: str
    total_operations: int
    total_requests: int
    success_rate: float
    firing_alerts: int
    operations: list[OperationHealth]
    resources: ResourceUsage | None
    thresholds: HealthThresholds = Field(default_factory=HealthThresholds)
    log_writer: LogWriterHealth


class AlertsOverview(BaseModel):
    """The rules, the state of every evaluated alert and the recent transitions (newest first)."""

    evaluating: bool
    """True when a background thread evaluates the rules; else they are evaluated per read."""
    rules: list[AlertRule]
    notifiers: list[dict[str, Any]]
    """The notifiers, with secrets (webhook headers, credentials in URLs) masked."""
    alerts: list[AlertState]
    """Every evaluated alert, firing first (only firing and pending ones with
    ``active_only=true``: a ``"*"`` rule has one alert per operation)."""
    history: list[AlertEvent]


class LogLevelRequest(BaseModel):
    """Body of ``PUT /logging/level``: a level for one operation, or for all when null."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    operation: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class LogLevelState(BaseModel):
    """The level in force after a change."""

    level: str
    operation: str | None


# -- Prometheus --------------------------------------------------------------------------------


class _ResultCollector(Collector):
    """Exposes the collector's lifetime totals as Prometheus metric families at scrape time.

    The families are the core's own exposition, read back by prometheus_client's parser: the
    names, help texts, labels and values are defined once, in `ResultMetricsCollector.expose`.
    """

    def __init__(self, source: Callable[[], ResultMetricsCollector]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        text = self._source().expose("text", _log_writer_families()).decode()
        yield from text_string_to_metric_families(text)


PROTOBUF_CONTENT_TYPE = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def negotiate_exposition(accept: str) -> tuple[ExpositionFormat, str]:
    """The exposition format and content type for an ``Accept`` header: the Prometheus
    protobuf format (native histograms) or OpenMetrics text when the scraper ranks them first
    (by ``q``, then order), else Prometheus text 0.0.4.

    >>> negotiate_exposition("application/openmetrics-text; version=1.0.0")[0]
    'openmetrics'
    >>> negotiate_exposition(
    ...     "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
    ...     "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"
    ... )[0]
    'protobuf'
    >>> negotiate_exposition("*/*")[0]
    'text'
    """
    ranked: list[tuple[float, int, ExpositionFormat]] = []
    for position, part in enumerate(accept.split(",")):
        media, *raw_params = (item.strip() for item in part.split(";"))
        params = dict(p.partition("=")[::2] for p in raw_params)
        try:
            quality = float(params.get("q", "1") or "1")
        except ValueError:
            quality = 0.0
        media = media.lower()
        if (
            media == "application/vnd.google.protobuf"
            and params.get("proto") == "io.prometheus.client.MetricFamily"
            and params.get("encoding") == "delimited"
        ):
            ranked.append((quality, -position, "protobuf"))
        elif media == "application/openmetrics-text":
            ranked.append((quality, -position, "openmetrics"))
        elif media in ("text/plain", "*/*", "text/*"):
            ranked.append((quality, -position, "text"))
    chosen = max(ranked, default=(1.0, 0, "text"))
    if chosen[0] <= 0:
        chosen = (1.0, 0, "text")
    content_type = {
        "protobuf": PROTOBUF_CONTENT_TYPE,
        "openmetrics": OPENMETRICS_CONTENT_TYPE,
        "text": TEXT_CONTENT_TYPE,
    }[chosen[2]]
    return chosen[2], content_type


_process_collectors: list[Collector] = []


def process_families() -> list[MetricFamily]:
    """The standard ``process_*`` and ``python_info`` metrics (prometheus_client's collectors)
    as families for `ResultMetricsCollector.expose`."""
    if not _process_collectors:
        _process_collectors.extend(
            [ProcessCollector(registry=None), PlatformCollector(registry=None)]
        )
    families: list[MetricFamily] = []
    for source in _process_collectors:
        for metric in source.collect():
            kind = "counter" if metric.type == "counter" else "gauge"
            wanted = f"{metric.name}_total" if kind == "counter" else metric.name
            samples = [
                MetricSample(float(sample.value), dict(sorted(sample.labels.items())))
                for sample in metric.samples
                if sample.name == wanted
            ]
            help_text = metric.documentation
            families.append(
                MetricFamily(name=metric.name, help=help_text, kind=kind, samples=samples)
            )
    return families


def _log_writer_families() -> list[MetricFamily]:
    """The log writer's counters as families for `ResultMetricsCollector.expose`."""
    from rfs_monitoring.result_logging import log_writer_state

    writer = log_writer_state()
    return [
        MetricFamily(name=name, help=help_text, kind="counter", samples=[MetricSample(value)])
        for name, help_text, value in _log_writer_counters(writer.dropped, writer.sink_errors)
    ]


def _log_writer_counters(dropped: int, sink_errors: int) -> list[tuple[str, str, int]]:
    return [
        (
            "rfs_log_entries_dropped",
            "Log entries lost: queue full past the wait, no sink left to write to, or unwritten "
            "at exit.",
            dropped,
        ),
        (
            "rfs_log_sink_errors",
            "Failed writes to the log sink (each is retried, then written to stderr).",
            sink_errors,
        ),
    ]


def prometheus_registry(
    collector: ResultMetricsCollector | None = None, *, process_metrics: bool = True
) -> CollectorRegistry:
    """A private registry exposing ``collector`` (default: the process-wide one, looked up at
    each scrape) and, unless disabled, the ``process_*`` and ``python_info`` metrics.

    >>> from prometheus_client import generate_latest
    >>> c = ResultMetricsCollector(sample_resources=False)
    >>> c.record("search", 30.0, success=False, error_code="TIMEOUT_ERROR")
    >>> text = generate_latest(prometheus_registry(c, process_metrics=False)).decode()
    >>> 'rfs_operation_errors_total{error_code="TIMEOUT_ERROR",operation="search"} 1.0' in text
    True
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        _ResultCollector(lambda: collector if collector is not None else _default_collector())
    )
    if process_metrics:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry


def _default_collector() -> ResultMetricsCollector:
    return ResultMetricsCollector.instance()


# -- dashboard page ----------------------------------------------------------------------------


@cache
def _dashboard() -> tuple[bytes, str]:
    """The page and its Content-Security-Policy, which allows exactly its inline script (inline
    styles are allowed: the page sets bar widths with style attributes)."""
    page = (importlib.resources.files("rfs_monitoring") / "static" / "dashboard.html").read_text(
        encoding="utf-8"
    )

    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        return " ".join(
            f"'sha256-{b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
            for body in found
        )

    policy = (
        f"default-src 'none'; script-src {hashes('script')}; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return page.encode("utf-8"), policy


# -- problems and guards -----------------------------------------------------------------------


_STATUS_CODES = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.VALIDATION_ERROR,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


def _from_http_exception(exc: StarletteHTTPException) -> APIError:
    code = _STATUS_CODES.get(exc.status_code)
    if code is None:
        code = (
            ErrorCode.VALIDATION_ERROR if exc.status_code < 500 else ErrorCode.SERVICE_UNAVAILABLE
        )
    detail = exc.detail if isinstance(exc.detail, str) else code.problem_title
    return APIError(code, detail, status_code=exc.status_code, headers=exc.headers)


def _from_validation_error(exc: RequestValidationError) -> APIError:
    errors = [
        {
            "location": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
        }
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"location": "request", "message": "invalid"}
    return APIError.validation_error(
        f"invalid {first['location']}: {first['message']}", {"errors": errors}
    )


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# Worded so that secret masking (which hides whatever follows "token=" or "Bearer") keeps it.
_DISABLED = (
    "The monitoring write routes are disabled. To enable them, give monitoring_router() a token "
    "(its token argument or the RFS_MONITORING_TOKEN environment variable; clients then put "
    'that token in the Authorization header after "Bearer") or a FastAPI dependency as its '
    "auth argument."
)


def _guarded_route_class(token: str | None, has_auth: bool, protect_reads: bool) -> type[APIRoute]:
    """A route class that checks access before FastAPI reads the body, and turns every error of
    these routes (validation, HTTPException, APIError) into a problem+json response."""
    expected = token.encode() if token else None

    def check(request: Request, write: bool) -> None:
        if not write and not protect_reads:
            return
        if expected is None and not has_auth:
            raise APIError.forbidden(_DISABLED, {"enable_with": ["token", TOKEN_ENV, "auth"]})
        if expected is not None:
            given = _bearer_token(request)
            if given is None or not hmac.compare_digest(given.encode(), expected):
                raise APIError(
                    ErrorCode.UNAUTHORIZED,
                    "authentication required: put the monitoring token (RFS_MONITORING_TOKEN) in "
                    'the Authorization header after "Bearer"',
                    headers={"WWW-Authenticate": 'Bearer realm="rfs-monitoring"'},
                )

    class GuardedRoute(APIRoute):
        async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
            if self.methods and scope["method"] not in self.methods:
                allowed = ", ".join(sorted(self.methods))
                error = problem_of_status(
                    405, f"{scope['method']} is not allowed here (allowed: {allowed})",
                    {"Allow": allowed},
                )  # fmt: skip
                correlation_id = correlation_id_from_headers(Headers(scope=scope))
                await problem_response(error, correlation_id)(scope, receive, send)
                return
            await super().handle(scope, receive, send)

        def get_route_handler(
            self,
        ) -> Callable[[Request], Coroutine[Any, Any, StarletteResponse]]:
            handler = super().get_route_handler()
            write = bool((self.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"})
            public = self.path.endswith("/dashboard")

            async def guarded(request: Request) -> StarletteResponse:
                try:
                    if not public:
                        check(request, write)
                    if write:
                        request = _size_limited(request)
                    return await handler(request)
                except APIError as exc:
                    return problem_response(exc)
                except RequestValidationError as exc:
                    return problem_response(_from_validation_error(exc))
                except StarletteHTTPException as exc:
                    if isinstance(exc.__cause__, _BodyTooLarge):
                        return problem_response(_too_large())
                    return problem_response(_from_http_exception(exc))
                except _BodyTooLarge:
                    return problem_response(_too_large())

            return guarded

    return GuardedRoute


MAX_BODY_BYTES = 1_048_576
"""The largest request body the write routes read (1 MiB); a larger one is a 413 problem,
refused from its ``Content-Length`` before anything is read, or as soon as the bytes received
pass the limit."""


class _BodyTooLarge(Exception):
    """The request body passed `MAX_BODY_BYTES`."""


def _too_large() -> APIError:
    return APIError.payload_too_large(
        f"the request body is larger than {MAX_BODY_BYTES} bytes",
        {"max_bytes": MAX_BODY_BYTES},
    )


def _size_limited(request: Request) -> Request:
    """``request`` reading at most `MAX_BODY_BYTES` of body (`_BodyTooLarge` past them)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise _BodyTooLarge
    received = 0
    source = request.receive

    async def receive() -> Message:
        nonlocal received
        message = await source()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise _BodyTooLarge
        return message

    return Request(request.scope, receive)


# -- the router --------------------------------------------------------------------------------


_UNITS = (("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400), ("w", 604_800))


def _up_to(limit: int) -> str:
    """A regex alternation matching the decimal integers 1..``limit`` (no leading zeros).

    >>> import re
    >>> pattern = re.compile(f"(?:{_up_to(168)})")
    >>> [n for n in range(0, 1000) if pattern.fullmatch(str(n))] == list(range(1, 169))
    True
    """
    digits = str(limit)
    parts = [
        "[1-9]" + (f"[0-9]{{{width - 1}}}" if width > 1 else "") for width in range(1, len(digits))
    ]
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            rest = len(digits) - i - 1
            parts.append(
                f"{digits[:i]}[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else "")
            )
    parts.append(digits)
    return "|".join(parts)


class _OperationName(Convertor[str]):
    """An operation name in a route path: like Starlette's ``path`` (slashes included), and
    any other character too (a newline, as ``%0A``), so every name reaches the route and an
    unknown one is a 404 problem, not the app's plain 404."""

    regex = "[\\s\\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("rfs_operation", _OperationName())


def _time_range_pattern(retention_seconds: int) -> str:
    """The pattern of the time ranges a collector with this retention answers: ``<n><unit>``
    with ``n * unit`` at most the retention, so every value the schema allows is accepted.

    >>> import re
    >>> pattern = re.compile(_time_range_pattern(3_600))
    >>> [bool(pattern.fullmatch(v)) for v in ("3600s", "3601s", "60m", "61m", "1h", "2h", "0h")]
    [True, False, True, False, True, False, False]
    """
    choices = [
        f"(?:{_up_to(retention_seconds // unit)}){suffix}"
        for suffix, unit in _UNITS
        if retention_seconds >= unit
    ]
    return "^(?:" + "|".join(choices) + ")$"


def monitoring_router(
    collector: ResultMetricsCollector | None = None,
    alert_manager: AlertManager | None = None,
    *,
    prefix: str = "/monitoring",
    auth: Callable[..., Any] | None = None,
    token: str | None = None,
    protect_reads: bool = False,
    degraded_below: float = DEGRADED_BELOW,
    unhealthy_below: float = UNHEALTHY_BELOW,
    health_min_requests: int = HEALTH_MIN_REQUESTS,
    source: PrometheusSource | None = None,
) -> APIRouter:
    """The monitoring routes (see the module docs) as an `APIRouter`.

    ``collector`` defaults to `ResultMetricsCollector.instance()`, looked up per request.
    ``alert_manager`` defaults to a manager owned by the router, over the same collector; it
    starts evaluating in the background once rules are configured. ``auth`` is a FastAPI
    dependency run on protected routes (it raises to refuse); ``token`` (default: the
    ``RFS_MONITORING_TOKEN`` environment variable) is compared in constant time with the bearer
    token. ``protect_reads`` applies the same checks to the read routes (the dashboard page
    itself stays public: it holds no data, and asks for the token when the API answers 401).

    ``GET /health/result-patterns`` calls an operation ``unhealthy`` below the success rate
    ``unhealthy_below`` and ``degraded`` below ``degraded_below`` (0 <= unhealthy_below <=
    degraded_below <= 1), once its window holds ``health_min_requests`` requests; the values
    show in the route's OpenAPI description and in each answer's ``thresholds``. A bad value is
    an `InvalidArgumentError` (a `ValueError`) here.

    ``source`` answers the data routes (operations, metrics, time series, health, top errors)
    from a Prometheus server over the whole fleet instead of this process
    (`rfs_monitoring.prometheus_source.PrometheusSource`); ``/metrics`` still exposes this
    process, for Prometheus to scrape.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise InvalidArgumentError("token must not be blank")
    if protect_reads and auth is None and token is None:
        raise InvalidArgumentError(
            f"protect_reads=True needs auth=... or token=... (or {TOKEN_ENV})"
        )
    limits = _health_thresholds(degraded_below, unhealthy_below, health_min_requests)

    def local() -> ResultMetricsCollector:
        return collector if collector is not None else ResultMetricsCollector.instance()

    def data() -> ResultMetricsCollector | PrometheusSource:
        return source if source is not None else local()

    owns_manager = alert_manager is None
    manager = alert_manager if alert_manager is not None else AlertManager(collector)

    dependencies = [Depends(auth)] if auth is not None else []
    router = APIRouter(
        prefix=prefix,
        tags=["monitoring"],
        route_class=_guarded_route_class(token, auth is not None, protect_reads),
    )
    protected = dependencies if protect_reads else []
    # The ranges the collector answers, stated in the OpenAPI schema (and checked by FastAPI).
    known: ResultMetricsCollector | PrometheusSource | None = (
        source if source is not None else collector or ResultMetricsCollector._instance
    )
    if isinstance(known, ResultMetricsCollector):
        retention = known.horizon_seconds  # the archive's days on a shared directory
    elif known is None and os.environ.get(SHARED_DIR_ENV):
        retention = 30 * 86_400  # the default collector will be on that directory
    else:
        retention = parse_time_range(known.retention if known is not None else "1w").unwrap_or(
            604_800
        )
    pattern = _time_range_pattern(retention)

    def time_range_query(default: str) -> Any:
        return Query(
            default,
            pattern=pattern,
            max_length=9,
            description="A window such as 5m, 1h, 1d or 1w, at most the collector's retention",
        )

    # Routes that walk every operation (or rule) are plain `def`s: FastAPI runs them in its
    # thread pool, so a dashboard over hundreds of operations never stalls the service's loop.

    def fresh_alerts() -> None:
        if not manager.running:
            manager.evaluate()

    @router.get(
        "/operations",
        response_model=OperationsOverview,
        summary="Every operation with its summary numbers",
        dependencies=protected,
    )
    @handle_result
    def list_operations(
        time_range: str = time_range_query("1h"),
    ) -> Result[OperationsOverview, APIError]:
        # The body as bytes: the rows come from the core as JSON, so a list of 1000 operations
        # creates no Python object per row (no garbage for the cycle collector to walk inside
        # the request). The response model above documents the same shape.
        def body(rows: bytes) -> Any:
            head = json.dumps(
                {"time_range": time_range, "generated_at": datetime.now(UTC).isoformat()}
            )
            return Response(
                head[:-1].encode() + b',"operations":' + rows + b"}",
                media_type="application/json",
            )

        return data()._rows_json(time_range).map(body)

    @router.get(
        "/operations/{name:rfs_operation}/metrics",
        response_model=OperationMetrics,
        summary="Metrics of one operation over a window",
        dependencies=protected,
    )
    @handle_result
    async def operation_metrics(
        name: str, time_range: str = time_range_query("1h")
    ) -> Result[OperationMetrics, APIError]:
        d = data()
        if isinstance(d, PrometheusSource):  # network I/O: off the event loop
            return await run_in_threadpool(d.operation_metrics, name, time_range)
        return d.operation_metrics(name, time_range)  # the core answers in microseconds

    @router.get(
        "/operations/{name:rfs_operation}/timeseries",
        response_model=TimeSeries,
        summary="Per-bucket points of one operation over a window",
        dependencies=protected,
    )
    @handle_result
    async def operation_timeseries(
        name: str,
        time_range: str = time_range_query("1h"),
        points: Annotated[int, Query(ge=1, le=1000)] = 60,
    ) -> Result[TimeSeries, APIError]:
        d = data()
        if isinstance(d, PrometheusSource):  # network I/O: off the event loop
            found = await run_in_threadpool(d.time_series, name, time_range, points)
        else:
            found = d.time_series(name, time_range, points)
        return found.map(lambda pts: TimeSeries(operation=name, time_range=time_range, points=pts))

    @router.get(
        "/health/result-patterns",
        response_model=ResultPatternHealth,
        summary="Health of the Result-pattern operations (503 when unhealthy)",
        description=(
            "The worst operation's status over the window (`time_range`, default 5m): "
            f"`unhealthy` when an operation's success rate is below {limits.unhealthy_below:g} "
            f"or a critical alert fires, `degraded` below {limits.degraded_below:g} or when "
            "any other alert fires, else `healthy`. Success rates are judged once the window "
            f"holds {limits.min_requests} requests. The thresholds are `monitoring_router` "
            "arguments (`unhealthy_below`, `degraded_below`, `health_min_requests`) and are "
            "echoed in `thresholds`. Answers 503 when unhealthy."
        ),
        responses={503: {"model": ResultPatternHealth, "description": "Unhealthy"}},
        dependencies=protected,
    )
    @handle_result
    def result_pattern_health(
        time_range: str = time_range_query("5m"),
    ) -> Result[Any, APIError]:  # a ResultPatternHealth body, written as bytes
        c = data()
        fresh_alerts()
        firing = [
            FiringAlert(operation=a.operation, rule=a.rule, severity=a.severity)
            for a in manager.firing()
        ]
        limits_tuple = (limits.degraded_below, limits.unhealthy_below, limits.min_requests)
        # The rows are judged and written as JSON by the core (also validating the range):
        # a health check over 1000 operations builds no Python object per operation.
        judged = c._health_json(time_range, firing, limits_tuple)
        if isinstance(judged, Failure):
            return judged
        health = judged.unwrap()
        rows, total = health.rows_json, health.total
        sample = c.latest_resource_sample()
        head = ResultPatternHealth(
            status=cast(HealthStatus, health.status),
            checked_at=datetime.now(UTC),
            time_range=time_range,
            total_operations=health.operations,
            total_requests=total,
            success_rate=(total - health.failed) / total if total else 1.0,
            firing_alerts=health.firing,
            operations=[],
            resources=None
            if sample is None
            else ResourceUsage(rss_mb=sample[0], cpu_percent=sample[1]),
            thresholds=limits,
            log_writer=_log_writer_health(),
        ).model_dump_json()
        before, marker, after = head.partition('"operations":[]')
        return Success(
            Response(
                before.encode() + marker[:-2].encode() + rows + after.encode(),
                status_code=503 if health.status == "unhealthy" else 200,
                media_type="application/json",
            )
        )

    @router.get(
        "/errors/top",
        response_model=list[ErrorSummary],
        summary="The most frequent errors, messages masked",
        dependencies=protected,
    )
    @handle_result
    async def top_errors(
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
        time_range: str = time_range_query("1h"),
    ) -> Result[Any, APIError]:  # list[ErrorSummary], written as bytes
        c = data()
        if isinstance(c, PrometheusSource):  # network I/O: off the event loop
            return await run_in_threadpool(
                lambda: c._window(time_range).map(lambda _: c.top_errors(limit, time_range))
            )
        if isinstance(c, ResultMetricsCollector):
            # Rows written by the core, no Python object per row (unless custom masking
            # patterns need Python).
            written = c._top_errors_json(limit, time_range)
            if written is not None:
                return written.map(lambda rows: Response(rows, media_type="application/json"))
        return c._window(time_range).map(lambda _: c.top_errors(limit, time_range))

    @router.get(
        "/workers",
        response_model=WorkersReport,
        summary="The processes whose data the answers merge, each with its numbers",
        dependencies=protected,
    )
    @handle_result
    def workers(time_range: str = time_range_query("1h")) -> Result[WorkersReport, APIError]:
        # Per process: this one alone, or every live process on the shared directory.
        return local().workers(time_range)

    @router.get(
        "/alerts",
        response_model=AlertsOverview,
        summary="Alert rules, states and recent history",
        dependencies=protected,
    )
    @handle_result
    def alerts(
        history: Annotated[int, Query(ge=0, le=1000)] = 50,
        active_only: bool = False,
    ) -> Result[AlertsOverview, APIError]:
        fresh_alerts()
        config = manager.config
        states = manager.states()
        if active_only:
            states = [state for state in states if state.status in ("firing", "pending")]
        return Success(
            AlertsOverview(
                evaluating=manager.running,
                rules=[r.model_copy(update={"labels": mask(r.labels)}) for r in config.rules],
                notifiers=[mask(n.model_dump(mode="json")) for n in config.notifiers],
                alerts=states,
                history=manager.history(limit=history),
            )
        )

    @router.post(
        "/alerts/configure",
        response_model=str,
        summary="Replace the alert rules and notifiers",
        dependencies=dependencies,
    )
    @handle_result
    async def configure_alerts(config: AlertConfiguration) -> Result[str, APIError]:
        for rule in config.rules:  # a window past the retention could never be evaluated
            window = local()._window(rule.window)
            if isinstance(window, Failure):
                return Failure(
                    APIError.validation_error(
                        f"rule {rule.name!r}: window {rule.window!r} is longer than the "
                        f"collector's retention ({local().retention})",
                        {"rule": rule.name, "window": rule.window},
                    )
                )
        kept = [n for n in manager.config.notifiers if isinstance(n, CallbackNotifier)]
        manager.configure(config.model_copy(update={"notifiers": [*config.notifiers, *kept]}))
        # Judge the new rules now, so GET /alerts shows them before the next background pass.
        await run_in_threadpool(manager.evaluate)
        if owns_manager and config.rules:
            manager.start()
        return Success(
            f"configured {len(config.rules)} alert rule(s) and {len(config.notifiers)} notifier(s)"
        )

    @router.put(
        "/logging/level",
        response_model=LogLevelState,
        summary="Change the log level at run time, for every operation or one",
        dependencies=dependencies,
    )
    @handle_result
    async def logging_level(body: LogLevelRequest) -> Result[LogLevelState, APIError]:
        from rfs_monitoring import result_logging

        try:
            result_logging.set_log_level(body.level, body.operation)
        except ValueError as exc:
            return Failure(APIError.validation_error(str(exc)))
        return Success(
            LogLevelState(
                level=result_logging.get_log_level(body.operation), operation=body.operation
            )
        )

    @router.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus exposition: text 0.0.4, OpenMetrics 1.0 or protobuf (native "
        "histograms), as the Accept header asks",
        responses={
            200: {
                "content": {
                    "text/plain": {},
                    "application/openmetrics-text": {},
                    "application/vnd.google.protobuf": {},
                }
            }
        },
        dependencies=protected,
    )
    def prometheus_metrics(request: Request) -> Response:
        format, content_type = negotiate_exposition(request.headers.get("accept", ""))
        body = local().expose(format, [*process_families(), *_log_writer_families()])
        # Prometheus asks for gzip; with hundreds of operations the text is megabytes.
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                gzip.compress(body, compresslevel=1),
                media_type=content_type,
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        return Response(body, media_type=content_type, headers={"Vary": "Accept-Encoding"})

    @router.get(
        "/dashboard",
        response_class=HTMLResponse,
        summary="The live monitoring dashboard",
    )
    async def dashboard() -> Response:
        page, policy = _dashboard()
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": policy,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    return router


def _log_writer_health() -> LogWriterHealth:
    from rfs_monitoring.result_logging import log_writer_state

    # The same fields; pydantic reads the Unix `last_error_time` as a UTC datetime.
    return LogWriterHealth.model_validate(dataclasses.asdict(log_writer_state()))


def _health_thresholds(
    degraded_below: float, unhealthy_below: float, min_requests: int
) -> HealthThresholds:
    rates = (unhealthy_below, degraded_below)
    if not all(isinstance(r, int | float) and not isinstance(r, bool) for r in rates) or not (
        0.0 <= unhealthy_below <= degraded_below <= 1.0
    ):
        raise InvalidArgumentError(
            "health thresholds need 0 <= unhealthy_below <= degraded_below <= 1, got "
            f"unhealthy_below={unhealthy_below!r}, degraded_below={degraded_below!r}"
        )
    if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 1:
        raise InvalidArgumentError(
            f"health_min_requests must be an integer >= 1, got {min_requests!r}"
        )
    return HealthThresholds(
        degraded_below=float(degraded_below),
        unhealthy_below=float(unhealthy_below),
        min_requests=min_requests,
    )
