"""handle_result and FastAPIResult: direct calls, served responses and OpenAPI."""

from __future__ import annotations

import asyncio
import pathlib
import re
import threading
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from rfs_monitoring.context import CorrelationIdMiddleware
from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import add_listener, log_result_operation
from rfs_monitoring.web import (
    CORRELATION_HEADER,
    PROBLEM_MEDIA_TYPE,
    APIError,
    ErrorCode,
    FastAPIResult,
    handle_result,
    problem_response,
    problem_responses,
)


class UserResponse(BaseModel):
    user_id: str
    name: str


@dataclass
class Point:
    x: int
    y: int


class UserRepo:
    """The service behind the design document's endpoint."""

    def __init__(self) -> None:
        self.delay = 0.0

    async def get_user_async(self, user_id: str) -> Result[dict[str, str], APIError]:
        await asyncio.sleep(self.delay)
        if user_id == "123":
            return Success({"user_id": "123", "name": "Ada"})
        if user_id == "crash":
            raise ConnectionError("db password=hunter2 at 10.9.8.7")
        return Failure(APIError.not_found("user", user_id))


def validate_user_response(user: dict[str, str]) -> Result[UserResponse, APIError]:
    if not user.get("name"):
        return Failure(APIError.validation_error("user has no name"))
    return Success(UserResponse(**user))


def build_app(repo: UserRepo) -> FastAPI:
    app = FastAPI()

    @app.get("/users/{user_id}")
    @handle_result
    @log_result_operation("user_retrieval")
    async def get_user(user_id: str) -> Result[UserResponse, APIError]:
        return await (
            MonoResult.from_async_result(lambda: repo.get_user_async(user_id))
            .log_step("user_service_call")
            .bind_result(lambda user: validate_user_response(user))
            .log_step("user_validation")
            .map_error(lambda e: APIError.from_service_error(e))
            .log_error("user_retrieval_error")
            .timeout(0.2)
            .to_result()
        )

    @app.get("/points/{n}")
    @handle_result
    def get_point(n: int) -> FastAPIResult[Point]:
        return Success(Point(n, -n)) if n >= 0 else Failure(APIError.validation_error("n < 0"))

    @app.get("/doubled/{n}")
    @handle_result(errors=[ErrorCode.VALIDATION_ERROR])
    def doubled(n: int) -> MonoResult[int, APIError]:
        return MonoResult.from_value(n).map(lambda x: x * 2)

    @app.get("/mono/{n}")
    @handle_result
    async def mono(n: int) -> MonoResult[dict[str, int], APIError]:
        return MonoResult.from_value({"n": n})

    @app.get("/batch")
    @handle_result
    async def batch(fail: bool = False) -> FluxResult[int, APIError]:
        items: list[Result[int, APIError]] = [Success(1), Success(2)]
        if fail:
            items += [Failure(APIError.conflict("third")), Failure(APIError.forbidden())]
        return FluxResult.from_results(items)

    @app.get("/leak")
    @handle_result
    async def leak(kind: str) -> Result[str, Any]:
        if kind == "exception":
            return Failure(RuntimeError("api_key=sk_live_123 password=hunter2"))
        if kind == "string":
            return Failure("postgres://admin:hunter2@10.0.0.5/users")
        raise APIError.rate_limited(retry_after=9)

    @app.post("/created", status_code=201)
    @handle_result
    async def created(point: Point) -> Result[Point, APIError]:
        return Success(point)

    @app.get("/raw")
    @handle_result
    async def raw() -> Result[Any, APIError]:
        return Success(PlainTextResponse("plain"))

    @app.get("/untyped")
    @handle_result
    async def untyped():  # type: ignore[no-untyped-def]
        return Success([1, "two", None])

    @app.get("/boom")
    @handle_result
    async def boom() -> Result[int, APIError]:
        raise ValueError("not an APIError")

    @app.get("/declared", responses={404: {"description": "No such thing"}})
    @handle_result
    async def declared() -> Result[int, APIError]:
        return Success(1)

    return app


@pytest.fixture
def repo() -> UserRepo:
    return UserRepo()


@pytest.fixture
def app(repo: UserRepo) -> FastAPI:
    return build_app(repo)


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def endpoint(app: FastAPI, path: str) -> Any:
    return next(route.endpoint for route in app.routes if getattr(route, "path", "") == path)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code", "correlation_id"} <= body.keys()
    assert (body["status"], body["code"]) == (status, code)
    return body


# -- direct calls -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_direct_call_of_an_async_endpoint_returns_the_result(app: FastAPI) -> None:
    """Called directly, the design document's endpoint returns the Result itself."""
    get_user = endpoint(app, "/users/{user_id}")
    result = await get_user("123")
    assert result == Success(UserResponse(user_id="123", name="Ada"))
    missing = await get_user("9")
    assert missing.unwrap_error().code is ErrorCode.NOT_FOUND


@pytest.mark.asyncio
async def test_direct_calls_keep_each_return_kind(app: FastAPI) -> None:
    """Sync endpoints return what they built; async ones await a MonoResult for the caller."""
    assert endpoint(app, "/points/{n}")(2) == Success(Point(2, -2))
    doubled = endpoint(app, "/doubled/{n}")(4)
    assert isinstance(doubled, MonoResult)
    assert await doubled == Success(8)
    assert await endpoint(app, "/mono/{n}")(3) == Success({"n": 3})
    flux = await endpoint(app, "/batch")(fail=True)
    assert isinstance(flux, FluxResult)
    assert (flux.count_success(), flux.count_failures()) == (2, 2)


# -- served -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_served_success_is_the_value_as_json(client: httpx.AsyncClient) -> None:
    """A Success answers 200 with its value: pydantic models, dataclasses, dicts, lists."""
    user = await client.get("/users/123")
    assert (user.status_code, user.json()) == (200, {"user_id": "123", "name": "Ada"})
    assert (await client.get("/points/3")).json() == {"x": 3, "y": -3}
    assert (await client.get("/mono/5")).json() == {"n": 5}
    assert (await client.get("/doubled/21")).json() == 42
    assert (await client.get("/untyped")).json() == [1, "two", None]


@pytest.mark.asyncio
async def test_served_failure_is_a_problem_response(client: httpx.AsyncClient) -> None:
    """A Failure(APIError) answers its status with an RFC 9457 problem+json body."""
    body = assert_problem(await client.get("/users/42"), 404, "NOT_FOUND")
    assert body["title"] == "Not Found"
    assert body["detail"] == "user '42' not found"
    assert body["type"] == "urn:rfs-monitoring:problem:not-found"
    assert_problem(await client.get("/points/-1"), 400, "VALIDATION_ERROR")


@pytest.mark.asyncio
@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
async def test_every_error_code_is_served_with_its_status(code: ErrorCode) -> None:
    """Each ErrorCode returned in a Failure is served with its status and code."""
    app = FastAPI()

    @app.get("/fail")
    @handle_result
    def fail() -> Result[int, APIError]:
        return Failure(APIError(code, f"failed with {code.value}"))

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        body = assert_problem(await http.get("/fail"), code.status_code, code.value)
    assert body["detail"] == f"failed with {code.value}"


@pytest.mark.asyncio
async def test_a_500_never_leaks_the_exception_text(client: httpx.AsyncClient) -> None:
    """Failures holding exceptions or strings with secrets answer a generic 500."""
    for kind in ("exception", "string"):
        response = await client.get("/leak", params={"kind": kind})
        body = assert_problem(response, 500, "INTERNAL_SERVER_ERROR")
        assert body["detail"] == "Internal server error"
        for secret in ("hunter2", "sk_live", "10.0.0.5", "postgres", "api_key"):
            assert secret not in response.text


@pytest.mark.asyncio
async def test_an_exception_raised_in_the_chain_is_a_generic_500(
    client: httpx.AsyncClient,
) -> None:
    """A service that raises inside the MonoResult chain gives a 500 without its text."""
    response = await client.get("/users/crash")
    assert_problem(response, 500, "INTERNAL_SERVER_ERROR")
    assert "hunter2" not in response.text
    assert "10.9.8.7" not in response.text


@pytest.mark.asyncio
async def test_a_timeout_in_the_chain_is_a_504(client: httpx.AsyncClient, repo: UserRepo) -> None:
    """The design document's timeout(…) expiring is served as TIMEOUT_ERROR 504."""
    repo.delay = 5.0
    assert_problem(await client.get("/users/123"), 504, "TIMEOUT_ERROR")


@pytest.mark.asyncio
async def test_a_raised_api_error_is_served_like_a_returned_one(
    client: httpx.AsyncClient,
) -> None:
    """Raising an APIError gives its problem response, with its headers."""
    response = await client.get("/leak", params={"kind": "raise"})
    assert_problem(response, 429, "RATE_LIMITED")
    assert response.headers["retry-after"] == "9"


@pytest.mark.asyncio
async def test_other_raised_exceptions_propagate(app: FastAPI) -> None:
    """An exception that is not an APIError is left to FastAPI, as in any endpoint."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        with pytest.raises(ValueError, match="not an APIError"):
            await http.get("/boom")


@pytest.mark.asyncio
async def test_a_flux_result_is_served_all_or_first_failure(client: httpx.AsyncClient) -> None:
    """A FluxResult answers its success values, or the first failure's problem."""
    assert (await client.get("/batch")).json() == [1, 2]
    body = assert_problem(await client.get("/batch", params={"fail": True}), 409, "CONFLICT")
    assert body["detail"] == "third"


@pytest.mark.asyncio
async def test_route_status_and_returned_responses_are_respected(
    client: httpx.AsyncClient,
) -> None:
    """The route's status_code applies to a Success; a Response value is sent as is."""
    created = await client.post("/created", json={"x": 1, "y": 2})
    assert (created.status_code, created.json()) == (201, {"x": 1, "y": 2})
    raw = await client.get("/raw")
    assert (raw.text, raw.headers["content-type"]) == ("plain", "text/plain; charset=utf-8")


@pytest.mark.asyncio
async def test_bad_request_parameters_are_still_fastapi_validation_errors(
    client: httpx.AsyncClient,
) -> None:
    """Parameter validation keeps working: the hidden parameter changes nothing there."""
    response = await client.get("/points/not-a-number")
    assert response.status_code == 422


def test_sync_endpoints_work_through_the_test_client(app: FastAPI) -> None:
    """Sync endpoints run in FastAPI's threadpool, a MonoResult included."""
    with TestClient(app) as http:
        assert http.get("/doubled/5").json() == 10
        assert http.get("/points/1").json() == {"x": 1, "y": -1}


def test_a_served_sync_mono_outside_a_worker_thread_still_runs(app: FastAPI) -> None:
    """Outside an AnyIO worker thread the MonoResult of a sync endpoint runs on its own loop."""
    doubled = endpoint(app, "/doubled/{n}")
    answers: list[Any] = []
    worker = threading.Thread(
        target=lambda: answers.append(doubled(n=3, rfs_served_response__=Response()))
    )
    worker.start()
    worker.join(timeout=30)
    assert answers == [6]


# -- correlation IDs ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_without_middleware_a_generated_id_is_in_body_header_and_logs(
    client: httpx.AsyncClient,
) -> None:
    """With no correlation ID set, one is generated and shared by body, header and logs."""
    seen: list[dict[str, Any]] = []
    remove = add_listener(seen.append)
    try:
        response = await client.get("/users/9")
    finally:
        remove()
    body = assert_problem(response, 404, "NOT_FOUND")
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    ids = {entry["correlation_id"] for entry in seen if entry["operation_name"] == "user_retrieval"}
    assert ids == {body["correlation_id"]}
    success = await client.get("/points/1")
    assert success.headers["x-correlation-id"]


@pytest.mark.asyncio
async def test_without_middleware_the_requests_own_id_is_used_echoed_once_and_logged() -> None:
    """Without the middleware an ``async def`` endpoint runs with the request's valid
    X-Correlation-ID (else X-Request-ID, else a new one): in its entries, the problem body and
    one X-Correlation-ID response header, even when the endpoint set that header itself."""
    app = FastAPI()

    @app.get("/items/{n}")
    @handle_result
    @log_result_operation("item_lookup")
    async def item(n: int, response: Response) -> Result[int, APIError]:
        if n == 2:
            response.headers["X-Correlation-ID"] = "set-by-endpoint"
        return Success(n) if n else Failure(APIError.not_found("item", n))

    seen: list[dict[str, Any]] = []
    remove = add_listener(seen.append)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            own = await http.get("/items/1", headers={"X-Correlation-ID": "own-1"})
            fallback = await http.get(
                "/items/0", headers={"X-Correlation-ID": "<bad>", "X-Request-ID": "req-2"}
            )
            fresh = await http.get("/items/1", headers={"X-Correlation-ID": "a b"})
            replaced = await http.get("/items/2", headers={"X-Correlation-ID": "own-3"})
    finally:
        remove()
    assert (own.json(), own.headers["x-correlation-id"]) == (1, "own-1")
    assert assert_problem(fallback, 404, "NOT_FOUND")["correlation_id"] == "req-2"
    assert fallback.headers["x-correlation-id"] == "req-2"
    generated = fresh.headers["x-correlation-id"]
    assert len(generated) == 32
    assert replaced.headers.get_list("x-correlation-id") == ["own-3"]
    logged = [entry["correlation_id"] for entry in seen if entry["operation_name"] == "item_lookup"]
    assert logged == ["own-1", "req-2", generated, "own-3"]


def test_an_endpoints_own_request_and_response_parameters_are_filled() -> None:
    """FastAPI fills one parameter per kind (the wrapper's hidden one): an endpoint's own
    ``request: Request`` and ``response: Response``, sync or async, get the same objects, and a
    direct call still passes its own."""
    app = FastAPI()

    @app.get("/async")
    @handle_result
    async def with_both(request: Request, response: Response) -> Result[str, APIError]:
        response.headers["x-seen"] = request.url.path
        return Success("a")

    @app.get("/sync")
    @handle_result
    def sync_response(response: Response) -> Result[str, APIError]:
        response.set_cookie("visited", "yes")
        return Success("s")

    client = TestClient(app)
    answered = client.get("/async")
    assert (answered.json(), answered.headers["x-seen"]) == ("a", "/async")
    cookie = client.get("/sync")
    assert (cookie.json(), cookie.cookies.get("visited")) == ("s", "yes")
    mine = Response()
    assert sync_response(response=mine) == Success("s")
    assert "visited=yes" in mine.headers["set-cookie"]


@pytest.mark.asyncio
async def test_with_the_middleware_the_request_id_is_used(app: FastAPI) -> None:
    """Behind CorrelationIdMiddleware the problem body carries the request's own ID."""
    app.add_middleware(CorrelationIdMiddleware)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/users/9", headers={"X-Correlation-ID": "req-77"})
        sync_response = await http.get("/points/-1", headers={"X-Correlation-ID": "req-78"})
    assert assert_problem(response, 404, "NOT_FOUND")["correlation_id"] == "req-77"
    assert response.headers["x-correlation-id"] == "req-77"
    assert assert_problem(sync_response, 400, "VALIDATION_ERROR")["correlation_id"] == "req-78"


@pytest.mark.asyncio
async def test_behind_the_middleware_every_kind_of_async_endpoint_is_served_the_same(
    app: FastAPI,
) -> None:
    """Behind CorrelationIdMiddleware an ``async def`` endpoint is served in the wrapper's own
    coroutine: a Success, a Failure, a returned MonoResult or FluxResult, a raised APIError, a
    Response in a Success and another raised exception are answered as without it."""
    app.add_middleware(CorrelationIdMiddleware)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        user = await http.get("/users/123")
        missing = await http.get("/users/9", headers={"X-Correlation-ID": "mw-1"})
        mono = await http.get("/mono/3")
        batch = await http.get("/batch", params={"fail": "true"})
        raised = await http.get("/leak", params={"kind": "raise"})
        leaked = await http.get("/leak", params={"kind": "exception"})
        raw = await http.get("/raw")
        untyped = await http.get("/untyped")
        boom = await http.get("/boom")
    assert user.json() == {"user_id": "123", "name": "Ada"}
    assert assert_problem(missing, 404, "NOT_FOUND")["correlation_id"] == "mw-1"
    assert mono.json() == {"n": 3}
    assert_problem(batch, 409, "CONFLICT")
    assert (
        assert_problem(raised, 429, "RATE_LIMITED")["correlation_id"]
        == raised.headers["x-correlation-id"]
    )
    assert "hunter2" not in assert_problem(leaked, 500, "INTERNAL_SERVER_ERROR")["detail"]
    assert (raw.text, untyped.json()) == ("plain", [1, "two", None])
    assert boom.status_code == 500
    assert boom.headers["x-correlation-id"]


# -- OpenAPI ------------------------------------------------------------------------------------


@pytest.fixture
def openapi(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def test_openapi_shows_the_success_model(openapi: dict[str, Any]) -> None:
    """The 200 response is the success type, never Result."""
    paths = openapi["paths"]

    def ok_schema(path: str, method: str = "get") -> Any:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    assert ok_schema("/users/{user_id}") == {"$ref": "#/components/schemas/UserResponse"}
    assert ok_schema("/points/{n}") == {"$ref": "#/components/schemas/Point"}
    assert ok_schema("/doubled/{n}")["type"] == "integer"
    assert ok_schema("/batch")["type"] == "array"
    assert ok_schema("/batch")["items"]["type"] == "integer"
    assert "Result" not in str(openapi["components"]["schemas"].keys())
    parameters = paths["/users/{user_id}"]["get"]["parameters"]
    assert [parameter["name"] for parameter in parameters] == ["user_id"]


def test_openapi_documents_the_problem_responses(openapi: dict[str, Any]) -> None:
    """Every status a Failure can take is documented as application/problem+json."""
    responses = openapi["paths"]["/users/{user_id}"]["get"]["responses"]
    statuses = {str(code.status_code) for code in ErrorCode}
    assert statuses <= responses.keys()
    problem = responses["404"]["content"][PROBLEM_MEDIA_TYPE]["schema"]
    assert set(problem["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "correlation_id",
    }
    assert responses["500"]["description"] == (
        "Internal Server Error / Database Error (INTERNAL_SERVER_ERROR, DATABASE_ERROR)"
    )
    assert "422" in responses


def test_errors_narrow_the_documented_problems(openapi: dict[str, Any]) -> None:
    """handle_result(errors=...) documents those codes plus the unavoidable 500."""
    responses = openapi["paths"]["/doubled/{n}"]["get"]["responses"]
    assert set(responses) == {"200", "400", "500", "422"}


def test_declared_responses_win(openapi: dict[str, Any]) -> None:
    """A response the route declares itself replaces the generated one."""
    responses = openapi["paths"]["/declared"]["get"]["responses"]
    assert responses["404"]["description"] == "No such thing"
    assert "503" in responses


def test_problem_responses_helper_groups_codes_by_status() -> None:
    """problem_responses() maps each status to its codes."""
    everything = problem_responses()
    assert sorted(everything) == sorted({code.status_code for code in ErrorCode})
    assert list(problem_responses(["TIMEOUT_ERROR"])) == [504]


# -- FastAPIResult and the decorator's edges ----------------------------------------------------


@pytest.mark.asyncio
async def test_fastapi_result_works_even_without_handle_result() -> None:
    """The design document's bare `-> FastAPIResult[T]` route registers and serves."""
    app = FastAPI()

    @app.get("/analytics/performance")
    async def get_performance(fail: bool = False) -> FastAPIResult[UserResponse]:
        if fail:
            return Failure(APIError.not_found("operation", "x"))
        return Success(UserResponse(user_id="1", name="n"))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        ok = await http.get("/analytics/performance")
        failed = await http.get("/analytics/performance", params={"fail": True})
    assert (ok.status_code, ok.json()) == (200, {"user_id": "1", "name": "n"})
    assert failed.status_code == 404
    assert failed.json()["detail"]["code"] == "NOT_FOUND"
    assert failed.json()["detail"]["correlation_id"] == failed.headers["x-correlation-id"]
    schema = app.openapi()["paths"]["/analytics/performance"]["get"]["responses"]["200"]
    assert schema["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserResponse"
    }


@pytest.mark.asyncio
async def test_an_undescribable_success_type_is_served_without_a_model() -> None:
    """A success type pydantic cannot describe does not break the route."""

    class Opaque:
        def __init__(self) -> None:
            self.label = "opaque"

    app = FastAPI()

    @app.get("/opaque")
    @handle_result
    async def opaque() -> Result[Opaque, APIError]:
        return Success({"label": Opaque().label})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/opaque")).json() == {"label": "opaque"}


def test_bad_decorator_arguments_are_refused() -> None:
    """handle_result needs a callable and known error codes."""
    with pytest.raises(TypeError, match="decorates a function"):
        handle_result(42)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="TEAPOT"):
        handle_result(errors=["TEAPOT"])


def test_the_wrapper_keeps_the_endpoint_identity() -> None:
    """Name, docstring and __wrapped__ are the endpoint's own."""

    @handle_result
    def documented(x: int, **extra: Any) -> Result[int, APIError]:
        """Doc."""
        return Success(x)

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Doc."
    assert documented(1) == Success(1)
    assert list(documented.__signature__.parameters) == [
        "x",
        "rfs_served_response__",
        "rfs_request__",
        "extra",
    ]


@pytest.mark.asyncio
async def test_fastapi_result_route_uses_the_request_id_and_accepts_plain_values() -> None:
    """Without handle_result, a Failure carries the middleware's ID; a bare value validates."""
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @app.get("/plain")
    async def plain(fail: bool = False) -> FastAPIResult[Point]:
        if fail:
            return Failure(APIError.forbidden())
        return {"x": 1, "y": 2}  # type: ignore[return-value]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        ok = await http.get("/plain")
        failed = await http.get("/plain", params={"fail": True}, headers={"X-Request-ID": "r-1"})
    assert ok.json() == {"x": 1, "y": 2}
    assert (failed.status_code, failed.json()["detail"]["correlation_id"]) == (403, "r-1")


@pytest.mark.asyncio
async def test_an_endpoint_returning_a_plain_value_is_served_as_is() -> None:
    """handle_result leaves a non-Result return value to FastAPI."""
    app = FastAPI()

    @app.get("/value")
    @handle_result
    async def value() -> dict[str, int]:
        return {"answer": 42}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/value")).json() == {"answer": 42}


def test_problem_response_generates_an_id_outside_a_request() -> None:
    """problem_response() with no ID anywhere generates one and sends it as a header."""
    response = problem_response(APIError.database_error())
    assert response.status_code == 500
    assert response.headers[CORRELATION_HEADER.lower()]
    assert APIError.database_error().title == "Database Error"


def test_the_openapi_hook_installs_once() -> None:
    """Importing or installing the hook again does not wrap APIRoute twice."""
    from fastapi.routing import APIRoute

    from rfs_monitoring import web

    before = APIRoute.__init__
    web._install_openapi_hook()
    assert APIRoute.__init__ is before


@pytest.mark.asyncio
async def test_a_sync_wrapper_around_an_async_endpoint_is_awaited_when_served() -> None:
    """A sync decorator returning the coroutine of an async endpoint is still served right."""

    def sync_shim(fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        call.__wrapped__ = fn  # type: ignore[attr-defined]
        return call

    app = FastAPI()

    @app.get("/shimmed/{n}")
    @handle_result
    @sync_shim
    async def shimmed(n: int) -> Result[int, APIError]:
        return Success(n + 1) if n else Failure(APIError.not_found("n", n))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/shimmed/1")).json() == 2
        assert_problem(await http.get("/shimmed/0"), 404, "NOT_FOUND")


@pytest.mark.asyncio
async def test_a_result_of_none_serves_a_204_route() -> None:
    """`Result[None, APIError]` on a 204 route registers and answers an empty body."""
    app = FastAPI()

    @app.delete("/items/{n}", status_code=204)
    @handle_result
    async def delete(n: int) -> Result[None, APIError]:
        return Success(None) if n else Failure(APIError.not_found("item", n))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        deleted = await http.delete("/items/1")
        missing = await http.delete("/items/0")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_problem(missing, 404, "NOT_FOUND")


def test_the_readme_quickstart_runs_as_written() -> None:
    """The README's Quickstart code serves 200, a problem+json 404, and returns Results."""
    readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    quickstart = readme.read_text(encoding="utf-8").split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", quickstart, re.DOTALL)
    assert match is not None
    module = types.ModuleType("readme_quickstart")
    exec(compile(match.group(1), str(readme), "exec"), module.__dict__)
    with TestClient(module.app) as http:
        found = http.get("/users/123")
        missing = http.get("/users/9")
    assert (found.status_code, found.json()) == (200, {"user_id": "123", "name": "Ada"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert missing.json()["code"] == "NOT_FOUND"
    assert asyncio.run(module.get_user("123")).unwrap().name == "Ada"


def test_handle_result_adds_no_dependency_to_solve_per_request() -> None:
    """The request and FastAPI's per-request response reach the wrapper as injected
    parameters: the route has no dependency of its own for FastAPI to solve on each request."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    @handle_result
    async def item(item_id: int) -> Result[int, APIError]:
        return Success(item_id)

    route = next(r for r in app.routes if getattr(r, "path", "") == "/items/{item_id}")
    dependant = route.dependant  # type: ignore[attr-defined]
    assert dependant.dependencies == []
    assert dependant.request_param_name == "rfs_request__"
    assert dependant.response_param_name == "rfs_served_response__"
    with TestClient(app) as http:
        answer = http.get("/items/7", headers={"X-Correlation-ID": "abc-123"})
    assert answer.json() == 7
    assert answer.headers["X-Correlation-ID"] == "abc-123"
