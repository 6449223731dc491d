"""Algebraic laws of Result and MonoResult, checked with hypothesis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rfs_monitoring.reactive import MonoResult
from rfs_monitoring.result import Failure, Result, Success

values = st.integers(min_value=-1000, max_value=1000)
errors = st.text(max_size=10)
results: st.SearchStrategy[Result[int, str]] = st.one_of(values.map(Success), errors.map(Failure))

# A small family of pure functions, so composition laws are checked on real transformations.
unary: st.SearchStrategy[Callable[[int], int]] = st.sampled_from(
    [lambda x: x + 1, lambda x: x * 2, lambda x: -x, lambda x: x % 7, abs]
)


def _kleisli(kind: int, modulus: int) -> Callable[[int], Result[int, str]]:
    def step(x: int) -> Result[int, str]:
        if kind == 0:
            return Success(x + modulus)
        if kind == 1:
            return Success(x * 3) if x % modulus else Failure(f"divisible by {modulus}")
        return Failure("always") if x > modulus else Success(x - 1)

    return step


binders = st.builds(_kleisli, st.integers(0, 2), st.integers(1, 9))


def run(mono: MonoResult[Any, Any]) -> Result[Any, Any]:
    return asyncio.run(mono.to_result())


@given(results)
def test_map_identity_leaves_a_result_unchanged(result: Result[int, str]) -> None:
    """map(identity) is the identity."""
    assert result.map(lambda x: x) == result


@given(results, unary, unary)
def test_map_composition_equals_mapping_the_composed_function(
    result: Result[int, str], f: Callable[[int], int], g: Callable[[int], int]
) -> None:
    """map(f).map(g) == map(g . f)."""
    assert result.map(f).map(g) == result.map(lambda x: g(f(x)))


@given(results, unary, unary)
def test_map_error_composition_holds(
    result: Result[int, str], f: Callable[[int], int], g: Callable[[int], int]
) -> None:
    """map_error(f).map_error(g) == map_error(g . f)."""
    lengths = result.map_error(len)
    assert lengths.map_error(f).map_error(g) == lengths.map_error(lambda e: g(f(e)))


@given(values, binders)
def test_bind_left_identity(value: int, f: Callable[[int], Result[int, str]]) -> None:
    """Success(a).bind(f) == f(a)."""
    assert Success(value).bind(f) == f(value)


@given(results)
def test_bind_right_identity(result: Result[int, str]) -> None:
    """r.bind(Success) == r."""
    assert result.bind(Success) == result


@given(results, binders, binders)
def test_bind_is_associative(
    result: Result[int, str],
    f: Callable[[int], Result[int, str]],
    g: Callable[[int], Result[int, str]],
) -> None:
    """r.bind(f).bind(g) == r.bind(lambda x: f(x).bind(g))."""
    assert result.bind(f).bind(g) == result.bind(lambda x: f(x).bind(g))


@given(results, results)
def test_equality_and_hash_follow_content(a: Result[int, str], b: Result[int, str]) -> None:
    """Results are equal exactly when kind and content are, and equal ones hash alike."""
    same = type(a) is type(b) and (
        a.unwrap() == b.unwrap() if a.is_success() else a.unwrap_error() == b.unwrap_error()
    )
    assert (a == b) is same
    if same:
        assert hash(a) == hash(b)


@given(results)
def test_match_recovers_the_content(result: Result[int, str]) -> None:
    """Structural pattern matching finds the value or the error."""
    match result:
        case Success(value):
            assert result.is_success()
            assert value == result.unwrap()
        case Failure(error):
            assert result.is_failure()
            assert error == result.unwrap_error()


@given(results, unary, binders)
def test_mono_chain_agrees_with_the_plain_result_chain(
    result: Result[int, str], f: Callable[[int], int], g: Callable[[int], Result[int, str]]
) -> None:
    """A MonoResult chain computes exactly what the same Result chain does."""
    mono = MonoResult.from_result(result).map(f).bind_result(g).map_error(str.upper)
    assert run(mono) == result.map(f).bind(g).map_error(str.upper)


@given(results, binders, binders)
def test_mono_bind_is_associative(
    result: Result[int, str],
    f: Callable[[int], Result[int, str]],
    g: Callable[[int], Result[int, str]],
) -> None:
    """Binding step by step or through a nested MonoResult gives the same Result."""
    stepwise = MonoResult.from_result(result).bind_result(f).bind_result(g)
    nested = MonoResult.from_result(result).bind_result(
        lambda x: MonoResult.from_result(f(x)).bind_result(g)
    )
    assert run(stepwise) == run(nested)
