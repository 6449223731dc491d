"""`Result`, `Success` and `Failure`: values that say whether an operation worked.

A function written in the Result pattern returns ``Success(value)`` or ``Failure(error)`` instead
of raising. Both are frozen, slotted dataclasses: equal and hashable by content, and usable with
structural pattern matching.

>>> def parse_port(text: str) -> Result[int, str]:
...     return Success(int(text)) if text.isdigit() else Failure(f"not a port: {text!r}")
>>> match parse_port("8080"):
...     case Success(port):
...         print("port", port)
...     case Failure(reason):
...         print("error", reason)
port 8080
>>> parse_port("http").map(lambda port: port + 1)
Failure(error="not a port: 'http'")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

from rfs_monitoring.exceptions import UnwrapError

__all__ = ["Failure", "Result", "Success"]

T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U = TypeVar("U")
F = TypeVar("F")


class Result(ABC, Generic[T_co, E_co]):
    """The outcome of an operation: either a `Success` holding a value or a `Failure` holding an
    error. Only `Success` and `Failure` derive from it.

    >>> isinstance(Success(1), Result), isinstance(Failure("no"), Result)
    (True, True)
    """

    __slots__ = ()

    @abstractmethod
    def is_success(self) -> bool:
        """True for a `Success`.

        >>> Success(1).is_success(), Failure("no").is_success()
        (True, False)
        """

    def is_failure(self) -> bool:
        """True for a `Failure`.

        >>> Success(1).is_failure(), Failure("no").is_failure()
        (False, True)
        """
        return not self.is_success()

    @abstractmethod
    def unwrap(self) -> T_co:
        """The success value; raises `UnwrapError` on a `Failure` (chained to the error when the
        error is an exception).

        >>> Success(3).unwrap()
        3
        >>> Failure("boom").unwrap()
        Traceback (most recent call last):
        ...
        rfs_monitoring.exceptions.UnwrapError: called unwrap() on Failure('boom')
        """

    @abstractmethod
    def unwrap_error(self) -> E_co:
        """The error; raises `UnwrapError` on a `Success`.

        >>> Failure("boom").unwrap_error()
        'boom'
        >>> Success(3).unwrap_error()
        Traceback (most recent call last):
        ...
        rfs_monitoring.exceptions.UnwrapError: called unwrap_error() on Success(3)
        """

    @abstractmethod
    def unwrap_or(self, default: U) -> T_co | U:
        """The success value, or ``default`` on a `Failure`.

        >>> Success(3).unwrap_or(0), Failure("boom").unwrap_or(0)
        (3, 0)
        """

    @abstractmethod
    def unwrap_or_else(self, fn: Callable[[E_co], U]) -> T_co | U:
        """The success value, or ``fn(error)`` on a `Failure`.

        >>> Failure("boom").unwrap_or_else(len)
        4
        """

    @abstractmethod
    def map(self, fn: Callable[[T_co], U]) -> Result[U, E_co]:
        """Apply ``fn`` to the success value; a `Failure` passes through unchanged.

        >>> Success(2).map(lambda x: x * 10), Failure("boom").map(lambda x: x * 10)
        (Success(value=20), Failure(error='boom'))
        """

    @abstractmethod
    def map_error(self, fn: Callable[[E_co], F]) -> Result[T_co, F]:
        """Apply ``fn`` to the error; a `Success` passes through unchanged.

        >>> Failure("boom").map_error(str.upper)
        Failure(error='BOOM')
        """

    @abstractmethod
    def bind(self, fn: Callable[[T_co], Result[U, F]]) -> Result[U, E_co | F]:
        """Chain an operation that itself returns a Result; a `Failure` short-circuits.

        >>> def half(x: int) -> Result[int, str]:
        ...     return Success(x // 2) if x % 2 == 0 else Failure(f"{x} is odd")
        >>> Success(8).bind(half).bind(half), Success(6).bind(half).bind(half)
        (Success(value=2), Failure(error='3 is odd'))
        """

    @abstractmethod
    def or_else(self, fn: Callable[[E_co], Result[U, F]]) -> Result[T_co | U, F]:
        """Recover from a `Failure` with an operation that returns a Result.

        >>> Failure("boom").or_else(lambda e: Success(len(e)))
        Success(value=4)
        """


@dataclass(frozen=True, slots=True)
class Success(Result[T_co, NoReturn]):
    """A successful outcome holding ``value``.

    >>> Success({"id": 1}) == Success({"id": 1})
    True
    >>> hash(Success(1)) == hash(Success(1))
    True
    """

    value: T_co

    def is_success(self) -> bool:
        return True

    def unwrap(self) -> T_co:
        return self.value

    def unwrap_error(self) -> NoReturn:
        raise UnwrapError(self, f"called unwrap_error() on Success({self.value!r})")

    def unwrap_or(self, default: object) -> T_co:
        return self.value

    def unwrap_or_else(self, fn: Callable[[Any], object]) -> T_co:
        return self.value

    def map(self, fn: Callable[[T_co], U]) -> Success[U]:
        return Success(fn(self.value))

    def map_error(self, fn: Callable[[Any], object]) -> Success[T_co]:
        return self

    def bind(self, fn: Callable[[T_co], Result[U, F]]) -> Result[U, F]:
        return fn(self.value)

    def or_else(self, fn: Callable[[Any], object]) -> Success[T_co]:
        return self


@dataclass(frozen=True, slots=True)
class Failure(Result[NoReturn, E_co]):
    """A failed outcome holding ``error``: an exception, an `APIError`, a string, any value.

    >>> Failure(ValueError("bad")).is_failure()
    True
    """

    error: E_co

    def is_success(self) -> bool:
        return False

    def unwrap(self) -> NoReturn:
        message = f"called unwrap() on Failure({self.error!r})"
        if isinstance(self.error, BaseException):
            raise UnwrapError(self, message) from self.error
        raise UnwrapError(self, message)

    def unwrap_error(self) -> E_co:
        return self.error

    def unwrap_or(self, default: U) -> U:
        return default

    def unwrap_or_else(self, fn: Callable[[E_co], U]) -> U:
        return fn(self.error)

    def map(self, fn: Callable[[Any], object]) -> Failure[E_co]:
        return self

    def map_error(self, fn: Callable[[E_co], F]) -> Failure[F]:
        return Failure(fn(self.error))

    def bind(self, fn: Callable[[Any], object]) -> Failure[E_co]:
        return self

    def or_else(self, fn: Callable[[E_co], Result[U, F]]) -> Result[U, F]:
        return fn(self.error)
