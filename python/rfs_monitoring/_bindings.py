"""What the instrumentation layer gets from the layers above it, bound at run time.

- The process-wide metrics collector: the package root binds a factory that loads
  `rfs_monitoring.metrics` on first use, and that module binds its own.
- The package's own chain types (`MonoResult`, `FluxResult`), registered by
  `rfs_monitoring.reactive` when it defines them.
- Whether spans may be produced (`spans`): `rfs_monitoring.tracing.enabled`'s answer, kept
  here for as long as the tracer providers stay the same, so that the hot paths read it
  without importing the tracing module (nor OpenTelemetry).

No imports: the package root binds the collector here without loading anything else, so
``import rfs_monitoring`` stays light; `rfs_monitoring._instrument` re-exports these names.

>>> from rfs_monitoring.result import Success
>>> is_mono(Success(1)), as_flux([1]) is None
(False, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rfs_monitoring import _core

__all__ = [
    "as_flux",
    "bind_collector",
    "collectors",
    "is_mono",
    "mono_chain",
    "mono_type",
    "process_collector",
    "register_chains",
    "spans",
]

# -- the process-wide collector -------------------------------------------------------------


class _Collectors:
    """Where the process-wide collector comes from. The package root binds a factory that
    loads `rfs_monitoring.metrics` on first use; that module then binds its own
    ``ResultMetricsCollector.instance`` and class, whose ``_instance`` the hot paths read."""

    __slots__ = ("cls", "factory")

    def __init__(self) -> None:
        self.factory: Callable[[], Any] | None = None
        self.cls: Any = None


collectors = _Collectors()


def bind_collector(factory: Callable[[], Any], cls: Any = None) -> None:
    """Install the callable returning the process-wide metrics collector (and its class)."""
    collectors.factory = factory
    collectors.cls = cls


def process_collector() -> Any:
    """The process-wide metrics collector, or ``None`` when none can be had."""
    factory = collectors.factory
    return None if factory is None else factory()


# -- the package's own chain types ----------------------------------------------------------


class _Chains:
    """The package's own chain types, registered by `rfs_monitoring.reactive`."""

    __slots__ = ("flux", "mono")

    def __init__(self) -> None:
        self.mono: type | None = None
        self.flux: type | None = None


_chains = _Chains()


def register_chains(mono: type, flux: type) -> None:
    """Called by `rfs_monitoring.reactive` once its `MonoResult` and `FluxResult` exist."""
    _chains.mono = mono
    _chains.flux = flux


def mono_type() -> type | None:
    """The package's `MonoResult` class, once `rfs_monitoring.reactive` is loaded."""
    return _chains.mono


def mono_chain() -> Any:
    """The package's `MonoResult` class, for wrapping a chain (only called with one in hand, so
    the reactive module is loaded)."""
    return _chains.mono


def is_mono(value: Any) -> bool:
    """Whether ``value`` is one of the package's MonoResults (none exist before the reactive
    module is loaded, so this needs no import)."""
    mono = _chains.mono
    return mono is not None and isinstance(value, mono)


def as_flux(value: Any) -> Any:
    """``value`` when it is one of the package's FluxResults, else ``None``."""
    flux = _chains.flux
    return value if flux is not None and isinstance(value, flux) else None


# -- whether spans may be produced ----------------------------------------------------------

NEVER: Any = object()  # matches no provider


spans = _core.SpanSwitch(NEVER)
"""`rfs_monitoring.tracing.enabled`'s answer (``on``), kept for the OpenTelemetry global provider
it was worked out for (``provider``): while OpenTelemetry's global is the same object the answer
stands, so the hot paths check it inline (``spans.on or spans.provider is not
trace._TRACER_PROVIDER`` means "ask `enabled`"). A provider set later is a new object, seen on
the next call; `rfs_monitoring.tracing.set_tracer_provider` bumps ``version`` and clears
``provider``, so an answer worked out across the change is not kept. Native
(`_core.SpanSwitch`), so the native fast paths read it without an attribute lookup."""
