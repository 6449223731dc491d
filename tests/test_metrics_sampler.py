"""Tests of the background resource sampler behind the metrics collector."""

from __future__ import annotations

import threading

from rfs_monitoring._sampler import ResourceSampler


class Sink:
    """Collects resource samples; optionally fails."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.samples: list[tuple[float, float, float]] = []
        self.got_two = threading.Event()

    def record_resources(self, t: float, rss_mb: float, cpu_percent: float) -> None:
        if self.fail:
            raise RuntimeError("sink broken")
        self.samples.append((t, rss_mb, cpu_percent))
        if len(self.samples) >= 2:
            self.got_two.set()


def test_sampler_samples_periodically_until_stopped() -> None:
    """start samples at once, then on every interval; stop ends the thread; start is idempotent."""
    sink = Sink()
    sampler = ResourceSampler(sink, clock=lambda: 42.0, interval=0.01)
    assert sampler.latest is None
    sampler.start()
    sampler.start()
    try:
        assert sampler.running
        assert sink.got_two.wait(10)
    finally:
        sampler.stop()
    assert not sampler.running
    count = len(sink.samples)
    assert all(t == 42.0 and rss > 1.0 and cpu >= 0.0 for t, rss, cpu in sink.samples)
    assert sampler.latest == sink.samples[-1][1:]
    assert len(sink.samples) == count


def test_sampler_restarts_after_stop_and_stop_without_start_is_harmless() -> None:
    """stop before start does nothing; a stopped sampler starts again."""
    sink = Sink()
    sampler = ResourceSampler(sink, clock=lambda: 1.0, interval=60)
    sampler.stop()
    sampler.start()
    sampler.stop()
    sampler.start()
    try:
        assert sampler.running
    finally:
        sampler.stop()
    assert len(sink.samples) == 2


def test_a_failing_sample_is_swallowed() -> None:
    """A sink or psutil error returns None and never raises into the caller."""
    sampler = ResourceSampler(Sink(fail=True), clock=lambda: 1.0)
    assert sampler.sample_once() is None
    assert sampler.latest is None
