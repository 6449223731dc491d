"""Correlation IDs and request context, carried by `contextvars`.

The ID of the current request (or operation) is read with `get_correlation_id`; the logging
issue extends this module with the ASGI middleware and `correlation_context`.

>>> get_correlation_id() is None
True
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["get_correlation_id"]

_correlation_id: ContextVar[str | None] = ContextVar("rfs_correlation_id", default=None)


def get_correlation_id() -> str | None:
    """The correlation ID of the current context, or ``None`` outside any request or operation."""
    return _correlation_id.get()
