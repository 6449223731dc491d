"""Property tests of the Rust core through `_core.Registry` against a plain Python model."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rfs_monitoring import _core

NOW = 10_000.0
CODES = ("NOT_FOUND", "TIMEOUT_ERROR", "CONFLICT")

samples_strategy = st.lists(
    st.tuples(
        st.floats(min_value=NOW - 3_000, max_value=NOW),
        st.floats(min_value=0.001, max_value=60_000.0),
        st.none() | st.sampled_from(CODES),
    ),
    max_size=200,
)


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@settings(max_examples=60, deadline=None)
@given(samples=samples_strategy)
def test_hour_summaries_match_a_sorted_list(
    samples: list[tuple[float, float, str | None]],
) -> None:
    """Counts and codes are exact, min/max exact and quantiles within 1% of nearest-rank."""
    clock = {"now": NOW}
    registry = _core.Registry(clock=lambda: clock["now"])
    handle = registry.handle("op")
    for t, ms, code in samples:
        clock["now"] = t
        handle.record(ms, code is None, code, None if code is None else f"{code} happened")
    summary = registry.summary("op", NOW, 3_600, 10)
    if not samples:
        assert summary is None
        return
    assert summary is not None
    assert summary.total == len(samples)
    assert summary.failures == sum(code is not None for _, _, code in samples)
    expected_codes = {c: sum(code == c for _, _, code in samples) for c in CODES}
    assert dict(summary.errors_by_code) == {c: n for c, n in expected_codes.items() if n}
    assert sum(error.count for error in summary.top_errors) == summary.failures
    ordered = sorted(ms for _, ms, _ in samples)
    assert (summary.min_ms, summary.max_ms) == (ordered[0], ordered[-1])
    assert math.isclose(summary.sum_ms, math.fsum(ordered), rel_tol=1e-9)
    for q, got in ((0.5, summary.p50_ms), (0.9, summary.p90_ms), (0.99, summary.p99_ms)):
        exact = nearest_rank(ordered, q)
        assert abs(got - exact) <= exact / 100


@settings(max_examples=30, deadline=None)
@given(
    samples=st.lists(st.floats(min_value=0.0, max_value=5_000.0), min_size=1, max_size=100),
    points=st.integers(min_value=1, max_value=120),
)
def test_time_series_points_add_up_to_the_summary(samples: list[float], points: int) -> None:
    """The points of a series partition the window: their totals sum to the summary's."""
    clock = {"now": NOW}
    registry = _core.Registry(clock=lambda: clock["now"])
    handle = registry.handle("op")
    for i, ms in enumerate(samples):
        clock["now"] = NOW - 3_000 + i * 29.0
        handle.record(ms, True)
    series = registry.series("op", NOW, 3_600, points)
    summary = registry.summary("op", NOW, 3_600, 0)
    assert series is not None
    assert summary is not None
    assert sum(point.total for point in series) == summary.total == len(samples)
    assert max(point.max_ms for point in series) == summary.max_ms
    starts = [point.start for point in series]
    assert starts == sorted(starts)
    step = series[0].seconds
    assert all(point.seconds == step for point in series)
    assert step >= 3_600 / points or step == 10
    assert len(series) <= math.ceil(3_600 / step) + 1
