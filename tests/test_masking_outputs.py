"""Every secret form in every input position, with every option on: no secret reaches any output.

Options on: ``log_args``, ``log_result``, ``capture_stdlib`` (with httpx's own INFO lines),
OpenTelemetry with the SDK's in-memory exporter, the correlation middleware, the monitoring
routes with alerts delivered to a callback, a log notifier and a local webhook. Outputs read:
log lines, span names, attributes, events and statuses, every response body (problem details
included), every monitoring route's JSON, ``/metrics``, alert events, webhook bodies and stderr.

``python tests/test_masking_outputs.py`` prints the count of leaking (form, position) pairs.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rfs_monitoring import tracing
from rfs_monitoring.alerts import (
    AlertConfiguration,
    AlertEvent,
    AlertManager,
    AlertRule,
    CallbackNotifier,
    LogNotifier,
    WebhookNotifier,
)
from rfs_monitoring.context import CorrelationIdMiddleware
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.errors import APIError
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.reactive import MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import (
    configure_logging,
    flush_logs,
    get_logger,
    log_result_operation,
)
from rfs_monitoring.testing import capture_result_logs
from rfs_monitoring.web import handle_result
from secret_forms import FORMS

TOKEN = "matrix-admin-token"


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        _Hook.bodies.append(self.rfile.read(length).decode("utf-8", "replace"))
        self.send_response(500 if "fail" in self.path else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _webhook_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Coded(Exception):
    def __init__(self, code: str) -> None:
        super().__init__("coded failure")
        self.code = code


class World:
    """One fully instrumented service, and everything it emits."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.out = io.StringIO()
        self.collector = ResultMetricsCollector(sample_resources=False)
        self.previous_collector = ResultMetricsCollector.set_instance(self.collector)
        configure_logging(stream=self.out, capture_stdlib=True)
        logging.getLogger("httpx").setLevel(logging.INFO)
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.previous_provider = tracing.set_tracer_provider(self.provider)
        self.events: list[AlertEvent] = []
        self.bodies: list[str] = []
        self.text = ""
        _Hook.bodies = []
        self.manager = AlertManager(self.collector, config=AlertConfiguration())
        app = FastAPI()
        app.add_middleware(CorrelationIdMiddleware)
        app.include_router(
            monitoring_router(self.collector, alert_manager=self.manager, token=TOKEN)
        )
        world = self

        @app.get("/ok")
        @handle_result
        @log_result_operation("http_ok")
        async def ok() -> Result[dict[str, bool], APIError]:
            return Success({"ok": True})

        @app.get("/api-error")
        @handle_result
        @log_result_operation("http_api_error")
        async def api_error() -> Result[dict[str, bool], APIError]:
            return Failure(APIError.validation_error(world.text, details={"note": world.text}))

        @app.get("/raise")
        @handle_result
        @log_result_operation("http_raise")
        async def raises() -> Result[dict[str, bool], APIError]:
            raise RuntimeError(world.text)

        self.client = TestClient(app, raise_server_exceptions=False)

    def close(self) -> None:
        self.client.close()
        self.manager.close(2.0)
        flush_logs()
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        configure_logging()
        tracing.set_tracer_provider(self.previous_provider)
        self.provider.shutdown()
        ResultMetricsCollector.set_instance(self.previous_collector)
        self.collector.close()

    def get(self, path: str, **kwargs: Any) -> None:
        response = self.client.get(path, **kwargs)
        self.bodies.append(response.text + json.dumps(dict(response.headers)))

    def outputs(self) -> str:
        self.manager.flush(5.0)
        flush_logs()
        parts = [self.out.getvalue(), *self.bodies, *_Hook.bodies]
        parts += [event.model_dump_json() for event in self.events]
        for span in self.exporter.get_finished_spans():
            parts.append(f"{span.name} {dict(span.attributes or {})} {span.status.description}")
            parts += [f"{e.name} {dict(e.attributes or {})}" for e in span.events]
        auth = {"Authorization": f"Bearer {TOKEN}"}
        operations = self.client.get("/monitoring/operations?time_range=1h").json()
        parts.append(json.dumps(operations))
        for row in operations.get("operations", []):
            name = quote(row["name"], safe="")
            for route in ("metrics?time_range=1h", "timeseries?time_range=1h"):
                parts.append(self.client.get(f"/monitoring/operations/{name}/{route}").text)
        for route in (
            "/monitoring/errors/top?limit=1000&time_range=1h",
            "/monitoring/health/result-patterns",
            "/monitoring/alerts?history=1000",
            "/monitoring/metrics",
        ):
            parts.append(self.client.get(route, headers=auth).text)
        return "\n".join(parts)


def _run(op: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):
        result = op()
        if asyncio.iscoroutine(result):
            asyncio.run(result)


def _args(w: World, text: str) -> None:
    @log_result_operation("p_args", log_args=True)
    def call(value: str, *, note: str) -> Result[int, str]:
        return Success(1)

    call(text, note=text)


def _result(w: World, text: str) -> None:
    @log_result_operation("p_result", log_result=True)
    def call() -> Result[dict[str, str], str]:
        return Success({"value": text})

    call()


def _failure_message(w: World, text: str) -> None:
    @log_result_operation("p_failure")
    def call() -> Result[int, str]:
        return Failure(text)

    call()


def _api_error(w: World, text: str) -> None:
    w.text = text
    w.get("/api-error")


def _raise_in_route(w: World, text: str) -> None:
    w.text = text
    w.get("/raise")


def _raising(exc: BaseException) -> None:
    @log_result_operation("p_raise")
    def call() -> Result[int, str]:
        raise exc

    _run(call)


def _exception_text(w: World, text: str) -> None:
    _raising(RuntimeError(text))


def _exception_args(w: World, text: str) -> None:
    _raising(RuntimeError("failed", text))


def _exception_cause(w: World, text: str) -> None:
    try:
        try:
            raise ValueError(text)
        except ValueError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as outer:
        _raising(outer)


def _exception_note(w: World, text: str) -> None:
    exc = RuntimeError("with a note")
    exc.add_note(text)
    _raising(exc)


def _metadata(w: World, text: str) -> None:
    @log_result_operation("p_metadata", metadata={"note": text})
    def call() -> Result[int, str]:
        return Success(1)

    call()


def _error_code(w: World, text: str) -> None:
    @log_result_operation("p_code")
    def call() -> Result[int, Coded]:
        return Failure(Coded(text))

    call()


def _header(name: str) -> Callable[[World, str], None]:
    def send(w: World, text: str) -> None:
        if "\n" in text or not text.isascii():
            return  # not a possible header value
        w.get("/ok", headers={name: text})

    return send


def _structlog_event(w: World, text: str) -> None:
    get_logger().info(text)


def _structlog_field(w: World, text: str) -> None:
    get_logger(component=text).warning("event", note=text, detail={"inner": text})


def _stdlib_message(w: World, text: str) -> None:
    logging.getLogger("app.matrix").warning("failed with %s", text)


def _stdlib_exception(w: World, text: str) -> None:
    try:
        raise RuntimeError(text)
    except RuntimeError:
        logging.getLogger("app.matrix").exception("it broke")


def _steps(w: World, text: str) -> None:
    @log_result_operation("p_steps")
    async def call() -> Result[int, str]:
        failed: Result[int, str] = Failure(text)
        return await MonoResult.from_result(failed).log_step("step").log_error("err").to_result()

    _run(call)


def _long_message(w: World, text: str) -> None:
    """A message over the 512-byte cut with the secret across the cut."""

    @log_result_operation("p_long")
    def call() -> Result[int, str]:
        return Failure("a" * 500 + " " + text + " " + "b" * 100)

    call()


def _alert_labels(w: World, text: str) -> None:
    w.collector.record("p_alerted", 5.0, False, "E1", "failed")
    rule = AlertRule(
        name="errors",
        operation="p_alerted",
        metric="error_count",
        op=">",
        threshold=0,
        window="5m",
        labels={"note": text, "runbook": text},
    )
    hook = WebhookNotifier(url=f"http://127.0.0.1:{w.port}/ok", max_retries=0)
    callback = CallbackNotifier(callback=w.events.append)
    w.manager.configure(AlertConfiguration(rules=[rule], notifiers=[hook, callback, LogNotifier()]))
    w.manager.evaluate()
    w.manager.flush(5.0)
    w.bodies.append(w.client.get("/monitoring/alerts?history=1000", headers=_auth()).text)


def _notifier_url(w: World, text: str) -> None:
    if any(c.isspace() for c in text) or "#" in text:
        return  # not a possible URL
    w.collector.record("p_notified", 5.0, False, "E1", "failed")
    rule = AlertRule(
        name="errors",
        operation="p_notified",
        metric="error_count",
        op=">",
        threshold=0,
        window="5m",
    )
    url = f"http://127.0.0.1:{w.port}/fail?note={text}"
    hook = WebhookNotifier(url=url, max_retries=0, backoff_seconds=0)
    w.manager.configure(AlertConfiguration(rules=[rule], notifiers=[hook]))
    w.manager.evaluate()
    w.manager.flush(5.0)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _query_echo(w: World, text: str) -> None:
    w.get("/monitoring/operations", params={"time_range": text})
    w.get("/monitoring/errors/top", params={"time_range": text, "limit": "1"})


def _path_echo(w: World, text: str) -> None:
    w.get(f"/monitoring/operations/{quote(text, safe='')}/metrics")


POSITIONS: dict[str, Callable[[World, str], None]] = {
    "arguments": _args,
    "result": _result,
    "failure_message": _failure_message,
    "api_error_message_and_details": _api_error,
    "exception_in_route": _raise_in_route,
    "exception_text": _exception_text,
    "exception_args": _exception_args,
    "exception_cause": _exception_cause,
    "exception_note": _exception_note,
    "metadata": _metadata,
    "error_code": _error_code,
    "header_correlation_id": _header("X-Correlation-ID"),
    "header_request_id": _header("X-Request-ID"),
    "structlog_event": _structlog_event,
    "structlog_fields": _structlog_field,
    "stdlib_message": _stdlib_message,
    "stdlib_exception": _stdlib_exception,
    "steps": _steps,
    "long_message_cut": _long_message,
    "alert_rule_labels": _alert_labels,
    "notifier_url": _notifier_url,
    "query_echo": _query_echo,
    "path_echo": _path_echo,
}


def leaks_at(position: str) -> list[str]:
    """The forms whose distinctive part reaches some output when placed at ``position``."""
    inject = POSITIONS[position]
    with _webhook_server() as port:
        world = World(port)
        try:
            leaked: list[str] = []
            for name, text, distinctive in FORMS:
                inject(world, text)
                output = world.outputs()
                if distinctive in output:
                    leaked.append(name)
                # Start the next form from clean outputs.
                world.out.seek(0)
                world.out.truncate()
                world.bodies.clear()
                world.events.clear()
                _Hook.bodies.clear()
                world.exporter.clear()
                world.collector.reset()
                world.manager.configure(AlertConfiguration())
            return leaked
        finally:
            world.close()


@pytest.mark.parametrize("position", list(POSITIONS))
def test_no_form_leaks_at_any_position(position: str, capfd: pytest.CaptureFixture[str]) -> None:
    leaked = leaks_at(position)
    err = capfd.readouterr().err
    leaked += [name for name, _, distinctive in FORMS if distinctive in err]
    assert leaked == []


def test_the_matrix_reaches_every_output() -> None:
    """The harness itself sees what it checks: unmasked markers do appear in the outputs."""
    with _webhook_server() as port:
        world = World(port)
        try:
            marker = "plain-marker-visible"
            _failure_message(world, marker)
            _alert_labels(world, marker)
            world.get("/ok", headers={"X-Correlation-ID": marker})
            output = world.outputs()
            assert output.count(marker) >= 8
            assert "rfs_operations_total" in output
            assert any(marker in body for body in _Hook.bodies)
            assert world.exporter.get_finished_spans()
        finally:
            world.close()


if __name__ == "__main__":
    total = 0
    for position in POSITIONS:
        found = leaks_at(position)
        total += len(found)
        print(f"{position:32s} {len(found):3d} {' '.join(found)}", flush=True)
    print(f"leaking pairs: {total} of {len(POSITIONS) * len(FORMS)}")


_noise = st.text(max_size=40)


@settings(max_examples=150, deadline=None)
@given(form=st.sampled_from(FORMS), before=_noise, after=_noise, data=st.data())
def test_forms_at_random_offsets_never_reach_a_log_entry_or_metric(
    form: tuple[str, str, str], before: str, after: str, data: st.DataObject
) -> None:
    """Each form inside random text, in arguments, results, a Failure, an exception and its note
    and a metadata value: no captured entry, span-free, or top error holds its distinctive part."""
    _, text, distinctive = form
    sep = data.draw(st.sampled_from([" ", "\n", "\t", "; "]))
    embedded = before + sep + text + sep + after
    collector = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    try:

        @log_result_operation("prop", log_args=True, log_result=True, metadata={"n": embedded})
        def call(value: str, fail: bool) -> Result[str, str]:
            return Failure(value) if fail else Success(value)

        @log_result_operation("prop_raise")
        def boom(value: str) -> Result[str, str]:
            exc = RuntimeError(value)
            exc.add_note(value)
            raise exc

        with capture_result_logs() as entries:
            call(embedded, False)
            call(embedded, True)
            with contextlib.suppress(RuntimeError):
                boom(embedded)
        rendered = json.dumps(list(entries), default=str)
        rendered += json.dumps([e.error_message for e in collector.top_errors(100, "1h")])
        assert distinctive not in rendered
    finally:
        ResultMetricsCollector.set_instance(previous)
        collector.close()
