"""The background thread that samples process memory and CPU into the metrics buckets.

psutil costs 13 to 117 µs per call, so it runs once a second in one daemon thread per
collector, never on the request path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psutil

__all__ = ["ResourceSampler"]

_logger = logging.getLogger("rfs_monitoring.metrics")


class _ResourceSink(Protocol):
    def record_resources(self, t: float, rss_mb: float, cpu_percent: float) -> None: ...


class ResourceSampler:
    """Samples this process' RSS (MB) and CPU (%) every ``interval`` seconds into ``sink``.

    `start` takes one sample synchronously (so `latest` is never empty once started) and then
    starts the daemon thread; it is idempotent and restarts the thread after a ``fork``. `stop`
    wakes the thread and joins it.
    """

    def __init__(
        self, sink: _ResourceSink, clock: Callable[[], float], interval: float = 1.0
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: psutil.Process | None = None
        self._pid = 0
        self._latest: tuple[float, float] | None = None

    @property
    def latest(self) -> tuple[float, float] | None:
        """The last ``(rss_mb, cpu_percent)`` sample, or None before the first one."""
        return self._latest

    @property
    def running(self) -> bool:
        """True while the sampling thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start sampling (no-op when already running)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self.sample_once()
            thread = threading.Thread(
                target=self._run, name="rfs-monitoring-resource-sampler", daemon=True
            )
            self._thread = thread
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling and wait (up to ``timeout`` seconds) for the thread to end."""
        with self._lock:
            thread = self._thread
            self._thread = None
            self._stop.set()
        if thread is not None:
            thread.join(timeout)

    def after_fork_in_child(self) -> None:
        """Forget the parent's thread and locks: in a forked child only the forking thread
        exists, and a lock another parent thread held would stay held forever. Sampling
        restarts lazily, as after `stop`."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def signal_stop(self) -> None:
        """Ask the thread to end at its next wake-up, without waiting for it."""
        self._stop.set()

    def sample_once(self) -> tuple[float, float] | None:
        """Take one sample now and record it; None when psutil fails."""
        try:
            if self._process is None or self._pid != os.getpid():
                import psutil  # ~30 ms: paid by the sampler thread, not by `import metrics`

                self._process = psutil.Process()
                self._pid = os.getpid()
                self._process.cpu_percent(None)
            rss_mb = self._process.memory_info().rss / (1024 * 1024)
            cpu_percent = self._process.cpu_percent(None)
            self._sink.record_resources(self._clock(), rss_mb, cpu_percent)
        except Exception:  # sampling must never take the service down
            _logger.debug("resource sample failed", exc_info=True)
            return None
        self._latest = (rss_mb, cpu_percent)
        return self._latest

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample_once()
