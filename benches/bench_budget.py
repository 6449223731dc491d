"""The overhead budget: each budgeted path against its peer, interleaved, in one run.

`make bench-check` runs this module with ``RFS_BENCH_CHECK=1``: every entry of
``benches/budget.toml`` is measured with pytest-benchmark (one benchmark round times a batch of
the subject and then a batch of its peer, so a burst of load on this shared machine hits both
alike), the ratio of the medians is compared with the entry's budget, a path over budget is
measured again before it fails, and a table of every ratio, goal and budget ends the run.

Without ``RFS_BENCH_CHECK`` (as in ``make test``, with benchmarks disabled) each pair runs once:
the paths are exercised and checked for correct results, and no ratio is asserted.

``RFS_BENCH_SLOWDOWN=<entry>:<microseconds>`` adds a busy wait to every subject batch of one
entry: ``tests/test_bench_check.py`` uses it to show that a regression fails the check.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_log_writer
import bench_logging
import bench_metrics
import bench_routes
import bench_stack
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from rfs_monitoring.metrics import ResultMetricsCollector, monitor_result
from rfs_monitoring.result_logging import configure_logging, flush_logs

BUDGET_FILE = Path(__file__).with_name("budget.toml")
CHECKING = os.environ.get("RFS_BENCH_CHECK") == "1"
# Calls per batch of the per-call pairs: short batches (a few hundred µs) are seldom cut by
# the scheduler, so the medians stay honest on a busy machine.
BATCH = 200
# Rounds run and thrown away first: the interpreter specializes the hot paths and the core's
# queues and buckets reach their steady state (the first batches of a logged call cost 2-3x).
WARMUP_ROUNDS = 5

Batch = Callable[[], Any]


@dataclass(frozen=True)
class Entry:
    name: str
    subject: str
    peer: str
    goal: float
    budget: float
    rounds: int
    attempts: int


def load_budget(path: Path = BUDGET_FILE) -> dict[str, Entry]:
    """The entries of the budget file, defaults applied."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    defaults = data.pop("defaults", {})
    return {
        name: Entry(
            name,
            spec["subject"],
            spec["peer"],
            float(spec["goal"]),
            float(spec["budget"]),
            int(spec.get("rounds", defaults.get("rounds", 15))),
            int(spec.get("attempts", defaults.get("attempts", 3))),
        )
        for name, spec in data.items()
    }


BUDGET = load_budget()


@dataclass
class Row:
    """One line of the closing table."""

    entry: Entry
    ratio: float
    subject_ms: float
    peer_ms: float
    attempts: int  # measurements made, the best of which is shown

    @property
    def verdict(self) -> str:
        if self.ratio > self.entry.budget:
            return "OVER BUDGET"
        return "ok" if self.ratio <= self.entry.goal else "over goal"


ROWS: list[Row] = []


def _slowdown(name: str) -> float:
    """Seconds of busy wait added to each subject batch of ``name`` (RFS_BENCH_SLOWDOWN)."""
    spec = os.environ.get("RFS_BENCH_SLOWDOWN", "")
    target, _, micros = spec.partition(":")
    return float(micros) / 1e6 if target == name and micros else 0.0


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measure(benchmark: Any, entry: Entry, subject: Batch, peer: Batch) -> Row:
    """Time ``subject`` and ``peer`` batches alternately under pytest-benchmark and compare
    their medians; when checking, measure again (up to ``entry.attempts``) while over budget."""
    extra = _slowdown(entry.name)
    best: Row | None = None
    rounds = entry.rounds if CHECKING else 1
    for attempt in range(1, (entry.attempts if CHECKING else 1) + 1):
        subject_times: list[float] = []
        peer_times: list[float] = []

        def one_round(
            subject_times: list[float] = subject_times, peer_times: list[float] = peer_times
        ) -> None:
            start = time.perf_counter()
            subject()
            if extra:
                _spin(extra)
            middle = time.perf_counter()
            peer()
            subject_times.append(middle - start)
            peer_times.append(time.perf_counter() - middle)

        warmup = WARMUP_ROUNDS if CHECKING else 0
        if attempt == 1:
            benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=warmup)
        else:
            for _ in range(warmup):
                one_round()
            subject_times.clear()
            peer_times.clear()
            for _ in range(rounds):
                one_round()
        if not subject_times:  # benchmarks disabled: pedantic ran the round once
            one_round()
        subject_ms = statistics.median(subject_times) * 1000
        peer_ms = statistics.median(peer_times) * 1000
        row = Row(entry, subject_ms / peer_ms, subject_ms, peer_ms, attempt)
        if best is None or row.ratio < best.ratio:
            best = row
        if best.ratio <= entry.budget:
            break
    assert best is not None
    best.attempts = attempt  # how many measurements were made (the best one counts)
    benchmark.extra_info.update(
        ratio=round(best.ratio, 4), goal=entry.goal, budget=entry.budget, attempts=best.attempts
    )
    if CHECKING:
        ROWS.append(best)
        assert best.ratio <= entry.budget, (
            f"{entry.name}: {best.ratio:.3f}x its peer is over the budget of {entry.budget}x "
            f"(goal {entry.goal}x) after {best.attempts} attempts: {entry.subject} took "
            f"{best.subject_ms:.3f} ms against {best.peer_ms:.3f} ms for {entry.peer}"
        )
    return best


def render_table(rows: list[Row]) -> str:
    """The closing table: one line per budget entry."""
    header = f"{'ratio':>8} {'goal':>7} {'budget':>7}  {'subject ms':>10} {'peer ms':>9} tries"
    lines = [f"{'path':38} {header}  verdict"]
    for row in rows:
        lines.append(
            f"{row.entry.name:38} {row.ratio:>7.3f}x {row.entry.goal:>6}x {row.entry.budget:>6}x"
            f"  {row.subject_ms:>10.3f} {row.peer_ms:>9.3f} {row.attempts:>5}  {row.verdict}"
        )
    return "\n".join(lines)


# -- the pairs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collector() -> Iterator[ResultMetricsCollector]:
    """A fresh process-wide collector without the resource sampler."""
    fresh = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(fresh)
    configure_logging(stream=bench_logging.NullStream(), queue_size=1 << 20)
    yield fresh
    flush_logs()
    configure_logging()
    ResultMetricsCollector.set_instance(previous)
    fresh.close()


def _repeat(fn: Callable[[], Any], times: int = BATCH) -> Batch:
    def batch() -> None:
        for _ in range(times):
            fn()

    return batch


def test_logged_call_end_to_end(
    benchmark: Any, collector: ResultMetricsCollector, tmp_path: Path
) -> None:
    entry = BUDGET["logged_call_end_to_end"]
    with (
        (tmp_path / "ours.log").open("w") as ours,
        (tmp_path / "structlog.log").open("w") as theirs,
    ):
        configure_logging(stream=ours, queue_size=1 << 20)
        call = bench_logging._structlog_call(bench_logging._structlog_logger(theirs))

        def subject() -> None:
            for index in range(BATCH):
                bench_logging.logged(index)
            flush_logs(10.0)

        def peer() -> None:
            for index in range(BATCH):
                call(index)
            theirs.flush()

        try:
            measure(benchmark, entry, subject, peer)
        finally:
            configure_logging(stream=bench_logging.NullStream(), queue_size=1 << 20)
        assert ours.tell() > 0
        assert theirs.tell() > 0


WRITER_ENTRIES = 2000


def test_log_writer_vs_structlog_to_a_file(
    benchmark: Any, collector: ResultMetricsCollector, tmp_path: Path
) -> None:
    """Entries (the schema plus arguments) handed to the core's lane and written into a file by
    its writer thread, against structlog rendering and writing the same lines in the calling
    thread."""
    entry = BUDGET["log_writer_vs_structlog_to_a_file"]
    entries = bench_log_writer._queued(WRITER_ENTRIES)
    with (
        (tmp_path / "ours.log").open("w") as ours,
        (tmp_path / "structlog.log").open("w") as theirs,
    ):
        configure_logging(stream=ours, queue_size=1 << 20)
        call = bench_log_writer._structlog_call(bench_log_writer._structlog_logger(theirs))

        subject = bench_log_writer.through_the_core(entries, ours)

        def peer() -> None:
            for index in range(WRITER_ENTRIES):
                call(index)
            theirs.flush()

        try:
            measure(benchmark, entry, subject, peer)
        finally:
            configure_logging(stream=bench_logging.NullStream(), queue_size=1 << 20)
        assert ours.tell() > 0
        assert theirs.tell() > 0


def test_monitor_result_vs_prometheus_timer(
    benchmark: Any, collector: ResultMetricsCollector
) -> None:
    entry = BUDGET["monitor_result_vs_prometheus_timer"]
    histogram = Histogram("budget_seconds", "budget", ["operation"], registry=CollectorRegistry())
    ours = monitor_result("budget_monitor")(bench_metrics.work)
    theirs = histogram.labels("budget_monitor").time()(bench_metrics.work)
    measure(benchmark, entry, _repeat(ours), _repeat(theirs))
    assert collector.operation_metrics("budget_monitor").unwrap().total_requests >= BATCH


def test_record_vs_child_observe(benchmark: Any, collector: ResultMetricsCollector) -> None:
    entry = BUDGET["record_vs_child_observe"]
    handle = collector.operation("budget_record")
    child = Histogram(
        "budget_record_seconds", "budget", ["operation"], registry=CollectorRegistry()
    ).labels("budget_record")
    measure(
        benchmark,
        entry,
        _repeat(lambda: handle.record(1.5, True)),
        _repeat(lambda: child.observe(0.0015)),
    )
    assert collector.operation_metrics("budget_record").unwrap().total_requests >= BATCH


def test_filtered_call(benchmark: Any, collector: ResultMetricsCollector) -> None:
    entry = BUDGET["filtered_call"]
    filtered, timed = bench_logging.filtered, bench_logging.timed
    measure(benchmark, entry, _repeat(lambda: filtered(1)), _repeat(lambda: timed(1)))
    assert collector.operation_metrics("bench_filtered").unwrap().total_requests >= BATCH


# -- the request stack: each piece against the bare endpoint, in-process through ASGI -----------

REQUESTS = 20  # requests per batch (a bare request is 100-200 µs on the 2-core machine)


@pytest.fixture(scope="module")
def caller() -> Iterator[bench_stack.Caller]:
    made = bench_stack.Caller()
    yield made
    made.close()


def _stack_pair(benchmark: Any, name: str, caller: bench_stack.Caller, subject_app: Any) -> Row:
    subject = caller.batch(subject_app, "/users/123", REQUESTS)
    peer = caller.batch(bench_stack.bare_app(), "/users/123", REQUESTS)
    return measure(benchmark, BUDGET[name], subject, peer)


def test_request_middleware(benchmark: Any, caller: bench_stack.Caller) -> None:
    _stack_pair(benchmark, "request_middleware", caller, bench_stack.middleware_app())


def test_request_handle_result(benchmark: Any, caller: bench_stack.Caller) -> None:
    _stack_pair(benchmark, "request_handle_result", caller, bench_stack.handle_result_app())


def test_request_full_stack(
    benchmark: Any, caller: bench_stack.Caller, collector: ResultMetricsCollector, tmp_path: Path
) -> None:
    with (tmp_path / "entries.jsonl").open("w") as stream:
        configure_logging(stream=stream, queue_size=1 << 20)
        try:
            _stack_pair(benchmark, "request_full_stack", caller, bench_stack.full_app())
            assert flush_logs(10.0)
        finally:
            configure_logging(stream=bench_logging.NullStream(), queue_size=1 << 20)
        assert stream.tell() > 0
    metrics = collector.operation_metrics("user_retrieval").unwrap()
    assert metrics.total_requests >= REQUESTS
    assert [step.name for step in metrics.steps] == ["user_service_call", "user_validation"]


def test_logged_chain_vs_bare(benchmark: Any, collector: ResultMetricsCollector) -> None:
    loop = asyncio.new_event_loop()
    try:
        measure(
            benchmark,
            BUDGET["logged_chain_vs_bare"],
            bench_stack.calls(loop, bench_stack.plain_chain, BATCH),
            bench_stack.calls(loop, bench_stack.bare_chain, BATCH),
        )
    finally:
        loop.close()
    assert collector.operation_metrics("stack_plain_chain").unwrap().total_requests >= BATCH


def test_two_steps_vs_no_steps(benchmark: Any, collector: ResultMetricsCollector) -> None:
    loop = asyncio.new_event_loop()
    try:
        measure(
            benchmark,
            BUDGET["two_steps_vs_no_steps"],
            bench_stack.calls(loop, bench_stack.stepped_chain, BATCH),
            bench_stack.calls(loop, bench_stack.plain_chain, BATCH),
        )
    finally:
        loop.close()
    steps = collector.operation_metrics("stack_stepped_chain").unwrap().steps
    assert [step.name for step in steps] == ["user_service_call", "user_validation"]


def test_query_1w_vs_python_list(benchmark: Any) -> None:
    entry = BUDGET["query_1w_vs_python_list"]
    samples = bench_metrics.week_of_samples()
    clock = bench_metrics.Clock(bench_metrics.NOW)
    week = ResultMetricsCollector(clock=clock, sample_resources=False)
    handle = week.operation("busy")
    for t, ms, ok in samples:
        clock.now = t
        handle.record(ms, ok, None if ok else "TIMEOUT_ERROR")
    clock.now = bench_metrics.NOW
    try:
        measure(
            benchmark,
            entry,
            lambda: week.operation_metrics("busy", "1w").unwrap(),
            lambda: bench_metrics.naive_summary(samples, bench_metrics.NOW, bench_metrics.WEEK),
        )
        assert week.operation_metrics("busy", "1w").unwrap().total_requests == len(samples)
    finally:
        week.close()


@pytest.fixture(scope="module")
def thousand_operations() -> Iterator[ResultMetricsCollector]:
    """1000 operations with a week of traffic (benches/bench_routes.py's data)."""
    week = bench_routes.week_of_traffic()
    yield week
    week.close()


def test_operations_list_route(benchmark: Any, thousand_operations: ResultMetricsCollector) -> None:
    entry = BUDGET["operations_list_route"]
    ours, bare, bodies = bench_routes.build_apps(thousand_operations)
    caller = bench_routes.ASGICaller()
    try:
        status, body = caller.get(ours, "/monitoring/operations")
        assert status == 200
        bodies["operations"] = body

        def subject() -> None:
            assert caller.get(ours, "/monitoring/operations")[0] == 200

        def peer() -> None:
            assert caller.get(bare, "/bare/operations")[0] == 200

        measure(benchmark, entry, subject, peer)
    finally:
        caller.close()


def _prometheus_client_twin(collector: ResultMetricsCollector) -> CollectorRegistry:
    """The same series as our exposition, kept by prometheus_client's own metric types."""
    registry = CollectorRegistry(auto_describe=False)
    duration = Histogram(
        "rfs_operation_duration_seconds", "Duration", ["operation"], registry=registry
    )
    outcomes = Counter("rfs_operations", "Outcomes", ["operation", "outcome"], registry=registry)
    errors = Counter(
        "rfs_operation_errors", "Errors", ["operation", "error_code"], registry=registry
    )
    for name in collector.list_operations("1w"):
        duration.labels(name).observe(0.005)
        outcomes.labels(name, "success").inc()
        outcomes.labels(name, "failure").inc()
        errors.labels(name, "E1").inc()
    return registry


def test_metrics_route_vs_prometheus_client(
    benchmark: Any, thousand_operations: ResultMetricsCollector
) -> None:
    entry = BUDGET["metrics_route_vs_prometheus_client"]
    theirs = _prometheus_client_twin(thousand_operations)
    measure(
        benchmark,
        entry,
        lambda: thousand_operations.expose("text"),
        lambda: generate_latest(theirs),
    )
    text = thousand_operations.expose("text").decode()
    assert text.count("rfs_operations_total{") >= 1000


def test_every_budget_entry_has_a_measurement() -> None:
    """A budget entry without a test here would never be checked."""
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(BUDGET) <= tested, sorted(set(BUDGET) - tested)
    assert all(e.goal > 0 and e.budget > 0 and e.rounds >= 1 for e in BUDGET.values())
