"""structlog's `get_logger` and the stdlib `StdlibBridgeHandler`, feeding the same queue."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from rfs_monitoring._logging import config as _cfg
from rfs_monitoring._logging.entry import _format_exception, _now, _stamp
from rfs_monitoring._logging.levels import _LEVEL_NUMBERS, _levels
from rfs_monitoring._logging.writer import _put_event
from rfs_monitoring.context import _bound, get_correlation_id
from rfs_monitoring.masking import get_masker


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
    event.setdefault("service_name", _cfg._config.service_name)
    event.setdefault("environment", _cfg._config.environment)
    _put_event(get_masker().mask(event))
    raise structlog.DropEvent


def get_logger(**initial_values: Any) -> Any:
    """A structlog logger whose entries go through this module's queue, masking and JSON renderer
    (with the correlation ID and bound context added), leaving structlog's global configuration
    alone.

    >>> import io, json
    >>> from rfs_monitoring.result_logging import configure_logging, flush_logs
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
    >>> from rfs_monitoring.result_logging import configure_logging, flush_logs
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
                "service_name": _cfg._config.service_name,
                "environment": _cfg._config.environment,
            }
            if record.exc_info and record.exc_info[1] is not None:
                event["exception"] = masker.mask_text(_format_exception(record.exc_info[1]))
            _put_event(event)
        except Exception:
            self.handleError(record)
