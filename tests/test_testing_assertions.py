"""Tests of the Result assertions: each passes on the right input and fails, with the actual
value or error in its message, on the wrong one."""

from __future__ import annotations

import asyncio
import enum
import re
from dataclasses import dataclass
from typing import Any

import pytest

from rfs_monitoring.reactive import FluxResult, MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.testing import (
    ResultLike,
    assert_flux_result_stats,
    assert_mono_result_timeout,
    assert_result_error,
    assert_result_success,
)


class Code(enum.StrEnum):
    """A str enum of codes, like ErrorCode."""

    NOT_FOUND = "NOT_FOUND"


class IntCode(enum.Enum):
    """An enum whose values are not strings."""

    GONE = 410


@dataclass
class CodedError(Exception):
    """An error with a code and a message, like APIError."""

    code: Any
    message: str


class ForeignOk:
    """A success from another Result library: only the protocol methods."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def is_success(self) -> bool:
        return True

    def unwrap(self) -> Any:
        return self.value

    def unwrap_error(self) -> Any:
        raise ValueError("no error")


class ForeignErr(ForeignOk):
    """A failure from another Result library."""

    def is_success(self) -> bool:
        return False

    def unwrap_error(self) -> Any:
        return self.value


# -- assert_result_success ---------------------------------------------------------------------


def test_success_assertion_returns_the_value() -> None:
    """A success of the expected type and value passes and returns the value."""
    assert assert_result_success(Success([1]), list, value=[1]) == [1]
    assert assert_result_success(Success(1), (str, int)) == 1


def test_success_assertion_fails_on_failure_showing_the_error() -> None:
    """A Failure fails the assertion; an exception error is chained as the cause."""
    with pytest.raises(AssertionError, match="got error: KeyError: 'user 7'") as info:
        assert_result_success(Failure(KeyError("user 7")))
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(AssertionError, match="got error: str 'nope'"):
        assert_result_success(Failure("nope"))


def test_success_assertion_checks_generic_aliases_by_origin() -> None:
    """``list[int]`` and similar aliases are checked against their runtime class."""
    assert_result_success(Success([1]), list[int])
    assert_result_error(Failure({"k": 1}), dict[str, int])
    with pytest.raises(AssertionError, match="success of list or dict, got str"):
        assert_result_success(Success("x"), (list[int], dict[str, int]))


def test_success_assertion_fails_on_wrong_type_or_value() -> None:
    """A success of another type or value fails, naming both."""
    with pytest.raises(AssertionError, match="success of str, got int: 3"):
        assert_result_success(Success(3), str)
    with pytest.raises(AssertionError, match="success of str or bytes, got int"):
        assert_result_success(Success(3), (str, bytes))
    with pytest.raises(AssertionError, match="Expected success value 4, got 3"):
        assert_result_success(Success(3), value=4)


def test_success_assertion_accepts_foreign_results() -> None:
    """Results from other libraries work through the protocol."""
    assert isinstance(ForeignOk(1), ResultLike)
    assert assert_result_success(ForeignOk(1), int) == 1
    with pytest.raises(AssertionError, match="got error"):
        assert_result_success(ForeignErr("bad"))


def test_success_assertion_rejects_non_results_and_unawaited_monos() -> None:
    """A plain value fails; a MonoResult fails with a hint to await it."""
    with pytest.raises(AssertionError, match="Expected a Result, got int: 5"):
        assert_result_success(5)
    with pytest.raises(AssertionError, match="await it first"):
        assert_result_success(MonoResult.from_value(1))


# -- assert_result_error -----------------------------------------------------------------------


def test_error_assertion_returns_the_error() -> None:
    """A failure with the expected type, code and message passes and returns the error."""
    error = CodedError(Code.NOT_FOUND, "user 123 not found")
    got = assert_result_error(Failure(error), CodedError, code=Code.NOT_FOUND, match=r"user \d+")
    assert got is error
    assert_result_error(Failure(error), code="NOT_FOUND")
    assert_result_error(Failure(CodedError(IntCode.GONE, "gone")), code=IntCode.GONE)
    assert_result_error(Failure(KeyError("k")), code="KeyError")


def test_error_assertion_fails_on_success_showing_the_value() -> None:
    """A Success fails the error assertion, showing its value."""
    with pytest.raises(AssertionError, match=r"got success: \{'id': 1\}"):
        assert_result_error(Success({"id": 1}))


def test_error_assertion_fails_on_wrong_type_code_or_message() -> None:
    """Another error type, code or message fails, naming what was found."""
    failure: Result[Any, Any] = Failure(CodedError("CONFLICT", "already exists"))
    with pytest.raises(AssertionError, match="error of KeyError, got CodedError: already exists"):
        assert_result_error(failure, KeyError)
    with pytest.raises(AssertionError, match="code NOT_FOUND, got CONFLICT"):
        assert_result_error(failure, code=Code.NOT_FOUND)
    with pytest.raises(AssertionError, match="match 'missing', got 'already exists'"):
        assert_result_error(failure, match="missing")
    with pytest.raises(AssertionError, match=r"match 'z\+'"):
        assert_result_error(failure, match=re.compile("z+"))


def test_error_assertion_accepts_foreign_results() -> None:
    """A foreign failure passes; a foreign success fails."""
    assert assert_result_error(ForeignErr("bad"), str) == "bad"
    with pytest.raises(AssertionError, match="got success: 1"):
        assert_result_error(ForeignOk(1))


# -- assert_flux_result_stats ------------------------------------------------------------------


def test_flux_stats_pass_on_exact_counts() -> None:
    """Matching counts pass; None skips a count."""
    flux = FluxResult.from_results([Success(1), Failure("e"), Success(2)])
    assert_flux_result_stats(flux, 2, 1)
    assert_flux_result_stats(flux, None, 1)
    assert_flux_result_stats(flux, 2, None)


def test_flux_stats_fail_listing_the_failures() -> None:
    """Wrong counts fail, listing the failures found (at most five, then a count)."""
    flux = FluxResult.from_results([Success(1)] + [Failure(ValueError(f"e{i}")) for i in range(7)])
    with pytest.raises(AssertionError) as info:
        assert_flux_result_stats(flux, 8, 0)
    message = str(info.value)
    assert "Expected 8 successes and 0 failures, got 1 and 7" in message
    assert "ValueError: e0" in message
    assert "2 more" in message
    with pytest.raises(AssertionError, match=r"got 1 and 0$"):
        assert_flux_result_stats(FluxResult.from_values([1]), 0, None)


def test_flux_stats_accept_plain_iterables_of_results() -> None:
    """A list of results is counted directly; a non-result inside it fails."""
    assert_flux_result_stats([Success(1), Failure("e"), ForeignOk(2)], 2, 1)
    with pytest.raises(AssertionError, match="got 2 and 1"):
        assert_flux_result_stats(iter([Success(1), Success(2), Failure("e")]), 3, 0)
    with pytest.raises(AssertionError, match="Expected a Result, got int"):
        assert_flux_result_stats([Success(1), 2], 1, 0)


# -- assert_mono_result_timeout ----------------------------------------------------------------


async def _slow_success() -> Result[str, Any]:
    await asyncio.sleep(10)
    return Success("late")


@pytest.mark.asyncio
async def test_timeout_assertion_passes_when_the_mono_times_out() -> None:
    """A mono cut off by its timeout passes and the timeout error is returned."""
    mono = MonoResult.from_async_result(_slow_success).timeout(0.05)
    error = await assert_mono_result_timeout(mono, 0.05)
    assert isinstance(error, TimeoutError)


@pytest.mark.asyncio
async def test_timeout_assertion_accepts_coded_timeouts_and_plain_awaitables() -> None:
    """A Failure whose code or text says timeout counts; a bare awaitable works too."""

    async def coded() -> Result[Any, Any]:
        await asyncio.sleep(0.03)
        return Failure(CodedError("TIMEOUT_ERROR", "upstream too slow"))

    await assert_mono_result_timeout(coded(), 0.03)

    async def worded() -> Result[Any, Any]:
        await asyncio.sleep(0.03)
        return Failure("request timed out")

    await assert_mono_result_timeout(MonoResult.from_async_result(worded), 0.03)


@pytest.mark.asyncio
async def test_timeout_assertion_fails_when_the_mono_succeeds() -> None:
    """A mono that completes fails the assertion, showing its value."""
    with pytest.raises(AssertionError, match=r"got success after .*'fast'"):
        await assert_mono_result_timeout(MonoResult.from_value("fast").timeout(1), 0.01)


@pytest.mark.asyncio
async def test_timeout_assertion_fails_on_another_error() -> None:
    """A mono failing for another reason fails, showing the error."""
    mono = MonoResult.from_error(PermissionError("denied"))
    with pytest.raises(AssertionError, match=r"got error .*PermissionError: denied"):
        await assert_mono_result_timeout(mono, 0.01)


@pytest.mark.asyncio
async def test_timeout_assertion_fails_when_the_timeout_fires_too_early() -> None:
    """A timeout error returned long before the expected time fails."""
    mono = MonoResult.from_error(TimeoutError("cached timeout"))
    with pytest.raises(AssertionError, match=r"fired after 0.0"):
        await assert_mono_result_timeout(mono, 0.5)


@pytest.mark.asyncio
async def test_timeout_assertion_fails_when_the_mono_hangs() -> None:
    """A mono without a working timeout is cancelled after the limit and fails."""
    mono = MonoResult.from_async_result(_slow_success)
    with pytest.raises(AssertionError, match=r"still running after .* cancelled"):
        await assert_mono_result_timeout(mono, 0.02, max_ratio=1, grace_seconds=0.03)


@pytest.mark.asyncio
async def test_timeout_assertion_fails_when_the_timeout_fires_far_too_late() -> None:
    """A timeout that fires well past the expected time fails."""

    async def late_timeout() -> Result[Any, Any]:
        await asyncio.sleep(0.2)
        return Failure(TimeoutError("late"))

    # The stretched clock reads the 0.2 s run as about 2 s, past the 0.2 * 3 + 1 s limit, while
    # asyncio's own timer (real time) lets the run finish, so the explicit check must catch it.
    with pytest.raises(AssertionError, match="it took"):
        await _run_with_stretched_clock(assert_mono_result_timeout(late_timeout(), 0.2))


async def _run_with_stretched_clock(awaitable: Any) -> Any:
    """Run ``awaitable`` while ``time.perf_counter`` in the helpers reports ten times longer."""
    from rfs_monitoring.testing import result_helpers

    real = result_helpers.time.perf_counter
    origin = real()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(result_helpers.time, "perf_counter", lambda: origin + (real() - origin) * 10)
        return await awaitable


@pytest.mark.asyncio
async def test_timeout_assertion_rejects_a_non_positive_timeout() -> None:
    """A zero or negative timeout is a usage error."""
    with pytest.raises(ValueError, match="positive"):
        await assert_mono_result_timeout(MonoResult.from_value(1), 0)


@pytest.mark.asyncio
async def test_timeout_assertion_rejects_non_result_outcomes() -> None:
    """An awaitable that resolves to a non-Result fails the assertion."""

    async def plain() -> int:
        return 1

    with pytest.raises(AssertionError, match="Expected a Result, got int"):
        await assert_mono_result_timeout(plain(), 0.01)
