"""Rendering entries as JSON lines: the generic renderer and the fixed-schema fast path."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import Any, cast

from rfs_monitoring._logging.config import _Config, _enc
from rfs_monitoring._logging.entry import (
    _BOUND,
    _CID,
    _ECODE,
    _EMSG,
    _ETYPE,
    _EXC,
    _KIND,
    _LEVEL,
    _META,
    _MS,
    _OP,
    _RTYPE,
    _SPAN,
    _STEP,
    _STYPE,
    _TRACE,
    _TS,
    _format_exception,
    _MaskedArgs,
    _RawEntry,
    _stamp,
)
from rfs_monitoring._logging.levels import _LEVEL_NAMES
from rfs_monitoring._logging.links import _resource_sample
from rfs_monitoring.masking import Masker, get_masker

_Item = Any


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
        f'"metadata":{render_json(_mask_metadata(masker, metadata)) if metadata else "{}"},'
        f'"trace_id":{"null" if trace_id is None else _enc(trace_id)},'
        f'"span_id":{"null" if span_id is None else _enc(span_id)}'
    )
    exc = raw[_EXC]
    if exc is not None:
        line += f',"exception":{_enc(masker.mask_text(_format_exception(exc)))}'
    return line + "}"


def _mask_metadata(masker: Masker, metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` masked, except the arguments masked at the call (`_MaskedArgs`)."""
    if not any(type(value) is _MaskedArgs for value in metadata.values()):
        return cast("dict[str, Any]", masker.mask(metadata))
    masked: dict[str, Any] = {}
    for key, value in metadata.items():
        if type(key) is str and masker.is_sensitive_key(key):
            masked[key] = masker.replacement
        elif type(value) is _MaskedArgs:
            masked[key] = value
        else:
            masked[key] = masker.mask(value)
    return masked


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
        "metadata": _mask_metadata(masker, metadata) if metadata else metadata,
        "trace_id": raw[_TRACE],
        "span_id": raw[_SPAN],
    }
    exc = raw[_EXC]
    if exc is not None:
        entry["exception"] = masker.mask_text(_format_exception(exc))
    return entry


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
