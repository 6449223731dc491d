"""ErrorCode and APIError: the status table, factories, problem bodies, from_service_error."""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import pytest

from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.exceptions import OperationTimeoutError

STATUS = {
    "VALIDATION_ERROR": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "REQUEST_TIMEOUT": 408,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "DATABASE_ERROR": 500,
    "EXTERNAL_SERVICE_ERROR": 502,
    "SERVICE_UNAVAILABLE": 503,
    "TIMEOUT_ERROR": 504,
}


def test_the_codes_are_exactly_the_contract_table() -> None:
    """ErrorCode has exactly the contract's members."""
    assert {code.name for code in ErrorCode} == set(STATUS)


@pytest.mark.parametrize("name", sorted(STATUS))
def test_every_code_has_its_status_and_is_a_str_enum(name: str) -> None:
    """Each code's value equals its name, it is a str, and it maps to the table's status."""
    code = ErrorCode[name]
    assert code.value == name
    assert code == name
    assert isinstance(code, str)
    assert str(code) == name
    assert code.status_code == STATUS[name]
    assert APIError(code, "m").status_code == STATUS[name]


@pytest.mark.parametrize("name", sorted(STATUS))
def test_every_code_renders_a_complete_problem_body(name: str) -> None:
    """The problem body carries type, title, status, detail, code and correlation_id."""
    problem = APIError(name, "what happened").to_problem("corr-1")
    assert problem == {
        "type": "urn:rfs-monitoring:problem:" + name.lower().replace("_", "-"),
        "title": name.replace("_", " ").title(),
        "status": STATUS[name],
        "detail": "what happened",
        "code": name,
        "correlation_id": "corr-1",
    }


def test_importing_errors_does_not_import_fastapi() -> None:
    """rfs_monitoring.errors stays usable in services without FastAPI."""
    code = "import sys, rfs_monitoring.errors; print('fastapi' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


# -- the APIError value -------------------------------------------------------------------------


def test_api_error_is_a_raisable_exception_with_its_fields() -> None:
    """APIError is an Exception with code, message, details and status_code."""
    error = APIError(ErrorCode.CONFLICT, "email taken", {"field": "email"})
    assert isinstance(error, Exception)
    assert (error.code, error.message, error.details, error.status_code) == (
        ErrorCode.CONFLICT,
        "email taken",
        {"field": "email"},
        409,
    )
    assert str(error) == "email taken"
    with pytest.raises(APIError, match="email taken"):
        raise error


def test_details_default_to_an_empty_copy() -> None:
    """details=None is {} and given details are copied, not shared."""
    given = {"a": 1}
    error = APIError("CONFLICT", "m", given)
    given["a"] = 2
    assert error.details == {"a": 1}
    assert APIError("CONFLICT", "m").details == {}


def test_unknown_code_and_bad_status_are_value_errors() -> None:
    """An unknown code or a non-error status is refused."""
    with pytest.raises(ValueError, match="unknown ErrorCode"):
        APIError("TEAPOT", "m")
    with pytest.raises(ValueError, match=r"400\.\.599"):
        APIError("CONFLICT", "m", status_code=200)
    with pytest.raises(ValueError, match="int"):
        APIError("CONFLICT", "m", status_code="409")  # type: ignore[arg-type]


def test_an_explicit_status_overrides_the_table() -> None:
    """status_code= overrides the code's status and shows in repr and the problem body."""
    error = APIError("VALIDATION_ERROR", "unprocessable", status_code=422)
    assert error.status_code == 422
    assert error.to_problem()["status"] == 422
    assert "status_code=422" in repr(error)


def test_equality_hash_repr_and_pickle() -> None:
    """Equal content means equal errors; they hash alike, repr clearly and survive pickling."""
    a = APIError.not_found("user", "1")
    assert a == APIError.not_found("user", "1")
    assert hash(a) == hash(APIError.not_found("user", "1"))
    assert a != APIError.not_found("user", "2")
    assert a != "NOT_FOUND"
    assert repr(a) == (
        "APIError(code=ErrorCode.NOT_FOUND, message=\"user '1' not found\", "
        "details={'resource': 'user', 'id': '1'})"
    )
    limited = APIError.rate_limited(retry_after=5)
    assert pickle.loads(pickle.dumps(limited)) == limited
    assert repr(APIError.unauthorized()) == (
        "APIError(code=ErrorCode.UNAUTHORIZED, message='Authentication required')"
    )


# -- factories ----------------------------------------------------------------------------------

FACTORIES: list[tuple[Any, ErrorCode]] = [
    (lambda: APIError.validation_error("bad"), ErrorCode.VALIDATION_ERROR),
    (lambda: APIError.unauthorized("expired"), ErrorCode.UNAUTHORIZED),
    (lambda: APIError.forbidden("admins"), ErrorCode.FORBIDDEN),
    (lambda: APIError.not_found("user", 1), ErrorCode.NOT_FOUND),
    (lambda: APIError.request_timeout(), ErrorCode.REQUEST_TIMEOUT),
    (lambda: APIError.conflict("version"), ErrorCode.CONFLICT),
    (lambda: APIError.payload_too_large(), ErrorCode.PAYLOAD_TOO_LARGE),
    (lambda: APIError.rate_limited(), ErrorCode.RATE_LIMITED),
    (lambda: APIError.internal_server_error(), ErrorCode.INTERNAL_SERVER_ERROR),
    (lambda: APIError.database_error(), ErrorCode.DATABASE_ERROR),
    (lambda: APIError.external_service_error(), ErrorCode.EXTERNAL_SERVICE_ERROR),
    (lambda: APIError.service_unavailable(), ErrorCode.SERVICE_UNAVAILABLE),
    (lambda: APIError.timeout_error(), ErrorCode.TIMEOUT_ERROR),
]


@pytest.mark.parametrize(("factory", "code"), FACTORIES, ids=[c.name for _, c in FACTORIES])
def test_each_factory_builds_its_code(factory: Any, code: ErrorCode) -> None:
    """Every factory returns an APIError of its code with a non-empty message."""
    error = factory()
    assert isinstance(error, APIError)
    assert error.code is code
    assert error.status_code == code.status_code
    assert error.message


def test_factory_details() -> None:
    """Factories put their structured arguments in details and headers."""
    assert APIError.not_found("order").message == "order not found"
    assert APIError.not_found("사용자", "123").message == "사용자 '123' not found"
    assert APIError.validation_error("x", {"field": "age"}).details == {"field": "age"}
    assert APIError.external_service_error(service="pay").details == {"service": "pay"}
    assert APIError.rate_limited(retry_after=30).headers == {"Retry-After": "30"}
    assert APIError.service_unavailable(retry_after=7).headers == {"Retry-After": "7"}
    assert APIError.rate_limited().headers == {}


@pytest.mark.parametrize("retry_after", [-1, 1.5, True])
def test_retry_after_must_be_whole_seconds(retry_after: Any) -> None:
    """retry_after must be a whole number of seconds >= 0."""
    with pytest.raises(ValueError, match="retry_after"):
        APIError.rate_limited(retry_after=retry_after)
    with pytest.raises(ValueError, match="retry_after"):
        APIError.service_unavailable(retry_after=retry_after)


# -- from_service_error -------------------------------------------------------------------------


def test_an_api_error_maps_to_itself() -> None:
    """from_service_error returns an APIError unchanged (the same object)."""
    error = APIError.conflict("taken")
    assert APIError.from_service_error(error) is error


def test_an_expired_mono_timeout_is_already_a_504_api_error() -> None:
    """The error of MonoResult.timeout is an APIError (TIMEOUT_ERROR) and a TimeoutError, kept as
    is by from_service_error; its problem body says how long the limit was and nothing more."""
    error = OperationTimeoutError(5)
    assert isinstance(error, TimeoutError)
    assert APIError.from_service_error(error) is error
    assert (error.code, error.status_code, error.seconds) == (ErrorCode.TIMEOUT_ERROR, 504, 5)
    problem = error.to_problem("c-1")
    assert problem["status"] == 504
    assert problem["detail"] == "operation timeout after 5 s"
    assert pickle.loads(pickle.dumps(error)) == error


@pytest.mark.parametrize(
    "error",
    [TimeoutError("pool 10.0.0.7 exhausted"), TimeoutError()],
    ids=["with_text", "bare"],
)
def test_timeouts_map_to_504_with_a_generic_message(error: BaseException) -> None:
    """Every TimeoutError becomes TIMEOUT_ERROR (504) without its text, keeping it as cause."""
    converted = APIError.from_service_error(error)
    assert converted.code is ErrorCode.TIMEOUT_ERROR
    assert converted.status_code == 504
    assert converted.message == "The operation timed out"
    assert converted.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("password=hunter2 host db-7.internal"),
        KeyError("users.ssn"),
        "connection to 10.1.2.3 refused, token=abc",
        {"sql": "SELECT secret FROM vault"},
        None,
    ],
    ids=["exception", "key_error", "string", "dict", "none"],
)
def test_anything_else_maps_to_a_generic_500(error: Any) -> None:
    """Unknown failures become INTERNAL_SERVER_ERROR whose body shows none of their text."""
    converted = APIError.from_service_error(error)
    assert converted.code is ErrorCode.INTERNAL_SERVER_ERROR
    assert converted.status_code == 500
    assert converted.message == "Internal server error"
    assert converted.details == {}
    body = str(converted.to_problem("c"))
    for secret in ("hunter2", "db-7", "ssn", "10.1.2.3", "abc", "vault"):
        assert secret not in body
    if isinstance(error, BaseException):
        assert converted.__cause__ is error


def test_an_error_code_maps_to_that_code() -> None:
    """An ErrorCode member becomes an APIError of that code titled after it."""
    converted = APIError.from_service_error(ErrorCode.FORBIDDEN)
    assert (converted.code, converted.message) == (ErrorCode.FORBIDDEN, "Forbidden")


# -- masking of problem bodies ------------------------------------------------------------------


def test_problem_bodies_mask_secrets_in_detail_and_details() -> None:
    """A secret in an APIError's own message or details is masked in the problem body."""
    error = APIError.validation_error(
        "login failed for password=hunter2", {"password": "hunter2", "field": "password"}
    )
    problem = error.to_problem("c")
    assert "hunter2" not in str(problem)
    assert problem["details"]["field"] == "password"


def test_a_failing_masker_never_lets_text_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """If masking breaks, detail becomes "[masked]" and details are left out."""
    import rfs_monitoring.masking as masking

    def broken(value: Any) -> Any:
        raise RuntimeError("masker bug")

    monkeypatch.setattr(masking, "mask_text", broken)
    monkeypatch.setattr(masking, "mask", broken)
    problem = APIError.conflict("secret text", {"k": "v"}).to_problem("c")
    assert problem["detail"] == "[masked]"
    assert "details" not in problem


def test_a_masker_returning_the_wrong_type_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A masker answering with the wrong type is treated like a failing one."""
    import rfs_monitoring.masking as masking

    monkeypatch.setattr(masking, "mask_text", lambda text: None)
    monkeypatch.setattr(masking, "mask", lambda value: "flattened")
    problem = APIError.conflict("text", {"k": "v"}).to_problem("c")
    assert problem["detail"] == "[masked]"
    assert "details" not in problem
