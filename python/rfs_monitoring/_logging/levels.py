"""Log levels: names and numbers, the run-time thresholds (global and per operation)."""

from __future__ import annotations

import threading

from rfs_monitoring._exceptions import InvalidArgumentError

_LEVEL_NUMBERS: dict[str, int] = {
    "DEBUG": 10,
    "INFO": 20,
    "WARNING": 30,
    "WARN": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}
_LEVEL_NAMES: dict[int, str] = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


def _level_number(level: str | int) -> int:
    if isinstance(level, bool):
        raise InvalidArgumentError(f"unknown log level {level!r}")
    if isinstance(level, int):
        if level in _LEVEL_NAMES:
            return level
        raise InvalidArgumentError(
            f"unknown log level {level!r}; use one of {sorted(_LEVEL_NAMES)}"
        )
    if isinstance(level, str):
        number = _LEVEL_NUMBERS.get(level.strip().upper())
        if number is not None:
            return number
    raise InvalidArgumentError(
        f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
    )


MAX_OPERATION_LEVELS = 1024
"""How many operations may have a level of their own (`set_log_level` with ``operation``)."""


class TooManyLevelOverridesError(ValueError):
    """`set_log_level` for a new operation when `MAX_OPERATION_LEVELS` operations already have
    a level of their own (``PUT /logging/level`` answers 400). `reset_log_levels` forgets them."""


class _Levels:
    """Thresholds, read lock-free on every call: a decorated function caches its threshold and
    re-reads it only when ``version`` moved. Changed in place (O(1)): a dict read racing with a
    write sees the old or the new value."""

    __slots__ = ("default", "lock", "per_operation", "version")

    def __init__(self) -> None:
        self.default = 20
        self.per_operation: dict[str, int] = {}
        self.version = 0
        self.lock = threading.Lock()

    def threshold(self, operation: str) -> int:
        return self.per_operation.get(operation, self.default)


_levels = _Levels()


def set_log_level(level: str | int, operation: str | None = None) -> None:
    """Change the level threshold at run time, for every operation or for one; the next call
    sees it. Thread-safe. Raises `ValueError` for an unknown level, and its subclass
    `TooManyLevelOverridesError` for a new operation past `MAX_OPERATION_LEVELS`.

    >>> set_log_level("ERROR", operation="health_check")
    >>> get_log_level("health_check"), get_log_level()
    ('ERROR', 'INFO')
    >>> reset_log_levels()
    """
    number = _level_number(level)
    with _levels.lock:
        if operation is None:
            _levels.default = number
        else:
            overrides = _levels.per_operation
            if operation not in overrides and len(overrides) >= MAX_OPERATION_LEVELS:
                raise TooManyLevelOverridesError(
                    f"at most {MAX_OPERATION_LEVELS} operations can have a level of their own; "
                    "reset them (reset_log_levels) or set the global level instead"
                )
            overrides[operation] = number
        _levels.version += 1


def reset_log_levels() -> None:
    """Forget every per-operation level and set the global one back to INFO."""
    with _levels.lock:
        _levels.default = 20
        _levels.per_operation = {}
        _levels.version += 1


def get_log_level(operation: str | None = None) -> str:
    """The effective level name for ``operation`` (or the global one).

    >>> get_log_level()
    'INFO'
    """
    number = _levels.default if operation is None else _levels.threshold(operation)
    return _LEVEL_NAMES[number].upper()
