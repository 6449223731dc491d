"""Correlation IDs: context managers, bound fields, propagation and the ASGI middleware."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import os
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.testclient import TestClient

from rfs_monitoring import result_logging
from rfs_monitoring.context import (
    CorrelationIdMiddleware,
    bind_context,
    clear_context,
    correlation_context,
    get_context,
    get_correlation_id,
    is_valid_correlation_id,
    new_correlation_id,
    run_in_executor,
    set_correlation_id_generator,
    unbind_context,
    with_current_context,
)
from rfs_monitoring.result import Result, Success


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Log entries go to a fresh buffer for the test."""
    stream = io.StringIO()
    result_logging.configure_logging(stream=stream)
    yield stream
    result_logging.flush_logs()
    result_logging.configure_logging()


def _entries(stream: io.StringIO) -> list[dict[str, Any]]:
    result_logging.flush_logs()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# -- context managers and bound fields -----------------------------------------------------------


def test_correlation_context_sets_and_restores_nested_ids() -> None:
    """Nested blocks see their own ID and the outer one comes back on exit."""
    assert get_correlation_id() is None
    with correlation_context("outer") as outer:
        assert outer == "outer"
        with correlation_context("inner"):
            assert get_correlation_id() == "inner"
        assert get_correlation_id() == "outer"
    assert get_correlation_id() is None


def test_correlation_context_generates_an_id_when_none_is_given() -> None:
    """Without an argument, a fresh UUID4 hex ID is used."""
    with correlation_context() as cid:
        assert get_correlation_id() == cid
        assert uuid.UUID(cid).version == 4
        assert len(cid) == 32


@pytest.mark.asyncio
async def test_correlation_context_works_with_async_with_and_follows_tasks() -> None:
    """async with sets the ID; tasks created inside inherit it."""
    async with correlation_context("async-1") as cid:
        seen = await asyncio.create_task(asyncio.sleep(0, result=get_correlation_id()))
        in_task = await asyncio.create_task(_read_id())
        in_thread = await asyncio.to_thread(get_correlation_id)
    assert (cid, seen, in_task, in_thread) == ("async-1",) * 4
    assert get_correlation_id() is None


async def _read_id() -> str | None:
    await asyncio.sleep(0)
    return get_correlation_id()


@pytest.mark.parametrize("bad", ["", "x" * 129, "a\r\nb", "<script>", "a b", "é", 42])
def test_correlation_context_rejects_invalid_ids(bad: Any) -> None:
    """An invalid ID is a ValueError, never silently used."""
    with pytest.raises(ValueError, match="correlation ID"):
        correlation_context(bad)


def test_id_validation_accepts_the_documented_alphabet() -> None:
    """IDs of 1..128 characters from [A-Za-z0-9._:-] are valid."""
    assert is_valid_correlation_id("A-z_0.9:x")
    assert is_valid_correlation_id("x" * 128)
    assert not is_valid_correlation_id("x" * 129)
    assert not is_valid_correlation_id(None)


def test_bind_context_as_statement_and_with_block() -> None:
    """Fields bound in a with block are unbound on exit; statements persist until cleared."""
    ctx = contextvars.copy_context()

    def body() -> None:
        bind_context(user_id="u-1")
        with bind_context(request_id="r-1", tenant="acme") as binding:
            assert get_context() == {"user_id": "u-1", "request_id": "r-1", "tenant": "acme"}
            assert "tenant" in repr(binding)
        assert get_context() == {"user_id": "u-1"}
        unbind_context("user_id", "missing")
        assert get_context() == {}
        unbind_context("nothing")
        bind_context(a=1)
        clear_context()
        assert get_context() == {}

    ctx.run(body)
    assert get_context() == {}


def test_bind_context_refuses_the_correlation_id() -> None:
    """The correlation ID is set with correlation_context, not bound as a field."""
    with pytest.raises(ValueError, match="correlation_context"):
        bind_context(correlation_id="x")


def test_bind_context_exit_in_another_context_is_harmless() -> None:
    """Leaving a binding from a different context does not raise."""
    binding = contextvars.copy_context().run(lambda: bind_context(user_id="u"))
    binding.__exit__(None, None, None)
    binding.__exit__(None, None, None)
    assert get_context() == {}


def test_get_context_includes_the_correlation_id() -> None:
    """get_context returns the correlation ID with the bound fields."""
    with correlation_context("c-9"), bind_context(user_id="u-9"):
        assert get_context() == {"correlation_id": "c-9", "user_id": "u-9"}


# -- generation -------------------------------------------------------------------------------


def test_new_ids_are_uuid4_hex_and_unique() -> None:
    """Generated IDs are distinct UUID4 hex strings."""
    ids = {new_correlation_id() for _ in range(1000)}
    assert len(ids) == 1000
    for cid in list(ids)[:50]:
        parsed = uuid.UUID(cid)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_draws_the_parents_next_ids() -> None:
    """IDs are made in batches (natively, `_core.uuid4_hex`): a forked child (a pre-forked
    worker) drops the batch it inherited, so it never hands out the IDs its parent hands out
    next, over more than one batch on each side."""
    new_correlation_id()  # the parent now holds a batch of its next IDs
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child exits without reporting coverage
        try:
            os.write(write, ",".join(new_correlation_id() for _ in range(600)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_correlation_id() for _ in range(600)}
    assert len(child) == 600
    assert all(uuid.UUID(cid).version == 4 for cid in child)
    assert not child & parent


def test_custom_generator_is_used_and_guarded() -> None:
    """A custom generator is used; invalid output or an exception falls back to UUID4 hex."""
    outputs = iter(["custom-1", "bad id!", None])

    def generator() -> str:
        value = next(outputs)
        if value is None:
            raise RuntimeError("boom")
        return value

    previous = set_correlation_id_generator(generator)
    try:
        assert new_correlation_id() == "custom-1"
        assert len(new_correlation_id()) == 32
        assert len(new_correlation_id()) == 32
        assert set_correlation_id_generator(generator) is generator
    finally:
        set_correlation_id_generator(None)
    assert set_correlation_id_generator(previous) is not generator
    set_correlation_id_generator(None)


# -- propagation ------------------------------------------------------------------------------


def test_with_current_context_carries_ids_into_thread_pools() -> None:
    """ThreadPoolExecutor.submit does not copy context; with_current_context does."""
    with correlation_context("pool-1"), bind_context(user_id="u"), ThreadPoolExecutor(2) as pool:
        plain = pool.submit(get_correlation_id).result()
        carried = pool.submit(with_current_context(get_context)).result()
    assert plain is None
    assert carried == {"correlation_id": "pool-1", "user_id": "u"}


@pytest.mark.asyncio
async def test_run_in_executor_carries_the_context() -> None:
    """run_in_executor runs the function with the caller's correlation ID and arguments."""
    with correlation_context("exec-1"), ThreadPoolExecutor(1) as pool:
        loop = asyncio.get_running_loop()
        plain = await loop.run_in_executor(pool, get_correlation_id)
        carried = await run_in_executor(lambda suffix: f"{get_correlation_id()}{suffix}", "!")
        on_pool = await run_in_executor(get_correlation_id, executor=pool)
    assert plain is None
    assert carried == "exec-1!"
    assert on_pool == "exec-1"


def test_operation_without_request_id_generates_one_visible_inside() -> None:
    """Inside a logged call with no ID set, get_correlation_id returns the generated one."""
    seen: list[str | None] = []

    @result_logging.log_result_operation("ctx_inner")
    def inner() -> Result[str, str]:
        seen.append(get_correlation_id())
        return Success("x")

    @result_logging.log_result_operation("ctx_outer")
    def outer() -> Result[str, str]:
        seen.append(get_correlation_id())
        return inner()

    captured: list[dict[str, Any]] = []
    remove = result_logging.add_listener(captured.append)
    try:
        outer()
    finally:
        remove()
    assert seen[0] is not None
    assert seen[0] == seen[1]
    assert {e["correlation_id"] for e in captured} == {seen[0]}
    assert get_correlation_id() is None


# -- the ASGI middleware ------------------------------------------------------------------------


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @result_logging.log_result_operation("mw_echo")
    async def load(number: int) -> Result[dict[str, Any], str]:
        await asyncio.sleep(random.random() / 100)
        return Success({"cid": get_correlation_id(), "n": number})

    @app.get("/echo")
    async def echo(n: int = 0) -> Any:
        bind_context(request_no=n)
        return (await load(n)).unwrap()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 broke")

    @app.get("/sync")
    def sync_endpoint() -> dict[str, Any]:
        return {"cid": get_correlation_id(), "ctx": get_context()}

    return app


def test_middleware_echoes_a_valid_incoming_id() -> None:
    """A valid X-Correlation-ID is used and echoed."""
    with TestClient(_app()) as client:
        response = client.get("/echo", headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.json()["cid"] == "abc-123"


def test_middleware_accepts_x_request_id_and_prefers_x_correlation_id() -> None:
    """X-Request-ID is used when X-Correlation-ID is absent or invalid."""
    with TestClient(_app()) as client:
        only_request = client.get("/sync", headers={"X-Request-ID": "req-1"})
        both = client.get("/sync", headers={"X-Request-ID": "req-2", "X-Correlation-ID": "cor-2"})
        bad_first = client.get(
            "/sync", headers={"X-Request-ID": "req-3", "X-Correlation-ID": "<bad>"}
        )
        bad_request_id = client.get("/sync", headers={"X-Request-ID": "x" * 200})
    assert only_request.headers["x-correlation-id"] == "req-1"
    assert only_request.json()["ctx"] == {"correlation_id": "req-1", "request_id": "req-1"}
    assert both.headers["x-correlation-id"] == "cor-2"
    assert both.json()["ctx"] == {"correlation_id": "cor-2", "request_id": "req-2"}
    assert bad_first.headers["x-correlation-id"] == "req-3"
    generated = bad_request_id.headers["x-correlation-id"]
    assert bad_request_id.json()["ctx"] == {"correlation_id": generated}


def test_middleware_generates_an_id_when_none_is_sent_and_sync_endpoints_see_it() -> None:
    """Without a header an ID is generated, echoed and visible in sync endpoints."""
    with TestClient(_app()) as client:
        response = client.get("/sync")
    cid = response.headers["x-correlation-id"]
    assert uuid.UUID(cid).version == 4
    assert response.json() == {"cid": cid, "ctx": {"correlation_id": cid}}


@pytest.mark.parametrize(
    "bad",
    [b"x" * 129, b"abc\r\nSet-Cookie: x=1", b"<script>alert(1)</script>", b"a b", b"", b"\xff"],
)
@pytest.mark.asyncio
async def test_invalid_headers_are_never_echoed_or_logged(
    bad: bytes, log_stream: io.StringIO
) -> None:
    """Too long, CR/LF, markup or empty headers are replaced by a generated ID."""
    app = _app()
    messages = await _raw_request(app, "/echo", [(b"x-correlation-id", bad)])
    start = next(m for m in messages if m["type"] == "http.response.start")
    echoed = dict(start["headers"])[b"x-correlation-id"]
    assert echoed != bad
    assert is_valid_correlation_id(echoed.decode())
    text = log_stream.getvalue() + repr(messages)
    result_logging.flush_logs()
    text += log_stream.getvalue()
    if bad:
        assert bad.decode("latin-1") not in text.replace(echoed.decode(), "")


async def _raw_request(
    app: Any, path: str, headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.asyncio
async def test_hundred_concurrent_requests_keep_their_own_ids(log_stream: io.StringIO) -> None:
    """100 interleaved requests each see, echo and log only their own correlation ID."""
    app = _app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def one(n: int) -> tuple[int, httpx.Response]:
            cid = f"req-{n:03d}"
            return n, await client.get("/echo", params={"n": n}, headers={"X-Correlation-ID": cid})

        responses = await asyncio.gather(*(one(n) for n in range(100)))
    for n, response in responses:
        assert response.status_code == 200
        assert response.headers["x-correlation-id"] == f"req-{n:03d}"
        assert response.json() == {"cid": f"req-{n:03d}", "n": n}
    entries = [e for e in _entries(log_stream) if e["operation_name"] == "mw_echo"]
    assert len(entries) == 100
    for entry in entries:
        assert entry["correlation_id"] == f"req-{entry['metadata']['request_no']:03d}"


def test_500_responses_carry_the_header() -> None:
    """An unhandled exception still yields a 500 with the correlation header."""
    with TestClient(_app(), raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Correlation-ID": "err-1"})
    assert response.status_code == 500
    assert response.headers["x-correlation-id"] == "err-1"
    assert "hunter2" not in response.text


def test_500_uses_the_applications_own_handler_which_sees_the_id() -> None:
    """An app-level Exception handler keeps its body and sees the request's ID."""
    app = _app()
    seen: list[str | None] = []

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        seen.append(get_correlation_id())
        return JSONResponse({"detail": "custom"}, status_code=500)

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Correlation-ID": "err-2"})
    assert response.status_code == 500
    assert response.json() == {"detail": "custom"}
    assert response.headers["x-correlation-id"] == "err-2"
    assert "err-2" in seen


def test_sync_and_failing_exception_handlers() -> None:
    """A sync handler is used; a handler that raises falls back to a plain 500."""
    app = _app()

    @app.exception_handler(500)
    def sync_handler(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("sync handler", status_code=500)

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Correlation-ID": "err-3"})
    assert (response.status_code, response.text) == (500, "sync handler")
    assert response.headers["x-correlation-id"] == "err-3"

    broken = _app()

    @broken.exception_handler(Exception)
    async def broken_handler(request: Request, exc: Exception) -> JSONResponse:
        raise ValueError("handler broke")

    with TestClient(broken, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Correlation-ID": "err-4"})
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["x-correlation-id"] == "err-4"


def test_debug_apps_keep_starlettes_debug_page() -> None:
    """With debug=True the middleware leaves the 500 page to Starlette."""
    app = _app()
    app.debug = True
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert "RuntimeError" in response.text


@pytest.mark.asyncio
async def test_exception_after_the_response_started_is_only_re_raised() -> None:
    """When the response already started, the middleware re-raises without sending more."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("late")

    middleware = CorrelationIdMiddleware(app)
    with pytest.raises(RuntimeError, match="late"):
        await _raw_request(middleware, "/", [])


@pytest.mark.asyncio
async def test_handler_failing_after_starting_its_response_sends_nothing_more() -> None:
    """A 500 handler that fails mid-response does not get a second response start."""

    class Broken:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            raise ValueError("half sent")

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    class Host:
        debug = False
        exception_handlers: ClassVar[dict[Any, Any]] = {Exception: lambda request, exc: Broken()}

    middleware = CorrelationIdMiddleware(failing)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [], "app": Host(), "path": "/", "query_string": b""}
    with pytest.raises(RuntimeError, match="boom"):
        await middleware(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start"]


def test_background_tasks_and_handlers_see_the_id() -> None:
    """BackgroundTasks run after the response with the request's correlation ID."""
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)
    seen: list[str | None] = []

    @app.get("/bg")
    async def with_background(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(lambda: seen.append(get_correlation_id()))
        return {"ok": "yes"}

    with TestClient(app) as client:
        client.get("/bg", headers={"X-Correlation-ID": "bg-1"})
    assert seen == ["bg-1"]


def test_websockets_get_an_id_and_lifespan_passes_through() -> None:
    """WebSocket connections get an ID (echoed on accept); lifespan events are untouched."""
    started: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started.append(True)
        yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Trace-ID")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(get_correlation_id() or "")
        await websocket.close()

    with (
        TestClient(app) as client,
        client.websocket_connect("/ws", headers={"X-Correlation-ID": "ws-1"}) as connection,
    ):
        assert connection.receive_text() == "ws-1"
    assert started == [True]


@pytest.mark.asyncio
async def test_custom_generator_header_name_and_state() -> None:
    """The generator, response header name and echo flag are configurable; scope state has it."""
    seen_state: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen_state.append(scope["state"]["correlation_id"])
        await send(
            {"type": "http.response.start", "status": 204, "headers": [(b"x-trace", b"old")]}
        )
        await send({"type": "http.response.body", "body": b""})

    custom = CorrelationIdMiddleware(app, header_name="X-Trace", generator=lambda: "gen-1")
    sent = await _raw_request(custom, "/", [])
    assert dict(sent[0]["headers"]) == {b"x-trace": b"gen-1"}
    assert seen_state == ["gen-1"]

    def broken() -> str:
        raise RuntimeError("no ids")

    for generator in (broken, lambda: "bad id"):
        guarded = CorrelationIdMiddleware(app, generator=generator, echo=False)
        sent = await _raw_request(guarded, "/", [])
        assert dict(sent[0]["headers"]) == {b"x-trace": b"old"}
        assert is_valid_correlation_id(seen_state[-1])
        assert len(seen_state[-1]) == 32
    assert get_correlation_id() is None
