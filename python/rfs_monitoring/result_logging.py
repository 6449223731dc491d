"""Structured logging of Result operations: one JSON entry per call, off the request path.

`log_result_operation` times a call once and feeds both the log and the metrics collector. A
returned `Failure` is an error, exactly like a raised exception:

>>> import io, json
>>> from rfs_monitoring.result import Failure, Result, Success
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

The pipeline lives in the private package ``rfs_monitoring._logging``, one concept per module:
``levels`` (thresholds), ``entry`` (the schema and the raw entry), ``render`` (JSON lines),
``config`` (the configuration in force, listeners), ``writer`` (the queue, the writer thread,
flush, fork and SIGTERM hooks), ``configure`` (`configure_logging`), ``bridges`` (structlog and
stdlib), ``decorator`` and ``steps``. This module is the public face: its names are the contract.
"""

from __future__ import annotations

from rfs_monitoring._logging.bridges import StdlibBridgeHandler, get_logger
from rfs_monitoring._logging.config import TextSink, add_listener
from rfs_monitoring._logging.configure import configure_logging
from rfs_monitoring._logging.decorator import log_result_operation
from rfs_monitoring._logging.entry import ResultLogEntry
from rfs_monitoring._logging.levels import (
    MAX_OPERATION_LEVELS,
    TooManyLevelOverridesError,
    get_log_level,
    reset_log_levels,
    set_log_level,
)
from rfs_monitoring._logging.render import render_json

# `MonoResult.log_step` and `FluxResult.log_step` (rfs_monitoring.reactive) find these here.
from rfs_monitoring._logging.steps import _flux_step as _flux_step
from rfs_monitoring._logging.steps import _mono_step as _mono_step
from rfs_monitoring._logging.writer import (
    LogWriterState,
    _install_sigterm_flush,
    flush_logs,
    log_writer_state,
)

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

# Imported by an application module under uvicorn or gunicorn, this runs after the server put its
# own SIGTERM handler in place: ours goes in front of it (and is dropped when the server restores
# the handler it found, the default action, at shutdown).
_install_sigterm_flush()
