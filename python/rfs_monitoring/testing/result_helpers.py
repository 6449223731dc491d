"""Result-aware mocking and assertions for tests of code written in the Result pattern.

`mock_result_service` replaces one method of a service (an instance, a class or a module) with a
`ResultServiceMocker` for the duration of a ``with`` block, and restores it on exit even when the
block raises. The mock is async exactly when the original method is async, and it checks every
call against the original signature, so a wrong call fails the way the real method would.

>>> from rfs_monitoring.result import Failure, Success
>>> class Users:
...     def get_user(self, user_id: str) -> "Result[dict[str, str], str]":
...         raise RuntimeError("would hit the database")
>>> users = Users()
>>> with mock_result_service(users, "get_user") as mock:
...     _ = mock.return_success({"id": "42"})
...     users.get_user("42")
Success(value={'id': '42'})
>>> mock.assert_called_once_with("42")
>>> assert_result_error(Failure(KeyError("42")), KeyError)
KeyError('42')
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import inspect
import itertools
import re
import sys
import threading
import time
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from rfs_monitoring._exceptions import InvalidArgumentError
from rfs_monitoring._outcome import error_code_of, error_message_of
from rfs_monitoring.exceptions import RfsMonitoringError
from rfs_monitoring.interop import batch_items, read_outcome, result_builders
from rfs_monitoring.result import Failure, Success

if TYPE_CHECKING:
    from types import TracebackType

    from rfs_monitoring.metrics import OperationMetrics, ResultMetricsCollector

__all__ = [
    "CapturedLogs",
    "MockCall",
    "MockTargetError",
    "ResultLike",
    "ResultMockerFactory",
    "ResultServiceMocker",
    "assert_flux_result_stats",
    "assert_mono_result_timeout",
    "assert_operation_recorded",
    "assert_result_error",
    "assert_result_success",
    "capture_result_logs",
    "mock_result_service",
]

T = TypeVar("T")
SequenceEnd = Literal["fail", "repeat_last", "cycle"]
_MISSING: Any = object()
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_mark_coroutine: Callable[[Any], Any] | None = getattr(inspect, "markcoroutinefunction", None)


class MockTargetError(RfsMonitoringError, LookupError):
    """The target of `mock_result_service` could not be found, or a bare name matched several
    objects."""


@runtime_checkable
class ResultLike(Protocol):
    """What the assertions need from a result: `Success`/`Failure` here, or another library's."""

    def is_success(self) -> bool: ...

    def unwrap(self) -> Any: ...

    def unwrap_error(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class MockCall:
    """One recorded call: positional and keyword arguments as the caller passed them."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"call({', '.join(parts)})"


# --------------------------------------------------------------------------------------------
# Target resolution


def _describe(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}"
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    return f"{type(obj).__module__}.{type(obj).__qualname__} instance"


def _find_global(name: str) -> list[tuple[str, object]]:
    """Every distinct object bound to ``name`` in a loaded module's globals (or a module of that
    name), with the first module that holds it."""
    found: list[tuple[str, object]] = []
    seen: set[int] = set()
    module_named = sys.modules.get(name)
    if module_named is not None:
        found.append((name, module_named))
        seen.add(id(module_named))
    for module_name, module in list(sys.modules.items()):
        try:
            namespace = vars(module)
        except TypeError:  # a None placeholder or an object without __dict__
            continue
        value = namespace.get(name)
        if value is None or id(value) in seen:
            continue
        seen.add(id(value))
        found.append((f"{module_name}.{name}", value))
    return found


def _resolve_dotted(path: str) -> object:
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[split:]:
            try:
                obj = getattr(obj, attribute)
            except AttributeError:
                raise MockTargetError(
                    f"cannot resolve {path!r}: {_describe(obj)} has no attribute {attribute!r}"
                ) from None
        return obj
    raise MockTargetError(f"cannot resolve {path!r}: no importable module prefix")


def resolve_target(target: object, method: str) -> object:
    """The object whose ``method`` `mock_result_service` replaces.

    A string with a dot is an import path (``"app.services.users"``); a bare string is looked up
    among the globals of every loaded module and must match exactly one object; anything else is
    the target itself.
    """
    if not isinstance(target, str):
        return target
    if "." in target:
        return _resolve_dotted(target)
    candidates = _find_global(target)
    if not candidates:
        raise MockTargetError(
            f"no loaded module defines a global named {target!r}; pass the object itself or a "
            f"dotted path such as 'package.module.{target}'"
        )
    if len(candidates) > 1:
        listing = "\n".join(f"  - {where} ({_describe(obj)})" for where, obj in candidates)
        raise MockTargetError(
            f"the name {target!r} is ambiguous: {len(candidates)} different objects are bound to "
            f"it in loaded modules:\n{listing}\n"
            f"pass a dotted path instead, e.g. mock_result_service({candidates[0][0]!r}, "
            f"{method!r})"
        )
    return candidates[0][1]


def _is_async_callable(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn)):  # type: ignore[arg-type]
        return True
    # An object whose class defines ``async def __call__``.
    call = inspect.getattr_static(type(fn), "__call__", None)
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


_OWN_BUILDERS: tuple[Callable[[Any], Any], Callable[[Any], Any]] = (Success, Failure)


def _builders_for(source: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``(success, failure)`` constructors for ``source`` (a library name, a Result type or a
    return annotation); ours when it names no other library."""
    if source is None:
        return _OWN_BUILDERS
    try:
        found = result_builders(source)
    except ImportError as exc:
        raise InvalidArgumentError(
            f"result_type={source!r}: the library is not installed ({exc})"
        ) from None
    if found is None:
        if isinstance(source, str):
            raise InvalidArgumentError(
                f"result_type={source!r} is not a known Result library: use 'rfs', 'returns', "
                "'returns.io', 'result', 'expression', or a Result class"
            )
        return _OWN_BUILDERS
    return found


def _return_annotation(fn: object, signature: inspect.Signature | None) -> Any:
    """The return annotation of the mocked method, resolved when it is a string."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: use what the signature holds
        hints = {}
    annotation = hints.get("return")
    if annotation is None and signature is not None:
        annotation = signature.return_annotation
    if annotation is inspect.Signature.empty or isinstance(annotation, str):
        return None
    return annotation


def _signature_of(fn: object) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # builtins without text signatures
        return None


# --------------------------------------------------------------------------------------------
# The mocker


class ResultServiceMocker:
    """A Result-aware stand-in for one service method, installed by `mock_result_service`.

    Configure what it returns with `return_success`, `return_error`, `return_value`,
    `return_sequence`, `raise_exception` or `side_effect` (each returns the mocker, so calls
    chain), slow it down with `with_delay`, then check the calls with the ``assert_*`` methods.
    Calls are recorded under a lock, so threads and tasks may call the mock concurrently.

    It is a context manager itself: ``with ResultServiceMocker(users, "get_user") as mock:``.
    """

    def __init__(
        self,
        service_name: object,
        method_name: str,
        *,
        is_async: bool | None = None,
        result_type: Any = None,
    ):
        self.service_name = service_name
        self.method_name = method_name
        self.call_count = 0
        self.await_count = 0
        self.call_args_history: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.await_args_history: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._is_async_override = is_async
        # Until `start` looks at the original, a mock called directly is async, as the design
        # document's ``async def __call__`` is.
        self._is_async = True if is_async is None else is_async
        self._lock = threading.Lock()
        self._behaviour: Callable[[tuple[Any, ...], dict[str, Any]], Any] = self._unconfigured
        self._delay = 0.0
        self._signature: inspect.Signature | None = None
        self._target: object = None
        self._restore: Callable[[], None] | None = None
        # How return_success/return_error build results: ours, unless the caller names another
        # library (or its Result type) or the original method's return annotation does.
        self._result_type = result_type
        self._builders = _builders_for(result_type)

    # -- configuration ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``service.method`` as shown in assertion messages."""
        service = self.service_name
        label = service if isinstance(service, str) else _describe(service)
        return f"{label}.{self.method_name}"

    @property
    def target(self) -> object:
        """The object whose method is replaced (resolved on start; ``None`` before)."""
        return self._target

    @property
    def is_async(self) -> bool:
        """True when the mock returns a coroutine: decided from the original method on start
        (before it, True unless ``is_async=False`` was given)."""
        return self._is_async

    def return_value(self, result: Any) -> ResultServiceMocker:
        """Return ``result`` as is on every call (a `Result` or anything else)."""
        self._behaviour = lambda args, kwargs: result
        return self

    def return_success(self, value: Any) -> ResultServiceMocker:
        """Return a success of ``value`` on every call: our ``Success(value)``, or the success of
        the library the mocked method returns (taken from its return annotation, or from
        ``result_type=``): ``rfs.core.result.Success``, returns' ``Success``, ``Ok``, ..."""
        self._behaviour = lambda args, kwargs: self._builders[0](value)
        return self

    def return_error(self, error: Any) -> ResultServiceMocker:
        """Return a failure of ``error`` on every call (``Failure(error)``, or the mocked
        method's own library's failure type, as `return_success` chooses)."""
        self._behaviour = lambda args, kwargs: self._builders[1](error)
        return self

    def return_sequence(
        self, results: Iterable[Any], then: SequenceEnd = "fail"
    ) -> ResultServiceMocker:
        """Return ``results`` one per call; an exception instance among them is raised instead.

        Once they are used up, ``then`` decides: ``"fail"`` returns a `Failure` saying the
        sequence is exhausted, ``"repeat_last"`` repeats the last item, ``"cycle"`` starts over.
        """
        items = list(results)
        if then not in ("fail", "repeat_last", "cycle"):
            raise InvalidArgumentError(
                f"then must be 'fail', 'repeat_last' or 'cycle', not {then!r}"
            )
        if not items and then != "fail":
            raise InvalidArgumentError(f"then={then!r} needs at least one result")
        source: Iterator[Any] = itertools.cycle(items) if then == "cycle" else iter(items)
        position = 0
        guard = threading.Lock()

        def next_item(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            nonlocal position
            with guard:
                if then == "cycle" or position < len(items):
                    position += 1
                    item = next(source)
                elif then == "repeat_last":
                    item = items[-1]
                else:
                    return self._builders[1](
                        f"Mock sequence exhausted: {self.name} was given {len(items)} results "
                        f"and called {self.call_count} times"
                    )
            if isinstance(item, BaseException):
                raise item
            return item

        self._behaviour = next_item
        return self

    def raise_exception(
        self, exception: BaseException | type[BaseException]
    ) -> ResultServiceMocker:
        """Raise ``exception`` on every call, as a broken service would."""

        def raising(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            raise exception

        self._behaviour = raising
        return self

    def side_effect(self, fn: Callable[..., Any]) -> ResultServiceMocker:
        """Compute each result with ``fn(*args, **kwargs)``; an async ``fn`` is awaited when the
        mock is async."""
        self._behaviour = lambda args, kwargs: fn(*args, **kwargs)
        return self

    def with_delay(self, seconds: float) -> ResultServiceMocker:
        """Wait ``seconds`` before answering (``asyncio.sleep`` when async), to test timeouts."""
        if not seconds >= 0:
            raise InvalidArgumentError(
                f"delay must be a non-negative number of seconds, not {seconds!r}"
            )
        self._delay = float(seconds)
        return self

    def _unconfigured(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._builders[1](
            f"{self.name} was called but no result is configured: call return_success, "
            "return_error, return_sequence, raise_exception or side_effect first"
        )

    # -- calls --------------------------------------------------------------------------------

    def _record(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._signature is not None:
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{self.name}(): {exc}") from None
        with self._lock:
            self.call_count += 1
            self.call_args_history.append((args, dict(kwargs)))

    def _answer(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._behaviour(args, kwargs)

    def _call_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._record(args, kwargs)
        if self._delay:
            time.sleep(self._delay)
        return self._answer(args, kwargs)

    def _call_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        self._record(args, kwargs)

        async def answer() -> Any:
            with self._lock:
                self.await_count += 1
                self.await_args_history.append((args, dict(kwargs)))
            if self._delay:
                await asyncio.sleep(self._delay)
            result = self._answer(args, kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return answer()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the mock directly (as the installed method does)."""
        if self._is_async:
            return self._call_async(args, kwargs)
        return self._call_sync(args, kwargs)

    @property
    def calls(self) -> list[MockCall]:
        """Every call so far, oldest first."""
        with self._lock:
            return [MockCall(args, kwargs) for args, kwargs in self.call_args_history]

    @property
    def call_args(self) -> MockCall | None:
        """The latest call, or ``None`` before the first."""
        calls = self.calls
        return calls[-1] if calls else None

    def reset(self) -> None:
        """Forget the recorded calls and awaits (the configured behaviour stays)."""
        with self._lock:
            self.call_count = 0
            self.await_count = 0
            self.call_args_history.clear()
            self.await_args_history.clear()

    # -- installing ---------------------------------------------------------------------------

    def start(self) -> ResultServiceMocker:
        """Install the mock on the target; `stop` (or leaving the ``with`` block) restores it."""
        if self._restore is not None:
            raise RuntimeError(f"the mock of {self.name} is already started")
        target = resolve_target(self.service_name, self.method_name)
        try:
            original = getattr(target, self.method_name)
        except AttributeError:
            raise AttributeError(
                f"{_describe(target)} has no attribute {self.method_name!r} to mock"
            ) from None
        self._is_async = (
            _is_async_callable(original)
            if self._is_async_override is None
            else self._is_async_override
        )
        self._signature = _signature_of(original)
        if self._result_type is None:
            self._builders = _builders_for(_return_annotation(original, self._signature))
        replacement: object = self._replacement_for(target)
        self._restore = self._install(target, replacement)
        self._target = target
        return self

    def _replacement_for(self, target: object) -> object:
        if not isinstance(target, type):
            return self._make_function(takes_owner=False)
        static = inspect.getattr_static(target, self.method_name)
        if isinstance(static, staticmethod):
            return staticmethod(self._make_function(takes_owner=False))
        if isinstance(static, classmethod):
            return classmethod(self._make_function(takes_owner=True))
        # A plain function on a class: calls through an instance pass ``self`` first. It is
        # dropped from the checked signature and from the record, so assertions read like the
        # call site (``assert_called_once_with("42")``).
        parameters = list(self._signature.parameters.values()) if self._signature else []
        if self._signature is not None and parameters and parameters[0].kind in _POSITIONAL:
            self._signature = self._signature.replace(parameters=parameters[1:])
        return self._make_function(takes_owner=True)

    def _make_function(self, *, takes_owner: bool) -> Callable[..., Any]:
        """The function installed in place of the method.

        It is a plain function even for an async method: like the real coroutine function, a
        wrong call raises `TypeError` at the call, before anything is awaited.
        """
        mock = self

        def with_owner(owner: Any, /, *args: Any, **kwargs: Any) -> Any:
            return mock(*args, **kwargs)

        def without_owner(*args: Any, **kwargs: Any) -> Any:
            return mock(*args, **kwargs)

        method = with_owner if takes_owner else without_owner
        method.__name__ = method.__qualname__ = self.method_name
        if self._is_async and _mark_coroutine is not None:  # pragma: no cover - Python 3.12+
            _mark_coroutine(method)
        return method

    def _install(self, target: object, replacement: object) -> Callable[[], None]:
        name = self.method_name
        owned = name in getattr(target, "__dict__", {})
        previous = inspect.getattr_static(target, name) if owned else None
        try:
            setattr(target, name, replacement)
        except (AttributeError, TypeError) as exc:
            raise AttributeError(
                f"cannot replace {self.name}: {exc} (mock the class instead of the instance?)"
            ) from None

        def restore() -> None:
            if owned:
                setattr(target, name, previous)
            else:
                delattr(target, name)

        return restore

    def stop(self) -> None:
        """Restore the original method. Stopping a mock that is not started does nothing."""
        restore, self._restore = self._restore, None
        if restore is not None:
            restore()

    def __enter__(self) -> ResultServiceMocker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> ResultServiceMocker:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "started" if self._restore is not None else "stopped"
        return f"<ResultServiceMocker {self.name} {state}, {self.call_count} calls>"

    # -- assertions ---------------------------------------------------------------------------

    def _same_call(self, recorded: MockCall, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if recorded.args == args and recorded.kwargs == kwargs:
            return True
        if self._signature is None:
            return False
        # Compare as the method sees the call, so get("1") matches get(user_id="1").
        try:
            seen = self._signature.bind(*recorded.args, **recorded.kwargs)
            expected = self._signature.bind(*args, **kwargs)
        except TypeError:
            return False
        seen.apply_defaults()
        expected.apply_defaults()
        return seen.arguments == expected.arguments

    def _history(self) -> str:
        calls = self.calls
        return "no calls" if not calls else "calls: " + ", ".join(map(repr, calls))

    def assert_called(self) -> None:
        """Fail unless the mock was called at least once."""
        __tracebackhide__ = True
        if self.call_count == 0:
            raise AssertionError(f"Expected {self.name} to be called; it was not called")

    def assert_called_once(self) -> None:
        """Fail unless the mock was called exactly once."""
        __tracebackhide__ = True
        if self.call_count != 1:
            raise AssertionError(
                f"Expected {self.name} to be called once; it was called {self.call_count} "
                f"times ({self._history()})"
            )

    def assert_called_once_with(self, *args: Any, **kwargs: Any) -> None:
        """Fail unless the mock was called exactly once, with these arguments."""
        __tracebackhide__ = True
        self.assert_called_once()
        self.assert_called_with(*args, **kwargs)

    def assert_called_with(self, *args: Any, **kwargs: Any) -> None:
        """Fail unless the latest call had these arguments."""
        __tracebackhide__ = True
        latest = self.call_args
        expected = MockCall(args, kwargs)
        if latest is None:
            raise AssertionError(f"Expected {self.name} to be called with {expected}; no calls")
        if not self._same_call(latest, args, kwargs):
            raise AssertionError(
                f"Expected {self.name} to be called with {expected}; the latest was {latest}"
            )

    def assert_any_call(self, *args: Any, **kwargs: Any) -> None:
        """Fail unless some call had these arguments."""
        __tracebackhide__ = True
        if not any(self._same_call(c, args, kwargs) for c in self.calls):
            raise AssertionError(
                f"Expected {self.name} to have been called with {MockCall(args, kwargs)}; "
                f"{self._history()}"
            )

    def assert_not_called(self) -> None:
        """Fail if the mock was called."""
        __tracebackhide__ = True
        if self.call_count:
            raise AssertionError(
                f"Expected {self.name} not to be called; it was called {self.call_count} times "
                f"({self._history()})"
            )

    def _awaits(self) -> list[MockCall]:
        __tracebackhide__ = True
        if not self._is_async:
            raise AssertionError(f"{self.name} is not async, so it cannot be awaited")
        with self._lock:
            return [MockCall(a, k) for a, k in self.await_args_history]

    def assert_awaited(self) -> None:
        """Fail unless an awaitable the mock returned was awaited."""
        __tracebackhide__ = True
        if not self._awaits():
            raise AssertionError(f"Expected {self.name} to be awaited; it was not awaited")

    def assert_awaited_once(self) -> None:
        """Fail unless the mock was awaited exactly once."""
        __tracebackhide__ = True
        awaits = self._awaits()
        if len(awaits) != 1:
            raise AssertionError(
                f"Expected {self.name} to be awaited once; it was awaited {len(awaits)} times"
            )

    def assert_awaited_with(self, *args: Any, **kwargs: Any) -> None:
        """Fail unless the latest await had these arguments."""
        __tracebackhide__ = True
        awaits = self._awaits()
        expected = MockCall(args, kwargs)
        if not awaits or not self._same_call(awaits[-1], args, kwargs):
            latest = awaits[-1] if awaits else "no await"
            raise AssertionError(
                f"Expected {self.name} to be awaited with {expected}; the latest was {latest}"
            )

    def assert_awaited_once_with(self, *args: Any, **kwargs: Any) -> None:
        """Fail unless the mock was awaited exactly once, with these arguments."""
        __tracebackhide__ = True
        self.assert_awaited_once()
        self.assert_awaited_with(*args, **kwargs)

    def assert_not_awaited(self) -> None:
        """Fail if the mock was awaited."""
        __tracebackhide__ = True
        awaits = self._awaits()
        if awaits:
            raise AssertionError(
                f"Expected {self.name} not to be awaited; it was awaited {len(awaits)} times"
            )


class ResultMockerFactory(Protocol):
    """The type of the ``result_mocker`` fixture, for annotating test parameters."""

    def __call__(
        self, target: object, method: str, *, is_async: bool | None = None, result_type: Any = None
    ) -> ResultServiceMocker: ...


def mock_result_service(
    target: object, method: str, *, is_async: bool | None = None, result_type: Any = None
) -> ResultServiceMocker:
    """Replace ``target.method`` with a `ResultServiceMocker` inside a ``with`` block.

    ``target`` is the service object (an instance, a class or a module), a dotted import path,
    or a bare name bound to exactly one object among the loaded modules' globals; several
    distinct objects under that name raise `MockTargetError` listing them. The mock is async when
    the original method is (override with ``is_async``). The original comes back on exit, also
    when the block raises.

    ``return_success``/``return_error`` give the Result type the original method returns: a
    method annotated ``-> returns.result.Result[User, str]`` gets returns' ``Success`` and
    ``Failure``, one annotated with rfs-framework's, ``result``'s or ``expression``'s Result gets
    theirs. ``result_type`` states it instead: ``"rfs"``, ``"returns"``, ``"returns.io"``,
    ``"result"``, ``"expression"``, or a Result class or annotation.

    >>> import json
    >>> with mock_result_service(json, "loads") as mock:
    ...     _ = mock.return_error("not JSON")
    ...     json.loads("{")
    Failure(error='not JSON')
    >>> json.loads("{}")
    {}
    """
    return ResultServiceMocker(target, method, is_async=is_async, result_type=result_type)


# --------------------------------------------------------------------------------------------
# Assertions


def _check_result(result: object) -> tuple[bool, Any]:
    """``(failed, payload)`` of a Result of any library (ours, rfs-framework, returns, result,
    expression, registered or duck-typed ones, or any `ResultLike`)."""
    __tracebackhide__ = True
    read = read_outcome(result)
    if read is not None:
        return read
    missing = [m for m in ("is_success", "unwrap", "unwrap_error") if not hasattr(result, m)]
    if missing or inspect.isawaitable(result):
        hint = " (it is awaitable: await it first)" if inspect.isawaitable(result) else ""
        raise AssertionError(f"Expected a Result, got {type(result).__name__}: {result!r}{hint}")
    like = typing.cast("ResultLike", result)
    if like.is_success():
        return False, like.unwrap()
    return True, like.unwrap_error()


def _runtime_types(expected: Any) -> Any:
    """``isinstance``-ready types: ``list[int]`` is checked as ``list``."""
    if isinstance(expected, tuple):
        return tuple(_runtime_types(t) for t in expected)
    return typing.get_origin(expected) or expected


def _type_names(expected: Any) -> str:
    if isinstance(expected, tuple):
        return " or ".join(_type_names(t) for t in expected)
    return getattr(expected, "__name__", repr(expected))


def _error_text(error: object) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error_message_of(error)}"
    return f"{type(error).__name__} {error!r}"


def assert_result_success(
    result: Any,
    expected_type: type[Any] | tuple[type[Any], ...] | None = None,
    *,
    value: Any = _MISSING,
) -> Any:
    """Assert ``result`` is a success (of ``expected_type``, equal to ``value`` when given) and
    return its value.

    A Result of any library is accepted: ours, rfs-framework's, returns', ``result``'s,
    ``expression``'s, one registered with `register_result_adapter`, or any object with
    ``is_success``, ``unwrap`` and ``unwrap_error``.

    >>> assert_result_success(Success(3), int, value=3)
    3
    >>> assert_result_success(Failure("no such user"))
    Traceback (most recent call last):
    ...
    AssertionError: Expected success, got error: str 'no such user'
    """
    __tracebackhide__ = True
    failed, actual = _check_result(result)
    if failed:
        cause = actual if isinstance(actual, BaseException) else None
        raise AssertionError(f"Expected success, got error: {_error_text(actual)}") from cause
    if expected_type is not None and not isinstance(actual, _runtime_types(expected_type)):
        raise AssertionError(
            f"Expected a success of {_type_names(expected_type)}, got "
            f"{type(actual).__name__}: {actual!r}"
        )
    if value is not _MISSING and actual != value:
        raise AssertionError(f"Expected success value {value!r}, got {actual!r}")
    return actual


def assert_result_error(
    result: Any,
    expected_error_type: type[Any] | tuple[type[Any], ...] | None = None,
    *,
    code: Any = None,
    match: str | re.Pattern[str] | None = None,
) -> Any:
    """Assert ``result`` is a failure and return its error.

    ``expected_error_type`` checks the error's class; ``code`` its code as logs and metrics record
    it (an `ErrorCode` member or its name; a class name for errors without a ``code``); ``match``
    a regular expression searched in the error's message and text.

    >>> assert_result_error(Failure(ValueError("bad port 99999")), ValueError, match=r"port \\d+")
    ValueError('bad port 99999')
    >>> assert_result_error(Success(1))
    Traceback (most recent call last):
    ...
    AssertionError: Expected error, got success: 1
    """
    __tracebackhide__ = True
    failed, error = _check_result(result)
    if not failed:
        raise AssertionError(f"Expected error, got success: {error!r}")
    if expected_error_type is not None and not isinstance(
        error, _runtime_types(expected_error_type)
    ):
        raise AssertionError(
            f"Expected an error of {_type_names(expected_error_type)}, got {_error_text(error)}"
        )
    if code is not None:
        expected_code = _code_text(code)
        actual_code = error_code_of(error)
        if actual_code != expected_code:
            raise AssertionError(
                f"Expected error code {expected_code}, got {actual_code} ({_error_text(error)})"
            )
    if match is not None:
        texts = [error_message_of(error), str(error)]
        if not any(re.search(match, text) for text in texts):
            pattern = match.pattern if isinstance(match, re.Pattern) else match
            raise AssertionError(
                f"Expected the error message to match {pattern!r}, got {texts[0]!r}"
            )
    return error


def assert_flux_result_stats(
    flux_result: Any, expected_success: int | None, expected_failures: int | None
) -> None:
    """Assert how many successes and failures a `FluxResult` holds (``None`` skips a count).

    Any iterable of results works too. The message lists the failures found, so a surprise
    failure is visible at once.

    >>> assert_flux_result_stats([Success(1), Failure("e")], 1, 1)
    >>> assert_flux_result_stats([Success(1), Failure("e")], 2, 0)
    Traceback (most recent call last):
    ...
    AssertionError: Expected 2 successes and 0 failures, got 1 and 1 (failures: str 'e')
    """
    __tracebackhide__ = True
    found = batch_items(flux_result)  # rfs-framework's FluxResult
    if found is None:
        found = tuple(getattr(flux_result, "results", None) or flux_result)
    outcomes = [_check_result(item) for item in found]
    failures = sum(1 for failed, _ in outcomes if failed)
    successes = len(outcomes) - failures
    if (expected_success is None or successes == expected_success) and (
        expected_failures is None or failures == expected_failures
    ):
        return
    errors = [_error_text(payload) for failed, payload in outcomes if failed]
    shown = "; ".join(errors[:5]) + (f"; ... {len(errors) - 5} more" if len(errors) > 5 else "")
    raise AssertionError(
        f"Expected {expected_success} successes and {expected_failures} failures, got "
        f"{successes} and {failures}" + (f" (failures: {shown})" if errors else "")
    )


def _code_text(code: object) -> str:
    """An expected code as `error_code_of` writes it: an enum member as its value (or name)."""
    if isinstance(code, enum.Enum):
        return code.value if isinstance(code.value, str) else code.name
    return str(code)


def _is_timeout(error: object) -> bool:
    if isinstance(error, TimeoutError):
        return True
    text = f"{error_code_of(error)} {error_message_of(error)}".lower()
    return "timeout" in text or "timed out" in text


async def assert_mono_result_timeout(
    mono_result: Any,
    timeout_seconds: float,
    *,
    min_ratio: float = 0.9,
    max_ratio: float = 3.0,
    grace_seconds: float = 1.0,
) -> Any:
    """Await ``mono_result`` and assert it failed with a timeout after about ``timeout_seconds``.

    It fails when the mono succeeds or fails otherwise, when the timeout fires before
    ``min_ratio * timeout_seconds``, and when it takes far longer than the timeout (beyond
    ``max_ratio * timeout_seconds + grace_seconds``: the mono is then cancelled). The bounds
    are loose on purpose, for noisy CI machines. Returns the timeout error.

    >>> import asyncio
    >>> from rfs_monitoring.reactive import MonoResult
    >>> async def slow() -> Result[str, str]:
    ...     await asyncio.sleep(1)
    ...     return Success("late")
    >>> error = asyncio.run(
    ...     assert_mono_result_timeout(MonoResult.from_async_result(slow).timeout(0.01), 0.01)
    ... )
    >>> isinstance(error, TimeoutError)
    True
    """
    __tracebackhide__ = True
    if not timeout_seconds > 0:
        raise InvalidArgumentError(f"timeout_seconds must be positive, not {timeout_seconds!r}")
    limit = timeout_seconds * max_ratio + grace_seconds
    awaitable = mono_result.to_result() if hasattr(mono_result, "to_result") else mono_result
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(awaitable, limit)
    except TimeoutError:
        raise AssertionError(
            f"Expected a timeout after {timeout_seconds}s; the mono was still running after "
            f"{limit:.2f}s and was cancelled (is .timeout() applied?)"
        ) from None
    elapsed = time.perf_counter() - started
    failed, error = _check_result(result)
    if not failed:
        raise AssertionError(
            f"Expected a timeout after {timeout_seconds}s, got success after {elapsed:.3f}s: "
            f"{error!r}"
        )
    if not _is_timeout(error):
        raise AssertionError(
            f"Expected a timeout after {timeout_seconds}s, got error after {elapsed:.3f}s: "
            f"{_error_text(error)}"
        )
    if elapsed < timeout_seconds * min_ratio:
        raise AssertionError(
            f"Expected the timeout to fire after about {timeout_seconds}s; it fired after "
            f"{elapsed:.3f}s"
        )
    if elapsed > limit:
        raise AssertionError(
            f"Expected the timeout to fire after about {timeout_seconds}s; it took {elapsed:.3f}s"
        )
    return error


def assert_operation_recorded(
    name: str,
    successes: int | None = None,
    failures: int | None = None,
    error_code: Any = None,
    *,
    collector: ResultMetricsCollector | None = None,
    time_range: str = "1h",
) -> OperationMetrics:
    """Assert the metrics collector holds samples of operation ``name`` and return its metrics.

    ``successes``/``failures`` check exact counts in ``time_range``; ``error_code`` checks that
    failures with that code were recorded. The collector defaults to the installed instance.

    >>> from rfs_monitoring.metrics import ResultMetricsCollector
    >>> collector = ResultMetricsCollector(sample_resources=False)
    >>> collector.record("checkout", 12.5, False, error_code="CONFLICT")
    >>> assert_operation_recorded("checkout", failures=1, error_code="CONFLICT",
    ...                           collector=collector).total_requests
    1
    >>> assert_operation_recorded("checkout", successes=1, collector=collector)
    Traceback (most recent call last):
    ...
    AssertionError: Expected 1 successes of 'checkout'; got 0 successes, 1 failures
    """
    __tracebackhide__ = True
    if collector is None:
        from rfs_monitoring.metrics import ResultMetricsCollector

        collector = ResultMetricsCollector.instance()
    outcome = collector.operation_metrics(name, time_range)
    if not outcome.is_success() and error_code_of(outcome.unwrap_error()) == "VALIDATION_ERROR":
        raise InvalidArgumentError(error_message_of(outcome.unwrap_error()))
    if not outcome.is_success() or outcome.unwrap().total_requests == 0:
        known = collector.list_operations(time_range)
        raise AssertionError(
            f"Expected operation {name!r} to be recorded in the last {time_range}; recorded "
            f"operations: {known or 'none'}"
        )
    metrics = outcome.unwrap()
    got = f"{metrics.successful_requests} successes, {metrics.failed_requests} failures"
    if successes is not None and metrics.successful_requests != successes:
        raise AssertionError(f"Expected {successes} successes of {name!r}; got {got}")
    if failures is not None and metrics.failed_requests != failures:
        raise AssertionError(f"Expected {failures} failures of {name!r}; got {got}")
    if error_code is not None:
        code = _code_text(error_code)
        if not metrics.error_breakdown.get(code):
            raise AssertionError(
                f"Expected failures of {name!r} with code {code}; error breakdown: "
                f"{dict(metrics.error_breakdown) or 'no errors'}"
            )
    return metrics


# --------------------------------------------------------------------------------------------
# Log capture


class CapturedLogs(list[dict[str, Any]]):
    """The entries captured by `capture_result_logs`: a list of dicts, with filters."""

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        """The entries whose fields equal the given values, e.g. ``where(step_name=None)``."""
        return [e for e in self if all(e.get(k) == v for k, v in fields.items())]

    def operations(self, name: str | None = None) -> list[dict[str, Any]]:
        """The operations' own entries (not step entries), of ``name`` when given."""
        found = self.where(step_name=None)
        return found if name is None else [e for e in found if e.get("operation_name") == name]

    def steps(self, name: str | None = None) -> list[dict[str, Any]]:
        """The step entries (``log_step``/``log_error``), of step ``name`` when given."""
        found = [e for e in self if e.get("step_name") is not None]
        return found if name is None else [e for e in found if e.get("step_name") == name]


@contextlib.contextmanager
def capture_result_logs() -> Iterator[CapturedLogs]:
    """Collect every Result log entry emitted inside the block that passes the level filter,
    as masked dicts with the `ResultLogEntry` field names.

    Entries are taken at emission, before any handler, so cached structlog loggers and any
    output configuration are captured alike.

    >>> import io
    >>> from rfs_monitoring.result_logging import configure_logging, log_result_operation
    >>> configure_logging(stream=io.StringIO())
    >>> @log_result_operation("login")
    ... def login(password: str) -> Result[str, str]:
    ...     return Failure(f"bad password={password}")
    >>> with capture_result_logs() as logs:
    ...     _ = login("hunter2")
    >>> [(e["operation_name"], e["result_type"]) for e in logs]
    [('login', 'error')]
    >>> "hunter2" in str(list(logs))
    False
    >>> configure_logging()
    """
    from rfs_monitoring.result_logging import add_listener

    captured = CapturedLogs()
    remove = add_listener(captured.append)
    try:
        yield captured
    finally:
        remove()
