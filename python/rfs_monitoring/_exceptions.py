"""The base exception classes, below every other module (`errors` raises them too); they are
public as `rfs_monitoring.exceptions`, where their doctests run."""

from __future__ import annotations

__all__ = ["InvalidArgumentError", "InvalidTypeError", "RfsMonitoringError", "StorageError"]

_PUBLIC = "rfs_monitoring.exceptions"


class RfsMonitoringError(Exception):
    """Base class of every exception this package raises on its own.

    >>> from rfs_monitoring.reactive import MonoResult
    >>> try:
    ...     MonoResult.from_value(1).timeout(-1)
    ... except RfsMonitoringError as error:
    ...     print(f"{type(error).__name__}: {error}")
    InvalidArgumentError: timeout must be more than zero, got -1
    """


class InvalidArgumentError(RfsMonitoringError, ValueError):
    """An argument with a value the package refuses: an empty operation name, an unknown log
    level, a negative timeout, an unknown exposition format, a setting out of range. Raised by
    the Python package and by the Rust core (``rfs_monitoring._core``) alike; it is a
    `ValueError`, so ``except ValueError`` keeps working.

    >>> from rfs_monitoring import _core
    >>> try:
    ...     _core.Registry().handle("")
    ... except InvalidArgumentError as error:
    ...     isinstance(error, ValueError)
    True
    >>> from rfs_monitoring.result_logging import configure_logging
    >>> configure_logging(level="LOUD")
    Traceback (most recent call last):
    ...
    rfs_monitoring.exceptions.InvalidArgumentError: unknown log level 'LOUD'; use DEBUG, ...
    """


class InvalidTypeError(RfsMonitoringError, TypeError):
    """An argument of a type the package cannot use (a decorator given something that is not
    a function, a value that is not a Result where one is needed). It is a `TypeError`, so
    ``except TypeError`` keeps working.

    >>> from rfs_monitoring.web import handle_result
    >>> try:
    ...     handle_result(42)  # type: ignore[call-overload]
    ... except InvalidTypeError as error:
    ...     print(error, isinstance(error, TypeError))
    handle_result decorates a function, got int True
    """


class StorageError(RfsMonitoringError, OSError):
    """The shared metrics directory (``ResultMetricsCollector(shared_dir=...)``,
    ``RFS_MONITORING_DIR``) cannot be used: it cannot be created, read or written. It is an
    `OSError`, so ``except OSError`` keeps working; the system's error is in the message.

    >>> import tempfile, pathlib
    >>> from rfs_monitoring.metrics import ResultMetricsCollector
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     blocker = pathlib.Path(tmp, "file")
    ...     _ = blocker.write_text("not a directory")
    ...     try:
    ...         ResultMetricsCollector(shared_dir=blocker / "metrics", sample_resources=False)
    ...     except StorageError as error:
    ...         print(isinstance(error, OSError), "shared directory" in str(error))
    True True
    """


for _class in (RfsMonitoringError, InvalidArgumentError, InvalidTypeError, StorageError):
    _class.__module__ = _PUBLIC
