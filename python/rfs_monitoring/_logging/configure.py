"""`configure_logging`: the one call that sets up output, bounds, levels and the stdlib capture."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from rfs_monitoring._exceptions import InvalidArgumentError
from rfs_monitoring._logging import config as _cfg
from rfs_monitoring._logging import writer as _w
from rfs_monitoring._logging.bridges import StdlibBridgeHandler
from rfs_monitoring._logging.config import Processor, TextSink, _Config, _default_config
from rfs_monitoring._logging.levels import _level_number, _levels
from rfs_monitoring._logging.writer import _install_sigterm_flush, _uninstall_sigterm_flush


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
    small: to an OS file (a file, a real stdout or stderr, a pipe) the Rust core's writer thread
    renders and writes about a million entries a second without taking the interpreter, so
    callers rarely wait; other streams, processors and custom masking patterns go through a
    Python writer thread that takes the interpreter once per batch. Strings longer
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
    global _captured
    number = _level_number(level)
    if queue_size < 1:
        raise InvalidArgumentError(f"queue_size must be at least 1, got {queue_size}")
    if max_block_seconds < 0:
        raise InvalidArgumentError(
            f"max_block_seconds must be zero or more, got {max_block_seconds}"
        )
    if max_queue_bytes < 1:
        raise InvalidArgumentError(f"max_queue_bytes must be at least 1, got {max_queue_bytes}")
    if max_value_chars < 16:
        raise InvalidArgumentError(f"max_value_chars must be at least 16, got {max_value_chars}")
    if exit_flush_seconds < 0:
        raise InvalidArgumentError(
            f"exit_flush_seconds must be zero or more, got {exit_flush_seconds}"
        )
    _w._flush_both(10.0)
    defaults = _default_config()
    _cfg._config = _Config(
        stream=stream,
        service_name=service_name if service_name is not None else defaults.service_name,
        environment=environment if environment is not None else defaults.environment,
        processors=tuple(processors),
        max_value_chars=max_value_chars,
        exit_flush_seconds=exit_flush_seconds,
    )
    _w._writer.capacity = queue_size
    _w._writer.max_block = max_block_seconds
    _w._writer.max_bytes = max_queue_bytes
    if _w._pipeline is not None:
        _w._pipeline.set_limits(queue_size, max_queue_bytes, max_block_seconds)
    _w._writer._reported.clear()
    _w._writer.reported_at = -math.inf  # a new configuration's first trouble is reported at once
    _w._sigterm_wanted = flush_on_sigterm
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
    _w._select_lane()


_captured: tuple[logging.Logger, logging.Handler] | None = None
