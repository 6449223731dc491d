"""FastAPI integration: serve endpoints written in the Result pattern.

`handle_result` turns an endpoint returning a `Result`, a `MonoResult` or a `FluxResult` into a
FastAPI endpoint on a plain ``FastAPI()`` app, with no other setup:

- a ``Success`` answers with the route's status (200 by default) and its value as the body,
  serialized with the success type as response model (pydantic models, dataclasses, dicts,
  lists);
- a ``Failure`` answers with an RFC 9457 ``application/problem+json`` body (``type``, ``title``,
  ``status``, ``detail``, ``code``, ``correlation_id``) and the error's status. A failure that is
  not an `APIError` goes through `APIError.from_service_error`, so a 500 never carries an
  exception's text; a raised `APIError` is answered the same way, while any other raised
  exception propagates to FastAPI untouched, as from any endpoint;
- a ``FluxResult`` answers with the list of its success values when every item succeeded, else
  with the problem response of its first failure (a batch endpoint that accepts partial failure
  returns ``Success(flux.success_values())`` explicitly).

The ``correlation_id`` is the request's (`rfs_monitoring.context.get_correlation_id`, set by
`CorrelationIdMiddleware`); without the middleware, a `handle_result` endpoint takes the
request's valid ``X-Correlation-ID`` (else ``X-Request-ID``) or generates one before it runs, so
its log entries and the response agree, and sends it in the ``X-Correlation-ID`` header.

Called directly (in tests, or from other code) the decorated function keeps its own contract: it
returns the ``Result`` (awaitable for an ``async def``; a MonoResult is awaited for you), or the
``FluxResult`` it built.

How the wrapper knows it is being served: its ``__signature__`` is the endpoint's parameters plus
one hidden dependency parameter, which FastAPI alone fills in. The signature's return annotation
is the *success* type, not ``Result[...]`` (FastAPI cannot build a response model from
``Result``: that broke the upstream version), so OpenAPI shows the success model. The problem
responses are added to the route's OpenAPI ``responses`` when FastAPI creates the route; pass
``errors=`` to list only the codes an endpoint can return.

`FastAPIResult` also works on a route *without* `handle_result` (as in the design document's
``/analytics/performance`` example): a Success is served as its value with the success model in
OpenAPI, and a Failure as an ``HTTPException`` with the error's status whose JSON body is
``{"detail": <problem object>}``. Use `handle_result` for RFC 9457 bodies.

>>> from fastapi import FastAPI
>>> from fastapi.testclient import TestClient
>>> from rfs_monitoring.result import Failure, Result, Success
>>> app = FastAPI()
>>> @app.get("/items/{item_id}")
... @handle_result
... async def get_item(item_id: int) -> Result[dict[str, int], APIError]:
...     if item_id == 1:
...         return Success({"id": 1})
...     return Failure(APIError.not_found("item", item_id))
>>> client = TestClient(app)
>>> client.get("/items/1").json()
{'id': 1}
>>> response = client.get("/items/2")
>>> response.status_code, response.headers["content-type"], response.json()["code"]
(404, 'application/problem+json', 'NOT_FOUND')
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Annotated, Any, TypeAlias, TypeVar, overload

import anyio.from_thread
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException

from rfs_monitoring._exceptions import InvalidTypeError
from rfs_monitoring.context import (
    _accepted_id,
    _correlation_id,
    correlation_context,
    correlation_id_from_headers,
    get_correlation_id,
    new_correlation_id,
)
from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.interop import (
    batch_items,
    chain_of,
    is_chain,
    is_result,
    read_outcome,
    result_annotation,
)
from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success

__all__ = [
    "CORRELATION_HEADER",
    "PROBLEM_MEDIA_TYPE",
    "APIError",
    "ErrorCode",
    "FastAPIResult",
    "handle_result",
    "install_problem_details",
    "problem_of_status",
    "problem_response",
    "problem_responses",
]

T = TypeVar("T")
C = TypeVar("C", bound=Callable[..., Any])

PROBLEM_MEDIA_TYPE = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"


class _ProblemHTTPException(HTTPException):
    """Carries a Failure out of FastAPI's response validation (see `_ServedAsValue`)."""


class _ServedAsValue:
    """pydantic metadata making ``Result[T, APIError]`` a valid FastAPI response model.

    On a route *without* `handle_result`, FastAPI validates the returned Result with this schema:
    a ``Success`` is validated and serialized as its value (so OpenAPI shows ``T``), and a
    ``Failure`` raises an `HTTPException` with the error's status, whose body is FastAPI's
    ``{"detail": <problem object>}``. `handle_result` routes never reach this: they send RFC 9457
    bodies themselves.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        args = typing.get_args(source)
        value_schema = handler.generate_schema(args[0]) if args else core_schema.any_schema()
        return core_schema.no_info_before_validator_function(_value_or_raise, value_schema)

    def __repr__(self) -> str:
        return "ServedAsValue"


def _value_or_raise(value: Any) -> Any:
    if isinstance(value, Success):
        return value.value
    if isinstance(value, Failure):
        error = APIError.from_service_error(value.error)
        correlation_id = get_correlation_id()
        headers = dict(error.headers)
        if correlation_id is None:
            correlation_id = headers[CORRELATION_HEADER] = new_correlation_id()
        raise _ProblemHTTPException(
            error.status_code, detail=error.to_problem(correlation_id), headers=headers
        )
    return value


FastAPIResult: TypeAlias = Annotated[Result[T, APIError], _ServedAsValue()]
"""The return annotation of a Result endpoint: ``FastAPIResult[User]`` is
``Result[User, APIError]`` (with metadata that lets FastAPI use it even without
`handle_result`, serving a Success as its value)."""

# The hidden parameter FastAPI fills with its per-request Response; its presence in the call
# is what tells the wrapper it is being served rather than called directly.
_SERVED_PARAM = "rfs_served_response__"
_REQUEST_PARAM = "rfs_request__"
_PROBLEM_RESPONSES_ATTR = "__rfs_problem_responses__"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem details object.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "correlation_id"],
    "properties": {
        "type": {"type": "string", "description": "A URN naming the error code."},
        "title": {"type": "string", "description": "A short summary of the error code."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, for humans."},
        "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
        "correlation_id": {"type": "string", "description": "The request's correlation ID."},
        "details": {"type": "object", "additionalProperties": True},
    },
}


def _incoming_id(request: Request | None, served: Response) -> str | None:
    """Without `CorrelationIdMiddleware`: the request's valid ``X-Correlation-ID`` (else
    ``X-Request-ID``), so the wrapper uses and echoes the caller's ID as the middleware would;
    an invalid one is ignored (never logged or echoed). A direct call with a response of its own
    takes the ID from that response's header."""
    if request is not None:
        return _accepted_id(request.scope.get("headers") or ())
    return served.headers.get(CORRELATION_HEADER)


# -- problem responses ----------------------------------------------------------------------------


def problem_response(error: APIError, correlation_id: str | None = None) -> JSONResponse:
    """The ``application/problem+json`` response for ``error``.

    Without ``correlation_id`` the current one is used (`get_correlation_id`); when there is
    none, one is generated and also sent in the ``X-Correlation-ID`` header.

    >>> response = problem_response(APIError.conflict("taken"), "req-7")
    >>> response.status_code, response.media_type, response.body  # doctest: +ELLIPSIS
    (409, 'application/problem+json', b'{"type":"urn:rfs-monitoring:problem:conflict",...}')
    """
    headers = dict(error.headers)
    if correlation_id is None:
        correlation_id = get_correlation_id()
        if correlation_id is None:
            correlation_id = new_correlation_id()
            headers[CORRELATION_HEADER] = correlation_id
    return JSONResponse(
        error.to_problem(correlation_id),
        status_code=error.status_code,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def problem_responses(
    codes: Iterable[ErrorCode | str] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` describing problem bodies for ``codes`` (all codes if ``None``),
    one entry per status; usable as ``@app.get(..., responses=problem_responses(...))`` on
    routes that build problem responses by hand.

    >>> sorted(problem_responses([ErrorCode.NOT_FOUND, "DATABASE_ERROR"]))
    [404, 500]
    >>> problem_responses(["NOT_FOUND"])[404]["description"]
    'Not Found (NOT_FOUND)'
    """
    selected = list(ErrorCode) if codes is None else [ErrorCode(code) for code in codes]
    by_status: dict[int, list[ErrorCode]] = {}
    for code in selected:
        by_status.setdefault(code.status_code, []).append(code)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(by_status):
        members = by_status[status]
        titles = " / ".join(dict.fromkeys(code.problem_title for code in members))
        names = ", ".join(code.value for code in members)
        responses[status] = {
            "description": f"{titles} ({names})",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}},
        }
    return responses


def _install_openapi_hook() -> None:
    """Let routes created from `handle_result` endpoints document their problem responses.

    FastAPI builds a route's OpenAPI ``responses`` only from the ``responses=`` argument of
    ``@app.get(...)``, which the decorator below it cannot reach; so `APIRoute` creation is
    wrapped to merge the endpoint's problem responses in. Responses the route declares itself
    win; routes of other endpoints are untouched. Nothing is patched at import: the first
    `handle_result` installs it (a decorator runs before the route that takes its endpoint is
    created), once.
    """
    original = APIRoute.__init__
    if getattr(original, "_rfs_problem_hook", False):
        return

    @functools.wraps(original)
    def init(
        self: APIRoute, path: str, endpoint: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        extra = getattr(endpoint, _PROBLEM_RESPONSES_ATTR, None)
        if isinstance(extra, dict) and extra:
            declared = dict(kwargs.get("responses") or {})
            taken = {str(key) for key in declared}
            merged = {key: value for key, value in extra.items() if str(key) not in taken}
            merged.update(declared)
            kwargs["responses"] = merged
        original(self, path, endpoint, *args, **kwargs)

    init._rfs_problem_hook = True  # type: ignore[attr-defined]
    APIRoute.__init__ = init  # type: ignore[method-assign]


# -- problem details for a whole app ---------------------------------------------------------------

# Statuses with a code of their own; any other 4xx is a VALIDATION_ERROR and 5xx an internal
# error, keeping its status and titled by its HTTP reason phrase.
_CODE_OF_STATUS = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    408: ErrorCode.REQUEST_TIMEOUT,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_SERVER_ERROR,
    502: ErrorCode.EXTERNAL_SERVICE_ERROR,
    503: ErrorCode.SERVICE_UNAVAILABLE,
    504: ErrorCode.TIMEOUT_ERROR,
}


def problem_of_status(
    status: int, detail: str | None = None, headers: Mapping[str, str] | None = None
) -> APIError:
    """The `APIError` an HTTP error status stands for (``detail`` defaults to its title).

    >>> problem_of_status(405).to_problem("c-1")["title"], problem_of_status(404).code.value
    ('Method Not Allowed', 'NOT_FOUND')
    """
    code = _CODE_OF_STATUS.get(status)
    if code is None:
        code = ErrorCode.VALIDATION_ERROR if status < 500 else ErrorCode.INTERNAL_SERVER_ERROR
    if not 400 <= status <= 599:
        status = code.status_code
    title = code.problem_title if status in _CODE_OF_STATUS else HTTPStatus(status).phrase
    error = _TitledAPIError(code, detail or title, status_code=status, headers=headers)
    error.reason = title
    return error


class _TitledAPIError(APIError):
    """An APIError whose problem title is the HTTP reason phrase of its status (405, 422...)."""

    reason: str | None = None

    @property
    def title(self) -> str:
        return self.reason or self.code.problem_title

    def to_problem(self, correlation_id: str | None = None) -> dict[str, Any]:
        problem = super().to_problem(correlation_id)
        problem["title"] = self.title
        return problem


def _correlation_id_of(request: Request) -> str:
    return (
        get_correlation_id() or correlation_id_from_headers(request.headers) or new_correlation_id()
    )


def _problem(request: Request, error: APIError) -> JSONResponse:
    correlation_id = _correlation_id_of(request)
    response = problem_response(error, correlation_id)
    response.headers[CORRELATION_HEADER] = correlation_id
    return response


async def _http_exception_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if isinstance(detail, dict) and "type" in detail and "status" in detail:
        # Already a problem body (a Failure carried out of response validation).
        body = dict(detail)
        correlation_id = body.get("correlation_id") or _correlation_id_of(request)
        body["correlation_id"] = correlation_id
        headers = dict(exc.headers or {})
        headers[CORRELATION_HEADER] = str(correlation_id)
        return JSONResponse(
            body, status_code=exc.status_code, headers=headers, media_type=PROBLEM_MEDIA_TYPE
        )
    text = detail if isinstance(detail, str) else None
    return _problem(request, problem_of_status(exc.status_code, text, exc.headers))


async def _validation_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "location": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
        }
        for error in exc.errors()
    ][:20]
    first = errors[0] if errors else {"location": "request", "message": "invalid"}
    error = problem_of_status(422, f"invalid {first['location']}: {first['message']}")
    error.details["errors"] = errors
    return _problem(request, error)


async def _api_error_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return _problem(request, exc)


async def _internal_problem(request: Request, exc: Exception) -> Response:
    # Never the exception's text: it may hold anything. The correlation ID finds the log.
    return _problem(request, APIError.internal_server_error())


def install_problem_details(app: Starlette) -> None:
    """Make every 4xx/5xx answer of ``app`` an RFC 9457 ``application/problem+json`` body with
    a ``correlation_id``: unknown paths (404), wrong methods (405, with ``Allow``), FastAPI's
    request validation errors (422, each error's location and message in
    ``details.errors``), `HTTPException` and `APIError` raised anywhere, and unhandled
    exceptions (500, without their text). Handlers the app registers later win.

    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> app = FastAPI()
    >>> @app.get("/items/{item_id}")
    ... def item(item_id: int) -> int:
    ...     return item_id
    >>> install_problem_details(app)
    >>> client = TestClient(app)
    >>> answer = client.get("/items/x")
    >>> answer.status_code, answer.headers["content-type"], answer.json()["code"]
    (422, 'application/problem+json', 'VALIDATION_ERROR')
    >>> client.post("/items/1").json()["title"], client.get("/nope").json()["status"]
    ('Method Not Allowed', 404)
    """
    app.add_exception_handler(StarletteHTTPException, _http_exception_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(APIError, _api_error_problem)
    app.add_exception_handler(Exception, _internal_problem)


# -- the decorator --------------------------------------------------------------------------------


@overload
def handle_result(fn: C, /) -> C: ...


@overload
def handle_result(*, errors: Iterable[ErrorCode | str] | None = None) -> Callable[[C], C]: ...


def handle_result(
    fn: C | None = None, /, *, errors: Iterable[ErrorCode | str] | None = None
) -> C | Callable[[C], C]:
    """Serve a sync or async endpoint returning ``Result``, ``MonoResult`` or ``FluxResult``.

    Use it bare (``@handle_result``) or with the error codes the endpoint can fail with
    (``@handle_result(errors=[ErrorCode.NOT_FOUND])``) to narrow the documented problem
    responses; INTERNAL_SERVER_ERROR is always documented, since any unexpected failure becomes
    one. Put it under ``@app.get(...)`` and over other decorators such as
    ``@log_result_operation(...)``. See the module documentation for what is served.

    >>> import asyncio
    >>> from rfs_monitoring.result import Result, Success
    >>> @handle_result
    ... async def hello(name: str) -> Result[str, APIError]:
    ...     return Success(f"hello {name}")
    >>> asyncio.run(hello("ada"))  # called directly: the Result itself
    Success(value='hello ada')
    """
    if fn is None:
        codes = None if errors is None else [ErrorCode(code) for code in errors]
        return lambda function: _decorate(function, codes)
    return _decorate(fn, None)


def _decorate(fn: C, codes: list[ErrorCode] | None) -> C:
    if not callable(fn):
        raise InvalidTypeError(f"handle_result decorates a function, got {type(fn).__name__}")
    _install_openapi_hook()
    signature = inspect.signature(fn)
    success_type = _success_type(fn, signature)
    resolved = _resolved_hints(fn)
    # FastAPI awaits an endpoint whose __wrapped__ chain ends in a coroutine function, even if
    # the outer layer is sync; classify the same way so both sides agree.
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn))

    # FastAPI hands the request and its per-request response (whose headers are merged into
    # the one sent) to the two hidden parameters below: both are injected directly, without a
    # dependency to solve on every request.
    direct = inspect.iscoroutinefunction(fn)
    # FastAPI fills one parameter of each kind (the last: the hidden one), so an endpoint's own
    # ``response: Response`` / ``request: Request`` gets the same objects from the wrapper.
    own_response = _parameter_of(signature, resolved, Response)
    own_request = _parameter_of(signature, resolved, Request)
    fills_own = own_response is not None or own_request is not None

    def fill_own(kwargs: dict[str, Any], served: Response, request: Request | None) -> None:
        if own_response is not None and own_response not in kwargs:
            kwargs[own_response] = served
        if own_request is not None and own_request not in kwargs and request is not None:
            kwargs[own_request] = request

    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        served: Response | None = kwargs.pop(_SERVED_PARAM, None)
        request: Request | None = kwargs.pop(_REQUEST_PARAM, None)
        if served is None:
            return await _outcome_of(fn, args, kwargs)
        if fills_own:
            fill_own(kwargs, served, request)
        token = None
        # `get_correlation_id()`, its common answer (the middleware's ID) read inline.
        if _correlation_id.get() is None and get_correlation_id() is None:
            if request is None or not direct:
                # Set the ID before the call, so the endpoint's log entries and the response
                # agree.
                with correlation_context(_incoming_id(request, served)) as current:
                    answer = await _serve_async(fn, args, kwargs)
                return _with_correlation_header(answer, served, current)
            # Served without the middleware: the request's valid ID (already checked) or a
            # new one, current while the endpoint runs.
            current = _accepted_id(request.scope.get("headers") or ()) or new_correlation_id()
            token = _correlation_id.set(current)
        elif not direct:
            return await _serve_async(fn, args, kwargs)
        # An ``async def`` endpoint, served in this coroutine: a Success answers with its value.
        try:
            outcome = await fn(*args, **kwargs)
            if outcome.__class__ is not Success:
                outcome = await _settled(outcome)
        except APIError as error:
            answer = problem_response(error)
        else:
            answer = outcome.value if outcome.__class__ is Success else _respond(outcome)
        finally:
            if token is not None:
                _correlation_id.reset(token)
        if token is None:
            return answer
        return _with_correlation_header(answer, served, current)

    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        served: Response | None = kwargs.pop(_SERVED_PARAM, None)
        request: Request | None = kwargs.pop(_REQUEST_PARAM, None)
        if served is None:
            return fn(*args, **kwargs)
        if fills_own:
            fill_own(kwargs, served, request)
        if get_correlation_id() is not None:
            return _serve_sync(fn, args, kwargs)
        with correlation_context(_incoming_id(request, served)) as current:
            answer = _serve_sync(fn, args, kwargs)
        return _with_correlation_header(answer, served, current)

    wrapper: Callable[..., Any] = async_wrapper if is_async else sync_wrapper
    functools.update_wrapper(wrapper, fn)
    parameters = [
        parameter.replace(annotation=resolved.get(name, parameter.annotation))
        for name, parameter in signature.parameters.items()
    ]
    hidden = [
        inspect.Parameter(_SERVED_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Response),
        inspect.Parameter(_REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request),
    ]
    position = len(parameters)
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
        position -= 1
    parameters[position:position] = hidden
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters,
        return_annotation=inspect.Signature.empty if success_type is None else success_type,
    )
    documented = None if codes is None else [*codes, ErrorCode.INTERNAL_SERVER_ERROR]
    setattr(wrapper, _PROBLEM_RESPONSES_ATTR, problem_responses(documented))
    return typing.cast(C, wrapper)


def _parameter_of(
    signature: inspect.Signature, resolved: Mapping[str, Any], kind: type
) -> str | None:
    """The name of the endpoint's own parameter annotated with ``kind`` (a subclass of it),
    if any."""
    for name, parameter in signature.parameters.items():
        annotation = resolved.get(name, parameter.annotation)
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return name
    return None


async def _outcome_of(fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    outcome = fn(*args, **kwargs)
    if inspect.isawaitable(outcome) and not is_result(outcome):  # expression's is awaitable
        outcome = await outcome
    return await _settled(outcome)


async def _settled(outcome: Any) -> Any:
    """What an async endpoint's awaited value stands for: a chain it returned, run."""
    if isinstance(outcome, MonoResult):  # an async endpoint returning a chain
        return await outcome
    if is_chain(outcome):  # another library's chain (rfs' MonoResult, returns' FutureResult)
        return await chain_of(outcome)[0](outcome)
    return outcome


async def _serve_async(fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    try:
        outcome = await _outcome_of(fn, args, kwargs)
    except APIError as error:
        return problem_response(error)
    return _respond(outcome)


def _serve_sync(fn: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
    try:
        outcome = fn(*args, **kwargs)
        if is_chain(outcome):  # another library's chain: its Result, not its own await
            outcome = _await_from_thread(chain_of(outcome)[0](outcome))
        elif inspect.isawaitable(outcome) and not is_result(outcome):
            # a MonoResult, or a sync wrapper around async code
            outcome = _await_from_thread(outcome)
    except APIError as error:
        return problem_response(error)
    return _respond(outcome)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _await_from_thread(awaitable: Awaitable[Any]) -> Any:
    # FastAPI runs sync endpoints in an AnyIO worker thread: await back on the event loop.
    try:
        return anyio.from_thread.run(_awaited, awaitable)
    except RuntimeError:  # not in a worker thread of a running loop
        return asyncio.run(_awaited(awaitable))


def _with_correlation_header(answer: Any, served: Response, correlation_id: str) -> Any:
    # A returned Response is sent as is; any other value goes out in FastAPI's response, which
    # takes the headers of the per-request one.
    target = answer if isinstance(answer, Response) else served
    raw = getattr(target, "raw_headers", None)
    if isinstance(raw, list) and all(pair[0] != _CORRELATION_RAW for pair in raw):
        # Starlette keeps header names lowercase: none of that name yet, so one is added.
        raw.append((_CORRELATION_RAW, correlation_id.encode("latin-1")))
    else:
        target.headers[CORRELATION_HEADER] = correlation_id
    return answer


_CORRELATION_RAW = CORRELATION_HEADER.lower().encode("latin-1")


def _respond(outcome: Any) -> Any:
    if isinstance(outcome, FluxResult):
        for result in outcome.results:
            if result.is_failure():
                outcome = result
                break
        else:
            return outcome.success_values()
    if isinstance(outcome, Success):
        return outcome.value
    if isinstance(outcome, Failure):
        return problem_response(APIError.from_service_error(outcome.error))
    read = read_outcome(outcome)  # another library's Result: the same rules as ours
    if read is not None:
        failed, payload = read
        return problem_response(APIError.from_service_error(payload)) if failed else payload
    items = batch_items(outcome)  # another library's batch (rfs' FluxResult)
    if items is not None:
        values = []
        for item in items:
            item_read = read_outcome(item)
            if item_read is None:
                continue
            if item_read[0]:
                return problem_response(APIError.from_service_error(item_read[1]))
            values.append(item_read[1])
        return values
    # An endpoint that returned a plain value is served as FastAPI would serve it.
    return outcome


# -- annotations ----------------------------------------------------------------------------------


def _resolved_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable names: FastAPI resolves what it can itself
        return {}


def _success_type(fn: Callable[..., Any], signature: inspect.Signature) -> Any:
    """The type of the success value, for FastAPI's response model; ``None`` if unknown or not
    something pydantic can describe."""
    annotation = _resolved_hints(fn).get("return", signature.return_annotation)
    if annotation is inspect.Signature.empty or isinstance(annotation, str):
        return None
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation) or annotation
    args = typing.get_args(annotation)
    success: Any
    if origin is FluxResult:
        success = list[args[0]] if args else None  # type: ignore[valid-type]
    elif isinstance(origin, type) and issubclass(origin, Result | MonoResult):
        success = args[0] if args else None
    else:
        # Another library's Result (returns, rfs, result, expression, registered ones).
        names_result, foreign = result_annotation(annotation)
        success = foreign if names_result else annotation
    if success is None or success is type(None) or success is Any or isinstance(success, TypeVar):
        # No model: a `Result[None, ...]` endpoint may be a 204 route, which must have none.
        return None
    try:
        from pydantic import TypeAdapter

        TypeAdapter(success)
    except Exception:  # not describable: serve without a response model rather than break
        return None
    return success
