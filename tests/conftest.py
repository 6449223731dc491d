"""Fixtures shared by the test modules (the plugin brings the public ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rfs_monitoring import tracing
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


@pytest.fixture
def clock() -> FakeClock:
    """The package's fake clock, at its fixed start (2024-01-01T00:00:00Z)."""
    return FakeClock()
