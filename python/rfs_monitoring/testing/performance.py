"""Overhead checks and benchmark baselines that hold up on a noisy CI machine.

`measure_overhead` times an instrumented callable against its plain twin in interleaved batches
(so a burst of load hits both alike) and reports per-call medians. `assert_overhead_below` turns
that into a test that retries before failing. `compare_benchmarks` checks a pytest-benchmark
run against a saved one; the pytest plugin runs it with ``--rfs-baseline PATH``, and
``python -m rfs_monitoring.testing.performance CURRENT.json BASELINE.json`` runs it in a pipeline.

>>> report = measure_overhead(lambda: sum(range(50)), lambda: sum(range(10)), rounds=3)
>>> report.rounds, report.instrumented_ns > 0, report.plain_ns > 0
(3, True, True)
>>> parse_regression("10%"), parse_regression("0.25")
(0.1, 0.25)
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rfs_monitoring._exceptions import InvalidArgumentError, InvalidTypeError

__all__ = [
    "AsyncBenchmark",
    "BenchmarkComparison",
    "OverheadReport",
    "assert_overhead_below",
    "assert_overhead_below_async",
    "compare_benchmarks",
    "load_benchmark_stats",
    "main",
    "measure_overhead",
    "measure_overhead_async",
    "parse_regression",
]

#: How long one timed batch should last: long enough to dwarf the timer's resolution.
_BATCH_SECONDS = 0.002
_MAX_ITERATIONS = 1_000_000


@dataclass(frozen=True, slots=True)
class OverheadReport:
    """Per-call medians of an interleaved comparison, in nanoseconds."""

    instrumented_ns: float
    plain_ns: float
    rounds: int
    iterations: int

    @property
    def ratio(self) -> float:
        """How many times slower the instrumented call is (``inf`` when plain took no time)."""
        return self.instrumented_ns / self.plain_ns if self.plain_ns > 0 else math.inf

    @property
    def extra_ns(self) -> float:
        """What instrumentation adds to one call, in nanoseconds."""
        return self.instrumented_ns - self.plain_ns

    def __str__(self) -> str:
        return (
            f"instrumented {_ns(self.instrumented_ns)} vs plain {_ns(self.plain_ns)} per call: "
            f"x{self.ratio:.2f}, {'+' if self.extra_ns >= 0 else '-'}{_ns(abs(self.extra_ns))} "
            f"(median of {self.rounds} rounds x {self.iterations} calls)"
        )


def _ns(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.2f} µs"
    return f"{value:.0f} ns"


def _check_rounds(rounds: int, iterations: int | None) -> None:
    if rounds < 1:
        raise InvalidArgumentError(f"rounds must be at least 1, not {rounds}")
    if iterations is not None and iterations < 1:
        raise InvalidArgumentError(f"iterations must be at least 1, not {iterations}")


def _refuse_async(*fns: Callable[[], Any]) -> None:
    if any(inspect.iscoroutinefunction(fn) for fn in fns):
        raise InvalidTypeError("async callables need `await measure_overhead_async(...)`")


def _batch(fn: Callable[[], Any], iterations: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(iterations):
        fn()
    return (time.perf_counter_ns() - started) / iterations


async def _batch_async(fn: Callable[[], Awaitable[Any]], iterations: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(iterations):
        await fn()
    return (time.perf_counter_ns() - started) / iterations


def _iterations_for(per_call_ns: float) -> int:
    wanted = _BATCH_SECONDS * 1e9 / max(per_call_ns, 1.0)
    return max(1, min(_MAX_ITERATIONS, math.ceil(wanted)))


def _report(samples: list[tuple[float, float]], iterations: int) -> OverheadReport:
    return OverheadReport(
        instrumented_ns=statistics.median(s[0] for s in samples),
        plain_ns=statistics.median(s[1] for s in samples),
        rounds=len(samples),
        iterations=iterations,
    )


def measure_overhead(
    instrumented: Callable[[], Any],
    plain: Callable[[], Any],
    *,
    rounds: int = 15,
    iterations: int | None = None,
) -> OverheadReport:
    """Time ``instrumented`` against ``plain`` (zero-argument callables) and report medians.

    Each round times a batch of ``iterations`` calls of each, alternating which goes first, so
    load spikes and warm-up affect both sides alike. ``iterations`` defaults to what makes a
    batch last about 2 ms.
    """
    _check_rounds(rounds, iterations)
    _refuse_async(instrumented, plain)
    instrumented()  # warm-up: imports, caches, lazy initialisation
    plain()
    if iterations is None:
        iterations = _iterations_for(max(_batch(instrumented, 3), _batch(plain, 3)))
    samples: list[tuple[float, float]] = []
    for index in range(rounds):
        if index % 2:
            plain_ns = _batch(plain, iterations)
            instrumented_ns = _batch(instrumented, iterations)
        else:
            instrumented_ns = _batch(instrumented, iterations)
            plain_ns = _batch(plain, iterations)
        samples.append((instrumented_ns, plain_ns))
    return _report(samples, iterations)


async def measure_overhead_async(
    instrumented: Callable[[], Awaitable[Any]],
    plain: Callable[[], Awaitable[Any]],
    *,
    rounds: int = 15,
    iterations: int | None = None,
) -> OverheadReport:
    """`measure_overhead` for coroutine functions, awaited one after another in the running
    loop."""
    _check_rounds(rounds, iterations)
    await instrumented()
    await plain()
    if iterations is None:
        slowest = max(await _batch_async(instrumented, 3), await _batch_async(plain, 3))
        iterations = _iterations_for(slowest)
    samples: list[tuple[float, float]] = []
    for index in range(rounds):
        if index % 2:
            plain_ns = await _batch_async(plain, iterations)
            instrumented_ns = await _batch_async(instrumented, iterations)
        else:
            instrumented_ns = await _batch_async(instrumented, iterations)
            plain_ns = await _batch_async(plain, iterations)
        samples.append((instrumented_ns, plain_ns))
    return _report(samples, iterations)


def _limits(max_ratio: float | None, max_ns: float | None) -> None:
    if max_ratio is None and max_ns is None:
        raise InvalidArgumentError("give max_ratio, max_ns or both")
    if max_ratio is not None and not max_ratio > 0:
        raise InvalidArgumentError(f"max_ratio must be positive, not {max_ratio!r}")
    if max_ns is not None and not max_ns >= 0:
        raise InvalidArgumentError(f"max_ns must be non-negative, not {max_ns!r}")


def _within(report: OverheadReport, max_ratio: float | None, max_ns: float | None) -> bool:
    return (max_ratio is None or report.ratio <= max_ratio) and (
        max_ns is None or report.extra_ns <= max_ns
    )


def _overhead_failure(
    best: OverheadReport, attempts: int, max_ratio: float | None, max_ns: float | None
) -> AssertionError:
    wanted = " and ".join(
        part
        for part in (
            f"at most x{max_ratio}" if max_ratio is not None else "",
            f"at most +{_ns(max_ns)} per call" if max_ns is not None else "",
        )
        if part
    )
    return AssertionError(
        f"Instrumentation overhead too high in {attempts} attempts: wanted {wanted}; "
        f"best attempt: {best}"
    )


def assert_overhead_below(
    instrumented: Callable[[], Any],
    plain: Callable[[], Any],
    max_ratio: float | None = None,
    max_ns: float | None = None,
    *,
    attempts: int = 3,
    rounds: int = 15,
    iterations: int | None = None,
) -> OverheadReport:
    """Assert the instrumented call costs at most ``max_ratio`` times the plain one and/or at
    most ``max_ns`` more nanoseconds per call (every given limit must hold).

    A noisy machine only makes calls slower, and rarely for long: the measurement is repeated up
    to ``attempts`` times and passes on the first attempt within the limits. The failure message
    shows the best attempt. Returns the passing report.
    """
    __tracebackhide__ = True
    _limits(max_ratio, max_ns)
    best: OverheadReport | None = None
    for _ in range(max(1, attempts)):
        report = measure_overhead(instrumented, plain, rounds=rounds, iterations=iterations)
        if _within(report, max_ratio, max_ns):
            return report
        best = report if best is None or report.extra_ns < best.extra_ns else best
    assert best is not None
    raise _overhead_failure(best, max(1, attempts), max_ratio, max_ns)


async def assert_overhead_below_async(
    instrumented: Callable[[], Awaitable[Any]],
    plain: Callable[[], Awaitable[Any]],
    max_ratio: float | None = None,
    max_ns: float | None = None,
    *,
    attempts: int = 3,
    rounds: int = 15,
    iterations: int | None = None,
) -> OverheadReport:
    """`assert_overhead_below` for coroutine functions."""
    __tracebackhide__ = True
    _limits(max_ratio, max_ns)
    best: OverheadReport | None = None
    for _ in range(max(1, attempts)):
        report = await measure_overhead_async(
            instrumented, plain, rounds=rounds, iterations=iterations
        )
        if _within(report, max_ratio, max_ns):
            return report
        best = report if best is None or report.extra_ns < best.extra_ns else best
    assert best is not None
    raise _overhead_failure(best, max(1, attempts), max_ratio, max_ns)


# --------------------------------------------------------------------------------------------
# Timing coroutines under pytest-benchmark


@dataclass(frozen=True, slots=True)
class AsyncBenchmarkStats:
    """Timings (seconds) of `AsyncBenchmark` when pytest-benchmark is not installed."""

    rounds: int
    min: float
    median: float
    mean: float
    max: float


class AsyncBenchmark:
    """The ``benchmark_async`` fixture: times a coroutine function from a sync test.

    pytest-benchmark only times plain callables; this runs each call to completion on a private
    event loop, through the ``benchmark`` fixture when pytest-benchmark is installed (so the
    timing appears in its table, JSON and ``--rfs-baseline`` checks, and ``--benchmark-disable``
    runs it once), else with its own timer (``rounds`` calls, see `stats`). Returns the
    coroutine's result. The loop's own cost per call is included, the same in any baseline.
    """

    def __init__(self, benchmark: Any = None, *, rounds: int = 20) -> None:
        self._benchmark = benchmark
        self._rounds = rounds
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats: AsyncBenchmarkStats | None = None

    def __call__(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "benchmark_async runs its own event loop: use it from a sync test (drop "
                "@pytest.mark.asyncio), or time in-loop code with measure_overhead_async"
            )
        loop = self._loop = self._loop or asyncio.new_event_loop()

        def run_once() -> Any:
            return loop.run_until_complete(fn(*args, **kwargs))

        if self._benchmark is not None:
            return self._benchmark(run_once)
        timings: list[float] = []
        result: Any = None
        for _ in range(self._rounds):
            started = time.perf_counter()
            result = run_once()
            timings.append(time.perf_counter() - started)
        self.stats = AsyncBenchmarkStats(
            rounds=len(timings),
            min=min(timings),
            median=statistics.median(timings),
            mean=statistics.fmean(timings),
            max=max(timings),
        )
        return result

    def close(self) -> None:
        """Close the private event loop (the fixture does this at teardown)."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None


# --------------------------------------------------------------------------------------------
# Baselines


@dataclass(frozen=True, slots=True)
class BenchmarkComparison:
    """One benchmark's statistic in the current run against the baseline (seconds)."""

    name: str
    baseline: float
    current: float
    max_regression: float

    @property
    def change(self) -> float:
        """Relative change: 0.25 means 25 % slower than the baseline."""
        return self.current / self.baseline - 1 if self.baseline > 0 else 0.0

    @property
    def regressed(self) -> bool:
        """True when slower than the baseline by more than the tolerance."""
        return self.change > self.max_regression

    def __str__(self) -> str:
        verdict = "REGRESSED" if self.regressed else "ok"
        return (
            f"{self.name}: {self.baseline * 1e6:.2f} µs -> {self.current * 1e6:.2f} µs "
            f"({self.change:+.1%}, limit +{self.max_regression:.0%}) {verdict}"
        )


def parse_regression(value: str | float) -> float:
    """A tolerance as a fraction: ``"10%"`` and ``"0.1"`` are both 0.1.

    >>> parse_regression(0.05)
    0.05
    """
    text = str(value).strip()
    try:
        fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise InvalidArgumentError(
            f"not a regression tolerance: {value!r} (use e.g. 10% or 0.1)"
        ) from None
    if not (math.isfinite(fraction) and fraction >= 0):
        raise InvalidArgumentError(
            f"a regression tolerance must be a non-negative number, not {value!r}"
        )
    return fraction


def load_benchmark_stats(
    source: str | Path | Mapping[str, Any], stat: str = "median"
) -> dict[str, float]:
    """``{fullname: stat in seconds}`` from a pytest-benchmark JSON file (or its parsed dict).

    Raises `ValueError` when the data is not a pytest-benchmark report.
    """
    data = source if isinstance(source, Mapping) else json.loads(Path(source).read_text("utf-8"))
    benchmarks = data.get("benchmarks") if isinstance(data, Mapping) else None
    if not isinstance(benchmarks, list):
        raise InvalidArgumentError(
            f"{source!r} is not a pytest-benchmark JSON report (no 'benchmarks')"
        )
    found: dict[str, float] = {}
    for bench in benchmarks:
        try:
            name = bench.get("fullname") or bench["name"]
            found[str(name)] = float(bench["stats"][stat])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InvalidArgumentError(
                f"malformed benchmark entry in {source!r}: {bench!r}"
            ) from None
    return found


def compare_benchmarks(
    current: Mapping[str, float],
    baseline: Mapping[str, float],
    max_regression: float | str = 0.10,
) -> list[BenchmarkComparison]:
    """Compare every benchmark present in both runs, sorted by name.

    >>> [c.regressed for c in compare_benchmarks({"a": 1.3, "b": 1.0}, {"a": 1.0, "b": 1.0})]
    [True, False]
    """
    tolerance = parse_regression(max_regression)
    return [
        BenchmarkComparison(name, baseline[name], current[name], tolerance)
        for name in sorted(current.keys() & baseline.keys())
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: compare two pytest-benchmark JSON files; exit 1 on a regression."""
    import argparse  # only the command line needs it; the plugin imports this module

    parser = argparse.ArgumentParser(
        prog="python -m rfs_monitoring.testing.performance",
        description="Fail when a pytest-benchmark run is slower than a saved baseline.",
    )
    parser.add_argument("current", type=Path, help="pytest-benchmark JSON of this run")
    parser.add_argument("baseline", type=Path, help="pytest-benchmark JSON to compare with")
    parser.add_argument("--max-regression", default="10%", help="tolerance, e.g. 10%% or 0.1")
    parser.add_argument("--stat", default="median", help="statistic to compare (median, min)")
    args = parser.parse_args(argv)
    try:
        comparisons = compare_benchmarks(
            load_benchmark_stats(args.current, args.stat),
            load_benchmark_stats(args.baseline, args.stat),
            args.max_regression,
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for comparison in comparisons:
        print(comparison)
    if not comparisons:
        print("no benchmark appears in both runs")
    return 1 if any(c.regressed for c in comparisons) else 0


if __name__ == "__main__":  # pragma: no cover - exercised through main()
    raise SystemExit(main())
