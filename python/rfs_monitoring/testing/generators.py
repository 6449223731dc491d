"""Test data for Result code: hypothesis strategies and plain factories.

The strategies (`results`, `successes`, `failures`, `api_errors`, `flux_results`,
`operation_samples`) need hypothesis, the optional ``rfs-monitoring[hypothesis]`` extra; it is
imported only when one of them is called. The ``make_*`` factories need nothing but the standard
library and take a ``seed`` for reproducible data.

>>> make_results(4, failure_rate=0.5, seed=1)
[Failure(error='error 0'), Success(value=1), Success(value=2), Failure(error='error 3')]
>>> samples = make_operation_samples(100, failure_rate=0.2, seed=7)
>>> sum(not s.success for s in samples), all(s.duration_ms > 0 for s in samples)
(27, True)
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rfs_monitoring._exceptions import InvalidArgumentError
from rfs_monitoring.result import Failure, Result, Success

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from rfs_monitoring.errors import APIError, ErrorCode
    from rfs_monitoring.metrics import ResultMetricsCollector
    from rfs_monitoring.reactive import FluxResult
    from rfs_monitoring.testing.clock import FakeClock

__all__ = [
    "OperationSample",
    "api_errors",
    "failures",
    "flux_results",
    "make_api_error",
    "make_failure",
    "make_flux_result",
    "make_operation_samples",
    "make_results",
    "make_success",
    "operation_samples",
    "record_samples",
    "results",
    "successes",
]

#: Codes a generated failing sample carries by default.
DEFAULT_ERROR_CODES = ("INTERNAL_SERVER_ERROR", "NOT_FOUND", "TIMEOUT_ERROR", "DATABASE_ERROR")


@dataclass(frozen=True, slots=True)
class OperationSample:
    """One recorded call of an operation: how long it took and how it ended."""

    duration_ms: float
    success: bool
    error_code: str | None = None
    error_message: str | None = None


def record_samples(
    collector: ResultMetricsCollector,
    operation: str,
    samples: Iterable[OperationSample],
    *,
    clock: FakeClock | None = None,
    spacing_seconds: float = 0.0,
) -> int:
    """Record ``samples`` as calls of ``operation`` and return how many were recorded.

    With a ``clock`` (the collector's `FakeClock`), time moves ``spacing_seconds`` after each
    sample, spreading them over the collector's windows.
    """
    handle = collector.operation(operation)
    count = 0
    for sample in samples:
        handle.record(sample.duration_ms, sample.success, sample.error_code, sample.error_message)
        count += 1
        if clock is not None and spacing_seconds:
            clock.advance(spacing_seconds)
    return count


# --------------------------------------------------------------------------------------------
# Plain factories


def _check_rate(failure_rate: float) -> None:
    if not 0.0 <= failure_rate <= 1.0:
        raise InvalidArgumentError(f"failure_rate must be between 0 and 1, not {failure_rate!r}")


def _check_count(count: int) -> None:
    if count < 0:
        raise InvalidArgumentError(f"count must be non-negative, not {count!r}")


def make_success(value: Any = None) -> Success[Any]:
    """``Success(value)``."""
    return Success(value)


def make_failure(error: Any = "error") -> Failure[Any]:
    """``Failure(error)``."""
    return Failure(error)


def make_api_error(
    code: ErrorCode | str = "INTERNAL_SERVER_ERROR",
    message: str | None = None,
    details: dict[str, Any] | None = None,
) -> APIError:
    """An `APIError` with ``code`` and a message derived from it when none is given.

    >>> make_api_error("NOT_FOUND").status_code
    404
    """
    from rfs_monitoring.errors import APIError

    text = message if message is not None else f"generated {str(code).lower()} error"
    return APIError(code=code, message=text, details=details)


def make_results(
    count: int,
    *,
    failure_rate: float = 0.0,
    seed: int | None = None,
    value: Callable[[int], Any] = lambda i: i,
    error: Callable[[int], Any] = lambda i: f"error {i}",
) -> list[Result[Any, Any]]:
    """``count`` results, each a failure with probability ``failure_rate``; ``value(i)`` and
    ``error(i)`` build the i-th content."""
    _check_count(count)
    _check_rate(failure_rate)
    rng = random.Random(seed)
    return [
        Failure(error(i)) if rng.random() < failure_rate else Success(value(i))
        for i in range(count)
    ]


def make_flux_result(
    successes: int,
    failures: int,
    *,
    seed: int | None = None,
    value: Callable[[int], Any] = lambda i: i,
    error: Callable[[int], Any] = lambda i: f"error {i}",
) -> FluxResult[Any, Any]:
    """A `FluxResult` with exactly ``successes`` and ``failures``, in an order shuffled by
    ``seed`` (successes first when ``seed`` is None)."""
    from rfs_monitoring.reactive import FluxResult

    _check_count(successes)
    _check_count(failures)
    items: list[Result[Any, Any]] = [Success(value(i)) for i in range(successes)]
    items += [Failure(error(i)) for i in range(failures)]
    if seed is not None:
        random.Random(seed).shuffle(items)
    return FluxResult.from_results(items)


def make_operation_samples(
    count: int,
    *,
    failure_rate: float = 0.1,
    median_ms: float = 20.0,
    spread: float = 0.5,
    error_codes: Sequence[str] = DEFAULT_ERROR_CODES,
    seed: int | None = None,
) -> list[OperationSample]:
    """``count`` samples with log-normal latencies around ``median_ms`` (``spread`` is the
    log-space deviation, giving the long tail real services have) and failures at
    ``failure_rate``, their codes drawn from ``error_codes``."""
    _check_count(count)
    _check_rate(failure_rate)
    if not (median_ms > 0 and math.isfinite(median_ms)):
        raise InvalidArgumentError(f"median_ms must be a positive number, not {median_ms!r}")
    if spread < 0:
        raise InvalidArgumentError(f"spread must be non-negative, not {spread!r}")
    if failure_rate and not error_codes:
        raise InvalidArgumentError("failing samples need at least one error code")
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        duration = rng.lognormvariate(math.log(median_ms), spread)
        if rng.random() < failure_rate:
            code = rng.choice(list(error_codes))
            samples.append(OperationSample(duration, False, code, f"generated {code.lower()}"))
        else:
            samples.append(OperationSample(duration, True))
    return samples


# --------------------------------------------------------------------------------------------
# Hypothesis strategies


def _strategies() -> Any:
    try:
        from hypothesis import strategies
    except ImportError:
        raise ImportError(
            "the rfs_monitoring.testing strategies need hypothesis: "
            "pip install 'rfs-monitoring[hypothesis]' (or use the make_* factories)"
        ) from None
    return strategies


def successes(values: SearchStrategy[Any] | None = None) -> SearchStrategy[Success[Any]]:
    """``Success`` of values drawn from ``values`` (default: integers)."""
    st = _strategies()
    return st.builds(Success, values if values is not None else st.integers())  # type: ignore[no-any-return]


def failures(errors: SearchStrategy[Any] | None = None) -> SearchStrategy[Failure[Any]]:
    """``Failure`` of errors drawn from ``errors`` (default: short texts)."""
    st = _strategies()
    source = errors if errors is not None else st.text(min_size=1, max_size=20)
    return st.builds(Failure, source)  # type: ignore[no-any-return]


def results(
    values: SearchStrategy[Any] | None = None, errors: SearchStrategy[Any] | None = None
) -> SearchStrategy[Result[Any, Any]]:
    """Either a success or a failure."""
    return _strategies().one_of(successes(values), failures(errors))  # type: ignore[no-any-return]


def api_errors(codes: Sequence[ErrorCode | str] | None = None) -> SearchStrategy[APIError]:
    """`APIError` values with codes from ``codes`` (default: every `ErrorCode`) and generated
    messages."""
    from rfs_monitoring.errors import APIError, ErrorCode

    st = _strategies()
    code_strategy = st.sampled_from(list(codes) if codes is not None else list(ErrorCode))
    messages = st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40
    )
    return st.builds(lambda c, m: APIError(code=c, message=m), code_strategy, messages)  # type: ignore[no-any-return]


def flux_results(
    elements: SearchStrategy[Result[Any, Any]] | None = None,
    *,
    min_size: int = 0,
    max_size: int = 20,
) -> SearchStrategy[FluxResult[Any, Any]]:
    """`FluxResult` of ``min_size``..``max_size`` results (default: `results()`)."""
    from rfs_monitoring.reactive import FluxResult

    st = _strategies()
    items = st.lists(
        elements if elements is not None else results(), min_size=min_size, max_size=max_size
    )
    return items.map(FluxResult.from_results)  # type: ignore[no-any-return]


def operation_samples(
    *,
    min_size: int = 0,
    max_size: int = 50,
    max_duration_ms: float = 60_000.0,
    error_codes: Sequence[str] = DEFAULT_ERROR_CODES,
) -> SearchStrategy[list[OperationSample]]:
    """Streams of samples: latencies from 0 to ``max_duration_ms`` (edges included) and
    outcomes that are successes or failures with a code from ``error_codes``."""
    st = _strategies()
    durations = st.floats(
        min_value=0.0, max_value=max_duration_ms, allow_nan=False, allow_infinity=False
    )
    ok = st.builds(OperationSample, durations, st.just(True))
    failed = st.builds(
        lambda d, c: OperationSample(d, False, c, f"generated {c.lower()}"),
        durations,
        st.sampled_from(list(error_codes)),
    )
    return st.lists(st.one_of(ok, failed), min_size=min_size, max_size=max_size)  # type: ignore[no-any-return]
