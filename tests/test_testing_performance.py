"""Tests of the overhead helpers, the coroutine benchmark runner and baseline comparison."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from rfs_monitoring.testing import (
    AsyncBenchmark,
    OverheadReport,
    assert_overhead_below,
    assert_overhead_below_async,
    compare_benchmarks,
    load_benchmark_stats,
    measure_overhead,
    measure_overhead_async,
)
from rfs_monitoring.testing.performance import main, parse_regression


def _work(n: int) -> int:
    return sum(i * i for i in range(n))


def test_measure_overhead_reports_interleaved_medians() -> None:
    """Heavier instrumented work shows as a ratio above 1 and a positive extra cost."""
    report = measure_overhead(lambda: _work(400), lambda: _work(20), rounds=5)
    assert report.rounds == 5
    assert report.iterations >= 1
    assert report.ratio > 1
    assert report.extra_ns > 0
    assert "per call" in str(report)


def test_measure_overhead_honours_explicit_iterations_and_rejects_bad_counts() -> None:
    """An explicit iteration count is used; zero rounds or iterations are refused."""
    calls: list[int] = []
    report = measure_overhead(lambda: calls.append(1), lambda: None, rounds=2, iterations=7)
    assert report.iterations == 7
    assert len(calls) == 1 + 2 * 7
    with pytest.raises(ValueError, match="rounds"):
        measure_overhead(lambda: None, lambda: None, rounds=0)
    with pytest.raises(ValueError, match="iterations"):
        measure_overhead(lambda: None, lambda: None, iterations=0)


def test_measure_overhead_refuses_coroutine_functions() -> None:
    """Async callables must go through measure_overhead_async."""

    async def fn() -> None:
        return None

    with pytest.raises(TypeError, match="measure_overhead_async"):
        measure_overhead(fn, fn)


def test_report_ratio_and_formatting_edge_cases() -> None:
    """A zero plain time gives an infinite ratio; units scale from ns to ms."""
    assert math.isinf(OverheadReport(10, 0, 1, 1).ratio)
    assert "2.00 ms" in str(OverheadReport(2_000_000, 1_000, 1, 1))
    faster = str(OverheadReport(900, 1_500, 3, 10))
    assert "-600 ns" in faster
    assert "1.50 µs" in faster


def test_assert_overhead_below_passes_for_equal_work() -> None:
    """The same function on both sides is within a generous ratio and absolute bound."""
    report = assert_overhead_below(
        lambda: _work(50), lambda: _work(50), max_ratio=2.0, max_ns=50_000, rounds=5
    )
    assert report.ratio <= 2.0


def test_assert_overhead_below_fails_for_heavy_instrumentation() -> None:
    """Instrumentation a hundred times heavier fails, showing the best attempt."""
    with pytest.raises(AssertionError, match=r"wanted at most x1.5; best attempt: instrumented"):
        assert_overhead_below(lambda: _work(2000), lambda: _work(20), max_ratio=1.5, rounds=3)
    with pytest.raises(AssertionError, match=r"at most \+1 ns per call"):
        assert_overhead_below(lambda: _work(2000), lambda: _work(20), max_ns=1, attempts=2)


def test_assert_overhead_below_validates_limits() -> None:
    """No limit, a non-positive ratio or a negative absolute bound are usage errors."""
    with pytest.raises(ValueError, match="give max_ratio"):
        assert_overhead_below(lambda: None, lambda: None)
    with pytest.raises(ValueError, match="max_ratio"):
        assert_overhead_below(lambda: None, lambda: None, max_ratio=0)
    with pytest.raises(ValueError, match="max_ns"):
        assert_overhead_below(lambda: None, lambda: None, max_ns=-1)


@pytest.mark.asyncio
async def test_async_overhead_helpers_pass_and_fail() -> None:
    """The async variants measure awaited calls and fail on heavy instrumentation."""

    async def plain() -> int:
        return _work(20)

    async def heavy() -> int:
        await asyncio.sleep(0)
        return _work(2000)

    report = await measure_overhead_async(heavy, plain, rounds=3)
    assert report.ratio > 1
    fixed = await measure_overhead_async(plain, plain, rounds=2, iterations=5)
    assert fixed.iterations == 5
    await assert_overhead_below_async(plain, plain, max_ratio=3.0, rounds=3)
    with pytest.raises(AssertionError, match="overhead too high in 2 attempts"):
        await assert_overhead_below_async(heavy, plain, max_ratio=1.5, rounds=3, attempts=2)
    with pytest.raises(ValueError, match="rounds"):
        await measure_overhead_async(plain, plain, rounds=0)


def test_async_benchmark_without_pytest_benchmark_times_itself() -> None:
    """Without pytest-benchmark, the runner times rounds itself and keeps the stats."""

    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    runner = AsyncBenchmark(rounds=5)
    assert runner(fetch, 21) == 42
    assert runner.stats is not None
    assert runner.stats.rounds == 5
    assert runner.stats.min <= runner.stats.median <= runner.stats.max
    runner.close()
    runner.close()


def test_async_benchmark_goes_through_the_benchmark_fixture() -> None:
    """With a benchmark fixture, the coroutine runs inside it and its result comes back."""
    seen: list[Any] = []

    def fake_benchmark(fn: Any) -> Any:
        seen.append(fn)
        return fn()

    async def fetch() -> str:
        return "done"

    runner = AsyncBenchmark(fake_benchmark)
    assert runner(fetch) == "done"
    assert len(seen) == 1
    assert runner.stats is None
    runner.close()


@pytest.mark.asyncio
async def test_async_benchmark_refuses_to_run_inside_a_running_loop() -> None:
    """Calling the runner from an async test raises a RuntimeError explaining why."""

    async def fetch() -> None:
        return None

    with pytest.raises(RuntimeError, match="sync test"):
        AsyncBenchmark()(fetch)


def test_benchmark_async_fixture_times_a_coroutine(benchmark_async: AsyncBenchmark) -> None:
    """The plugin's fixture returns the coroutine's result (timed once when disabled)."""

    async def fetch() -> int:
        await asyncio.sleep(0)
        return 7

    assert benchmark_async(fetch) == 7


def _report(tmp_path: Path, name: str, medians: dict[str, float]) -> Path:
    path = tmp_path / name
    benchmarks = [{"fullname": k, "name": k, "stats": {"median": v}} for k, v in medians.items()]
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    return path


def test_compare_benchmarks_flags_only_regressions_beyond_tolerance(tmp_path: Path) -> None:
    """Slower beyond the tolerance regresses; within it or faster does not."""
    baseline = load_benchmark_stats(_report(tmp_path, "b.json", {"a": 1.0, "b": 1.0, "c": 1.0}))
    current = {"a": 1.25, "b": 1.05, "c": 0.5, "new": 9.0}
    comparisons = compare_benchmarks(current, baseline, "10%")
    assert [(c.name, c.regressed) for c in comparisons] == [
        ("a", True),
        ("b", False),
        ("c", False),
    ]
    assert "REGRESSED" in str(comparisons[0])
    assert str(comparisons[1]).endswith("ok")
    assert compare_benchmarks({"z": 1.0}, {"z": 0.0})[0].change == 0.0


def test_parse_regression_accepts_percent_and_fraction_only() -> None:
    """Percent and fraction spellings parse; garbage and negatives are ValueErrors."""
    assert parse_regression("12.5%") == 0.125
    assert parse_regression(" 0.2 ") == 0.2
    with pytest.raises(ValueError, match="not a regression tolerance"):
        parse_regression("ten")
    with pytest.raises(ValueError, match="non-negative"):
        parse_regression("-5%")


def test_load_benchmark_stats_rejects_non_reports(tmp_path: Path) -> None:
    """Files that are not pytest-benchmark reports raise ValueError."""
    with pytest.raises(ValueError, match="not a pytest-benchmark"):
        load_benchmark_stats({"results": []})
    with pytest.raises(ValueError, match="malformed"):
        load_benchmark_stats({"benchmarks": [{"name": "x", "stats": {}}]})
    assert load_benchmark_stats({"benchmarks": [{"name": "x", "stats": {"min": 2}}]}, "min") == {
        "x": 2.0
    }


def test_command_line_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI exits 0 within tolerance, 1 on a regression, 2 on unreadable input."""
    baseline = _report(tmp_path, "base.json", {"t": 1.0})
    fine = _report(tmp_path, "fine.json", {"t": 1.05})
    slow = _report(tmp_path, "slow.json", {"t": 2.0})
    other = _report(tmp_path, "other.json", {"u": 2.0})
    assert main([str(fine), str(baseline)]) == 0
    assert main([str(slow), str(baseline), "--max-regression", "50%"]) == 1
    assert "REGRESSED" in capsys.readouterr().out
    assert main([str(other), str(baseline)]) == 0
    assert "no benchmark appears in both runs" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.json"), str(baseline)]) == 2
    assert "error:" in capsys.readouterr().err
