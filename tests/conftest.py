"""Fixtures shared by the test modules (the plugin brings the public ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rfs_monitoring import tracing
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.testing import FakeClock


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider with an in-memory exporter, used for rfs-monitoring's spans."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    previous = tracing.set_tracer_provider(provider)
    yield memory
    tracing.set_tracer_provider(previous)
    provider.shutdown()


START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: the T0 of the modules that drive time


@pytest.fixture
def clock() -> FakeClock:
    """The package's fake clock, at `START` (a module with another start overrides it)."""
    return FakeClock(START)


@pytest.fixture
def collector(clock: FakeClock) -> Iterator[ResultMetricsCollector]:
    """A collector on the fake clock, without the resource sampler (not installed as the
    process-wide one; a module that needs that overrides this fixture)."""
    made = ResultMetricsCollector(clock=clock, sample_resources=False)
    yield made
    made.close()


@pytest.fixture
def installed() -> Iterator[ResultMetricsCollector]:
    """A fresh process-wide collector (what the decorators record into), the previous one
    put back afterwards."""
    fresh = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(fresh)
    yield fresh
    ResultMetricsCollector.set_instance(previous)
    fresh.close()
