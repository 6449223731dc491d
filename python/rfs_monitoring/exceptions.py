"""Exceptions raised by rfs-monitoring.

Each one also derives from the built-in exception a caller would expect (``ValueError``,
``KeyError``), the way pydantic and orjson do, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OperationTimeoutError", "RfsMonitoringError", "UnwrapError"]


class RfsMonitoringError(Exception):
    """Base class of every exception this package raises on its own."""


class UnwrapError(RfsMonitoringError, ValueError):
    """Raised by `Result.unwrap` on a `Failure` and `Result.unwrap_error` on a `Success`.

    The offending result is kept in ``result``.
    """

    def __init__(self, result: Any, message: str) -> None:
        super().__init__(message)
        self.result = result


class OperationTimeoutError(RfsMonitoringError, TimeoutError):
    """The error held by the `Failure` of a `MonoResult.timeout` that expired.

    It is a `TimeoutError`, so `APIError.from_service_error` maps it to ``TIMEOUT_ERROR`` (504),
    and its text says "timeout". The limit is kept in ``seconds``.

    >>> error = OperationTimeoutError(2.5)
    >>> str(error), error.seconds, isinstance(error, TimeoutError)
    ('operation timeout after 2.5 s', 2.5, True)
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"operation timeout after {seconds:g} s")
        self.seconds = seconds
