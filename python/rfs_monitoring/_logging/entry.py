"""The entry schema: `ResultLogEntry`, the raw tuple built on the request path, timestamps."""

from __future__ import annotations

import dataclasses
import datetime
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rfs_monitoring.context import OperationScope, _bound

_now = time.time


@dataclass
class ResultLogEntry:
    """Log entry for a Result-pattern operation (the design document's schema).

    Every emitted JSON line holds these field names (``timestamp`` as RFC 3339 UTC), plus
    ``level`` and ``event``, and ``exception`` (the traceback) for a raised exception.

    >>> entry = ResultLogEntry(
    ...     timestamp=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    ...     correlation_id="c-1", operation_name="op", step_name=None,
    ...     result_type="success", processing_time_ms=1.5)
    >>> entry.to_dict()["timestamp"], entry.to_dict()["result_type"]
    ('2026-01-02T03:04:05.000000Z', 'success')
    """

    timestamp: datetime.datetime
    correlation_id: str
    operation_name: str
    step_name: str | None

    result_type: Literal["success", "error"]
    processing_time_ms: float

    success_type: str | None = None

    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    user_id: str | None = None
    request_id: str | None = None
    service_name: str = "rfs-framework"
    environment: str = "production"

    memory_usage_mb: float | None = None
    cpu_usage_percent: float | None = None

    metadata: dict[str, Any] = field(default_factory=dict)

    trace_id: str | None = None
    span_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as the flat, JSON-ready dict written to the log (not masked)."""
        data = dataclasses.asdict(self)
        stamp = self.timestamp
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=datetime.UTC)
        data["timestamp"] = stamp.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultLogEntry:
        """Rebuild an entry from an emitted line (a dict parsed from JSON); unknown keys, such as
        ``level``, are ignored.

        >>> line = {"timestamp": "2026-01-02T03:04:05.000000Z", "correlation_id": "c",
        ...         "operation_name": "op", "step_name": None, "result_type": "error",
        ...         "processing_time_ms": 2.0, "level": "warning"}
        >>> ResultLogEntry.from_dict(line).timestamp.year
        2026
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        stamp = values.get("timestamp")
        if isinstance(stamp, str):
            values["timestamp"] = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return cls(**values)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ResultLogEntry))

# A raw entry is a tuple built on the request path; the writer (or a listener) turns it into the
# masked dict. Positions:
_KIND, _LEVEL, _TS, _CID, _OP, _STEP, _RTYPE, _MS = 0, 1, 2, 3, 4, 5, 6, 7
_STYPE, _ETYPE, _ECODE, _EMSG, _BOUND, _META, _TRACE, _SPAN, _EXC = 8, 9, 10, 11, 12, 13, 14, 15, 16
_RawEntry = tuple[Any, ...]

_EVENT_OPERATION = "result_operation"
_EVENT_STEP = "result_step"
_get_bound = _bound.get


def _raw_entry(
    kind: str,
    level: int,
    scope: OperationScope,
    step: str | None,
    failed: bool,
    ms: float,
    success_type: str | None,
    error: Any,
    code: str | None,
    message: str | None,
    metadata: dict[str, Any] | None,
    trace_id: str | None,
    span_id: str | None,
    exc: BaseException | None = None,
) -> _RawEntry:
    """The one place a raw entry (the 17 positions above) is built, for an operation
    (``kind`` `_EVENT_OPERATION`, ``step`` None) or a step (`_EVENT_STEP`) of ``scope``:
    the time, correlation ID and bound fields are read here."""
    return (
        kind,
        level,
        _now(),
        scope.correlation_id or scope.ensure_correlation_id(),
        scope.name,
        step,
        "error" if failed else "success",
        ms,
        success_type,
        type(error).__name__ if failed else None,
        code,
        message,
        _get_bound(),
        metadata,
        trace_id,
        span_id,
        exc,
    )


class _MaskedArgs(dict[str, Any]):
    """A call's arguments, masked once at the call (a snapshot of them then): the renderers
    write them as they are instead of masking them again."""

    __slots__ = ()


class _Stamp:
    """RFC 3339 UTC timestamps with the formatted second cached (one strftime per second)."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        self._cached: tuple[int, str] = (-1, "")

    def format(self, ts: float) -> str:
        second = int(ts)
        cached = self._cached
        if cached[0] != second:
            cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._cached = cached
        micros = int((ts - second) * 1_000_000)
        return f"{cached[1]}.{micros:06d}Z"


_stamp = _Stamp()


def _format_exception(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(exc)).rstrip()
    except Exception:
        return f"{type(exc).__name__}: <traceback unavailable>"
