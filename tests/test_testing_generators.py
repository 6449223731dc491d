"""Tests of the data generators: hypothesis strategies (used as property tests of the
assertions) and the plain factories, including their refusals."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.reactive import FluxResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.testing import (
    assert_flux_result_stats,
    assert_result_error,
    assert_result_success,
)
from rfs_monitoring.testing.generators import (
    OperationSample,
    api_errors,
    failures,
    flux_results,
    make_api_error,
    make_failure,
    make_flux_result,
    make_operation_samples,
    make_results,
    make_success,
    operation_samples,
    results,
    successes,
)


@given(results())
def test_exactly_one_result_assertion_passes(result: Result[int, str]) -> None:
    """For any result, exactly one of the success and error assertions passes."""
    outcomes = []
    for check in (assert_result_success, assert_result_error):
        try:
            check(result)
        except AssertionError:
            outcomes.append(False)
        else:
            outcomes.append(True)
    assert outcomes == [result.is_success(), result.is_failure()]


@given(successes(st.text()), failures(st.integers()))
def test_strategies_build_the_requested_content(ok: Success[str], bad: Failure[int]) -> None:
    """Custom value and error strategies reach the built results."""
    assert isinstance(assert_result_success(ok, str), str)
    assert isinstance(assert_result_error(bad, int), int)


@given(flux_results(max_size=15))
def test_flux_stats_assertion_matches_a_manual_count(flux: FluxResult[int, str]) -> None:
    """The stats assertion passes on the true counts and fails when either is off by one."""
    ok = sum(r.is_success() for r in flux.results)
    bad = len(flux.results) - ok
    assert_flux_result_stats(flux, ok, bad)
    with pytest.raises(AssertionError):
        assert_flux_result_stats(flux, ok + 1, bad)
    with pytest.raises(AssertionError):
        assert_flux_result_stats(flux, ok, bad + 1)


@given(flux_results(successes(), min_size=3, max_size=5))
def test_flux_strategy_respects_elements_and_sizes(flux: FluxResult[int, str]) -> None:
    """Custom elements and size bounds are honoured."""
    assert 3 <= flux.count_total() <= 5
    assert flux.count_failures() == 0


@given(api_errors())
def test_api_errors_carry_their_code_and_status(error: APIError) -> None:
    """Generated APIErrors are well formed and classified by code."""
    assert error.status_code == ErrorCode(error.code).status_code
    assert_result_error(Failure(error), APIError, code=error.code)


@given(api_errors([ErrorCode.NOT_FOUND]))
def test_api_errors_can_be_limited_to_some_codes(error: APIError) -> None:
    """A code list restricts what is generated."""
    assert error.code == ErrorCode.NOT_FOUND


@given(operation_samples(max_size=30, max_duration_ms=500.0, error_codes=["E1", "E2"]))
def test_operation_samples_stay_in_bounds(samples: list[OperationSample]) -> None:
    """Latencies stay within bounds and only failures carry a code."""
    for sample in samples:
        assert 0.0 <= sample.duration_ms <= 500.0
        assert (sample.error_code is None) == sample.success
        assert sample.success or sample.error_code in ("E1", "E2")


def test_strategies_explain_a_missing_hypothesis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without hypothesis, a strategy raises ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(ImportError, match=r"rfs-monitoring\[hypothesis\]"):
        results()


def test_plain_factories_build_results_and_errors() -> None:
    """The simple factories wrap values and build coded APIErrors."""
    assert make_success(1) == Success(1)
    assert make_failure() == Failure("error")
    error = make_api_error(ErrorCode.CONFLICT, details={"id": 1})
    assert error.code == ErrorCode.CONFLICT
    assert error.message == "generated conflict error"
    assert make_api_error("NOT_FOUND", "gone").message == "gone"


def test_make_results_is_reproducible_and_honours_the_rate() -> None:
    """A seed reproduces the data; rates 0 and 1 give all successes or all failures."""
    assert make_results(20, failure_rate=0.3, seed=3) == make_results(20, failure_rate=0.3, seed=3)
    assert all(r.is_success() for r in make_results(10))
    assert all(r.is_failure() for r in make_results(10, failure_rate=1.0))
    custom = make_results(2, failure_rate=1.0, error=lambda i: KeyError(i))
    assert_result_error(custom[1], KeyError)


def test_make_flux_result_has_exact_counts() -> None:
    """The flux holds exactly the requested counts, shuffled reproducibly by the seed."""
    flux = make_flux_result(3, 2, seed=5)
    assert_flux_result_stats(flux, 3, 2)
    assert make_flux_result(3, 2, seed=5) == flux
    ordered = make_flux_result(2, 1)
    assert [r.is_success() for r in ordered.results] == [True, True, False]


def test_make_operation_samples_shape() -> None:
    """Latencies centre on the median; failures carry the given codes."""
    samples = make_operation_samples(
        400, failure_rate=0.25, median_ms=50, error_codes=["X"], seed=2
    )
    durations = sorted(s.duration_ms for s in samples)
    assert 35 < durations[len(durations) // 2] < 70
    failed = [s for s in samples if not s.success]
    assert 60 < len(failed) < 140
    assert {s.error_code for s in failed} == {"X"}
    flat = make_operation_samples(5, failure_rate=0.0, spread=0.0, median_ms=10, error_codes=())
    assert [round(s.duration_ms, 6) for s in flat] == [10.0] * 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1}, "count"),
        ({"count": 1, "failure_rate": 1.5}, "failure_rate"),
        ({"count": 1, "median_ms": 0}, "median_ms"),
        ({"count": 1, "spread": -1}, "spread"),
        ({"count": 1, "error_codes": ()}, "error code"),
    ],
)
def test_make_operation_samples_rejects_bad_arguments(
    kwargs: dict[str, object], message: str
) -> None:
    """Impossible sample parameters raise ValueError naming the parameter."""
    with pytest.raises(ValueError, match=message):
        make_operation_samples(**kwargs)  # type: ignore[arg-type]


def test_factories_reject_bad_counts_and_rates() -> None:
    """Negative counts and rates outside 0..1 raise ValueError."""
    with pytest.raises(ValueError, match="count"):
        make_results(-1)
    with pytest.raises(ValueError, match="failure_rate"):
        make_results(1, failure_rate=-0.1)
    with pytest.raises(ValueError, match="count"):
        make_flux_result(1, -1)
