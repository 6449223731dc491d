"""Behaviour of Result, Success and Failure."""

from __future__ import annotations

import pytest

from rfs_monitoring import Failure, Result, Success
from rfs_monitoring.exceptions import UnwrapError


def test_unwrap_on_failure_raises_unwrap_error_chained_to_the_exception() -> None:
    """unwrap() on a Failure holding an exception raises UnwrapError from that exception."""
    cause = KeyError("missing")
    with pytest.raises(UnwrapError) as info:
        Failure(cause).unwrap()
    assert info.value.__cause__ is cause
    assert isinstance(info.value, ValueError)


def test_results_match_structurally() -> None:
    """Success and Failure work with match statements."""

    def describe(result: Result[int, str]) -> str:
        match result:
            case Success(value):
                return f"ok {value}"
            case Failure(error):
                return f"err {error}"
        raise AssertionError("unreachable")

    assert describe(Success(1)) == "ok 1"
    assert describe(Failure("x")) == "err x"
