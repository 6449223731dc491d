"""Exceptions raised by rfs-monitoring.

Each one also derives from the built-in exception a caller would expect (``ValueError``,
``KeyError``), the way pydantic and orjson do, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import Any

from rfs_monitoring.errors import APIError, ErrorCode

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
