"""OpenTelemetry spans for logged Result operations (optional extra ``otel``).

When the application has configured an OpenTelemetry tracer provider whose tracers record spans
(the SDK's `TracerProvider`, or any provider wrapping one, such as Pydantic Logfire's proxy), every
`~rfs_monitoring.result_logging.log_result_operation` call gets one span named after the
operation, and every ``log_step``/``log_error`` entry a child span covering that step's own
duration. A `Failure` sets the span status to ERROR and ``error.type`` to the error code (the
semantic conventions' attribute), a raised exception is recorded on the span, and the log entries
carry the span's ``trace_id`` and ``span_id``. Attribute values are masked.

Without OpenTelemetry nothing is imported and nothing costs: the logging module looks for
``opentelemetry.trace`` in `sys.modules` before calling in here.

>>> enabled() in (True, False)
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from typing import Any

from rfs_monitoring._bindings import NEVER, spans
from rfs_monitoring.context import OperationScope
from rfs_monitoring.masking import get_masker

__all__ = ["OperationSpan", "enabled", "set_tracer_provider"]

_INSTRUMENTATION = "rfs_monitoring"

_provider_override: Any = None
_tracer_cache: tuple[Any, Any] = (None, None)


def set_tracer_provider(provider: Any) -> Any:
    """Use ``provider`` for rfs-monitoring's spans instead of OpenTelemetry's global provider
    (``None`` goes back to the global one). Returns the previous override. Tests use this with an
    ``InMemorySpanExporter``, since OpenTelemetry's global provider can be set only once.
    """
    global _provider_override
    previous = _provider_override
    _provider_override = provider
    spans.version += 1
    spans.provider = NEVER
    return previous


def _resolved(provider: Any, trace: Any) -> Any:
    """The provider to ask for a tracer, or ``None`` when it can only give non-recording spans.

    The API's own `ProxyTracerProvider` (what ``get_tracer_provider()`` returns until the
    application sets one) stands for whatever global provider is set later, so it resolves to that
    provider once there is one; the API's `NoOpTracerProvider` never records. Any other provider
    is used as it is: whether its spans record is checked on each span (``is_recording``), not
    by its class.
    """
    if trace is None:
        return provider
    if isinstance(provider, trace.ProxyTracerProvider):
        current = trace.get_tracer_provider()
        return None if isinstance(current, trace.ProxyTracerProvider) else _resolved(current, trace)
    if isinstance(provider, trace.NoOpTracerProvider):
        return None
    return provider


_UNSET: Any = object()
_env_provider: bool | None = None  # whether OTEL_PYTHON_TRACER_PROVIDER names one (read once)


def _global_provider(trace: Any) -> Any:
    """OpenTelemetry's global provider, or ``None`` while none is set.

    ``trace.get_tracer_provider()`` reads the environment on every call until a provider is
    set, which cost about 4 µs per logged call in a process that imports OpenTelemetry without
    configuring it. The API keeps the provider in a module global: read that, and go through
    ``get_tracer_provider()`` only when the environment names a provider (read once) or the
    global is not where this API version keeps it.
    """
    global _env_provider
    provider = getattr(trace, "_TRACER_PROVIDER", _UNSET)
    if provider is None:
        if _env_provider is None:
            _env_provider = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
        if not _env_provider:
            return None
        return trace.get_tracer_provider()
    if provider is _UNSET:
        return trace.get_tracer_provider()
    return provider


def _tracer() -> Any:
    global _tracer_cache
    trace = sys.modules.get("opentelemetry.trace")
    provider = _provider_override
    if provider is None:
        if trace is None:
            return None
        provider = _global_provider(trace)
        if provider is None:
            return None
    provider = _resolved(provider, trace)
    if provider is None:
        return None
    cached_provider, tracer = _tracer_cache
    if provider is cached_provider:
        return tracer
    try:
        tracer = provider.get_tracer(_INSTRUMENTATION)
    except Exception:  # a provider that cannot give a tracer: no spans, calls go on
        tracer = None
    _tracer_cache = (provider, tracer)
    return tracer


_NO_TRACE: Any = object()  # the "global provider" while OpenTelemetry is not imported


def enabled() -> bool:
    """Whether spans may be produced: a tracer provider other than the API's no-op or unset
    proxy is configured (each span is still checked with ``is_recording``).

    FastAPI imports OpenTelemetry whenever it is installed, so every logged call and step asks
    this. The answer depends only on the override (`set_tracer_provider`) and OpenTelemetry's
    global provider, so it is kept (`rfs_monitoring._bindings.spans`) and given again while
    the global provider is the same object and the override unchanged: a provider set later,
    either way, is seen on the next call, and the common case (no provider set) takes no call
    into OpenTelemetry.
    """
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        if _provider_override is None:
            return False
        current = _NO_TRACE
    else:
        current = getattr(trace, "_TRACER_PROVIDER", _UNSET)
    gate = spans
    if gate.provider is current:
        return gate.on
    version = gate.version
    now = _enabled_now()
    if current is _UNSET or (current is None and _env_provider is not False):
        # Not where this API version keeps it, or the environment names a provider that the
        # first get_tracer_provider() loads: no key to keep the answer under.
        return now
    if gate.version == version:
        gate.on = now
        gate.provider = current
    return now


def _enabled_now() -> bool:
    try:
        return _tracer() is not None
    except Exception:
        return False


def _dropped(span: Any) -> bool:
    """A span that neither records nor carries a trace (a no-op tracer's): no tracing."""
    try:
        return not span.is_recording() and not span.get_span_context().is_valid
    except Exception:
        return True


def _ids(span: Any) -> tuple[str | None, str | None]:
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


class OperationSpan:
    """The span of one operation, current while the operation runs."""

    __slots__ = ("_token", "span", "span_id", "trace_id")

    def __init__(self, span: Any, token: Any) -> None:
        self.span = span
        self._token = token
        self.trace_id, self.span_id = _ids(span)

    def detach(self) -> None:
        """Stop being the current span (the operation goes on later: a returned MonoResult)."""
        from opentelemetry import context as otel_context

        token, self._token = self._token, None
        if token is not None:
            otel_context.detach(token)

    def attach(self) -> None:
        """Become the current span again, until `end`."""
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        self._token = otel_context.attach(trace.set_span_in_context(self.span))

    def end(self, failed: bool, error_code: str | None, exc: BaseException | None) -> None:
        """Set the outcome, end the span and make the previous span current again."""
        from opentelemetry import context as otel_context
        from opentelemetry.trace import Status, StatusCode

        span = self.span
        try:
            if exc is not None:
                # An exception whose text cannot be built is still an error span.
                with contextlib.suppress(Exception):
                    span.record_exception(exc, attributes=_masked_exception(exc))
            if failed:
                span.set_attribute("error.type", error_code or "error")
                span.set_attribute("rfs.result_type", "error")
                span.set_status(Status(StatusCode.ERROR, error_code))
            else:
                span.set_attribute("rfs.result_type", "success")
            span.end()
        finally:
            token, self._token = self._token, None
            if token is not None:
                # Detached in another context: nothing to restore here.
                with contextlib.suppress(Exception):
                    otel_context.detach(token)


def _masked_exception(exc: BaseException) -> dict[str, str]:
    # record_exception would otherwise store the raw message and traceback text.
    masker = get_masker()
    try:
        message = masker.mask_text(str(exc))
    except Exception:
        message = type(exc).__name__
    stack = "".join(traceback.format_exception(exc))  # never raises: it prints "<... failed>"
    return {"exception.message": message, "exception.stacktrace": masker.mask_text(stack)}


def start_operation(name: str, scope: OperationScope) -> OperationSpan | None:
    """Start the operation's span as the current span (a child of the caller's, if any)."""
    tracer = _tracer()
    if tracer is None:
        return None
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    attributes: dict[str, Any] = {"rfs.operation": get_masker().mask_text(name)}
    attributes["rfs.correlation_id"] = scope.ensure_correlation_id()
    span = tracer.start_span(name, attributes=attributes)
    if _dropped(span):
        return None
    scope.span = span
    token = otel_context.attach(trace.set_span_in_context(span))
    return OperationSpan(span, token)


def record_step(
    scope: OperationScope, name: str, ms: float, failed: bool, error_code: str | None
) -> tuple[str | None, str | None]:
    """A finished child span for one step, covering its own ``ms`` up to now."""
    tracer = _tracer()
    if tracer is None:
        return None, None
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    end_ns = time.time_ns()
    start_ns = end_ns - int(ms * 1_000_000)
    parent = scope.span
    context = trace.set_span_in_context(parent) if parent is not None else None
    attributes: dict[str, Any] = {
        "rfs.operation": get_masker().mask_text(scope.name),
        "rfs.step": get_masker().mask_text(name),
        "rfs.result_type": "error" if failed else "success",
    }
    span = tracer.start_span(name, context=context, attributes=attributes, start_time=start_ns)
    if _dropped(span):
        return None, None
    if failed:
        span.set_attribute("error.type", error_code or "error")
        span.set_status(Status(StatusCode.ERROR, error_code))
    span.end(end_time=end_ns)
    return _ids(span)
