"""The logging configuration in force and the listeners."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

_enc = json.encoder.encode_basestring

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
    >>> from rfs_monitoring.result import Result, Success
    >>> from rfs_monitoring.result_logging import configure_logging, log_result_operation
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
