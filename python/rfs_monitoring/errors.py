"""`ErrorCode` and `APIError`: errors a Result-pattern service returns to HTTP clients.

An `APIError` is a value (returned inside a `Failure`) and an `Exception` (so it can be raised).
Its `ErrorCode` fixes the HTTP status; `APIError.to_problem` renders the RFC 9457 problem body
that `rfs_monitoring.web.handle_result` sends. This module never imports FastAPI.

>>> error = APIError.not_found("user", "123")
>>> error.code, error.status_code, error.message
(<ErrorCode.NOT_FOUND: 'NOT_FOUND'>, 404, "user '123' not found")
>>> problem = error.to_problem("req-1")
>>> problem["status"], problem["code"], problem["title"], problem["correlation_id"]
(404, 'NOT_FOUND', 'Not Found', 'req-1')

Anything a service fails with becomes an `APIError` through `APIError.from_service_error`, which
never copies an exception's text into the error (so a 500 body cannot leak internals):

>>> APIError.from_service_error(RuntimeError("password=hunter2 at db-7")).message
'Internal server error'
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from typing import Any

from rfs_monitoring._exceptions import InvalidArgumentError

__all__ = ["APIError", "ErrorCode"]


class ErrorCode(enum.StrEnum):
    """Error categories of an API; each value equals its name and fixes an HTTP status.

    >>> ErrorCode.NOT_FOUND == "NOT_FOUND", ErrorCode.NOT_FOUND.status_code
    (True, 404)
    >>> ErrorCode.TIMEOUT_ERROR.problem_title
    'Timeout Error'
    """

    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    DATABASE_ERROR = "DATABASE_ERROR"
    EXTERNAL_SERVICE_ERROR = "EXTERNAL_SERVICE_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    TIMEOUT_ERROR = "TIMEOUT_ERROR"

    @property
    def status_code(self) -> int:
        """The HTTP status this code answers with.

        >>> ErrorCode.EXTERNAL_SERVICE_ERROR.status_code
        502
        """
        return _STATUS[self]

    @property
    def problem_title(self) -> str:
        """A short human summary of the code, used as the problem ``title``.

        >>> ErrorCode.RATE_LIMITED.problem_title
        'Rate Limited'
        """
        return self.value.replace("_", " ").title()

    @property
    def problem_type(self) -> str:
        """The RFC 9457 problem ``type``: a URN naming this code.

        >>> ErrorCode.NOT_FOUND.problem_type
        'urn:rfs-monitoring:problem:not-found'
        """
        return "urn:rfs-monitoring:problem:" + self.value.lower().replace("_", "-")


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_SERVER_ERROR: 500,
    ErrorCode.DATABASE_ERROR: 500,
    ErrorCode.EXTERNAL_SERVICE_ERROR: 502,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.TIMEOUT_ERROR: 504,
}

_GENERIC_INTERNAL = "Internal server error"
_GENERIC_TIMEOUT = "The operation timed out"


class APIError(Exception):
    """An error for API clients: an `ErrorCode`, a human ``message`` and optional ``details``.

    ``code`` is an `ErrorCode` or its name; ``status_code`` defaults to the code's status (an
    explicit one must be 400..599); ``headers`` are sent with the problem response (the
    factories set ``Retry-After`` where it applies). Two APIErrors are equal when code, message,
    details, status and headers are.

    >>> APIError("CONFLICT", "email already used", {"field": "email"})
    APIError(code=ErrorCode.CONFLICT, message='email already used', details={'field': 'email'})
    >>> raise APIError.unauthorized("token expired")
    Traceback (most recent call last):
    ...
    rfs_monitoring.errors.APIError: token expired
    """

    code: ErrorCode
    message: str
    details: dict[str, Any]
    status_code: int
    headers: dict[str, str]

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        details: Mapping[str, Any] | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            member = ErrorCode(code)
        except ValueError:
            raise InvalidArgumentError(f"unknown ErrorCode {code!r}") from None
        if status_code is None:
            status_code = member.status_code
        elif isinstance(status_code, bool) or not isinstance(status_code, int):
            raise InvalidArgumentError(f"status_code must be an int, got {status_code!r}")
        elif not 400 <= status_code <= 599:
            raise InvalidArgumentError(
                f"status_code must be an HTTP error status 400..599, got {status_code}"
            )
        super().__init__(message)
        self.code = member
        self.message = str(message)
        self.details = dict(details or {})
        self.status_code = status_code
        self.headers = dict(headers or {})

    # -- value semantics ----------------------------------------------------------------------

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = f", details={self.details!r}" if self.details else ""
        if self.status_code != self.code.status_code:
            extra += f", status_code={self.status_code}"
        return f"APIError(code=ErrorCode.{self.code.name}, message={self.message!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, APIError):
            return NotImplemented
        return (self.code, self.message, self.details, self.status_code, self.headers) == (
            other.code,
            other.message,
            other.details,
            other.status_code,
            other.headers,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.status_code))

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.code.value, self.message, self.details, self.status_code, self.headers),
        )

    # -- rendering ----------------------------------------------------------------------------

    @property
    def title(self) -> str:
        """The problem ``title``: the code's short summary.

        >>> APIError.database_error().title
        'Database Error'
        """
        return self.code.problem_title

    def to_problem(self, correlation_id: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem body: ``type``, ``title``, ``status``, ``detail``, ``code`` and
        ``correlation_id``, plus ``details`` when there are any. Secrets in ``detail`` and
        ``details`` are masked with `rfs_monitoring.masking`.

        >>> APIError.validation_error("age must be positive", {"field": "age"}).to_problem("c-1")
        ... # doctest: +NORMALIZE_WHITESPACE
        {'type': 'urn:rfs-monitoring:problem:validation-error', 'title': 'Validation Error',
         'status': 400, 'detail': 'age must be positive', 'code': 'VALIDATION_ERROR',
         'correlation_id': 'c-1', 'details': {'field': 'age'}}
        """
        problem: dict[str, Any] = {
            "type": self.code.problem_type,
            "title": self.code.problem_title,
            "status": self.status_code,
            "detail": _mask_text(self.message),
            "code": self.code.value,
            "correlation_id": correlation_id,
        }
        if self.details:
            details = _mask_details(self.details)
            if details is not None:
                problem["details"] = details
        return problem

    # -- factories ----------------------------------------------------------------------------

    @classmethod
    def not_found(cls, resource: str, resource_id: Any = None) -> APIError:
        """NOT_FOUND (404) for ``resource``, optionally naming its id.

        >>> APIError.not_found("order").message, APIError.not_found("order", 7).details
        ('order not found', {'resource': 'order', 'id': '7'})
        """
        if resource_id is None:
            return cls(ErrorCode.NOT_FOUND, f"{resource} not found", {"resource": resource})
        return cls(
            ErrorCode.NOT_FOUND,
            f"{resource} '{resource_id}' not found",
            {"resource": resource, "id": str(resource_id)},
        )

    @classmethod
    def validation_error(
        cls, message: str = "Validation failed", details: Mapping[str, Any] | None = None
    ) -> APIError:
        """VALIDATION_ERROR (400).

        >>> APIError.validation_error("name is required").status_code
        400
        """
        return cls(ErrorCode.VALIDATION_ERROR, message, details)

    @classmethod
    def unauthorized(
        cls, reason: str = "Authentication required", details: Mapping[str, Any] | None = None
    ) -> APIError:
        """UNAUTHORIZED (401).

        >>> APIError.unauthorized().message
        'Authentication required'
        """
        return cls(ErrorCode.UNAUTHORIZED, reason, details)

    @classmethod
    def forbidden(
        cls, reason: str = "Permission denied", details: Mapping[str, Any] | None = None
    ) -> APIError:
        """FORBIDDEN (403).

        >>> APIError.forbidden("admins only").status_code
        403
        """
        return cls(ErrorCode.FORBIDDEN, reason, details)

    @classmethod
    def request_timeout(
        cls,
        message: str = "The request took too long to arrive",
        details: Mapping[str, Any] | None = None,
    ) -> APIError:
        """REQUEST_TIMEOUT (408): the client was too slow.

        >>> APIError.request_timeout().status_code
        408
        """
        return cls(ErrorCode.REQUEST_TIMEOUT, message, details)

    @classmethod
    def conflict(
        cls,
        message: str = "The request conflicts with the current state of the resource",
        details: Mapping[str, Any] | None = None,
    ) -> APIError:
        """CONFLICT (409).

        >>> APIError.conflict("version mismatch").status_code
        409
        """
        return cls(ErrorCode.CONFLICT, message, details)

    @classmethod
    def payload_too_large(
        cls,
        message: str = "The request body is too large",
        details: Mapping[str, Any] | None = None,
    ) -> APIError:
        """PAYLOAD_TOO_LARGE (413).

        >>> APIError.payload_too_large().status_code
        413
        """
        return cls(ErrorCode.PAYLOAD_TOO_LARGE, message, details)

    @classmethod
    def rate_limited(
        cls,
        message: str = "Too many requests",
        details: Mapping[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> APIError:
        """RATE_LIMITED (429); ``retry_after`` seconds become the ``Retry-After`` header.

        >>> error = APIError.rate_limited(retry_after=30)
        >>> error.status_code, error.headers
        (429, {'Retry-After': '30'})
        """
        return cls(ErrorCode.RATE_LIMITED, message, details, headers=_retry_after(retry_after))

    @classmethod
    def internal_server_error(
        cls, message: str = _GENERIC_INTERNAL, details: Mapping[str, Any] | None = None
    ) -> APIError:
        """INTERNAL_SERVER_ERROR (500).

        >>> APIError.internal_server_error().message
        'Internal server error'
        """
        return cls(ErrorCode.INTERNAL_SERVER_ERROR, message, details)

    @classmethod
    def timeout_error(
        cls, message: str = _GENERIC_TIMEOUT, details: Mapping[str, Any] | None = None
    ) -> APIError:
        """TIMEOUT_ERROR (504): the service (or one it called) did not answer in time.

        >>> APIError.timeout_error().status_code
        504
        """
        return cls(ErrorCode.TIMEOUT_ERROR, message, details)

    @classmethod
    def database_error(
        cls, message: str = "Database error", details: Mapping[str, Any] | None = None
    ) -> APIError:
        """DATABASE_ERROR (500).

        >>> APIError.database_error().code
        <ErrorCode.DATABASE_ERROR: 'DATABASE_ERROR'>
        """
        return cls(ErrorCode.DATABASE_ERROR, message, details)

    @classmethod
    def external_service_error(
        cls,
        message: str = "An upstream service failed",
        details: Mapping[str, Any] | None = None,
        *,
        service: str | None = None,
    ) -> APIError:
        """EXTERNAL_SERVICE_ERROR (502); ``service`` names the upstream in ``details``.

        >>> APIError.external_service_error(service="payments").details
        {'service': 'payments'}
        """
        merged = dict(details or {})
        if service is not None:
            merged["service"] = service
        return cls(ErrorCode.EXTERNAL_SERVICE_ERROR, message, merged)

    @classmethod
    def service_unavailable(
        cls,
        message: str = "The service is temporarily unavailable",
        details: Mapping[str, Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> APIError:
        """SERVICE_UNAVAILABLE (503); ``retry_after`` seconds become ``Retry-After``.

        >>> APIError.service_unavailable().status_code
        503
        """
        return cls(
            ErrorCode.SERVICE_UNAVAILABLE, message, details, headers=_retry_after(retry_after)
        )

    @classmethod
    def from_service_error(cls, error: Any) -> APIError:
        """The `APIError` for whatever a service failed with, safe to show to a client.

        - an `APIError` is returned as is, and so is the error of an expired
          `MonoResult.timeout` (an APIError with code TIMEOUT_ERROR);
        - an `ErrorCode` becomes an APIError with that code and its title as message;
        - another `TimeoutError` (also `asyncio.TimeoutError`) becomes TIMEOUT_ERROR (504) with
          a generic message;
        - any other exception becomes INTERNAL_SERVER_ERROR (500) with a generic message;
        - any other value, a string included, becomes INTERNAL_SERVER_ERROR (500) with a
          generic message: a string failure is free text written for developers and may hold
          hostnames, queries or secrets, so it is never sent to the client.

        An exception is kept as ``__cause__`` of the new error, so server-side logs still see
        it, while the client sees only the generic message.

        >>> APIError.from_service_error(TimeoutError("db pool 10.0.0.7 exhausted")).message
        'The operation timed out'
        >>> error = APIError.from_service_error(KeyError("users.ssn"))
        >>> error.status_code, error.message, type(error.__cause__).__name__
        (500, 'Internal server error', 'KeyError')
        >>> APIError.from_service_error("user table locked").code
        <ErrorCode.INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR'>
        """
        if isinstance(error, APIError):
            return error
        if isinstance(error, ErrorCode):
            return cls(error, error.problem_title)
        if isinstance(error, TimeoutError):
            converted = cls.timeout_error()
        else:
            converted = cls.internal_server_error()
        if isinstance(error, BaseException):
            converted.__cause__ = error
        return converted


def _retry_after(seconds: int | None) -> dict[str, str] | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise InvalidArgumentError(f"retry_after must be an int >= 0, got {seconds!r}")
    return {"Retry-After": str(seconds)}


def _masking() -> Any:
    # Imported on use: masking pulls in more than a module defining error values should.
    return importlib.import_module("rfs_monitoring.masking")


def _mask_text(text: str) -> str:
    try:
        masked = _masking().mask_text(text)
    except Exception:  # a masking bug must not break the response, nor leak the text
        return "[masked]"
    return masked if isinstance(masked, str) else "[masked]"


def _mask_details(details: dict[str, Any]) -> dict[str, Any] | None:
    try:
        masked = _masking().mask(details)
    except Exception:  # without a masked copy nothing of the details may leave the process
        return None
    return masked if isinstance(masked, dict) else None
