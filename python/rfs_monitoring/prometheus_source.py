"""The monitoring routes and dashboard answered from Prometheus, over the whole fleet.

A process only knows its own samples. When several workers or hosts export ``/metrics`` to a
Prometheus server, ``monitoring_router(source=PrometheusSource(url, selector))`` answers the
same JSON routes, and so the same dashboard page, from PromQL over every instance:

- counts and success rates from ``rfs_operations_total``, error breakdowns and top error codes
  from ``rfs_operation_errors_total`` (``increase`` over the window);
- p50/p90/p99/max and averages from the native histograms of
  ``rfs_operation_duration_seconds`` (Prometheus run with
  ``--enable-feature=native-histograms``), and the same for the steps;
- requests per second, per-bucket time series (``query_range``) and the hourly distribution.

A Prometheus that cannot be reached, answers an error or sends something unreadable is a
502 problem; one that does not answer within ``timeout`` seconds a 504. Nothing waits longer.
Counts are Prometheus' extrapolated ``increase`` rounded to integers; top errors carry the
error code as their message (Prometheus holds no messages) and the window's bounds as first and
last seen.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from rfs_monitoring import _core
from rfs_monitoring._headline import LATENCIES, Latency
from rfs_monitoring.errors import APIError
from rfs_monitoring.exceptions import InvalidArgumentError
from rfs_monitoring.metrics import (
    ErrorSummary,
    OperationMetrics,
    StepMetrics,
    TimeSeriesPoint,
    parse_time_range,
)
from rfs_monitoring.result import Failure, Result, Success

__all__ = ["PrometheusSource"]

_DURATION = "rfs_operation_duration_seconds"
_ERROR = 'outcome="error"'
_STEP_DURATION = "rfs_step_duration_seconds"
# Prometheus keeps no minimum: every other headline latency is a quantile of the histogram
# (the maximum its rank 1) or, for the mean, its sum over its count.
_ESTIMATED = tuple(latency for latency in LATENCIES if latency.rank != 0.0)
# What the short records (`StepMetrics`, `TimeSeriesPoint`, the operations list) carry.
_SHORT = tuple(row for row in _ESTIMATED if row.short in StepMetrics.__dataclass_fields__)


class _PrometheusError(Exception):
    def __init__(self, error: APIError) -> None:
        super().__init__(error.message)
        self.error = error


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _number(sample: dict[str, Any]) -> float:
    value = float(sample["value"][1])
    return value if math.isfinite(value) else 0.0


def _increase(series: str, window: str) -> str:
    """The increase of a counter over the window, counting a series born inside it from zero:
    ``increase()`` alone skips a new series' first sample (a new error code's first burst)."""
    return f"(increase({series}[{window}]) and {series} offset {window}) or {series}"


def _latency_promql(latency: Latency, rates: str) -> str:
    """The PromQL of one headline latency, in seconds, over a histogram's ``rates``."""
    if latency.rank is None:
        return f"histogram_sum({rates}) / histogram_count({rates})"
    return f"histogram_quantile({latency.rank:g}, {rates})"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PrometheusSource:
    """Where the monitoring routes read from when they answer for a fleet: a Prometheus base
    URL (``http://prometheus:9090``) and a label selector for the instances to include
    (``'job="users-api"'``; empty for every series).

    ``retention`` bounds the windows the routes accept (Prometheus' own retention, 15 days by
    default); ``timeout`` bounds each query; ``clock`` is for tests.
    """

    def __init__(
        self,
        url: str,
        selector: str = "",
        *,
        timeout: float = 5.0,
        retention: str = "15d",
        clock: Callable[[], float] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidArgumentError(
                f"the Prometheus URL must start with http:// or https://: {url!r}"
            )
        if not (math.isfinite(timeout) and timeout > 0):
            raise InvalidArgumentError(
                f"timeout must be a positive number of seconds, got {timeout!r}"
            )
        seconds = parse_time_range(retention)
        if seconds.is_failure():
            raise InvalidArgumentError(f"retention must look like 1d or 15d, got {retention!r}")
        self.url = url.rstrip("/")
        self.selector = selector.strip()
        self.timeout = timeout
        self.retention = retention
        self._retention_seconds = seconds.unwrap()
        self._clock = clock if clock is not None else time.time
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url!r}, selector={self.selector!r})"

    @property
    def clock(self) -> Callable[[], float]:
        """The clock the windows end at."""
        return self._clock

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- PromQL --------------------------------------------------------------------------------

    def _matchers(self, *extra: str) -> str:
        return "{" + ",".join(m for m in (self.selector, *extra) if m) + "}"

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        # httpx's timeout bounds each read; the deadline bounds the whole answer, so a server
        # that trickles its body cannot hold a request for longer than the timeout.
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        try:
            with self._client.stream("GET", f"{self.url}{path}", params=params) as response:
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("no whole answer before the deadline")
        except httpx.TimeoutException:
            raise _PrometheusError(
                APIError.timeout_error(f"Prometheus did not answer within {self.timeout:g} s")
            ) from None
        except httpx.HTTPError as exc:
            raise _PrometheusError(
                APIError.external_service_error(
                    f"Prometheus cannot be reached ({type(exc).__name__})"
                )
            ) from None
        try:
            body = json.loads(b"".join(chunks))
        except ValueError:
            body = None
        answered = isinstance(body, dict) and body.get("status") == "success"
        if response.status_code != 200 or not answered:
            raise _PrometheusError(
                APIError.external_service_error(
                    f"Prometheus answered {response.status_code} to a query"
                )
            )
        return body["data"]["result"]

    def _vector(self, promql: str, at: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/v1/query", {"query": promql, "time": at})
        return result

    def _by(self, label: str, promql: str, at: float) -> dict[str, float]:
        return {s["metric"].get(label, ""): _number(s) for s in self._vector(promql, at)}

    def _range(self, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            "/api/v1/query_range", {"query": promql, "start": start, "end": end, "step": step}
        )
        return result

    # -- what the routes ask -------------------------------------------------------------------

    def _window(self, time_range: object) -> Result[int, APIError]:
        return parse_time_range(time_range, max_seconds=self._retention_seconds)

    def latest_resource_sample(self) -> tuple[float, float] | None:
        """No process resources: the fleet has many."""
        return None

    def _headlines(
        self,
        window: int,
        now: float,
        operation: str | None = None,
        family: str = _DURATION,
        latencies: tuple[Latency, ...] = _SHORT,
    ) -> dict[str, dict[str, float]]:
        """Per operation (or per step of ``operation``): total, failures, rps and the
        ``latencies`` (milliseconds, under their short names) over the window."""
        w = f"{window}s"
        label = "operation" if operation is None else "step"
        scope = () if operation is None else (f'operation="{_escape(operation)}"',)
        counter = "rfs_operations_total" if family == _DURATION else "rfs_steps_total"
        all_calls = _increase(f"{counter}{self._matchers(*scope)}", w)
        failed_calls = _increase(f"{counter}{self._matchers(*scope, _ERROR)}", w)
        totals = self._by(label, f"sum by ({label}) ({all_calls})", now)
        errors = self._by(label, f"sum by ({label}) ({failed_calls})", now)
        rates = f"sum by ({label}) (rate({family}{self._matchers(*scope)}[{w}]))"
        seconds = {
            latency.short: self._by(label, _latency_promql(latency, rates), now)
            for latency in latencies
        }
        rows: dict[str, dict[str, float]] = {}
        for name, total in totals.items():
            count = round(total)
            if count <= 0 or not name:
                continue
            row = {short: by_name.get(name, 0.0) * 1000 for short, by_name in seconds.items()}
            row["total"] = count
            row["failures"] = min(count, round(errors.get(name, 0.0)))
            row["rps"] = total / window
            rows[name] = row
        return rows

    def _guarded(self, query: Callable[[], Any]) -> Result[Any, APIError]:
        try:
            return Success(query())
        except _PrometheusError as exc:
            return Failure(exc.error)

    def _now_and_window(self, time_range: str) -> Result[tuple[float, int], APIError]:
        window = self._window(time_range)
        if isinstance(window, Failure):
            return window
        return Success((self._clock(), window.unwrap()))

    def _rows_json(self, time_range: str) -> Result[bytes, APIError]:
        """The operations list's rows as JSON bytes."""

        def rows(now_window: tuple[float, int]) -> Result[bytes, APIError]:
            now, window = now_window
            return self._guarded(
                lambda: json.dumps(
                    [
                        {
                            "name": name,
                            "total_requests": int(h["total"]),
                            "failed_requests": int(h["failures"]),
                            "success_rate": (h["total"] - h["failures"]) / h["total"],
                            **{latency.short: h[latency.short] for latency in _SHORT},
                            "rps": h["rps"],
                        }
                        for name, h in sorted(self._headlines(window, now).items())
                    ]
                ).encode()
            )

        return self._now_and_window(time_range).bind(rows)

    def _health_json(
        self,
        time_range: str,
        firing: Sequence[_core.FiringAlert],
        limits: tuple[float, float, int],
    ) -> Result[_core.Health, APIError]:
        """The health route's rows, judged by the same rules as for one process."""

        def judged(now_window: tuple[float, int]) -> Result[Any, APIError]:
            now, window = now_window
            return self._guarded(
                lambda: _core.judge_health(
                    [
                        _core.HealthRow(
                            operation=name,
                            total=int(h["total"]),
                            failures=int(h["failures"]),
                            p99_ms=h["p99_ms"],
                        )
                        for name, h in sorted(self._headlines(window, now).items())
                    ],
                    list(firing),
                    limits[0],
                    limits[1],
                    limits[2],
                )
            )

        return self._now_and_window(time_range).bind(judged)

    def list_operations(self, time_range: str = "1h") -> list[str]:
        """Operations with requests in the window, sorted (empty when Prometheus fails)."""
        listed = self._now_and_window(time_range).bind(
            lambda nw: self._guarded(lambda: sorted(self._headlines(nw[1], nw[0])))
        )
        return listed.unwrap_or([])

    def operation_metrics(
        self, name: str, time_range: str = "1h"
    ) -> Result[OperationMetrics, APIError]:
        """One operation's metrics over the window, over every instance."""
        if not isinstance(name, str) or not name:
            return Failure(APIError.validation_error("operation name must be a non-empty string"))
        return self._now_and_window(time_range).bind(
            lambda nw: self._guarded(lambda: self._operation_metrics(name, time_range, *nw))
        )

    def _operation_metrics(
        self, name: str, time_range: str, now: float, window: int
    ) -> OperationMetrics:
        rows = self._headlines(window, now, latencies=_ESTIMATED)
        h = rows.get(name)
        if h is None:
            raise _PrometheusError(APIError.not_found("operation", name))
        w = f"{window}s"
        scope = f'operation="{_escape(name)}"'
        errors = _increase(f"rfs_operation_errors_total{self._matchers(scope)}", w)
        codes = self._by("error_code", f"sum by (error_code) ({errors})", now)
        breakdown = {code: round(n) for code, n in codes.items() if round(n) > 0}
        hourly: dict[int, int] = {}
        if window >= 3600:
            series = self._range(
                f"sum(increase(rfs_operations_total{self._matchers(scope)}[1h]))",
                now - window + 3600,
                now,
                3600,
            )
            for sample in series:
                for at, value in sample["values"]:
                    count = round(float(value))
                    if count > 0:
                        hour = _utc(float(at) - 3600).hour
                        hourly[hour] = hourly.get(hour, 0) + count
        else:
            hourly[_utc(now).hour] = int(h["total"])
        steps = [
            StepMetrics(
                name=step,
                total_requests=int(s["total"]),
                failed_requests=int(s["failures"]),
                success_rate=(s["total"] - s["failures"]) / s["total"],
                **{latency.short: s[latency.short] for latency in _SHORT},
            )
            for step, s in sorted(self._headlines(window, now, name, _STEP_DURATION).items())
        ]
        total, failures = int(h["total"]), int(h["failures"])
        return OperationMetrics(
            operation_name=name,
            time_window=time_range,
            total_requests=total,
            successful_requests=total - failures,
            failed_requests=failures,
            success_rate=(total - failures) / total,
            **{latency.long: h[latency.short] for latency in _ESTIMATED},
            error_breakdown=breakdown,
            top_errors=sorted(breakdown.items(), key=lambda item: -item[1])[:10],
            avg_memory_usage_mb=0.0,
            avg_cpu_usage_percent=0.0,
            hourly_distribution=hourly,
            window_start=_utc(now - window),
            window_end=_utc(now),
            throughput_rps=h["rps"],
            steps=steps,
        )

    def time_series(
        self, name: str, time_range: str = "1h", points: int = 60
    ) -> Result[list[TimeSeriesPoint], APIError]:
        """The operation over the window as about ``points`` consecutive points."""
        return self._now_and_window(time_range).bind(
            lambda nw: self._guarded(lambda: self._time_series(name, points, *nw))
        )

    def _time_series(
        self, name: str, points: int, now: float, window: int
    ) -> list[TimeSeriesPoint]:
        step = max(1, math.ceil(window / max(1, points)))
        start = now - window + step
        scope = f'operation="{_escape(name)}"'
        s = f"{step}s"

        def values(promql: str) -> dict[float, float]:
            found: dict[float, float] = {}
            for sample in self._range(promql, start, now, step):
                for at, value in sample["values"]:
                    number = float(value)
                    found[float(at)] = number if math.isfinite(number) else 0.0
            return found

        total = values(f"sum(increase(rfs_operations_total{self._matchers(scope)}[{s}]))")
        errors = values(f"sum(increase(rfs_operations_total{self._matchers(scope, _ERROR)}[{s}]))")
        rates = f"sum(rate({_DURATION}{self._matchers(scope)}[{s}]))"
        seconds = {latency.short: values(_latency_promql(latency, rates)) for latency in _SHORT}
        series = []
        for at in sorted(total):
            count = round(total[at])
            failed = min(count, round(errors.get(at, 0.0)))
            series.append(
                TimeSeriesPoint(
                    start=_utc(at - step),
                    seconds=step,
                    total=count,
                    successes=count - failed,
                    failures=failed,
                    success_rate=(count - failed) / count if count else 1.0,
                    **{short: by_time.get(at, 0.0) * 1000 for short, by_time in seconds.items()},
                )
            )
        return series

    def top_errors(self, limit: int = 10, time_range: str = "1h") -> list[ErrorSummary]:
        """The most frequent error codes over every operation (raises `APIError` when
        Prometheus fails; the route turns it into a problem)."""
        now, window = self._now_and_window(time_range).unwrap()
        try:
            errors = _increase(f"rfs_operation_errors_total{self._matchers()}", f"{window}s")
            found = self._vector(
                f"topk({int(limit)}, sum by (operation, error_code) ({errors}))", now
            )
        except _PrometheusError as exc:
            raise exc.error from None
        summaries = [
            ErrorSummary(
                operation_name=s["metric"].get("operation", ""),
                error_code=s["metric"].get("error_code", ""),
                error_message=s["metric"].get("error_code", ""),
                count=round(_number(s)),
                first_seen=_utc(now - window),
                last_seen=_utc(now),
            )
            for s in found
        ]
        return sorted(
            (e for e in summaries if e.count > 0), key=lambda e: (-e.count, e.operation_name)
        )
