"""Structured logging of Result operations: one JSON entry per call, off the request path.

`log_result_operation` times a call once and feeds both the log and the metrics collector. A
returned `Failure` is an error, exactly like a raised exception:

>>> import io, json
>>> from rfs_monitoring.result import Failure, Success
>>> out = io.StringIO()
>>> configure_logging(stream=out, service_name="users")
>>> @log_result_operation("find_user")
... def find_user(user_id: str) -> Result[str, str]:
...     return Success("ada") if user_id == "1" else Failure("user not found")
>>> find_user("1"), find_user("2")
(Success(value='ada'), Failure(error='user not found'))
>>> flush_logs()
True
>>> lines = [json.loads(line) for line in out.getvalue().splitlines()]
>>> [(e["operation_name"], e["result_type"], e["level"]) for e in lines]
[('find_user', 'success', 'info'), ('find_user', 'error', 'warning')]
>>> configure_logging()  # back to stdout

How it is built:

- The request path only times the call, classifies the outcome and appends a tuple to a bounded
  queue; a writer thread masks, renders (one flat JSON object per line) and writes. When the queue
  is full the caller waits briefly for room instead of dropping. `flush_logs` returns once every
  entry emitted so far is written; it also runs at interpreter exit.
- Levels: success INFO, Failure WARNING, raised exception ERROR (each overridable per decorator).
  `set_log_level` changes the threshold at run time, globally or per operation; a call below the
  threshold costs two clock reads and the metrics sample.
- structlog underneath, without touching the application's own configuration: entries run
  through a structlog-style processor chain (``processors=`` in `configure_logging`), `get_logger`
  gives a structlog logger writing through the same queue and renderer, and `StdlibBridgeHandler`
  routes stdlib `logging` records there too.
- `add_listener` sees every emitted entry synchronously, as the masked flat dict (this is what
  ``rfs_monitoring.testing.capture_result_logs`` uses).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import functools
import importlib
import inspect
import json
import logging
import math
import os
import signal
import sys
import threading
import time
import traceback
import types
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Protocol, TypeVar, cast, overload

from rfs_monitoring import _shutdown
from rfs_monitoring._outcome import error_code_of, error_message_of, error_type_of
from rfs_monitoring.context import (
    OperationScope,
    _bound,
    _correlation_id,
    _operation,
    get_correlation_id,
)
from rfs_monitoring.interop import batch_items, chain_of, is_chain, is_result, read_outcome
from rfs_monitoring.masking import get_masker
from rfs_monitoring.result import Failure, Result, Success

if TYPE_CHECKING:
    from rfs_monitoring.reactive import FluxResult, MonoResult

__all__ = [
    "MAX_OPERATION_LEVELS",
    "LogWriterState",
    "ResultLogEntry",
    "StdlibBridgeHandler",
    "TextSink",
    "TooManyLevelOverridesError",
    "add_listener",
    "configure_logging",
    "flush_logs",
    "get_log_level",
    "get_logger",
    "log_result_operation",
    "log_writer_state",
    "render_json",
    "reset_log_levels",
    "set_log_level",
]

P = ParamSpec("P")
R = TypeVar("R")

_perf = time.perf_counter
_now = time.time

# --------------------------------------------------------------------------------------------
# Levels
# --------------------------------------------------------------------------------------------

_LEVEL_NUMBERS: dict[str, int] = {
    "DEBUG": 10,
    "INFO": 20,
    "WARNING": 30,
    "WARN": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}
_LEVEL_NAMES: dict[int, str] = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


def _level_number(level: str | int) -> int:
    if isinstance(level, bool):
        raise ValueError(f"unknown log level {level!r}")
    if isinstance(level, int):
        if level in _LEVEL_NAMES:
            return level
        raise ValueError(f"unknown log level {level!r}; use one of {sorted(_LEVEL_NAMES)}")
    if isinstance(level, str):
        number = _LEVEL_NUMBERS.get(level.strip().upper())
        if number is not None:
            return number
    raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")


MAX_OPERATION_LEVELS = 1024
"""How many operations may have a level of their own (`set_log_level` with ``operation``)."""


class TooManyLevelOverridesError(ValueError):
    """`set_log_level` for a new operation when `MAX_OPERATION_LEVELS` operations already have
    a level of their own (``PUT /logging/level`` answers 400). `reset_log_levels` forgets them."""


class _Levels:
    """Thresholds, read lock-free on every call: a decorated function caches its threshold and
    re-reads it only when ``version`` moved. Changed in place (O(1)): a dict read racing with a
    write sees the old or the new value."""

    __slots__ = ("default", "lock", "per_operation", "version")

    def __init__(self) -> None:
        self.default = 20
        self.per_operation: dict[str, int] = {}
        self.version = 0
        self.lock = threading.Lock()

    def threshold(self, operation: str) -> int:
        return self.per_operation.get(operation, self.default)


_levels = _Levels()


def set_log_level(level: str | int, operation: str | None = None) -> None:
    """Change the level threshold at run time, for every operation or for one; the next call
    sees it. Thread-safe. Raises `ValueError` for an unknown level, and its subclass
    `TooManyLevelOverridesError` for a new operation past `MAX_OPERATION_LEVELS`.

    >>> set_log_level("ERROR", operation="health_check")
    >>> get_log_level("health_check"), get_log_level()
    ('ERROR', 'INFO')
    >>> reset_log_levels()
    """
    number = _level_number(level)
    with _levels.lock:
        if operation is None:
            _levels.default = number
        else:
            overrides = _levels.per_operation
            if operation not in overrides and len(overrides) >= MAX_OPERATION_LEVELS:
                raise TooManyLevelOverridesError(
                    f"at most {MAX_OPERATION_LEVELS} operations can have a level of their own; "
                    "reset them (reset_log_levels) or set the global level instead"
                )
            overrides[operation] = number
        _levels.version += 1


def reset_log_levels() -> None:
    """Forget every per-operation level and set the global one back to INFO."""
    with _levels.lock:
        _levels.default = 20
        _levels.per_operation = {}
        _levels.version += 1


def get_log_level(operation: str | None = None) -> str:
    """The effective level name for ``operation`` (or the global one).

    >>> get_log_level()
    'INFO'
    """
    number = _levels.default if operation is None else _levels.threshold(operation)
    return _LEVEL_NAMES[number].upper()


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------


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


def _resource_sample() -> tuple[float | None, float | None]:
    module = _metrics_module
    if not module:  # not imported yet, or not importable: no sample to read
        return None, None
    try:
        sample = module.ResultMetricsCollector.instance().latest_resource_sample()
    except Exception:
        return None, None
    if not sample:
        return None, None
    return float(sample[0]), float(sample[1])


def _entry_dict(
    raw: _RawEntry, config: _Config, resources: tuple[float | None, float | None] | None = None
) -> dict[str, Any]:
    """The masked, flat dict of a raw entry: what listeners get and the writer renders."""
    masker = get_masker()
    bound = raw[_BOUND]
    user_id = request_id = None
    metadata: dict[str, Any] = {}
    if bound:
        for key, value in bound.items():
            if key == "user_id":
                user_id = None if value is None else str(value)
            elif key == "request_id":
                request_id = None if value is None else str(value)
            else:
                metadata[key] = value
    if raw[_META]:
        metadata.update(raw[_META])
    memory, cpu = _resource_sample() if resources is None else resources
    message = raw[_EMSG]
    entry: dict[str, Any] = {
        "timestamp": _stamp.format(raw[_TS]),
        "level": _LEVEL_NAMES.get(raw[_LEVEL], "info"),
        "event": raw[_KIND],
        "correlation_id": raw[_CID],
        "operation_name": raw[_OP],
        "step_name": raw[_STEP],
        "result_type": raw[_RTYPE],
        "processing_time_ms": round(raw[_MS], 4),
        "success_type": raw[_STYPE],
        "error_type": raw[_ETYPE],
        "error_code": raw[_ECODE],
        "error_message": None if message is None else masker.mask_text(message),
        "user_id": None if user_id is None else masker.mask_text(user_id),
        "request_id": None if request_id is None else masker.mask_text(request_id),
        "service_name": config.service_name,
        "environment": config.environment,
        "memory_usage_mb": memory,
        "cpu_usage_percent": cpu,
        "metadata": masker.mask(metadata) if metadata else metadata,
        "trace_id": raw[_TRACE],
        "span_id": raw[_SPAN],
    }
    exc = raw[_EXC]
    if exc is not None:
        entry["exception"] = masker.mask_text(_format_exception(exc))
    return entry


def _format_exception(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(exc)).rstrip()
    except Exception:
        return f"{type(exc).__name__}: <traceback unavailable>"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_json_default, allow_nan=False
)
_LENIENT_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_json_default, allow_nan=True
)


def render_json(event: Mapping[str, Any]) -> str:
    """One JSON object on one line. Non-finite floats (invalid JSON) are written as strings.

    >>> render_json({"a": 1, "b": float("nan"), "c": {1, 2}})
    '{"a":1,"b":"NaN","c":[1,2]}'
    """
    try:
        return _ENCODER.encode(event)
    except ValueError:
        text = _LENIENT_ENCODER.encode(event)
        return (
            text.replace("NaN", '"NaN"')
            .replace("-Infinity", '"-Infinity"')
            .replace("Infinity", '"Infinity"')
            .replace('"-"Infinity""', '"-Infinity"')
        )


_enc = json.encoder.encode_basestring


def _json_number(value: float | None) -> str:
    if value is None:
        return "null"
    return repr(value) if math.isfinite(value) else f'"{value}"'


def _fast_line(raw: _RawEntry, config: _Config, resources: tuple[str, str]) -> str:
    """`render_json(_entry_dict(raw, ...))` for the fixed schema, a few times faster: the writer
    must keep up with every request thread at once."""
    masker = get_masker()
    bound = raw[_BOUND]
    metadata = raw[_META]
    user_id = request_id = "null"
    if bound:
        extra: dict[str, Any] = {}
        for key, value in bound.items():
            if key == "user_id":
                user_id = "null" if value is None else _enc(masker.mask_text(str(value)))
            elif key == "request_id":
                request_id = "null" if value is None else _enc(masker.mask_text(str(value)))
            else:
                extra[key] = value
        if extra:
            metadata = {**extra, **metadata} if metadata else extra
    message = raw[_EMSG]
    step = raw[_STEP]
    success_type = raw[_STYPE]
    error_type = raw[_ETYPE]
    code = raw[_ECODE]
    trace_id = raw[_TRACE]
    span_id = raw[_SPAN]
    line = (
        f'{{"timestamp":"{_stamp.format(raw[_TS])}",'
        f'"level":"{_LEVEL_NAMES.get(raw[_LEVEL], "info")}","event":"{raw[_KIND]}",'
        f'"correlation_id":{_enc(raw[_CID])},"operation_name":{_enc(raw[_OP])},'
        f'"step_name":{"null" if step is None else _enc(step)},'
        f'"result_type":"{raw[_RTYPE]}","processing_time_ms":{round(raw[_MS], 4)!r},'
        f'"success_type":{"null" if success_type is None else _enc(success_type)},'
        f'"error_type":{"null" if error_type is None else _enc(error_type)},'
        f'"error_code":{"null" if code is None else _enc(code)},'
        f'"error_message":{"null" if message is None else _enc(masker.mask_text(message))},'
        f'"user_id":{user_id},"request_id":{request_id},{config.fixed_json},'
        f'"memory_usage_mb":{resources[0]},"cpu_usage_percent":{resources[1]},'
        f'"metadata":{render_json(masker.mask(metadata)) if metadata else "{}"},'
        f'"trace_id":{"null" if trace_id is None else _enc(trace_id)},'
        f'"span_id":{"null" if span_id is None else _enc(span_id)}'
    )
    exc = raw[_EXC]
    if exc is not None:
        line += f',"exception":{_enc(masker.mask_text(_format_exception(exc)))}'
    return line + "}"


# --------------------------------------------------------------------------------------------
# Configuration, listeners and the writer
# --------------------------------------------------------------------------------------------

Processor = Callable[[Any, str, dict[str, Any]], Any]


class TextSink(Protocol):
    """Where `configure_logging` writes: any object with ``write(str)`` and ``flush()``, such as
    a text file, ``sys.stdout`` or `io.StringIO`."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


@dataclass(frozen=True)
class _Config:
    stream: TextSink | None
    service_name: str
    environment: str
    processors: tuple[Processor, ...]
    max_value_chars: int = 16384
    exit_flush_seconds: float = 5.0
    fixed_json: str = field(init=False)

    def __post_init__(self) -> None:
        fixed = f'"service_name":{_enc(self.service_name)},"environment":{_enc(self.environment)}'
        object.__setattr__(self, "fixed_json", fixed)


def _default_config() -> _Config:
    return _Config(
        stream=None,
        service_name=os.environ.get("RFS_SERVICE_NAME") or "rfs-framework",
        environment=os.environ.get("RFS_ENVIRONMENT") or "production",
        processors=(),
    )


_config = _default_config()
_listeners: tuple[Callable[[dict[str, Any]], None], ...] = ()
_listeners_lock = threading.Lock()


def add_listener(fn: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Call ``fn`` with every emitted entry that passed the level filter, as the masked flat
    dict, synchronously at emission. Returns a callable that removes the listener. A listener
    that raises is ignored for that entry (the observed call never fails because of it).

    >>> import io
    >>> configure_logging(stream=io.StringIO())
    >>> seen = []
    >>> remove = add_listener(seen.append)
    >>> @log_result_operation("ping")
    ... def ping() -> Result[str, str]:
    ...     return Success("pong")
    >>> _ = ping()
    >>> remove()
    >>> seen[0]["operation_name"], seen[0]["success_type"]
    ('ping', 'str')
    >>> configure_logging()
    """
    global _listeners
    with _listeners_lock:
        _listeners = (*_listeners, fn)

    def remove() -> None:
        global _listeners
        with _listeners_lock:
            if fn in _listeners:
                index = _listeners.index(fn)
                _listeners = _listeners[:index] + _listeners[index + 1 :]

    return remove


_WRITE_CHUNK = 262144  # characters per write of the writer thread, whole lines only
_ENTRY_BYTES = 512  # what a queued entry without large values counts for the byte bound
_BIG_ENTRY = 4096  # entries estimated above this count for their own size
_SINK_PAUSES = (0.0, 0.005, 0.05)  # pause before each attempt at writing one chunk
_SIGTERM_FLUSH_SECONDS = 2.0
_DIRECT_SECONDS = 60.0  # after SIGTERM, how long callers write their own entries
_Item = Any  # a raw tuple, an already built dict, a `_Sized` one, or a flush marker (an Event)


class _Sized:
    """A queued entry holding large values, with its estimated size in bytes."""

    __slots__ = ("item", "size")

    def __init__(self, item: _Item, size: int) -> None:
        self.item = item
        self.size = size


def _cut_text(text: str, limit: int) -> str:
    """``text`` masked, then cut to ``limit`` characters with a marker. Masking comes first, so
    a cut never leaves the visible part of a secret behind."""
    masked = get_masker().mask_text(text)
    if len(masked) <= limit:
        return masked
    # An ASCII marker: one non-ASCII character would double the memory of the whole string.
    return f"{masked[:limit]}...[cut {len(masked) - limit} characters]"


_sizeof = sys.getsizeof


def _bounded(value: Any, limit: int, depth: int = 0) -> tuple[Any, int]:
    """``value`` with every string (or bytes) over ``limit`` characters masked and cut, and its
    estimated size in bytes. Containers are rebuilt only when something inside was cut."""
    kind = type(value)
    if kind is str:
        if len(value) > limit:
            value = _cut_text(value, limit)
        return value, _sizeof(value)
    if depth >= 32:
        return value, 64
    if kind is dict:
        size = 64
        changed = False
        items = {}
        for key, item in value.items():
            new, used = _bounded(item, limit, depth + 1)
            size += used + (56 + len(key) if type(key) is str else 64)
            changed = changed or new is not item
            items[key] = new
        return (items if changed else value), size
    if kind is list or kind is tuple:
        size = 64
        changed = False
        parts = []
        for item in value:
            new, used = _bounded(item, limit, depth + 1)
            size += used + 8
            changed = changed or new is not item
            parts.append(new)
        if not changed:
            return value, size
        return (parts if kind is list else tuple(parts)), size
    if kind is bytes or kind is bytearray:
        if len(value) > limit:
            text = _cut_text(bytes(value).decode("latin-1"), limit)
            return text, _sizeof(text)
        return value, _sizeof(value)
    return value, 64


def _bounded_raw(raw: _RawEntry, limit: int) -> tuple[_RawEntry, int]:
    """A raw entry with its large values cut, and its estimated size."""
    parts = list(raw)
    size = _ENTRY_BYTES
    for position in (_META, _BOUND):
        if raw[position]:
            parts[position], used = _bounded(raw[position], limit)
            size += used
    message = raw[_EMSG]
    if message is not None:
        if len(message) > limit:
            parts[_EMSG] = message = _cut_text(message, limit)
        size += len(message)
    if raw[_EXC] is not None:
        size += 8192  # the exception and its traceback, rendered by the writer
    return tuple(parts), size


def _safe_text(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        pass
    try:
        return f"<str failed> {value!r}"
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _safe(value: Any, depth: int = 0) -> Any:
    """A JSON-renderable copy of ``value``: string keys, lists for other containers, text for
    everything else (``str``, else ``repr`` with a marker)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if depth >= 32:
        return "<max depth>"
    if isinstance(value, Mapping):
        return {
            (key if type(key) is str else _safe_text(key)): _safe(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(item, depth + 1) for item in value]
    return _safe_text(value)


_IDENTITY = (
    "timestamp",
    "level",
    "event",
    "correlation_id",
    "operation_name",
    "step_name",
    "result_type",
)


def _minimal_line(item: _Item, config: _Config, error: BaseException) -> str:
    """What is left of an entry nothing else could render: who, when and why not."""
    masker = get_masker()
    fields: dict[str, Any] = {}
    source: Mapping[Any, Any] = {}
    try:
        if isinstance(item, tuple):
            source = {
                "timestamp": _stamp.format(item[_TS]),
                "level": _LEVEL_NAMES.get(item[_LEVEL], "info"),
                "event": item[_KIND],
                "correlation_id": item[_CID],
                "operation_name": item[_OP],
                "step_name": item[_STEP],
                "result_type": item[_RTYPE],
            }
        elif isinstance(item, Mapping):
            source = item
        for key in _IDENTITY:
            value = source.get(key)
            if value is not None:
                fields[key] = masker.mask_text(_safe_text(value))
    except Exception:  # not even its identity can be read: the error alone is the entry
        fields.clear()
    fields["render_error"] = masker.mask_text(f"{type(error).__name__}: {_safe_text(error)}")
    fields["service_name"] = config.service_name
    fields["environment"] = config.environment
    return render_json(fields)


def _render_safely(
    item: _Item,
    config: _Config,
    resources: tuple[float | None, float | None],
    rendered: tuple[str, str],
) -> str:
    """One line for ``item`` whatever it holds: as is, else with its values made renderable,
    else its identity and the error."""
    try:
        return _render_item(item, config, resources, rendered)
    except Exception as exc:
        error: BaseException = exc
    try:
        if isinstance(item, tuple):
            parts = list(item)
            parts[_META] = _safe(item[_META]) if item[_META] else item[_META]
            parts[_BOUND] = _safe(item[_BOUND]) if item[_BOUND] else item[_BOUND]
            safe: _Item = tuple(parts)
        else:
            safe = _safe(item)
        return _render_item(safe, config, resources, rendered)
    except Exception:
        return _minimal_line(item, config, error)


def _chunks(lines: list[str]) -> Iterator[tuple[str, int]]:
    """The lines joined into pieces of at most `_WRITE_CHUNK` characters (a longer line goes
    alone), each made of whole lines; with the number of lines in each."""
    start = size = 0
    for index, line in enumerate(lines):
        if size and size + len(line) + 1 > _WRITE_CHUNK:
            yield "\n".join(lines[start:index]) + "\n", index - start
            start, size = index, 0
        size += len(line) + 1
    if start < len(lines):
        yield "\n".join(lines[start:]) + "\n", len(lines) - start


def _stderr() -> Any:
    return sys.__stderr__ or sys.stderr


@dataclass(frozen=True)
class LogWriterState:
    """The log writer's counters since the process (or fork) started, for health checks.

    ``written`` entries reached the configured sink; ``diverted`` went to stderr instead because
    the sink kept failing (``fallback_active`` while it still does); ``dropped`` were lost
    (queue full past ``max_block_seconds``, nowhere left to write, or still queued at exit);
    ``sink_errors`` counts failed writes (each retried); ``last_error_time`` is a Unix time.
    """

    queue_depth: int
    queued_bytes: int
    written: int
    diverted: int
    dropped: int
    sink_errors: int
    last_error: str | None
    last_error_time: float | None
    fallback_active: bool


class _Writer:
    """The single writer thread: drains the bounded queue in batches, renders and writes."""

    # Small batches keep what a crash can lose (the queue plus the batch in hand) small.
    batch_size = 256
    # An idle writer is woken once this many entries wait (or by flush), else it wakes by
    # itself after ``idle_wait`` seconds: waking it for every entry would hand the GIL back and
    # forth once per call and halve the throughput of a busy process.
    wake_after = 256
    idle_wait = 0.1
    report_every = 10.0  # seconds between two stderr reports of sink trouble or losses

    def __init__(
        self, capacity: int = 1024, max_block: float = 1.0, max_bytes: int = 64 << 20
    ) -> None:
        self.capacity = capacity
        self.max_block = max_block
        self.max_bytes = max_bytes
        self.queue: deque[_Item] = deque()
        self.wake = threading.Event()
        self.room = threading.Event()
        self.sleeping = False
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()
        # Held while the writer is inside the sink, and by the fork hook (a stream's own buffer
        # lock copied into a child while held would hang the child's writer).
        self.io_lock = threading.Lock()
        # Held while a batch is written (by the writer, or by a caller writing directly).
        self.write_lock = threading.Lock()
        # Guards the counters producers change (drops, bytes of large entries).
        self.lock = threading.Lock()
        self.big_bytes = 0  # bytes of queued `_Sized` entries beyond `_ENTRY_BYTES` each
        self.in_flight = 0  # entries taken from the queue and not yet written
        self.batches = 0  # batches taken from the queue so far
        # `batches` when a caller last waited `max_block` for room in vain: until the writer
        # takes another batch (a stuck sink), callers drop at once instead of each waiting.
        self.stalled = -1
        # Until this `perf_counter` time (0.0: off), callers write their entries themselves:
        # set by SIGTERM for `_DIRECT_SECONDS`, the time a graceful shutdown may take.
        self.direct = 0.0
        self.written = 0
        self.diverted = 0
        self.dropped = 0
        self.sink_errors = 0
        self.last_error: str | None = None
        self.last_error_time: float | None = None
        self.fallback_active = False
        self.reported_at = -math.inf
        self.reported = (0, 0, 0)  # sink_errors, diverted, dropped at the last report
        self.report_lock = threading.Lock()
        self._reported: set[str] = set()

    # -- producer side ------------------------------------------------------------------------

    def put(self, item: _Item, size: int = _ENTRY_BYTES) -> None:
        if self.direct and self._write_directly(item):
            return
        queue = self.queue
        big = size > _BIG_ENTRY
        if big:
            item = _Sized(item, size)
            with self.lock:
                self.big_bytes += size - _ENTRY_BYTES
        depth = len(queue)  # `_full()`, inlined: this runs on every logged call
        if (
            depth >= self.capacity
            or (depth and depth * _ENTRY_BYTES + self.big_bytes > self.max_bytes)
        ) and not self._wait_for_room():
            if big:
                with self.lock:
                    self.big_bytes -= size - _ENTRY_BYTES
            self._lose(1)
            return
        queue.append(item)
        if self.thread is None:
            self._start()
        elif self.sleeping and len(queue) >= self.wake_after:
            self.wake.set()

    def _full(self) -> bool:
        depth = len(self.queue)
        return depth >= self.capacity or (
            depth > 0 and depth * _ENTRY_BYTES + self.big_bytes > self.max_bytes
        )

    def _wait_for_room(self) -> bool:
        thread = self.thread
        if thread is threading.current_thread():
            return False  # the writer itself (a sink that logs) must never wait for itself
        if thread is None or not thread.is_alive():
            self._restart(thread)
        # Once the writer has taken a batch since this caller began to wait, the caller's entry
        # goes in even if other callers filled the room again: a waiting caller is never starved
        # (the queue may pass its bounds by one entry per waiting thread).
        taken = self.batches
        if self.stalled == taken:
            return False  # a caller already waited in vain since the writer's last batch
        deadline = _perf() + self.max_block
        while self._full() and self.batches == taken:
            remaining = deadline - _perf()
            if remaining <= 0:
                self.stalled = taken
                return False
            self.room.clear()
            self.wake.set()
            self.room.wait(min(remaining, 0.01))
        return True

    def _write_directly(self, item: _Item) -> bool:
        """Write one entry in the caller's thread (after SIGTERM, so that the process may end
        at any moment after the call). False when a batch being written holds the sink, or
        when the time for it is over (a process still running long after the signal)."""
        if _perf() > self.direct:
            self.direct = 0.0
            return False
        if self.thread is threading.current_thread() or not self.write_lock.acquire(timeout=0.5):
            return False
        try:
            self._deliver_batch([item])
        finally:
            self.write_lock.release()
        return True

    def _lose(self, count: int) -> None:
        with self.lock:
            self.dropped += count
        self._maybe_report()

    def _start(self) -> None:
        with self.start_lock:
            if self.thread is not None:
                return
            thread = threading.Thread(target=self._run, name="rfs-monitoring-log-writer")
            thread.daemon = True
            thread.start()
            self.thread = thread
        _install_sigterm_flush()

    def _restart(self, dead: threading.Thread | None) -> None:
        # A writer killed by a BaseException raised in a processor is replaced, so the queue
        # drains again.
        with self.start_lock:
            if self.thread is dead:
                self.thread = None
        self._start()

    def pending(self) -> int:
        """Entries queued or in the writer's hands, not written yet."""
        queued = sum(1 for item in list(self.queue) if not isinstance(item, threading.Event))
        return queued + self.in_flight

    def flush(self, timeout: float | None) -> bool:
        """Wait until every entry queued before the call is written; True when all of them
        reached the sink (none dropped or diverted to stderr meanwhile)."""
        thread = self.thread
        if thread is threading.current_thread():
            return self.pending() == 0  # the writer (a sink that flushes) cannot wait for itself
        if thread is None:
            if not self.queue:
                return True
            self._start()
        elif not thread.is_alive():
            self._restart(thread)
        lost_before = self.dropped + self.diverted
        marker = threading.Event()
        self.queue.append(marker)
        self.wake.set()
        return marker.wait(timeout) and self.dropped + self.diverted == lost_before

    def state(self) -> LogWriterState:
        return LogWriterState(
            queue_depth=self.pending(),
            queued_bytes=len(self.queue) * _ENTRY_BYTES + self.big_bytes,
            written=self.written,
            diverted=self.diverted,
            dropped=self.dropped,
            sink_errors=self.sink_errors,
            last_error=self.last_error,
            last_error_time=self.last_error_time,
            fallback_active=self.fallback_active,
        )

    # -- writer side ------------------------------------------------------------------------

    def _run(self) -> None:
        queue = self.queue
        while True:
            if not queue:
                self.sleeping = True
                self.wake.clear()
                if not queue:  # pragma: no branch - re-checked against a concurrent put()
                    self.wake.wait(self.idle_wait)
                self.sleeping = False
                if self.reported != (self.sink_errors, self.diverted, self.dropped):
                    self._maybe_report()
                continue
            batch: list[_Item] = []
            markers: list[threading.Event] = []
            pop = queue.popleft
            freed = 0
            for _ in range(self.batch_size):
                if not queue:
                    break
                item = pop()
                if isinstance(item, threading.Event):
                    markers.append(item)
                    break  # write what came before the marker, then release its waiter
                if type(item) is _Sized:
                    freed += item.size - _ENTRY_BYTES
                    item = item.item
                batch.append(item)
            self.in_flight = len(batch)
            self.batches += 1
            if freed:
                with self.lock:
                    self.big_bytes -= freed
            self.room.set()
            try:
                if batch:
                    with self.write_lock:
                        self._deliver_batch(batch)
            finally:
                self.in_flight = 0
                for marker in markers:
                    marker.set()

    def _deliver_batch(self, batch: list[_Item]) -> None:
        config = _config
        # One resource sample per batch: it changes once a second at most.
        resources = _resource_sample()
        rendered = (_json_number(resources[0]), _json_number(resources[1]))
        lines: list[str] = []
        append = lines.append
        fast = not config.processors
        for item in batch:
            try:
                if fast and type(item) is tuple:
                    append(_fast_line(item, config, rendered))
                else:
                    append(_render_item(item, config, resources, rendered))
            except Exception:
                append(_render_safely(item, config, resources, rendered))
        stream = config.stream if config.stream is not None else sys.stdout
        for chunk, count in _chunks(lines):
            if self._to_sink(stream, chunk):
                self.written += count
            elif self._to_stderr(stream, chunk):
                self.diverted += count
            else:
                self._lose(count)
        if self.reported != (self.sink_errors, self.diverted, self.dropped):
            self._maybe_report()

    def _to_sink(self, stream: TextSink, chunk: str) -> bool:
        """Write ``chunk`` (whole lines) to the sink, retrying a failed write; what a write
        took is never written again. False when the sink refused it every time."""
        # While the sink keeps failing, each chunk tries it once, then goes to stderr.
        for pause in (0.0,) if self.fallback_active else _SINK_PAUSES:
            if pause:
                time.sleep(pause)
            try:
                with self.io_lock:
                    while chunk:
                        taken = stream.write(chunk)
                        # A raw stream may take part of the text: the rest is written next.
                        if type(taken) is int and 0 < taken < len(chunk):
                            chunk = chunk[taken:]
                        elif taken == 0:
                            raise OSError("the sink took nothing")
                        else:
                            chunk = ""
            except Exception as exc:
                self._sink_error(exc)
                continue
            try:
                with self.io_lock:
                    stream.flush()
            except Exception as exc:  # the text was taken: it is not written twice
                self._sink_error(exc)
            if self.fallback_active:
                self.fallback_active = False
                self._say("rfs-monitoring: the log sink works again; writing to it")
            return True
        if not self.fallback_active:
            self.fallback_active = True
            self.reported_at = -math.inf  # report the switch now
        return False

    def _to_stderr(self, stream: TextSink, chunk: str) -> bool:
        target = _stderr()
        if target is None or target is stream:
            return False
        try:
            with self.io_lock:
                target.write(chunk)
                target.flush()
        except Exception:
            return False
        return True

    def _sink_error(self, exc: Exception) -> None:
        self.sink_errors += 1
        self.last_error = get_masker().mask_text(f"{type(exc).__name__}: {_safe_text(exc)}")[:300]
        self.last_error_time = _now()

    def _maybe_report(self, force: bool = False) -> None:
        """Report sink trouble and losses on stderr: at once the first time, then at most once
        every `report_every` seconds, with the counts since the previous report."""
        now = time.monotonic()
        if not force and now - self.reported_at < self.report_every:
            return
        # One reporter at a time (callers dropping entries and the writer may both get here);
        # the others leave at once rather than wait.
        if not self.report_lock.acquire(blocking=False):
            return
        try:
            self._report_counts(now)
        finally:
            self.report_lock.release()

    def _report_counts(self, now: float) -> None:
        counts = (self.sink_errors, self.diverted, self.dropped)
        errors, diverted, dropped = (a - b for a, b in zip(counts, self.reported, strict=True))
        if not (errors or diverted or dropped):
            return
        self.reported_at = now
        self.reported = counts
        parts = []
        if errors:
            parts.append(f"{errors} failed writes to the log sink (last: {self.last_error})")
        if diverted:
            parts.append(f"{diverted} entries written to stderr instead")
        if dropped:
            parts.append(f"{dropped} entries lost")
        self._say(
            "rfs-monitoring: "
            + ", ".join(parts)
            + f" (totals: {counts[0]} failed writes, {counts[1]} to stderr, {counts[2]} lost)"
        )

    def _report(self, kind: str, message: str) -> None:
        if kind in self._reported:
            return
        self._reported.add(kind)
        self._say(message)

    def _say(self, message: str) -> None:
        try:
            stderr = _stderr()
            stderr.write(message + "\n")
            stderr.flush()
        except Exception:  # nowhere left to report to
            pass


def _render_item(
    item: _Item,
    config: _Config,
    resources: tuple[float | None, float | None],
    rendered: tuple[str, str],
) -> str:
    if isinstance(item, tuple):
        if not config.processors:
            return _fast_line(item, config, rendered)
        event = _entry_dict(item, config, resources)
    else:
        event = item
    for processor in config.processors:
        event = processor(None, event.get("level", "info"), event)
    return render_json(event)


_writer = _Writer()


def log_writer_state() -> LogWriterState:
    """The log writer's queue and counters (what ``GET /health/result-patterns`` shows).

    >>> state = log_writer_state()
    >>> state.dropped >= 0 and isinstance(state.fallback_active, bool)
    True
    """
    return _writer.state()


# The writer's sink lock while a fork is under way, when the before-fork hook got it.
_fork_io_lock: threading.Lock | None = None


def _before_fork() -> None:
    """Let the writer finish the write it is in (a stream's buffer lock copied into the child
    while the writer holds it would hang the child's writer) and keep it out of the sink until
    the fork is done. The writer writes at most 256 KiB at a time; a sink stuck for over five
    seconds is not waited for."""
    global _fork_io_lock
    lock = _writer.io_lock
    _fork_io_lock = lock if lock.acquire(timeout=5.0) else None


def _after_fork_in_parent() -> None:
    global _fork_io_lock
    if _fork_io_lock is not None:
        _fork_io_lock.release()
        _fork_io_lock = None


def _after_fork_in_child() -> None:
    """The child has only the forking thread: start a fresh writer (the parent writes what it
    had queued) and replace locks another parent thread may have held at the fork."""
    global _writer, _listeners_lock, _fork_io_lock
    _writer = _Writer(_writer.capacity, _writer.max_block, _writer.max_bytes)
    _levels.lock = threading.Lock()
    _listeners_lock = threading.Lock()
    _fork_io_lock = None


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def flush_logs(timeout: float | None = 10.0) -> bool:
    """Wait until every entry emitted so far (by any thread) is written; True when all of them
    reached the configured stream, False when ``timeout`` (seconds; ``None`` waits as long as
    it takes) ran out first or some were dropped or written to stderr instead.
    """
    return _writer.flush(timeout)


def _give_up_on_pending(when: str) -> None:
    writer = _writer
    left = writer.pending()
    if left:
        with writer.lock:
            writer.dropped += left
        writer._say(f"rfs-monitoring: {left} log entries were not written {when}")
    writer._maybe_report(force=True)


def _flush_at_exit() -> None:
    if _writer.thread is None and not _writer.queue:
        return
    _writer.flush(_config.exit_flush_seconds)
    _give_up_on_pending("before exit (the log sink is too slow or stuck)")


atexit.register(_flush_at_exit)

# SIGTERM: the handler in force when ours was installed (the default action, or the host's).
_sigterm_previous: Any = None
_sigterm_wanted = True
_in_sigterm = False


def _on_sigterm(signum: int, frame: Any) -> None:
    """Write what is queued (bounded in time) and make later entries write themselves, then
    hand the signal on: to the host's handler, or to the default action (the process ends)."""
    global _in_sigterm
    if _in_sigterm:
        return  # a host handler we wrap called us back (it chains to the handler it found)
    _in_sigterm = True
    try:
        writer = _writer
        writer.direct = _perf() + _DIRECT_SECONDS
        writer.flush(_SIGTERM_FLUSH_SECONDS)
        _shutdown.run()  # e.g. the shared metrics segments
        previous = _sigterm_previous
        if callable(previous):
            previous(signum, frame)
            return
    finally:
        _in_sigterm = False
    if signal.getsignal(signum) is not _on_sigterm:
        # A handler installed after ours called us on its way (it chains to the handler it
        # found): the default action is not ours to take, its own shutdown goes on.
        return
    _give_up_on_pending("before SIGTERM ended the process")
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _install_sigterm_flush() -> None:
    """Put `_on_sigterm` in front of the SIGTERM handler in force, from the main thread only.
    An ignored signal stays ignored; a host handler is still called (after the flush); a
    handler installed later by the host replaces ours, and gets the flush at exit instead."""
    global _sigterm_previous
    if not _sigterm_wanted or threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm or current is None or current == signal.SIG_IGN:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # not the main interpreter, or no SIGTERM
        return
    _sigterm_previous = current


def _uninstall_sigterm_flush() -> None:
    global _sigterm_previous
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, _sigterm_previous or signal.SIG_DFL)
    except (ValueError, OSError, AttributeError):
        return
    _sigterm_previous = None


def _put_event(event: dict[str, Any]) -> None:
    """Queue an already built (masked) dict entry, its large values cut."""
    bounded, size = _bounded(event, _config.max_value_chars)
    _writer.put(bounded, max(size, _ENTRY_BYTES))


def _emit(raw: _RawEntry) -> None:
    """Hand one raw entry to the listeners (if any) and the writer; never raises."""
    size = _ENTRY_BYTES
    message = raw[_EMSG]
    if (
        raw[_META]
        or raw[_EXC] is not None
        or (message is not None and len(message) > _config.max_value_chars)
    ):
        raw, size = _bounded_raw(raw, _config.max_value_chars)
    listeners = _listeners
    if listeners:
        try:
            event = _entry_dict(raw, _config)
        except Exception:
            _writer.put(raw, size)
            return
        for listener in listeners:
            try:
                listener(dict(event))
            except Exception:
                _writer._report("listener", "rfs-monitoring: a log listener raised; ignored")
        _put_event(event)
    else:
        _writer.put(raw, size)


def configure_logging(
    level: str | int = "INFO",
    stream: TextSink | None = None,
    service_name: str | None = None,
    environment: str | None = None,
    *,
    processors: Sequence[Processor] = (),
    queue_size: int = 1024,
    max_block_seconds: float = 1.0,
    capture_stdlib: str | bool = False,
    max_queue_bytes: int = 64 << 20,
    max_value_chars: int = 16384,
    exit_flush_seconds: float = 5.0,
    flush_on_sigterm: bool = True,
) -> None:
    """Set up JSON output: one flat JSON object per line on ``stream`` (default: the current
    ``sys.stdout`` at write time), with ``service_name`` and ``environment`` (defaults: the
    ``RFS_SERVICE_NAME`` / ``RFS_ENVIRONMENT`` environment variables, else "rfs-framework" and
    "production"). Calling it again replaces the earlier configuration (entries emitted before
    are written to the earlier stream first). Per-operation levels are kept.

    ``processors`` are structlog-style ``(logger, method_name, event_dict) -> event_dict``
    callables run in the writer thread on every masked entry before rendering.

    Nothing is lost silently. The queue holds at most ``queue_size`` entries and
    ``max_queue_bytes`` bytes (estimated); when full, callers wait up to ``max_block_seconds``
    for room, then the entry is dropped and counted. A short queue keeps what a crash can lose
    small: the writer renders over 100k entries a second, so callers rarely wait. Strings longer
    than ``max_value_chars`` are masked, then cut with a ``...[cut N characters]`` marker. A failed
    write is retried; a sink that keeps failing gets the entries on stderr instead, and sink
    errors and losses are reported on stderr at most every 10 seconds (see
    `log_writer_state`). At exit the queue is written for up to ``exit_flush_seconds``, and
    what is left is reported with its count. With ``flush_on_sigterm`` (the default), a SIGTERM
    writes the queue first (for up to 2 s) and entries of the next 60 s are written by their
    callers; the signal then goes on to the handler that was in force (the host's, or the
    default action).
    Imported by an application under a server that re-raises SIGTERM after its own graceful
    shutdown (uvicorn), the process may then end through the exit flush with status 0.

    Nothing global is touched: the application's structlog and stdlib logging configuration
    stay as they are. ``capture_stdlib=True`` (the root logger) or a logger name adds one
    `StdlibBridgeHandler` there, at ``level``, next to the handlers already present; the next
    call removes it again.
    """
    global _config, _captured
    number = _level_number(level)
    if queue_size < 1:
        raise ValueError(f"queue_size must be at least 1, got {queue_size}")
    if max_block_seconds < 0:
        raise ValueError(f"max_block_seconds must be zero or more, got {max_block_seconds}")
    if max_queue_bytes < 1:
        raise ValueError(f"max_queue_bytes must be at least 1, got {max_queue_bytes}")
    if max_value_chars < 16:
        raise ValueError(f"max_value_chars must be at least 16, got {max_value_chars}")
    if exit_flush_seconds < 0:
        raise ValueError(f"exit_flush_seconds must be zero or more, got {exit_flush_seconds}")
    _writer.flush(10.0)
    defaults = _default_config()
    _config = _Config(
        stream=stream,
        service_name=service_name if service_name is not None else defaults.service_name,
        environment=environment if environment is not None else defaults.environment,
        processors=tuple(processors),
        max_value_chars=max_value_chars,
        exit_flush_seconds=exit_flush_seconds,
    )
    _writer.capacity = queue_size
    _writer.max_block = max_block_seconds
    _writer.max_bytes = max_queue_bytes
    _writer._reported.clear()
    _writer.reported_at = -math.inf  # a new configuration's first trouble is reported at once
    global _sigterm_wanted
    _sigterm_wanted = flush_on_sigterm
    if flush_on_sigterm:
        _install_sigterm_flush()
    else:
        _uninstall_sigterm_flush()
    with _levels.lock:
        _levels.default = number
        _levels.version += 1
    if _captured is not None:
        _captured[0].removeHandler(_captured[1])
        _captured = None
    if capture_stdlib is not False:
        target = logging.getLogger(None if capture_stdlib is True else capture_stdlib)
        handler = StdlibBridgeHandler(level=number)
        target.addHandler(handler)
        _captured = (target, handler)


_captured: tuple[logging.Logger, logging.Handler] | None = None


# --------------------------------------------------------------------------------------------
# structlog and stdlib bridges
# --------------------------------------------------------------------------------------------


def _context_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    cid = get_correlation_id()
    if cid is not None:
        fields["correlation_id"] = cid
    fields.update(_bound.get())
    return fields


_METHOD_LEVELS = {"warn": "warning", "exception": "error", "fatal": "critical", "msg": "info"}


def _structlog_to_queue(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    import structlog

    level = _METHOD_LEVELS.get(method_name, method_name)
    # Checked here rather than by a filtering wrapper class, so set_log_level also applies to
    # loggers created before the change.
    if _LEVEL_NUMBERS.get(level.upper(), 20) < _levels.default:
        raise structlog.DropEvent
    event = {
        "timestamp": _stamp.format(_now()),
        "level": level,
        **_context_fields(),
        **event_dict,
    }
    exc_info = event.pop("exc_info", None)
    if exc_info:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if exc is not None:
            event["exception"] = _format_exception(exc)
    event.setdefault("service_name", _config.service_name)
    event.setdefault("environment", _config.environment)
    _put_event(get_masker().mask(event))
    raise structlog.DropEvent


def get_logger(**initial_values: Any) -> Any:
    """A structlog logger whose entries go through this module's queue, masking and JSON renderer
    (with the correlation ID and bound context added), leaving structlog's global configuration
    alone.

    >>> import io, json
    >>> out = io.StringIO()
    >>> configure_logging(stream=out)
    >>> get_logger(component="billing").info("charged", amount=3, token="t-1")
    >>> flush_logs()
    True
    >>> line = json.loads(out.getvalue())
    >>> line["event"], line["component"], line["token"]
    ('charged', 'billing', '***')
    >>> configure_logging()
    """
    import structlog

    return structlog.wrap_logger(
        None,
        processors=[_structlog_to_queue],
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        context_class=dict,
        cache_logger_on_first_use=False,
        **initial_values,
    )


class StdlibBridgeHandler(logging.Handler):
    """A stdlib `logging.Handler` that writes records as JSON lines through the same queue, with
    masking, the correlation ID and the bound context. Add it where you want it (it is never
    installed for you):

    >>> import io, json, logging
    >>> out = io.StringIO()
    >>> configure_logging(stream=out)
    >>> log = logging.getLogger("doctest.bridge")
    >>> log.addHandler(StdlibBridgeHandler())
    >>> log.warning("login for %s with password=%s", "ada", "hunter2")
    >>> flush_logs()
    True
    >>> json.loads(out.getvalue())["event"]
    'login for ada with password=***'
    >>> log.handlers.clear(); configure_logging()
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            masker = get_masker()
            event: dict[str, Any] = {
                "timestamp": _stamp.format(record.created),
                "level": record.levelname.lower(),
                "event": masker.mask_text(record.getMessage()),
                "logger": record.name,
                **masker.mask(_context_fields()),
                "service_name": _config.service_name,
                "environment": _config.environment,
            }
            if record.exc_info and record.exc_info[1] is not None:
                event["exception"] = masker.mask_text(_format_exception(record.exc_info[1]))
            _put_event(event)
        except Exception:
            self.handleError(record)


# --------------------------------------------------------------------------------------------
# The decorator
# --------------------------------------------------------------------------------------------

_metrics_module: Any = None
_collector_class: Any = None
_modules = sys.modules
_OTEL_TRACE = "opentelemetry.trace"
_get_operation = _operation.get
_set_operation = _operation.set
_reset_operation = _operation.reset
_get_correlation = _correlation_id.get
_get_bound = _bound.get


def _metrics_collector() -> Any:
    global _metrics_module
    module = _metrics_module
    if module is None:
        try:
            module = importlib.import_module("rfs_monitoring.metrics")
        except ImportError:
            module = False  # not importable: do not retry on every call
        _metrics_module = module
    if module is False:
        return None
    global _collector_class
    cls = _collector_class = module.ResultMetricsCollector
    return cls.instance()


_tracing_module: Any = None


def _tracing() -> Any:
    # OpenTelemetry costs nothing unless the application imported it (FastAPI does when it is
    # installed), and little while no tracer provider is set.
    global _tracing_module
    if _OTEL_TRACE not in _modules:
        return None
    module = _tracing_module
    if module is None:
        from rfs_monitoring import tracing as module

        _tracing_module = module
    return module if module.enabled() else None


class _Spec:
    """Everything a decorated function decides once, at decoration time, plus its caches (the
    metrics handle per collector, the level threshold per level-table version)."""

    __slots__ = (
        "collector",
        "error_level",
        "failure_level",
        "handle",
        "log_args",
        "log_result",
        "metadata",
        "name",
        "record_metrics",
        "signature",
        "success_level",
        "threshold",
        "version",
    )

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        log_args: bool,
        log_result: bool,
        success_level: str | int,
        failure_level: str | int,
        error_level: str | int,
        metadata: Mapping[str, Any] | None,
        record_metrics: bool,
    ) -> None:
        self.name = name
        self.log_args = log_args
        self.log_result = log_result
        self.success_level = _level_number(success_level)
        self.failure_level = _level_number(failure_level)
        self.error_level = _level_number(error_level)
        self.metadata = dict(metadata or {})
        self.record_metrics = record_metrics
        self.collector: Any = None
        self.handle: Any = None
        self.signature: inspect.Signature | None = None
        if log_args:
            try:
                self.signature = inspect.signature(fn)
            except (TypeError, ValueError):
                self.signature = None
        self.version = -1
        self.threshold = 20

    def current_threshold(self) -> int:
        version = _levels.version
        if self.version != version:
            # The version is read first: a change racing with this read leaves a stale version
            # behind, so the next call recomputes instead of keeping a stale threshold.
            self.threshold = _levels.threshold(self.name)
            self.version = version
        return self.threshold

    def record(self, ms: float, ok: bool, code: str | None, message: str | None) -> None:
        """One metrics sample; never raises."""
        if not self.record_metrics:
            return
        try:
            cls = _collector_class
            if cls is not None:
                # The installed collector is a class attribute: reading it skips instance()'s
                # call frame; instance() still creates the first one.
                collector = getattr(cls, "_instance", None) or cls.instance()
            else:
                collector = _metrics_collector()
                if collector is None:
                    return
            if collector is not self.collector:
                self.handle = collector.operation(self.name)
                self.collector = collector
            if ok:
                self.handle.record(ms, True)
            else:
                self.handle.record(ms, False, code, message)
        except Exception:
            _writer._report("metrics", "rfs-monitoring: recording a metrics sample failed; ignored")

    def exemplar(self, ms: float, span: Any) -> None:
        """Keep a traced call (recorded just before) as its bucket's OpenMetrics exemplar."""
        if not self.record_metrics or self.handle is None:
            return
        trace_id, span_id = span.trace_id, span.span_id
        if trace_id is None or span_id is None:
            return
        try:
            self.handle.exemplar(ms, trace_id, span_id)
        except Exception:
            _writer._report("metrics", "rfs-monitoring: recording an exemplar failed; ignored")

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.signature is not None:
            try:
                bound = self.signature.bind_partial(*args, **kwargs)
            except TypeError:
                pass
            else:
                values = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
                return cast("dict[str, Any]", get_masker().mask(values))
        return cast(
            "dict[str, Any]", get_masker().mask({"args": list(args), "kwargs": dict(kwargs)})
        )


def _classify(outcome: Any) -> tuple[bool, Any, str | None, dict[str, Any] | None]:
    """(failed, error, success_type, metadata) of what a decorated function returned."""
    # Exact type checks: `isinstance` against our ABC-based classes costs a Python-level
    # __instancecheck__ for every other library's value; subclasses go through read_outcome.
    cls = type(outcome)
    if cls is Failure:
        return True, outcome.error, None, None
    if cls is Success:
        return False, None, type(outcome.value).__name__, None
    read = read_outcome(outcome)  # another library's Result, or a subclass of ours
    if read is not None:
        if read[0]:
            return True, read[1], None, None
        return False, None, type(read[1]).__name__, None
    flux = _as_flux(outcome)
    items = flux.results if flux is not None else batch_items(outcome)
    if items is None:
        return False, None, type(outcome).__name__, None
    failures = 0
    error = None
    for item in items:
        item_read = read_outcome(item)
        if item_read is not None and item_read[0]:
            if not failures:
                error = item_read[1]
            failures += 1
    counts = {"total": len(items), "successes": len(items) - failures, "failures": failures}
    if failures:
        return True, error, None, counts
    return False, None, type(outcome).__name__, counts


def _success(spec: _Spec, scope: OperationScope, outcome: Any, elapsed: float) -> None:
    """`_finish` for the common case: a Success, no extras, no span; never raises."""
    try:
        ms = elapsed * 1000.0
        spec.record(ms, True, None, None)
        level = spec.success_level
        if level < (
            spec.threshold if spec.version == _levels.version else spec.current_threshold()
        ):
            return
        _emit(
            (
                _EVENT_OPERATION,
                level,
                _now(),
                scope.ensure_correlation_id(),
                spec.name,
                None,
                "success",
                ms,
                type(outcome.value).__name__,
                None,
                None,
                None,
                _get_bound(),
                None,
                None,
                None,
                None,
            )
        )
    except Exception:
        _writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


def _finish(
    spec: _Spec,
    scope: OperationScope,
    outcome: Any,
    elapsed: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    span: Any,
) -> None:
    """Log and record a completed call that returned ``outcome``; never raises."""
    try:
        ms = elapsed * 1000.0
        failed, error, success_type, metadata = _classify(outcome)
        code = message = None
        if failed:
            code = error_code_of(error)
            message = error_message_of(error)
        spec.record(ms, not failed, code, message)
        if span is not None:
            spec.exemplar(ms, span)
            span.end(failed, code, None)
        level = spec.failure_level if failed else spec.success_level
        if level < spec.current_threshold():
            return
        if spec.metadata or spec.log_args or spec.log_result or failed:
            metadata = {**spec.metadata, **(metadata or {})}
            if spec.log_args:
                metadata["args"] = spec.arguments(args, kwargs)
            if spec.log_result and not failed:
                read = read_outcome(outcome)
                if read is not None:
                    metadata["result"] = read[1]
            if failed and scope.failure_step is not None:
                metadata["failure_step"] = scope.failure_step
        _emit(
            (
                _EVENT_OPERATION,
                level,
                _now(),
                scope.ensure_correlation_id(),
                spec.name,
                None,
                "error" if failed else "success",
                ms,
                success_type,
                error_type_of(error) if failed else None,
                code,
                message,
                _get_bound(),
                metadata,
                None if span is None else span.trace_id,
                None if span is None else span.span_id,
                None,
            )
        )
    except Exception:
        _writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


def _finish_exception(
    spec: _Spec,
    scope: OperationScope,
    exc: Exception,
    elapsed: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    span: Any,
) -> None:
    """Log and record a call that raised ``exc`` (the caller re-raises it); never raises."""
    try:
        ms = elapsed * 1000.0
        code = error_code_of(exc)
        message = error_message_of(exc)
        spec.record(ms, False, code, message)
        if span is not None:
            spec.exemplar(ms, span)
            span.end(True, code, exc)
        level = spec.error_level
        if level < spec.current_threshold():
            return
        metadata: dict[str, Any] = {**spec.metadata, "raised": True}
        if spec.log_args:
            metadata["args"] = spec.arguments(args, kwargs)
        if scope.failure_step is not None:
            metadata["failure_step"] = scope.failure_step
        _emit(
            (
                _EVENT_OPERATION,
                level,
                _now(),
                scope.ensure_correlation_id(),
                spec.name,
                None,
                "error",
                ms,
                None,
                error_type_of(exc),
                code,
                message,
                _get_bound(),
                metadata,
                None if span is None else span.trace_id,
                None if span is None else span.span_id,
                exc,
            )
        )
    except Exception:
        _writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


def _end_span_quietly(span: Any) -> None:
    if span is not None:
        with contextlib.suppress(Exception):
            span.end(False, None, None)


def _awaitable(value: Any) -> bool:
    """`inspect.isawaitable` without its ABC check for the common, non-awaitable value."""
    if getattr(type(value), "__await__", None) is not None:
        return True
    return type(value) is types.GeneratorType and inspect.isawaitable(value)


def _is_mono(value: Any) -> bool:
    reactive = _modules.get("rfs_monitoring.reactive")
    return reactive is not None and isinstance(value, reactive.MonoResult)


def _as_flux(value: Any) -> FluxResult[Any, Any] | None:
    reactive = _modules.get("rfs_monitoring.reactive")
    if reactive is not None and isinstance(value, reactive.FluxResult):
        return cast("FluxResult[Any, Any]", value)
    return None


def _start_span(spec: _Spec, scope: OperationScope) -> Any:
    tracing = _tracing()
    if tracing is None:
        return None
    try:
        return tracing.start_operation(spec.name, scope)
    except Exception:
        return None


def _deferred_mono(
    spec: _Spec,
    mono: Any,
    pre_elapsed: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    creation: OperationScope,
    span: Any,
) -> Any:
    """A MonoResult that runs ``mono`` inside the operation and logs when awaited (for any
    other awaitable, a coroutine doing the same).

    The span started when the function was called covers the first await (one span per
    operation); a second await gets a span of its own. The creation call's correlation ID, if
    one was handed out, is kept when no request ID is set at await time.
    """

    pending = [span] if span is not None else []
    # Another library's chain (rfs' MonoResult, returns' FutureResult) is run through its own
    # entry point and handed back as the same type, so the caller's chain goes on unchanged.
    chain = chain_of(mono) if is_chain(mono) else None

    async def run() -> Result[Any, Any]:
        scope = OperationScope(
            spec.name, _get_correlation() or creation.correlation_id, _get_operation()
        )
        token = _set_operation(scope)
        span = pending.pop() if pending else None
        if span is not None:
            span.attach()
        elif _OTEL_TRACE in _modules:
            span = _start_span(spec, scope)
        start = scope.boundary = _perf()
        try:
            result: Result[Any, Any] = await (mono if chain is None else chain[0](mono))
        except Exception as exc:
            elapsed = pre_elapsed + _perf() - start
            _reset_operation(token)
            _finish_exception(spec, scope, exc, elapsed, args, kwargs, span)
            raise
        except BaseException:
            _reset_operation(token)
            _end_span_quietly(span)
            raise
        elapsed = pre_elapsed + _perf() - start
        _reset_operation(token)
        _finish(spec, scope, result, elapsed, args, kwargs, span)
        return result

    if chain is not None:
        return chain[1](mono, run)
    if not _is_mono(mono):
        return run()
    from rfs_monitoring.reactive import MonoResult

    return MonoResult.from_async_result(run)


def _detach_quietly(span: Any) -> None:
    if span is not None:
        with contextlib.suppress(Exception):
            span.detach()


@overload
def log_result_operation(name: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def log_result_operation(
    name: str | None = None,
    *,
    log_args: bool = False,
    log_result: bool = False,
    success_level: str | int = "INFO",
    failure_level: str | int = "WARNING",
    error_level: str | int = "ERROR",
    metadata: Mapping[str, Any] | None = None,
    record_metrics: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def log_result_operation(
    name: str | Callable[..., Any] | None = None,
    *,
    log_args: bool = False,
    log_result: bool = False,
    success_level: str | int = "INFO",
    failure_level: str | int = "WARNING",
    error_level: str | int = "ERROR",
    metadata: Mapping[str, Any] | None = None,
    record_metrics: bool = True,
) -> Any:
    """Log every call of the decorated function as one structured entry and record one metrics
    sample (``ResultMetricsCollector.instance()``), for sync and async functions returning a
    Result, a MonoResult or a FluxResult.

    - ``Success``: ``success_level`` (INFO); ``Failure``: ``failure_level`` (WARNING), classified
      by its error (``error_type``, ``error_code``, masked ``error_message``).
    - A raised exception is logged at ``error_level`` (ERROR) with its traceback, recorded as an
      error and re-raised unchanged.
    - A returned MonoResult is wrapped: the operation is timed and logged when it is awaited
      (each time it is awaited).
    - A FluxResult is an error when any item failed; the counts are in ``metadata``.
    - ``log_args=True`` adds the (masked) arguments to ``metadata["args"]``, ``log_result=True``
      the (masked) success value to ``metadata["result"]``; ``metadata`` adds fixed fields.
    - When no correlation ID is set, one is generated for the call (`get_correlation_id` returns
      it inside the call; nested operations share it).

    ``name`` defaults to the function's qualified name. The wrapper keeps the function's
    signature (`functools.wraps`), so FastAPI and ``@handle_result`` stack on top of it. An
    unknown level is a `ValueError` here, at decoration time. Used bare
    (``@log_result_operation``), it names the operation after the function.
    """
    for level in (success_level, failure_level, error_level):
        _level_number(level)
    label = name if isinstance(name, str) else None

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        spec = _Spec(
            label or str(getattr(fn, "__qualname__", repr(fn))),
            fn,
            log_args=log_args,
            log_result=log_result,
            success_level=success_level,
            failure_level=failure_level,
            error_level=error_level,
            metadata=metadata,
            record_metrics=record_metrics,
        )
        op_name = spec.name
        # Most calls return a Success and log no extras: they take the short path.
        plain = not (spec.metadata or spec.log_args or spec.log_result)
        success_number = spec.success_level
        records = spec.record_metrics
        levels = _levels

        if inspect.iscoroutinefunction(fn):
            afn = cast("Callable[..., Awaitable[Any]]", fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                scope = OperationScope(op_name, _get_correlation(), _get_operation())
                token = _set_operation(scope)
                span = None if _OTEL_TRACE not in _modules else _start_span(spec, scope)
                start = scope.boundary = _perf()
                try:
                    outcome = await afn(*args, **kwargs)
                except Exception as exc:
                    elapsed = _perf() - start
                    _reset_operation(token)
                    _finish_exception(spec, scope, exc, elapsed, args, kwargs, span)
                    raise
                except BaseException:
                    _reset_operation(token)
                    _end_span_quietly(span)
                    raise
                elapsed = _perf() - start
                _reset_operation(token)
                if plain and span is None and type(outcome) is Success:
                    if spec.version == levels.version and success_number < spec.threshold:
                        # Filtered out: the metrics sample is all that is left to do.
                        if records:
                            spec.record(elapsed * 1000.0, True, None, None)
                        return outcome
                    _success(spec, scope, outcome, elapsed)
                    return outcome
                if _is_mono(outcome) or (
                    # another library's chain: awaitable (no cost for our Results)
                    getattr(type(outcome), "__await__", None) is not None and is_chain(outcome)
                ):
                    _detach_quietly(span)
                    return _deferred_mono(
                        spec, cast(Any, outcome), elapsed, args, kwargs, scope, span
                    )
                _finish(spec, scope, outcome, elapsed, args, kwargs, span)
                return outcome

            return cast("Callable[P, R]", async_wrapper)

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            scope = OperationScope(op_name, _get_correlation(), _get_operation())
            token = _set_operation(scope)
            span = None if _OTEL_TRACE not in _modules else _start_span(spec, scope)
            start = scope.boundary = _perf()
            try:
                outcome = fn(*args, **kwargs)
            except Exception as exc:
                elapsed = _perf() - start
                _reset_operation(token)
                _finish_exception(spec, scope, exc, elapsed, args, kwargs, span)
                raise
            except BaseException:
                _reset_operation(token)
                _end_span_quietly(span)
                raise
            elapsed = _perf() - start
            _reset_operation(token)
            if plain and span is None and type(outcome) is Success:
                if spec.version == levels.version and success_number < spec.threshold:
                    # Filtered out: the metrics sample is all that is left to do.
                    if records:
                        spec.record(elapsed * 1000.0, True, None, None)
                    return outcome
                _success(spec, scope, outcome, elapsed)
                return outcome
            if _is_mono(outcome) or (_awaitable(outcome) and not is_result(outcome)):
                # A MonoResult (ours or another library's chain), or a coroutine from a plain
                # function: timed and logged when awaited, so the caller still gets something
                # awaitable. (expression's Result is awaitable too, but already an outcome.)
                _detach_quietly(span)
                return _deferred_mono(spec, cast(Any, outcome), elapsed, args, kwargs, scope, span)
            _finish(spec, scope, outcome, elapsed, args, kwargs, span)
            return outcome

        return cast("Callable[P, R]", sync_wrapper)

    if callable(name):
        return decorate(name)
    return decorate


# --------------------------------------------------------------------------------------------
# Steps: MonoResult.log_step / log_error and FluxResult.log_step / log_error
# --------------------------------------------------------------------------------------------


def _step_entry(
    scope: OperationScope,
    name: str,
    ms: float,
    failed: bool,
    outcome_error: Any,
    success_type: str | None,
    metadata: dict[str, Any] | None,
    span_ids: tuple[str | None, str | None],
) -> None:
    level = 30 if failed else 20
    if level < _levels.threshold(scope.name):
        return
    _emit(
        (
            _EVENT_STEP,
            level,
            _now(),
            scope.ensure_correlation_id(),
            scope.name,
            name,
            "error" if failed else "success",
            ms,
            success_type,
            error_type_of(outcome_error) if failed else None,
            error_code_of(outcome_error) if failed else None,
            error_message_of(outcome_error) if failed else None,
            _bound.get(),
            metadata,
            span_ids[0],
            span_ids[1],
            None,
        )
    )


def _record_step(operation: str, step: str, ms: float, failed: bool, error: Any) -> None:
    """One pass of a step into the metrics collector (`ResultMetricsCollector.step`), whatever
    the log level; never raises."""
    try:
        collector = _metrics_collector()
        if collector is None:
            return
        handle = collector.step(operation, step)
        if failed:
            handle.record(ms, False, error_code_of(error), error_message_of(error))
        else:
            handle.record(ms, True)
    except Exception:
        _writer._report("metrics", "rfs-monitoring: recording a step sample failed; ignored")


def _step_boundary(scope: OperationScope, name: str, failed: bool, started: float) -> float:
    """Close a step: its own duration in ms, and the failure bookkeeping of the operation."""
    now = _perf()
    since = scope.boundary if scope.boundary > started else started
    scope.boundary = now
    if failed:
        if scope.failure_step is None:
            scope.failure_step = name
    else:
        # A recovered chain starts over: a later Failure names its own step.
        scope.failure_step = None
    return (now - since) * 1000.0


def _step_span_ids(scope: OperationScope, name: str, ms: float, failed: bool, code: Any) -> Any:
    tracing = _tracing()
    if tracing is None:
        return (None, None)
    try:
        return tracing.record_step(scope, name, ms, failed, code)
    except Exception:
        return (None, None)


def _mono_step(mono: MonoResult[Any, Any], name: str, errors_only: bool) -> MonoResult[Any, Any]:
    """The MonoResult behind ``mono.log_step(name)`` (``errors_only=False``) and
    ``mono.log_error(name)`` (``errors_only=True``)."""
    from rfs_monitoring.reactive import MonoResult

    async def step() -> Result[Any, Any]:
        started = _perf()
        scope = _operation.get()
        token = None
        if scope is None:
            # A chain outside any logged operation is its own operation, named after the step.
            scope = OperationScope(name, _correlation_id.get())
            scope.boundary = started
            token = _operation.set(scope)
        try:
            result: Result[Any, Any] = await mono
        finally:
            if token is not None:
                _operation.reset(token)
        try:
            failed = isinstance(result, Failure)
            ms = _step_boundary(scope, name, failed, started)
            error = result.error if isinstance(result, Failure) else None
            _record_step(scope.name, name, ms, failed, error)
            if failed or not errors_only:
                code = error_code_of(error) if failed else None
                ids = _step_span_ids(scope, name, ms, failed, code)
                success_type = None if failed else type(result.unwrap()).__name__
                _step_entry(scope, name, ms, failed, error, success_type, None, ids)
        except Exception:
            _writer._report("emit", "rfs-monitoring: logging a step failed; ignored")
        return result

    return MonoResult.from_async_result(step)


def _flux_step(flux: FluxResult[Any, Any], name: str, errors_only: bool) -> FluxResult[Any, Any]:
    """Emit the entry behind ``flux.log_step(name)`` / ``flux.log_error(name)`` and return a
    FluxResult with the same results."""
    try:
        failures = flux.count_failures()
        failed = failures > 0
        scope = _operation.get()
        own = scope is None
        if scope is None:
            scope = OperationScope(name, _correlation_id.get())
        ms = 0.0 if own else _step_boundary(scope, name, failed, 0.0)
        error = next((r.error for r in flux.results if isinstance(r, Failure)), None)
        _record_step(scope.name, name, ms, failed, error)
        if failed or not errors_only:
            metadata = {
                "total": flux.count_total(),
                "successes": flux.count_success(),
                "failures": failures,
            }
            code = error_code_of(error) if failed else None
            ids = _step_span_ids(scope, name, ms, failed, code)
            success_type = None if failed else type(flux).__name__
            _step_entry(scope, name, ms, failed, error, success_type, metadata, ids)
    except Exception:
        _writer._report("emit", "rfs-monitoring: logging a step failed; ignored")
    return type(flux).from_results(flux.results)


# Imported by an application module under uvicorn or gunicorn, this runs after the server put its
# own SIGTERM handler in place: ours goes in front of it (and is dropped when the server restores
# the handler it found, the default action, at shutdown).
_install_sigterm_flush()
