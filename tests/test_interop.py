"""The Result types users already have are Results everywhere: a matrix of library x place.

Each library is the real one (the ``interop`` test extra; rfs-framework without its cloud SDKs).
Every place a Result is looked at is checked for each: the log entry, the metrics (by
``log_result_operation`` and by ``monitor_result``), the span, ``handle_result`` (status, body,
OpenAPI), the testing assertions and the mocker.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import expression
import httpx
import pytest
import result as result_lib
import returns.future
import returns.io
import returns.result
import rfs.core.result as rfs_result
import rfs.reactive as rfs_reactive
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from rfs_monitoring import (
    FluxResult,
    MonoResult,
    ResultMetricsCollector,
    log_result_operation,
    monitor_result,
    register_result_adapter,
)
from rfs_monitoring.alerts import AlertConfiguration, AlertManager, AlertRule
from rfs_monitoring.errors import APIError
from rfs_monitoring.interop import (
    is_result,
    read_outcome,
    result_annotation,
    result_builders,
    to_result,
)
from rfs_monitoring.result import Failure, Success
from rfs_monitoring.testing import (
    CapturedLogs,
    ResultMockerFactory,
    assert_flux_result_stats,
    assert_mono_result_timeout,
    assert_result_error,
    assert_result_success,
    mock_result_service,
)
from rfs_monitoring.web import handle_result


class User(BaseModel):
    id: str


@dataclass(frozen=True)
class Library:
    """One Result library: how to build its success and failure, and its annotation."""

    name: str
    success: Callable[[Any], Any]
    failure: Callable[[Any], Any]
    annotation: Callable[[Any, Any], Any]
    success_class: type
    failure_class: type


LIBRARIES = [
    Library(
        "rfs",
        rfs_result.Success,
        rfs_result.Failure,
        lambda t, e: rfs_result.Result[t, e],
        rfs_result.Success,
        rfs_result.Failure,
    ),
    Library(
        "returns",
        returns.result.Success,
        returns.result.Failure,
        lambda t, e: returns.result.Result[t, e],
        returns.result.Success,
        returns.result.Failure,
    ),
    Library(
        "returns.io",
        returns.io.IOSuccess,
        returns.io.IOFailure,
        lambda t, e: returns.io.IOResult[t, e],
        returns.io.IOSuccess,
        returns.io.IOFailure,
    ),
    Library(
        "result",
        result_lib.Ok,
        result_lib.Err,
        lambda t, e: result_lib.Result[t, e],
        result_lib.Ok,
        result_lib.Err,
    ),
    Library(
        "expression",
        expression.Ok,
        expression.Error,
        lambda t, e: expression.Result[t, e],
        expression.Result,
        expression.Result,
    ),
]
IDS = [library.name for library in LIBRARIES]


@pytest.fixture(params=LIBRARIES, ids=IDS)
def lib(request: pytest.FixtureRequest) -> Library:
    return typing.cast(Library, request.param)


def _metrics(collector: ResultMetricsCollector, name: str) -> tuple[int, int, dict[str, int]]:
    m = collector.operation_metrics(name).unwrap()
    return m.total_requests, m.failed_requests, dict(m.error_breakdown)


# -- reading ----------------------------------------------------------------------------------


def test_every_library_is_read_with_its_payload(lib: Library) -> None:
    error = ValueError("bad")
    assert read_outcome(lib.success(5)) == (False, 5)
    assert read_outcome(lib.failure(error)) == (True, error)
    assert is_result(lib.success(5))
    assert to_result(lib.failure(error)) == Failure(error)
    assert to_result(lib.success(5)) == Success(5)


def test_plain_values_and_lookalikes_are_not_results() -> None:
    response = httpx.Response(500)  # has is_success / is_error properties, not methods
    for value in (None, 1, "text", {"is_failure": True}, response, [Success(1)]):
        assert read_outcome(value) is None
        assert not is_result(value)
    with pytest.raises(TypeError, match="expected a Result, got Response"):
        to_result(response)


def test_the_type_cache_is_bounded_and_chains_are_told_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rfs_monitoring import interop

    monkeypatch.setattr(interop, "_CACHE_LIMIT", len(interop._cache))
    made = type("MadeAtRunTime", (), {})
    assert read_outcome(made()) is None
    assert made not in interop._cache  # full: resolved again next time, never grows
    own = Failure("x")
    assert to_result(own) is own
    with pytest.raises(LookupError):
        interop.chain_of(own)
    assert interop.is_chain(rfs_reactive.MonoResult.from_value(1))
    assert interop.batch_items(own) is None


def test_import_pulls_in_no_result_library() -> None:
    code = (
        "import sys, rfs_monitoring, rfs_monitoring.interop, rfs_monitoring.result_logging\n"
        "from rfs_monitoring import log_result_operation, monitor_result\n"
        "from rfs_monitoring.testing import assert_result_success\n"
        "loaded = [m for m in ('rfs', 'returns', 'result', 'expression') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- log entries, metrics, spans -----------------------------------------------------------------


def test_log_entry_and_metrics_of_a_sync_operation(
    lib: Library, captured_result_logs: CapturedLogs, metrics_collector: ResultMetricsCollector
) -> None:
    @log_result_operation(f"sync_{lib.name}")
    def lookup(i: int) -> Any:
        return lib.success(i) if i == 0 else lib.failure(KeyError(f"user {i}"))

    assert [read_outcome(lookup(i))[0] for i in range(3)] == [False, True, True]  # type: ignore[index]
    entries = [e for e in captured_result_logs if e["operation_name"] == f"sync_{lib.name}"]
    assert [e["result_type"] for e in entries] == ["success", "error", "error"]
    assert [e["level"] for e in entries] == ["info", "warning", "warning"]
    assert entries[0]["success_type"] == "int"
    assert entries[1]["error_type"] == "KeyError"
    assert entries[1]["error_code"] == "KeyError"
    assert entries[2]["error_message"] == "'user 2'"
    assert _metrics(metrics_collector, f"sync_{lib.name}") == (3, 2, {"KeyError": 2})


def test_log_entry_of_an_async_operation_with_an_api_error(
    lib: Library, captured_result_logs: CapturedLogs, metrics_collector: ResultMetricsCollector
) -> None:
    @log_result_operation(f"async_{lib.name}", log_result=True)
    async def lookup(i: int) -> Any:
        await asyncio.sleep(0)
        return lib.success({"id": i}) if i == 0 else lib.failure(APIError.not_found("user", "7"))

    async def run() -> None:
        await lookup(0)
        await lookup(1)

    asyncio.run(run())
    ok, failed = captured_result_logs[-2:]
    assert ok["metadata"]["result"] == {"id": 0}
    assert (failed["result_type"], failed["error_code"]) == ("error", "NOT_FOUND")
    assert _metrics(metrics_collector, f"async_{lib.name}") == (2, 1, {"NOT_FOUND": 1})


def test_monitor_result_counts_failures(
    lib: Library, metrics_collector: ResultMetricsCollector
) -> None:
    @monitor_result(f"sync_monitor_{lib.name}")
    def sync(i: int) -> Any:
        return lib.success(i) if i == 0 else lib.failure("timeout")

    @monitor_result(f"async_monitor_{lib.name}")
    async def asynchronous(i: int) -> Any:
        return lib.success(i) if i == 0 else lib.failure("timeout")

    returned = [sync(i) for i in range(3)]
    assert [type(r) for r in returned] == [
        lib.success_class,
        lib.failure_class,
        lib.failure_class,
    ]
    for i in range(3):
        asyncio.run(asynchronous(i))
    assert _metrics(metrics_collector, f"sync_monitor_{lib.name}") == (3, 2, {"str": 2})
    assert _metrics(metrics_collector, f"async_monitor_{lib.name}") == (3, 2, {"str": 2})
    top = metrics_collector.top_errors(limit=5)
    assert {(e.operation_name, e.error_message) for e in top} >= {
        (f"sync_monitor_{lib.name}", "timeout")
    }
    rule = AlertRule(
        name="failing",
        operation=f"sync_monitor_{lib.name}",
        metric="success_rate",
        op="<",
        threshold=0.5,
        window="5m",
    )
    manager = AlertManager(metrics_collector, AlertConfiguration(rules=[rule], notifiers=[]))
    assert [e.status for e in manager.evaluate()] == ["firing"]


def test_a_failure_sets_the_span_status(
    lib: Library, exporter: InMemorySpanExporter, metrics_collector: ResultMetricsCollector
) -> None:
    @log_result_operation(f"span_{lib.name}")
    def lookup(i: int) -> Any:
        return lib.success(i) if i == 0 else lib.failure(APIError.conflict("taken"))

    lookup(0)
    lookup(1)
    spans = exporter.get_finished_spans()
    assert [s.status.status_code for s in spans] == [StatusCode.UNSET, StatusCode.ERROR]
    assert spans[1].attributes is not None
    assert spans[1].attributes["error.type"] == "CONFLICT"


# -- chains and batches of rfs-framework and returns ----------------------------------------------


def test_an_rfs_mono_result_is_run_classified_and_given_back_as_one(
    captured_result_logs: CapturedLogs, metrics_collector: ResultMetricsCollector
) -> None:
    @log_result_operation("rfs_mono")
    def chain(i: int) -> Any:
        source = rfs_reactive.MonoResult.from_value(i)
        return source.bind_result(
            lambda v: (
                rfs_result.Success(v) if v == 0 else rfs_result.Failure(APIError.forbidden("x"))
            )
        )

    @monitor_result("rfs_mono_monitored")
    async def monitored(i: int) -> Any:
        return chain(i)

    async def run() -> list[Any]:
        first = chain(0)
        assert isinstance(first, rfs_reactive.MonoResult)  # the caller's chain goes on
        outcomes = [await first.map(lambda v: v + 1), await chain(1)]
        outcomes.append(await (await monitored(1)))
        return outcomes

    ok, failed, again = asyncio.run(run())
    assert ok == rfs_result.Success(1)
    assert isinstance(failed, rfs_result.Failure)
    assert isinstance(again, rfs_result.Failure)
    kinds = [e["result_type"] for e in captured_result_logs]
    assert kinds == ["success", "error", "error"]
    assert captured_result_logs[1]["error_code"] == "FORBIDDEN"
    assert _metrics(metrics_collector, "rfs_mono")[:2] == (3, 2)
    assert _metrics(metrics_collector, "rfs_mono_monitored") == (1, 1, {"FORBIDDEN": 1})


def test_an_rfs_flux_result_fails_when_any_item_failed(
    captured_result_logs: CapturedLogs, metrics_collector: ResultMetricsCollector
) -> None:
    @log_result_operation("rfs_flux")
    def batch(failing: bool) -> Any:
        items = [rfs_result.Success(1), rfs_result.Failure(ValueError("row 2"))]
        return rfs_reactive.FluxResult.from_results(items if failing else items[:1])

    @monitor_result("rfs_flux_monitored")
    def monitored(failing: bool) -> Any:
        return batch(failing)

    batch(False)
    monitored(True)
    entries = captured_result_logs
    assert [e["result_type"] for e in entries] == ["success", "error"]
    assert entries[1]["metadata"] == {"total": 2, "successes": 1, "failures": 1}
    assert entries[1]["error_message"] == "row 2"
    assert _metrics(metrics_collector, "rfs_flux_monitored") == (1, 1, {"ValueError": 1})
    assert_flux_result_stats(batch(True), 1, 1)


def test_a_returns_future_result_is_classified_when_awaited(
    captured_result_logs: CapturedLogs, metrics_collector: ResultMetricsCollector
) -> None:
    async def fetch(i: int) -> returns.result.Result[int, str]:
        return returns.result.Success(i) if i == 0 else returns.result.Failure("gone")

    @log_result_operation("future")
    def future(i: int) -> returns.future.FutureResult[int, str]:
        return returns.future.FutureResult(fetch(i))

    @monitor_result("future_monitored")
    def monitored(i: int) -> returns.future.FutureResult[int, str]:
        return returns.future.FutureResult(fetch(i))

    async def run() -> list[Any]:
        return [await future(0), await future(1), await monitored(1)]

    assert asyncio.run(run()) == [
        returns.io.IOSuccess(0),
        returns.io.IOFailure("gone"),
        returns.io.IOFailure("gone"),
    ]
    assert [e["result_type"] for e in captured_result_logs] == ["success", "error"]
    assert _metrics(metrics_collector, "future_monitored") == (1, 1, {"str": 1})


def test_mono_from_rfs_logs_the_steps_of_an_rfs_chain(
    captured_result_logs: CapturedLogs,
) -> None:
    @log_result_operation("converted")
    async def run(i: int) -> Any:
        chain = rfs_reactive.MonoResult.from_value(i).map(lambda v: v * 2)
        return await (
            MonoResult.from_rfs(chain)
            .log_step("rfs_chain")
            .bind_result(
                lambda v: returns.result.Success(v) if v else returns.result.Failure("zero")
            )
            .log_step("validated")
        )

    assert asyncio.run(run(2)) == Success(4)
    assert asyncio.run(run(0)) == Failure("zero")
    steps = [(e["step_name"], e["result_type"]) for e in captured_result_logs]
    assert steps == [
        ("rfs_chain", "success"),
        ("validated", "success"),
        (None, "success"),
        ("rfs_chain", "success"),
        ("validated", "error"),
        (None, "error"),
    ]


def test_from_rfs_takes_results_and_refuses_other_values() -> None:
    assert asyncio.run(MonoResult.from_rfs(rfs_result.Failure("e")).to_result()) == Failure("e")
    mono = MonoResult.from_value(1)
    assert MonoResult.from_rfs(mono) is mono
    with pytest.raises(TypeError, match="from_rfs"):
        MonoResult.from_rfs(object())
    flux = FluxResult.from_rfs(rfs_reactive.FluxResult.from_results([rfs_result.Success(1)]))
    assert flux.results == (Success(1),)
    assert FluxResult.from_rfs(flux) is flux
    assert FluxResult([expression.Error("x")]).count_failures() == 1
    with pytest.raises(TypeError, match="FluxResult holds Results"):
        FluxResult([1])
    assert asyncio.run(MonoResult.from_result(result_lib.Err("no")).to_result()) == Failure("no")


def test_assert_mono_result_timeout_takes_an_rfs_chain() -> None:
    async def slow() -> Any:
        await asyncio.sleep(5)
        return rfs_result.Success("late")

    chain = rfs_reactive.MonoResult(slow).timeout(0.05)
    error = asyncio.run(assert_mono_result_timeout(chain, 0.05))
    assert "timed out" in str(error).lower() or isinstance(error, TimeoutError)
    quick = rfs_reactive.MonoResult.from_value(1)
    with pytest.raises(AssertionError, match="got success"):
        asyncio.run(assert_mono_result_timeout(quick, 0.05))


# -- handle_result ----------------------------------------------------------------------------


def _app(lib: Library) -> FastAPI:
    app = FastAPI()
    annotation = lib.annotation(User, APIError)

    async def get_user(user_id: str) -> Any:
        if user_id == "1":
            return lib.success(User(id="1"))
        if user_id == "2":
            return lib.failure(APIError.not_found("user", user_id))
        return lib.failure(RuntimeError("db at 10.1.2.3 refused password=hunter2"))

    get_user.__annotations__["return"] = annotation
    app.get("/users/{user_id}")(handle_result(log_result_operation(f"http_{lib.name}")(get_user)))

    def get_sync(user_id: str) -> Any:
        return lib.success(User(id=user_id)) if user_id == "1" else lib.failure("nope")

    get_sync.__annotations__["return"] = annotation
    app.get("/sync/{user_id}")(handle_result(get_sync))
    return app


def test_handle_result_serves_every_library(
    lib: Library, metrics_collector: ResultMetricsCollector
) -> None:
    client = TestClient(_app(lib))
    ok = client.get("/users/1")
    assert (ok.status_code, ok.json()) == (200, {"id": "1"})
    missing = client.get("/users/2")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "NOT_FOUND"
    assert missing.json()["correlation_id"] == missing.headers["x-correlation-id"]
    broken = client.get("/users/3")
    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    assert "10.1.2.3" not in broken.text
    assert "hunter2" not in broken.text
    assert client.get("/sync/1").json() == {"id": "1"}
    assert client.get("/sync/2").status_code == 500
    assert _metrics(metrics_collector, f"http_{lib.name}")[:2] == (3, 2)
    schema = client.get("/openapi.json").json()
    for path in ("/users/{user_id}", "/sync/{user_id}"):
        responses = schema["paths"][path]["get"]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/User"
        }


def test_handle_result_serves_rfs_chains_and_batches() -> None:
    app = FastAPI()

    @app.get("/mono/{i}")
    @handle_result
    async def mono(i: int) -> rfs_reactive.MonoResult[User, APIError]:
        if i == 0:
            return rfs_reactive.MonoResult.from_value(User(id="m"))
        return rfs_reactive.MonoResult.from_error(APIError.conflict("taken"))

    @app.get("/sync-mono")
    @handle_result
    def sync_mono() -> rfs_reactive.MonoResult[User, APIError]:
        return rfs_reactive.MonoResult.from_value(User(id="s"))

    @app.get("/flux/{i}")
    @handle_result
    def flux(i: int) -> rfs_reactive.FluxResult[User, APIError]:
        items = [rfs_result.Success(User(id="1")), rfs_result.Failure(APIError.forbidden("no"))]
        return rfs_reactive.FluxResult.from_results(items[: i + 1])

    client = TestClient(app)
    assert client.get("/mono/0").json() == {"id": "m"}
    assert client.get("/mono/1").status_code == 409
    assert client.get("/sync-mono").json() == {"id": "s"}
    assert client.get("/flux/0").json() == [{"id": "1"}]
    assert client.get("/flux/1").status_code == 403
    schema = client.get("/openapi.json").json()["paths"]
    flux_schema = schema["/flux/{i}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert flux_schema["schema"]["items"] == {"$ref": "#/components/schemas/User"}


def test_result_annotations_name_the_success_type() -> None:
    assert result_annotation(returns.result.ResultE[User]) == (True, User)
    assert result_annotation(result_lib.Ok[User] | result_lib.Err[str]) == (True, User)
    assert result_annotation(result_lib.Err[str]) == (True, None)
    assert result_annotation(rfs_reactive.FluxResult[User, str]) == (True, list[User])
    assert result_annotation(User | None) == (False, None)


# -- assertions and mocks ---------------------------------------------------------------------


def test_assertions_accept_every_library(lib: Library) -> None:
    assert assert_result_success(lib.success(3), int, value=3) == 3
    error = assert_result_error(lib.failure(APIError.not_found("user", "1")), code="NOT_FOUND")
    assert isinstance(error, APIError)
    with pytest.raises(AssertionError, match="Expected success, got error: str 'nope'"):
        assert_result_success(lib.failure("nope"))
    with pytest.raises(AssertionError, match="Expected error, got success: 1"):
        assert_result_error(lib.success(1))
    assert_flux_result_stats([lib.success(1), lib.failure("e"), lib.success(2)], 2, 1)


class Users:
    """A service whose methods return other libraries' Results."""

    def by_rfs(self, user_id: str) -> rfs_result.Result[User, str]:
        raise RuntimeError("would hit the database")

    async def by_returns(self, user_id: str) -> returns.result.Result[User, str]:
        raise RuntimeError("would hit the database")

    def by_io(self, user_id: str) -> returns.io.IOResult[User, str]:
        raise RuntimeError("would hit the database")

    def by_result(self, user_id: str) -> result_lib.Result[User, str]:
        raise RuntimeError("would hit the database")

    def by_expression(self, user_id: str) -> expression.Result[User, str]:
        raise RuntimeError("would hit the database")

    def untyped(self, user_id: str):  # type: ignore[no-untyped-def]
        raise RuntimeError("would hit the database")


METHODS = {
    "rfs": "by_rfs",
    "returns": "by_returns",
    "returns.io": "by_io",
    "result": "by_result",
    "expression": "by_expression",
}


def test_the_mocker_returns_the_mocked_methods_own_result_type(lib: Library) -> None:
    users = Users()
    method = METHODS[lib.name]
    with mock_result_service(users, method) as mock:
        mock.return_success(User(id="1"))
        answer = getattr(users, method)("1")
        if asyncio.iscoroutine(answer):
            answer = asyncio.run(answer)
        assert isinstance(answer, lib.success_class)
        assert assert_result_success(answer, User) == User(id="1")
        mock.return_error("gone")
        answer = getattr(users, method)("2")
        if asyncio.iscoroutine(answer):
            answer = asyncio.run(answer)
        assert isinstance(answer, lib.failure_class)
        assert assert_result_error(answer) == "gone"
        mock.return_sequence([])
        answer = getattr(users, method)("3")
        if asyncio.iscoroutine(answer):
            answer = asyncio.run(answer)
        assert_result_error(answer, match="exhausted")
    assert mock.call_count == 3


def test_the_mocker_takes_the_library_from_the_caller(
    lib: Library, result_mocker: ResultMockerFactory
) -> None:
    users = Users()
    mock = result_mocker(users, "untyped", result_type=lib.name).return_error("x")
    assert isinstance(users.untyped("1"), lib.failure_class)  # type: ignore[no-untyped-call]
    with mock_result_service(users, "untyped", result_type=lib.annotation(int, str)) as again:
        again.return_success(1)
        assert isinstance(users.untyped("1"), lib.success_class)  # type: ignore[no-untyped-call]
    assert mock.call_count == 1


def test_the_mocker_defaults_to_our_types_and_refuses_unknown_libraries() -> None:
    users = Users()
    with mock_result_service(users, "untyped") as mock:
        mock.return_success(1)
        assert users.untyped("1") == Success(1)  # type: ignore[no-untyped-call]
    with pytest.raises(ValueError, match="not a known Result library"):
        mock_result_service(users, "untyped", result_type="maybe")
    assert result_builders(int) is None


# -- registration and duck typing -------------------------------------------------------------


class Outcome:
    """A Result type of a library we do not know: registered by its qualified name."""

    def __init__(self, ok: bool, payload: Any) -> None:
        self.ok, self.payload = ok, payload


class OutcomeSubclass(Outcome):
    pass


def test_register_result_adapter_by_name_and_by_class(
    captured_result_logs: CapturedLogs, metrics_collector: ResultMetricsCollector
) -> None:
    adapter = register_result_adapter(
        f"{__name__}.Outcome",
        is_failure=lambda o: not o.ok,
        error=lambda o: o.payload,
        value=lambda o: o.payload,
        success=lambda v: Outcome(True, v),
        failure=lambda e: Outcome(False, e),
        library="outcomes",
    )
    assert adapter.library == "outcomes"

    @log_result_operation("registered")
    def op(ok: bool) -> Outcome:
        return OutcomeSubclass(ok, "value" if ok else "broken")

    op(True)
    op(False)
    assert [e["result_type"] for e in captured_result_logs] == ["success", "error"]
    assert _metrics(metrics_collector, "registered") == (2, 1, {"str": 1})
    assert result_annotation(Outcome) == (True, None)
    success, _failure = result_builders(Outcome) or (None, None)
    assert success is not None
    assert success(1).ok

    # Registering the class itself replaces the name's adapter for it.
    register_result_adapter(
        Outcome, is_failure=lambda o: True, error=lambda o: "always", value=lambda o: None
    )
    assert read_outcome(Outcome(True, 1)) == (True, "always")
    with pytest.raises(TypeError):
        register_result_adapter(Outcome, is_failure=None, error=len, value=len)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="qualified"):
        register_result_adapter("Outcome", is_failure=bool, error=len, value=len)
    with pytest.raises(TypeError):
        register_result_adapter(3, is_failure=bool, error=len, value=len)  # type: ignore[arg-type]


class DuckResult:
    def __init__(self, failed: bool, payload: Any) -> None:
        self.failed, self.payload = failed, payload

    def is_failure(self) -> bool:
        return self.failed

    def is_success(self) -> bool:
        return not self.failed

    def unwrap(self) -> Any:
        return self.payload

    def unwrap_error(self) -> Any:
        return self.payload


class DuckErr:
    def __init__(self, error: Any) -> None:
        self.err_value = error

    def is_err(self) -> bool:
        return True

    def is_ok(self) -> bool:
        return False


class DuckOk:
    def __init__(self, value: Any) -> None:
        self.value = value

    def is_err(self) -> bool:
        return False

    def is_ok(self) -> bool:
        return True

    def unwrap(self) -> Any:
        return self.value


def test_duck_typed_results_are_read(
    captured_result_logs: CapturedLogs, metrics_collector: ResultMetricsCollector
) -> None:
    assert read_outcome(DuckResult(True, "e")) == (True, "e")
    assert read_outcome(DuckResult(False, 2)) == (False, 2)
    assert read_outcome(DuckErr("e")) == (True, "e")
    assert read_outcome(DuckOk(3)) == (False, 3)

    @monitor_result("duck")
    def op(i: int) -> Any:
        return [DuckResult(False, 1), DuckResult(True, "x"), DuckErr("y")][i]

    for i in range(3):
        op(i)
    assert _metrics(metrics_collector, "duck") == (3, 2, {"str": 2})
