"""The Result types users already have: one outcome protocol for every library.

A service may return the RFS framework's ``rfs.core.result.Success``/``Failure`` (and chain
``rfs.reactive.MonoResult``/``FluxResult``), dry-python ``returns``' ``Success``/``Failure``,
``IOSuccess``/``IOFailure`` and ``FutureResult``, ``result``'s ``Ok``/``Err`` or ``expression``'s
``Ok``/``Error``. Everything in rfs-monitoring that looks at a Result (log entries, metrics, spans,
``handle_result``, the testing assertions and mocks) asks this module, so a returned failure of
any of them is an error everywhere, exactly like our own `Failure`.

Adapters are chosen by the value's type, found by the qualified names of the classes in its MRO:
no library is imported here, and none is a dependency. A type that no adapter names but that has
``is_failure()``/``is_success()`` or ``is_err()``/``is_ok()`` methods is read by duck typing.
`register_result_adapter` adds any other library.

>>> from rfs_monitoring.result import Failure, Success
>>> read_outcome(Success(3)), read_outcome(Failure("no")), read_outcome(42)
((False, 3), (True, 'no'), None)
>>> class Outcome:
...     def __init__(self, ok, payload):
...         self.ok, self.payload = ok, payload
>>> adapter = register_result_adapter(
...     Outcome,
...     is_failure=lambda o: not o.ok,
...     error=lambda o: o.payload,
...     value=lambda o: o.payload,
...     success=lambda v: Outcome(True, v),
...     failure=lambda e: Outcome(False, e),
...     library="outcomes",
... )
>>> read_outcome(Outcome(False, "timeout"))
(True, 'timeout')
>>> to_result(Outcome(True, 7))
Success(value=7)
"""

from __future__ import annotations

import importlib
import threading
import types
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from rfs_monitoring._exceptions import InvalidArgumentError, InvalidTypeError
from rfs_monitoring.result import Failure, Result, Success

__all__ = [
    "ResultAdapter",
    "is_result",
    "read_outcome",
    "register_result_adapter",
    "result_builders",
    "to_result",
]

Reader = Callable[[Any], "tuple[bool, Any]"]

# Roles of a generic class in a return annotation: where its success type is.
_ROLE_RESULT = "result"  # Result[T, E]: T
_ROLE_LIST = "list"  # FluxResult[T, E]: list[T]
_ROLE_SUCCESS = "success"  # Ok[T], a member of `Ok[T] | Err[E]`: T
_ROLE_FAILURE = "failure"  # Err[E]: no success type

_KIND_RESULT = 0
_KIND_CHAIN = 1
_KIND_BATCH = 2


@dataclass(frozen=True, slots=True)
class ResultAdapter:
    """How one library's Result type is read and built.

    ``is_failure(r)`` tells a failure, ``error(r)`` and ``value(r)`` give its payload;
    ``success(v)`` and ``failure(e)`` build one (used by `mock_result_service` to return the
    mocked method's own Result type; ``None`` when the library cannot be built from here).
    """

    library: str
    is_failure: Callable[[Any], bool]
    error: Callable[[Any], Any]
    value: Callable[[Any], Any]
    success: Callable[[Any], Any] | None = None
    failure: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the registry knows of one concrete type (cached per type)."""

    kind: int
    library: str
    # Results: a type that is always a success or always a failure has ``failed`` set and a
    # ``payload`` getter (a C-level attrgetter/methodcaller where possible: no Python frame on
    # the hot path); a type that can be either has ``read``.
    failed: bool | None = None
    payload: Callable[[Any], Any] | None = None
    read: Reader | None = None
    run: Callable[[Any], Awaitable[Any]] | None = None  # chains: the awaitable of its Result
    rewrap: Callable[[Any, Callable[[], Awaitable[Any]]], Any] | None = None  # chains
    items: Callable[[Any], Iterable[Any]] | None = None  # batches


@dataclass(frozen=True, slots=True)
class _Family:
    """A class named in annotations: its role, and how its library builds results."""

    library: str
    role: str
    builders: Callable[[], tuple[Callable[[Any], Any], Callable[[Any], Any]]] | None = None


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _fixed(library: str, failed: bool, payload: Callable[[Any], Any]) -> _Entry:
    return _Entry(_KIND_RESULT, library, failed=failed, payload=payload)


def _from_module(module: str, success: str, failure: str) -> Callable[[], tuple[Any, Any]]:
    """Builders found in ``module`` when a mock asks for them: the library is in use then (its
    type is in the mocked method's annotation, or the caller named it), so importing is fine."""

    def load() -> tuple[Any, Any]:
        loaded = importlib.import_module(module)
        return getattr(loaded, success), getattr(loaded, failure)

    return load


def _rfs_flux_items(flux: Any) -> Iterable[Any]:
    return tuple(flux.to_list())


async def _returns_future_run(future: Any) -> Any:
    # A FutureResult wraps an awaitable of a returns Result (awaiting the FutureResult itself
    # gives an IOResult): the Result is what the operation returned.
    return await future._inner_value


def _returns_future_rewrap(future: Any, run: Callable[[], Awaitable[Any]]) -> Any:
    return type(future)(run())


_BUILT_IN: dict[str, _Entry] = {
    # rfs-framework 4.x
    "rfs.core.result.Success": _fixed("rfs", False, attrgetter("value")),
    "rfs.core.result.Failure": _fixed("rfs", True, attrgetter("error")),
    "rfs.reactive.mono_result.MonoResult": _Entry(
        _KIND_CHAIN,
        "rfs",
        run=lambda m: m.to_result(),
        rewrap=lambda m, run: type(m)(run),
    ),
    "rfs.reactive.flux_result.FluxResult": _Entry(_KIND_BATCH, "rfs", items=_rfs_flux_items),
    # dry-python returns
    # Every returns container keeps its content in ``_inner_value`` (an IOResult's is a Result).
    "returns.result.Success": _fixed("returns", False, attrgetter("_inner_value")),
    "returns.result.Failure": _fixed("returns", True, attrgetter("_inner_value")),
    "returns.io.IOSuccess": _fixed("returns", False, attrgetter("_inner_value._inner_value")),
    "returns.io.IOFailure": _fixed("returns", True, attrgetter("_inner_value._inner_value")),
    "returns.future.FutureResult": _Entry(
        _KIND_CHAIN, "returns", run=_returns_future_run, rewrap=_returns_future_rewrap
    ),
    # result (Ok/Err)
    "result.result.Ok": _fixed("result", False, attrgetter("ok_value")),
    "result.result.Err": _fixed("result", True, attrgetter("err_value")),
    # expression: one Result class, tagged "ok" or "error"
    "expression.core.result.Result": _Entry(
        _KIND_RESULT,
        "expression",
        read=lambda r: (True, r.error) if r.tag == "error" else (False, r.ok),
    ),
}

_RFS_BUILDERS = _from_module("rfs.core.result", "Success", "Failure")

_FAMILIES: dict[str, _Family] = {
    "rfs.core.result.Result": _Family("rfs", _ROLE_RESULT, _RFS_BUILDERS),
    "rfs.core.result.Success": _Family("rfs", _ROLE_SUCCESS, _RFS_BUILDERS),
    "rfs.core.result.Failure": _Family("rfs", _ROLE_FAILURE, _RFS_BUILDERS),
    "rfs.reactive.mono_result.MonoResult": _Family("rfs", _ROLE_RESULT, _RFS_BUILDERS),
    "rfs.reactive.flux_result.FluxResult": _Family("rfs", _ROLE_LIST),
    "returns.result.Result": _Family(
        "returns", _ROLE_RESULT, _from_module("returns.result", "Success", "Failure")
    ),
    "returns.io.IOResult": _Family(
        "returns", _ROLE_RESULT, _from_module("returns.io", "IOSuccess", "IOFailure")
    ),
    "returns.future.FutureResult": _Family("returns", _ROLE_RESULT),
    "result.result.Ok": _Family("result", _ROLE_SUCCESS, _from_module("result", "Ok", "Err")),
    "result.result.Err": _Family("result", _ROLE_FAILURE, _from_module("result", "Ok", "Err")),
    "expression.core.result.Result": _Family(
        "expression", _ROLE_RESULT, _from_module("expression", "Ok", "Error")
    ),
}

_LIBRARIES: dict[str, str] = {
    # What a caller may name in `result_builders("...")`: the family that builds its results.
    "rfs": "rfs.core.result.Result",
    "returns": "returns.result.Result",
    "returns.io": "returns.io.IOResult",
    "result": "result.result.Ok",
    "expression": "expression.core.result.Result",
}

_registered: dict[str, _Entry] = {}  # by qualified class name, registered at run time
_registered_types: dict[type, _Entry] = {}
_registered_families: dict[type, _Family] = {}
_cache: dict[type, _Entry | None] = {}
_CACHE_LIMIT = 4096  # distinct return types remembered (classes made at run time stay bounded)
_lock = threading.Lock()


_OWN: dict[type, _Entry] = {
    Success: _fixed("rfs_monitoring", False, attrgetter("value")),
    Failure: _fixed("rfs_monitoring", True, attrgetter("error")),
}


def register_result_adapter(
    result_type: type | str,
    *,
    is_failure: Callable[[Any], bool],
    error: Callable[[Any], Any],
    value: Callable[[Any], Any],
    success: Callable[[Any], Any] | None = None,
    failure: Callable[[Any], Any] | None = None,
    library: str | None = None,
) -> ResultAdapter:
    """Teach rfs-monitoring another library's Result type.

    ``result_type`` is the class (its subclasses included) or its qualified name
    (``"package.module.ClassName"``), so the library need not be imported to register it.
    ``is_failure``, ``error`` and ``value`` read an instance; ``success`` and ``failure`` build one
    (optional: `mock_result_service` uses them to return the mocked method's own type). A class
    registered here is also understood in return annotations (``MyResult[User, Error]``: the
    success type is the first argument), so `handle_result` shows it in OpenAPI. Registering the
    same type again replaces its adapter. Returns the adapter.
    """
    if not callable(is_failure) or not callable(error) or not callable(value):
        raise InvalidTypeError(
            "register_result_adapter needs callables for is_failure, error and value"
        )
    if isinstance(result_type, str):
        if "." not in result_type:
            raise InvalidArgumentError(
                f"give the qualified class name ('package.module.Class'), got {result_type!r}"
            )
        name = result_type
    elif isinstance(result_type, type):
        name = _class_name(result_type)
    else:
        raise InvalidTypeError(f"result_type is a class or its qualified name, got {result_type!r}")
    adapter = ResultAdapter(
        library or name.rsplit(".", 1)[0], is_failure, error, value, success, failure
    )

    def read(r: Any) -> tuple[bool, Any]:
        if adapter.is_failure(r):
            return True, adapter.error(r)
        return False, adapter.value(r)

    entry = _Entry(_KIND_RESULT, adapter.library, read=read)
    family = _Family(
        adapter.library,
        _ROLE_RESULT,
        None if success is None or failure is None else (lambda: (success, failure)),
    )
    with _lock:
        if isinstance(result_type, type):
            _registered_types[result_type] = entry
            _registered_families[result_type] = family
        else:
            _registered[name] = entry
            _FAMILIES[name] = family
        _cache.clear()
    return adapter


def _duck(cls: type) -> _Entry | None:
    """Read a type that no adapter names, by its methods (plain attributes or properties such
    as httpx's ``Response.is_success`` are not methods, so they never match)."""

    def method(name: str) -> bool:
        return callable(getattr(cls, name, None))

    if method("is_failure") and method("is_success"):

        def read(r: Any) -> tuple[bool, Any]:
            if r.is_failure():
                return True, _first(r, ("unwrap_error", "failure", "get_error"), ("error",))
            return False, _first(r, ("unwrap", "get"), ("value",))

        return _Entry(_KIND_RESULT, cls.__module__.partition(".")[0], read=read)
    if method("is_err") and method("is_ok"):

        def read_err(r: Any) -> tuple[bool, Any]:
            if r.is_err():
                return True, _first(r, ("unwrap_err",), ("err_value", "error", "err"))
            return False, _first(r, ("unwrap",), ("ok_value", "value", "ok"))

        return _Entry(_KIND_RESULT, cls.__module__.partition(".")[0], read=read_err)
    return None


def _first(r: Any, methods: tuple[str, ...], attributes: tuple[str, ...]) -> Any:
    for name in attributes:
        found = getattr(r, name, None)
        if found is not None and not callable(found):
            return found
    for name in methods:
        found = getattr(r, name, None)
        if callable(found):
            try:
                return found()
            except Exception:  # an accessor that refuses: try the next one
                continue
    return None


def _resolve(cls: type) -> _Entry | None:
    entry: _Entry | None = None
    for base in cls.__mro__:
        entry = _OWN.get(base) or _registered_types.get(base)
        if entry is None:
            name = _class_name(base)
            entry = _registered.get(name) or _BUILT_IN.get(name)
        if entry is not None:
            break
    if entry is None and not issubclass(cls, Result):
        entry = _duck(cls)
    if len(_cache) < _CACHE_LIMIT:
        _cache[cls] = entry
    return entry


def _entry(value: Any) -> _Entry | None:
    cls = type(value)
    try:
        return _cache[cls]
    except KeyError:
        return _resolve(cls)


def read_outcome(value: Any) -> tuple[bool, Any] | None:
    """``(failed, payload)`` of a Result of any known library (the error when it failed, else
    the value), or ``None`` when ``value`` is not a Result."""
    cls = type(value)
    try:
        entry = _cache[cls]
    except KeyError:
        entry = _resolve(cls)
    if entry is None:
        return None
    failed = entry.failed
    if failed is not None:
        return failed, entry.payload(value)  # type: ignore[misc]
    read = entry.read
    return None if read is None else read(value)


def is_result(value: Any) -> bool:
    """Whether ``value`` is a Result of any known library (ours included)."""
    entry = _entry(value)
    return entry is not None and entry.kind == _KIND_RESULT


def chain_of(
    value: Any,
) -> tuple[Callable[[Any], Awaitable[Any]], Callable[[Any, Callable[[], Awaitable[Any]]], Any]]:
    """``(run, rewrap)`` for another library's lazy chain (rfs' MonoResult, returns'
    FutureResult); raises `LookupError` for anything else."""
    entry = _entry(value)
    if entry is None or entry.kind != _KIND_CHAIN or entry.run is None or entry.rewrap is None:
        raise LookupError(type(value).__name__)
    return entry.run, entry.rewrap


def is_chain(value: Any) -> bool:
    """Whether ``value`` is another library's lazy chain of a Result."""
    entry = _entry(value)
    return entry is not None and entry.kind == _KIND_CHAIN


def batch_items(value: Any) -> tuple[Any, ...] | None:
    """The results of another library's batch (rfs' FluxResult), or ``None``."""
    entry = _entry(value)
    if entry is None or entry.kind != _KIND_BATCH or entry.items is None:
        return None
    return tuple(entry.items(value))


def to_result(value: Any) -> Result[Any, Any]:
    """Our `Success`/`Failure` with the same payload as a Result of any known library.

    >>> to_result(Success(1))
    Success(value=1)
    >>> to_result("not a result")
    Traceback (most recent call last):
    ...
    rfs_monitoring.exceptions.InvalidTypeError: expected a Result, got str
    """
    if value.__class__ is Success or value.__class__ is Failure:
        return typing.cast("Result[Any, Any]", value)
    outcome = read_outcome(value)
    if outcome is None:
        raise InvalidTypeError(f"expected a Result, got {type(value).__name__}")
    failed, payload = outcome
    return Failure(payload) if failed else Success(payload)


# -- annotations and builders ----------------------------------------------------------------


def _family_of(cls: Any) -> _Family | None:
    if not isinstance(cls, type):
        return None
    for base in cls.__mro__:
        family = _registered_families.get(base) or _FAMILIES.get(_class_name(base))
        if family is not None:
            return family
    return None


def result_annotation(annotation: Any) -> tuple[bool, Any]:
    """``(names_a_result, success_type)`` of a return annotation of another library's Result:
    ``returns.result.Result[User, APIError]`` -> ``(True, User)``; ``Ok[User] | Err[str]`` ->
    ``(True, User)``; rfs' ``FluxResult[User, E]`` -> ``(True, list[User])``; ``Err[str]`` ->
    ``(True, None)``; ``User`` -> ``(False, None)``.

    >>> result_annotation(int)
    (False, None)
    """
    origin = typing.get_origin(annotation) or annotation
    args = typing.get_args(annotation)
    family = _family_of(origin)
    if family is not None:
        if family.role == _ROLE_FAILURE or not args:
            return True, None
        if family.role == _ROLE_LIST:
            return True, list[args[0]]  # type: ignore[valid-type]
        return True, args[0]
    if args and (origin is typing.Union or isinstance(annotation, types.UnionType)):
        members = [result_annotation(member) for member in args]
        if all(named for named, _ in members):
            found = [success for _, success in members if success is not None]
            return True, found[0] if len(found) == 1 else None
    return False, None


def result_builders(
    source: Any,
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """``(success, failure)`` constructors of the library that ``source`` names: a return
    annotation (``returns.result.Result[User, str]``, ``Ok[int] | Err[str]``), a Result class,
    or a library name (``"rfs"``, ``"returns"``, ``"returns.io"``, ``"result"``,
    ``"expression"``); ``None`` for our own types or anything unknown.
    """
    if isinstance(source, str):
        name = _LIBRARIES.get(source)
        family = None if name is None else _FAMILIES.get(name)
    else:
        origin = typing.get_origin(source) or source
        family = _family_of(origin)
        if family is None and (origin is typing.Union or isinstance(source, types.UnionType)):
            family = next(
                (
                    f
                    for m in typing.get_args(source)
                    if (f := _family_of(typing.get_origin(m) or m))
                ),
                None,
            )
    if family is None or family.builders is None:
        return None
    return family.builders()
