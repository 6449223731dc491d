"""Correlation IDs and request context, carried by `contextvars`.

Every log entry of a request carries the request's correlation ID. The ID comes from the
``X-Correlation-ID`` (or ``X-Request-ID``) header through `CorrelationIdMiddleware`, or from
`correlation_context`, and is read anywhere with `get_correlation_id`:

>>> get_correlation_id() is None
True
>>> with correlation_context("order-42") as cid:
...     cid, get_correlation_id()
('order-42', 'order-42')
>>> get_correlation_id() is None
True

Other request fields (``user_id``, ``request_id``, anything else) are bound with `bind_context`
and appear in every entry logged while they are bound:

>>> with bind_context(user_id="u-7"):
...     get_context()
{'user_id': 'u-7'}

Context variables follow `asyncio` tasks and `asyncio.to_thread` by themselves; a plain
``loop.run_in_executor`` or ``ThreadPoolExecutor.submit`` does not copy them, so use
`run_in_executor` or `with_current_context` there.

A valid correlation ID is 1 to 128 characters from ``[A-Za-z0-9._:-]`` that do not look like a
credential (a JWT, a token format, a long high-entropy token): anything else in a header is
ignored (never echoed, logged or put on a span) and a fresh ID is generated.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from concurrent.futures import Executor
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any, ParamSpec, TypeVar

from rfs_monitoring import _core
from rfs_monitoring._exceptions import InvalidArgumentError
from rfs_monitoring._fork import on_fork

__all__ = [
    "ACCEPTED_ID_HEADERS",
    "CorrelationIdMiddleware",
    "bind_context",
    "clear_context",
    "correlation_context",
    "correlation_id_from_headers",
    "get_context",
    "get_correlation_id",
    "is_valid_correlation_id",
    "new_correlation_id",
    "run_in_executor",
    "set_correlation_id_generator",
    "unbind_context",
    "with_current_context",
]

P = ParamSpec("P")
R = TypeVar("R")

_MAX_ID_LENGTH = 128
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_EMPTY: Mapping[str, Any] = MappingProxyType({})

_correlation_id: ContextVar[str | None] = ContextVar("rfs_correlation_id", default=None)
_bound: ContextVar[Mapping[str, Any]] = ContextVar("rfs_bound_context", default=_EMPTY)


OperationScope = _core.OperationScope
"""The mutable state of one logged operation, shared by the steps of its chains.

It lives in a context variable holding this *object*, so tasks created inside the operation
(``timeout()`` runs the chain in a task) see and update the same state. Native (made by the
instrumentation layer's sync wrapper without a Python frame); ``boundary`` is on
`time.perf_counter`'s clock; ``ensure_correlation_id`` uses this module's generator. Private to
the package: `rfs_monitoring.result_logging` and `rfs_monitoring.tracing` use it.
"""


_operation: ContextVar[OperationScope | None] = ContextVar("rfs_operation", default=None)


# Correlation IDs must be unique, not secret. The native generator draws OS random bytes for 256
# IDs at a time into a per-process pool (so `random.seed()` in user code has no effect on them),
# and each ID is one short native call. A forked child (a pre-forked worker) drops the pool it
# inherited, so it never hands out the IDs its parent hands out next.
_uuid4_hex: Callable[[], str] = _core.uuid4_hex
"""What ``uuid.uuid4().hex`` looks like (version 4, RFC 4122 variant), without the UUID object."""

on_fork(after_in_child=_core.reset_uuid4_pool, name="correlation ids")


_generator: Callable[[], str] = _uuid4_hex


def new_correlation_id() -> str:
    """A fresh correlation ID: UUID4 hex, unless `set_correlation_id_generator` changed it.

    >>> len(new_correlation_id()), is_valid_correlation_id(new_correlation_id())
    (32, True)
    """
    return _generator()


def set_correlation_id_generator(generator: Callable[[], str] | None) -> Callable[[], str]:
    """Use ``generator`` for new correlation IDs (``None`` restores UUID4 hex); returns the old one.

    The generator must return valid IDs; an invalid one is replaced by UUID4 hex at generation.

    >>> import itertools
    >>> counter = itertools.count(1)
    >>> previous = set_correlation_id_generator(lambda: f"req-{next(counter)}")
    >>> new_correlation_id(), new_correlation_id()
    ('req-1', 'req-2')
    >>> _ = set_correlation_id_generator(previous)
    """
    global _generator
    previous = _generator
    if generator is None:
        _generator = _uuid4_hex
    else:
        custom = generator

        def checked() -> str:
            try:
                cid = custom()
            except Exception:  # a broken generator must not break the request
                return _uuid4_hex()
            return cid if is_valid_correlation_id(cid) else _uuid4_hex()

        checked.__wrapped__ = custom  # type: ignore[attr-defined]
        _generator = checked
    return getattr(previous, "__wrapped__", previous)


ACCEPTED_ID_HEADERS = ("X-Correlation-ID", "X-Request-ID")


def correlation_id_from_headers(
    headers: Mapping[str, str], names: Iterable[str] = ACCEPTED_ID_HEADERS
) -> str | None:
    """The first valid ID (surrounding whitespace stripped) among the ``names`` headers of a
    case-insensitive ``headers`` mapping (Starlette's), or None: the rule of
    `CorrelationIdMiddleware`, for code that runs without it.

    >>> correlation_id_from_headers({"X-Request-ID": " req-7 "})
    'req-7'
    >>> correlation_id_from_headers({"X-Correlation-ID": "<script>"}) is None
    True
    """
    for name in names:
        raw = headers.get(name)
        if raw is not None and len(raw) <= _MAX_ID_LENGTH:
            text = raw.strip()
            if is_valid_correlation_id(text):
                return text
    return None


def is_valid_correlation_id(value: object) -> bool:
    """Whether ``value`` is a usable correlation ID: 1-128 characters of ``[A-Za-z0-9._:-]`` that
    do not look like a credential (a JWT, a known token format, a long high-entropy token: what
    masking would hide). An ID that fails is replaced by a generated one, never logged.

    >>> [is_valid_correlation_id(v) for v in ("a-1", "", "x" * 129, "a\\r\\nb", "<script>")]
    [True, False, False, False, False]
    >>> is_valid_correlation_id("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
    False
    """
    return (
        isinstance(value, str)
        and len(value) <= _MAX_ID_LENGTH
        and _VALID_ID.fullmatch(value) is not None
        and _core.mask_text(value) == value
    )


def get_correlation_id() -> str | None:
    """The correlation ID of the current context, or ``None`` outside any request or operation.

    Inside a `log_result_operation` call without a request ID, this is the ID generated for
    that call (the same one its log entries carry).
    """
    cid = _correlation_id.get()
    if cid is None:
        scope = _operation.get()
        if scope is not None:
            return scope.ensure_correlation_id()
    return cid


class correlation_context:
    """Set the correlation ID for a block, with ``with`` or ``async with``; restores the previous
    one on exit. Without an argument a fresh ID is generated. Yields the ID.

    Raises `ValueError` for an invalid ID (see `is_valid_correlation_id`).

    >>> import asyncio
    >>> async def handler() -> str | None:
    ...     async with correlation_context("job-9"):
    ...         return get_correlation_id()
    >>> asyncio.run(handler())
    'job-9'
    >>> with correlation_context() as generated:
    ...     generated == get_correlation_id()
    True
    """

    __slots__ = ("_id", "_token")

    def __init__(self, id: str | None = None) -> None:
        if id is not None and not is_valid_correlation_id(id):
            shown = repr(_core.mask_text(id)[:40]) if isinstance(id, str) else type(id).__name__
            raise InvalidArgumentError(
                f"a correlation ID is 1 to 128 characters from [A-Za-z0-9._:-], got {shown}"
            )
        self._id = id
        self._token: Token[str | None] | None = None

    def __enter__(self) -> str:
        cid = self._id if self._id is not None else _generator()
        self._token = _correlation_id.set(cid)
        return cid

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _correlation_id.reset(self._token)
            self._token = None

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class bind_context:
    """Bind fields (``user_id``, ``request_id``, anything) to the current context.

    Used as a statement, the fields stay bound for the rest of the current context (the request's
    task, or a thread); used with ``with``, they are unbound again on exit. Log entries take
    ``user_id`` and ``request_id`` into their own fields and other keys into ``metadata``.

    >>> bind_context(tenant="acme")  # doctest: +ELLIPSIS
    <bind_context ...>
    >>> get_context()
    {'tenant': 'acme'}
    >>> clear_context()
    >>> get_context()
    {}
    """

    __slots__ = ("_token",)

    def __init__(self, **fields: Any) -> None:
        if "correlation_id" in fields:
            raise InvalidArgumentError(
                "set the correlation ID with correlation_context(), not bind_context()"
            )
        merged = dict(_bound.get())
        merged.update(fields)
        self._token: Token[Mapping[str, Any]] | None = _bound.set(MappingProxyType(merged))

    def __enter__(self) -> bind_context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            # Exited in another context: leave that context's fields alone.
            with contextlib.suppress(ValueError):
                _bound.reset(self._token)
            self._token = None

    def __repr__(self) -> str:
        return f"<bind_context {sorted(_bound.get())}>"


def unbind_context(*keys: str) -> None:
    """Remove bound fields from the current context; unknown keys are ignored.

    >>> with bind_context(user_id="u-1", tenant="acme"):
    ...     unbind_context("tenant")
    ...     get_context()
    {'user_id': 'u-1'}
    """
    current = _bound.get()
    if any(key in current for key in keys):
        _bound.set(MappingProxyType({k: v for k, v in current.items() if k not in keys}))


def clear_context() -> None:
    """Remove every bound field from the current context (the correlation ID stays)."""
    _bound.set(_EMPTY)


def get_context() -> dict[str, Any]:
    """The bound fields of the current context, with ``correlation_id`` when one is set.

    >>> with correlation_context("c-1"), bind_context(user_id="u-1"):
    ...     get_context()
    {'correlation_id': 'c-1', 'user_id': 'u-1'}
    """
    cid = _correlation_id.get()
    bound = _bound.get()
    if cid is None:
        return dict(bound)
    return {"correlation_id": cid, **bound}


def with_current_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to a copy of the current context (correlation ID, bound fields, the current
    operation), for thread pools and callbacks that do not copy it themselves.

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with correlation_context("c-2"), ThreadPoolExecutor(1) as pool:
    ...     pool.submit(with_current_context(get_correlation_id)).result()
    'c-2'
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.run(fn, *args, **kwargs)

    return run


async def run_in_executor(fn: Callable[..., R], *args: Any, executor: Executor | None = None) -> R:
    """``loop.run_in_executor(executor, fn, *args)`` with the current context carried over.

    >>> import asyncio
    >>> async def main() -> str | None:
    ...     with correlation_context("c-3"):
    ...         return await run_in_executor(get_correlation_id)
    >>> asyncio.run(main())
    'c-3'
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, with_current_context(fn), *args)


# The context variables `_core.RequestIds` sets and resets per request (natively).
_REQUEST_CONTEXT = (_correlation_id, _bound, _operation, _EMPTY, MappingProxyType)
_ACCEPTED = _core.RequestIds(
    b"x-correlation-id",
    [name.lower().encode("latin-1") for name in ACCEPTED_ID_HEADERS],
    _REQUEST_CONTEXT,
)


def _accepted_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """`correlation_id_from_headers` with the accepted headers, read from raw ASGI ``headers``
    (a request's ``scope["headers"]``) without building a headers mapping."""
    return _ACCEPTED.ids(headers)[0]


_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class CorrelationIdMiddleware:
    """Pure ASGI middleware giving every HTTP request (and WebSocket) a correlation ID.

    The ID comes from the first valid header among ``accept_headers`` (``X-Correlation-ID``,
    then ``X-Request-ID``), or is generated. It is set before the application runs, so it is in
    every log entry, exception handler and background task of the request, and it is echoed in
    the ``X-Correlation-ID`` response header, 500 responses included. Bound fields from an
    earlier request never leak into the next: each request starts with an empty context, holding
    only ``request_id`` when the request carries a valid ``X-Request-ID``.

    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> app.add_middleware(CorrelationIdMiddleware)

    When the application raises, the middleware answers the 500 itself (through the
    application's own ``Exception``/500 handler when it has one, so the body is unchanged) so
    that the header is present, then re-raises for the server to log.
    """

    def __init__(
        self,
        app: _ASGIApp,
        *,
        header_name: str = "X-Correlation-ID",
        accept_headers: Iterable[str] = ACCEPTED_ID_HEADERS,
        generator: Callable[[], str] | None = None,
        echo: bool = True,
    ) -> None:
        self.app = app
        self.header_name = header_name
        self._header = header_name.lower().encode("latin-1")
        self._accept = [h.lower().encode("latin-1") for h in accept_headers]
        self._generator = generator
        self.echo = echo

    @property
    def echo(self) -> bool:
        """Whether the ID is echoed in the response header."""
        return self._echo

    @echo.setter
    def echo(self, echo: bool) -> None:
        self._echo = echo
        # Per request, natively: the ID read from the headers or generated, the state, the
        # context variables set, and the `send` that echoes the header.
        self._enter = _core.RequestIds(
            self._header, self._accept, _REQUEST_CONTEXT, echo, self._generator
        ).enter

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        # The ID is set before the application runs, with no bound fields (but a valid
        # X-Request-ID as request_id) and no operation current; `request` is None for a scope
        # that is neither HTTP nor WebSocket (lifespan), passed through untouched.
        request = self._enter(scope, send, _generator)
        if request is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, request.send)
        except Exception as exc:
            # The context stays set on purpose: an outer handler (Starlette's
            # ServerErrorMiddleware, the server's logger) still sees the request's ID.
            if scope.get("type") == "http" and not request.started:
                await self._answer_500(scope, receive, request.send, exc, lambda: request.started)
            raise
        # Back to the values from before the request: set ones reset, and fields bound or an
        # operation left current by the application cleared.
        request.leave()

    async def _answer_500(
        self,
        scope: _Scope,
        receive: _Receive,
        send: _Send,
        exc: Exception,
        started: Callable[[], bool],
    ) -> None:
        app = scope.get("app")
        if getattr(app, "debug", False):
            return  # Starlette's debug page is more useful to a developer than our header
        handlers = getattr(app, "exception_handlers", None)
        handler = None
        if isinstance(handlers, dict):
            handler = handlers.get(500) or handlers.get(Exception)
        if handler is not None:
            try:
                from starlette.requests import Request

                response = handler(Request(scope, receive), exc)
                if asyncio.iscoroutine(response):
                    response = await response
                await response(scope, receive, send)
                return
            except Exception:  # a failing handler still gets the plain 500 below
                if started():
                    return
        body = b"Internal Server Error"
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
