"""Exceptions raised by rfs-monitoring.

Each one also derives from the built-in exception a caller would expect (``ValueError``,
``TypeError``, ``OSError``, ``TimeoutError``), the way pydantic and orjson do, so
``except ValueError`` keeps working: a bad argument is an `InvalidArgumentError` (a
``ValueError``) or an `InvalidTypeError` (a ``TypeError``), a shared directory that cannot be
used a `StorageError` (an ``OSError``), and ``except RfsMonitoringError`` catches them all.
"""

from __future__ import annotations

from typing import Any

from rfs_monitoring._exceptions import (
    InvalidArgumentError,
    InvalidTypeError,
    RfsMonitoringError,
    StorageError,
)
from rfs_monitoring.errors import APIError, ErrorCode

__all__ = [
    "ClockError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "OperationTimeoutError",
    "RfsMonitoringError",
    "StorageError",
    "UnwrapError",
]


class UnwrapError(RfsMonitoringError, ValueError):
    """Raised by `Result.unwrap` on a `Failure` and `Result.unwrap_error` on a `Success`.

    The offending result is kept in ``result``.
    """

    def __init__(self, result: Any, message: str) -> None:
        super().__init__(message)
        self.result = result


class OperationTimeoutError(APIError, RfsMonitoringError, TimeoutError):
    """The error held by the `Failure` of a `MonoResult.timeout` that expired.

    It is an `APIError` with code ``TIMEOUT_ERROR`` (504), so a chain typed
    ``Result[T, APIError]`` stays that type after ``.timeout(...)`` and `@handle_result` answers
    504. It is also a `TimeoutError`, so ``except TimeoutError`` catches it when unwrapped. Its
    text says "timeout"; the limit is kept in ``seconds``.

    >>> error = OperationTimeoutError(2.5)
    >>> str(error), error.seconds, error.status_code, isinstance(error, TimeoutError)
    ('operation timeout after 2.5 s', 2.5, 504, True)
    >>> error.code
    <ErrorCode.TIMEOUT_ERROR: 'TIMEOUT_ERROR'>
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(ErrorCode.TIMEOUT_ERROR, f"operation timeout after {seconds:g} s")
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"OperationTimeoutError({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.seconds,))


class ClockError(APIError, RfsMonitoringError, ValueError):
    """The metrics collector's clock returned a time it cannot place: NaN, an infinity, a
    negative number or one past the year 9999 (253402300799 s).

    Queries raise it (or return it in a `Failure`); it is an `APIError` with code
    ``SERVICE_UNAVAILABLE`` (503), so the monitoring routes answer a problem+json 503, never a
    500. Recording never raises it: a sample taken while the clock is broken is kept at the
    previous sample's time and counted in `ResultMetricsCollector.clock_errors`.

    >>> error = ClockError(float("nan"))
    >>> error.status_code, error.reading, isinstance(error, ValueError)
    (503, nan, True)
    """

    def __init__(self, reading: object) -> None:
        super().__init__(
            ErrorCode.SERVICE_UNAVAILABLE,
            f"the metrics clock returned {reading!r}, not a time from 0 to 253402300799 s "
            "(year 9999); fix the collector's clock",
            {"clock_reading": repr(reading)},
        )
        self.reading = reading

    def __repr__(self) -> str:
        return f"ClockError({self.reading!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reading,))
