"""A controllable clock for tests that drive the metrics collector's time windows.

>>> clock = FakeClock(start=1_000.0)
>>> clock()
1000.0
>>> clock.advance(90)
1090.0
>>> clock.set(5_000)
5000.0
"""

from __future__ import annotations

import math
import threading
from datetime import datetime

from rfs_monitoring._exceptions import InvalidArgumentError

__all__ = ["DEFAULT_START", "FakeClock"]

#: 2024-01-01T00:00:00Z: a fixed start, so hour-of-day distributions are reproducible.
DEFAULT_START = 1_704_067_200.0


class FakeClock:
    """A callable returning seconds since the epoch that only moves when told to.

    Pass it as ``ResultMetricsCollector(clock=...)``; `advance` moves it forward and `set` jumps
    to an instant (seconds or an aware `datetime`), so tests see samples leave a window without
    sleeping.
    """

    def __init__(self, start: float | datetime = DEFAULT_START) -> None:
        self._lock = threading.Lock()
        self._now = self._seconds(start)

    @staticmethod
    def _seconds(instant: float | datetime) -> float:
        if isinstance(instant, datetime):
            if instant.tzinfo is None:
                raise InvalidArgumentError("a naive datetime is ambiguous: give it a timezone")
            return instant.timestamp()
        value = float(instant)
        if not math.isfinite(value):
            raise InvalidArgumentError(f"the clock needs a finite time, not {instant!r}")
        return value

    def __call__(self) -> float:
        """The current fake time, in seconds since the epoch."""
        return self._now

    @property
    def now(self) -> float:
        """The current fake time (same as calling the clock)."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (not negative: use `set` to go back) and return the time."""
        step = float(seconds)
        if not (math.isfinite(step) and step >= 0):
            raise InvalidArgumentError(
                f"advance() takes a finite, non-negative number, not {seconds!r}"
            )
        with self._lock:
            self._now += step
            return self._now

    def set(self, instant: float | datetime) -> float:
        """Jump to ``instant`` (epoch seconds or an aware datetime) and return the time."""
        value = self._seconds(instant)
        with self._lock:
            self._now = value
            return value

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
