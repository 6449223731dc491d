"""Exceptions raised by rfs-monitoring.

Each one also derives from the built-in exception a caller would expect (``ValueError``,
``KeyError``), the way pydantic and orjson do, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RfsMonitoringError", "UnwrapError"]


class RfsMonitoringError(Exception):
    """Base class of every exception this package raises on its own."""


class UnwrapError(RfsMonitoringError, ValueError):
    """Raised by `Result.unwrap` on a `Failure` and `Result.unwrap_error` on a `Success`.

    The offending result is kept in ``result``.
    """

    def __init__(self, result: Any, message: str) -> None:
        super().__init__(message)
        self.result = result
