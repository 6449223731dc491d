"""Logging cost against structlog and a pure-Python baseline, in the same process.

Groups (compare the rows of a group; every row runs ``BATCH`` calls, so per-call costs are the
time / ``BATCH``):

- ``logged-call``: one call of a trivial function returning ``Success``:
  undecorated; with structlog rendering one JSON line per call (the peer baseline: add_log_level,
  an ISO UTC TimeStamper and JSONRenderer, the same fields, into a null stream); with
  ``@log_result_operation`` on the request path (writer paused, so only what the caller pays);
  and end to end with the writer thread running into a file. Goal: the request path at most
  0.25x structlog's line.
- ``filtered-call``: the same call when its level is below the threshold, with and without the
  metrics sample, against a pure-Python decorator that only reads the clock twice. Goal (issue
  13): at most 1.0 µs over the undecorated call.
- ``step-entry``: a logged async operation whose MonoResult chain has ``STEPS`` ``log_step``s,
  against the same chain with ``map``s; the difference over ``STEPS`` is what one step entry
  costs (duration, metrics sample, entry queued and written by the writer thread). Goal: 2 µs.
- ``writer``: the writer thread alone draining ``WRITER_BATCH`` queued entries into a file;
  ``WRITER_BATCH`` logged calls then a flush (callers and writer sharing the GIL); structlog
  writing the same number of lines to a file. Goal: the writer sustains at least 100k entries
  per second (``extra_info["entries_per_second"]``).

Run for real with::

    .venv/bin/python -m pytest benches/bench_logging.py --benchmark-enable --benchmark-only \
        -p no:cacheprovider
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.reactive import MonoResult
from rfs_monitoring.result import Result, Success
from rfs_monitoring.result_logging import configure_logging, flush_logs, log_result_operation

BATCH = 1000
WRITER_BATCH = 20_000


class NullStream(io.TextIOBase):
    """A text stream that discards what it is given."""

    def write(self, text: str) -> int:
        return len(text)


def plain(value: int) -> Result[int, str]:
    return Success(value)


def clock_only(fn: Callable[[int], Result[int, str]]) -> Callable[[int], Result[int, str]]:
    """The least any timing decorator does: two clock reads around the call."""
    perf = time.perf_counter

    @functools.wraps(fn)
    def wrapper(value: int) -> Result[int, str]:
        start = perf()
        result = fn(value)
        _ = perf() - start
        return result

    return wrapper


logged = log_result_operation("bench_logged")(plain)
filtered = log_result_operation("bench_filtered", success_level="DEBUG")(plain)
filtered_no_metrics = log_result_operation(
    "bench_filtered_nm", success_level="DEBUG", record_metrics=False
)(plain)
timed = clock_only(plain)


def _structlog_logger(stream: Any) -> Any:
    return structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=True,
    )


def _structlog_call(logger: Any) -> Callable[[int], Result[int, str]]:
    perf = time.perf_counter

    def call(value: int) -> Result[int, str]:
        start = perf()
        result = plain(value)
        logger.info(
            "result_operation",
            correlation_id="4920e74240444cfd907b24645213d4c0",
            operation_name="bench_structlog",
            step_name=None,
            result_type="success",
            processing_time_ms=(perf() - start) * 1000.0,
            success_type=type(result.unwrap()).__name__,
            service_name="bench",
            environment="bench",
        )
        return result

    return call


def _batch(fn: Callable[[int], Any]) -> Callable[[], None]:
    def run() -> None:
        for index in range(BATCH):
            fn(index)

    return run


@pytest.fixture(scope="module", autouse=True)
def quiet_logging() -> Iterator[None]:
    """Entries go to a null stream; a fresh collector without the resource sampler."""
    collector = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    configure_logging(stream=NullStream(), queue_size=1 << 20)
    yield
    flush_logs()
    configure_logging()
    ResultMetricsCollector.set_instance(previous)
    collector.close()


@pytest.fixture
def paused_writer() -> Iterator[log_writer._Writer]:
    """A writer that queues but never writes: what the request path alone costs."""
    import threading

    paused = log_writer._Writer(capacity=1 << 30)
    paused.thread = threading.Thread()  # "started": put() only appends
    original = log_writer._writer
    log_writer._writer = paused
    yield paused
    log_writer._writer = original


# -- logged-call ----------------------------------------------------------------------------------


@pytest.mark.benchmark(group="logged-call")
def test_undecorated_call(benchmark: Any) -> None:
    """Baseline: the function alone."""
    benchmark(_batch(plain))
    assert plain(7) == Success(7)


@pytest.mark.benchmark(group="logged-call")
def test_structlog_json_line_per_call(benchmark: Any) -> None:
    """Peer baseline: structlog renders one JSON line per call."""
    call = _structlog_call(_structlog_logger(NullStream()))
    benchmark(_batch(call))
    assert call(7) == Success(7)


@pytest.mark.benchmark(group="logged-call")
def test_log_result_operation_request_path(
    benchmark: Any, paused_writer: log_writer._Writer
) -> None:
    """What the caller pays for a logged call: timing, classification, one queued tuple."""
    benchmark.pedantic(_batch(logged), setup=paused_writer.queue.clear, rounds=300)
    assert len(paused_writer.queue) == BATCH


@pytest.mark.benchmark(group="logged-call")
def test_log_result_operation_end_to_end(benchmark: Any, tmp_path: Path) -> None:
    """A logged call with the writer thread rendering into a file in the same process."""
    with (tmp_path / "end_to_end.log").open("w") as stream:
        configure_logging(stream=stream, queue_size=1 << 20)
        try:
            benchmark(_batch(logged))
            flush_logs(None)
            assert stream.tell() > 0
        finally:
            configure_logging(stream=NullStream(), queue_size=1 << 20)


# -- filtered-call --------------------------------------------------------------------------------


@pytest.mark.benchmark(group="filtered-call")
def test_filtered_baseline_undecorated(benchmark: Any) -> None:
    """Baseline: the function alone."""
    benchmark(_batch(plain))
    assert plain(7) == Success(7)


@pytest.mark.benchmark(group="filtered-call")
def test_filtered_baseline_clock_only_decorator(benchmark: Any) -> None:
    """Pure-Python baseline: a decorator that only reads the clock twice."""
    benchmark(_batch(timed))
    assert timed(7) == Success(7)


@pytest.mark.benchmark(group="filtered-call")
def test_filtered_out_call_with_metrics_sample(benchmark: Any) -> None:
    """Below the threshold: no entry, but the metrics sample is still recorded."""
    benchmark(_batch(filtered))
    assert filtered(7) == Success(7)


@pytest.mark.benchmark(group="filtered-call")
def test_filtered_out_call_without_metrics(benchmark: Any) -> None:
    """Below the threshold with record_metrics=False: the logging layer's own cost."""
    benchmark(_batch(filtered_no_metrics))
    assert filtered_no_metrics(7) == Success(7)


# -- step-entry -----------------------------------------------------------------------------------

STEPS = 10


def _same(value: int) -> int:
    return value


async def _chain(with_steps: bool) -> Result[int, Any]:
    mono: MonoResult[int, Any] = MonoResult.from_value(1)
    for _ in range(STEPS):
        mono = mono.log_step("bench_step") if with_steps else mono.map(_same)
    return await mono


@log_result_operation("bench_stepped")
async def stepped() -> Result[int, Any]:
    return await _chain(True)


@log_result_operation("bench_mapped")
async def mapped() -> Result[int, Any]:
    return await _chain(False)


def _run_batch(fn: Callable[[], Any]) -> Callable[[], None]:
    import asyncio

    loop = asyncio.new_event_loop()

    async def many() -> None:
        for _ in range(100):
            await fn()

    def run() -> None:
        loop.run_until_complete(many())

    return run


@pytest.mark.benchmark(group="step-entry")
def test_chain_with_log_steps(benchmark: Any) -> None:
    """100 logged operations, each a chain of STEPS log_steps (one entry each)."""
    benchmark(_run_batch(stepped))
    assert flush_logs()


@pytest.mark.benchmark(group="step-entry")
def test_chain_with_maps(benchmark: Any) -> None:
    """Baseline: the same operations with STEPS maps instead of log_steps."""
    benchmark(_run_batch(mapped))


# -- writer ---------------------------------------------------------------------------------------


def _queued_entries(count: int) -> list[Any]:
    """``count`` raw entries as the request path queues them."""
    import threading

    paused = log_writer._Writer(capacity=1 << 30)
    paused.thread = threading.Thread()
    original = log_writer._writer
    log_writer._writer = paused
    try:
        for index in range(count):
            logged(index)
    finally:
        log_writer._writer = original
    return list(paused.queue)


@pytest.mark.benchmark(group="writer")
def test_writer_alone_drains_queued_entries_to_a_file(benchmark: Any, tmp_path: Path) -> None:
    """The writer thread's own rate: WRITER_BATCH queued entries rendered and written."""
    entries = _queued_entries(WRITER_BATCH)
    path = tmp_path / "writer.log"
    writers: list[log_writer._Writer] = []

    def fresh() -> None:
        writer = log_writer._Writer(capacity=1 << 30)
        writer.queue.extend(entries)
        writers.append(writer)

    def drain() -> None:
        writer = writers[-1]
        writer._start()
        assert writer.flush(None)

    with path.open("w") as stream:
        configure_logging(stream=stream, queue_size=1 << 20)
        try:
            benchmark.pedantic(drain, setup=fresh, rounds=5)
        finally:
            configure_logging(stream=NullStream(), queue_size=1 << 20)
    if benchmark.stats:
        rate = WRITER_BATCH / benchmark.stats.stats.min
        benchmark.extra_info["entries_per_second"] = round(rate)
    with path.open() as written:
        assert sum(1 for _ in written) == WRITER_BATCH * len(writers)


@pytest.mark.benchmark(group="writer")
def test_burst_of_logged_calls_end_to_end_to_a_file(benchmark: Any, tmp_path: Path) -> None:
    """WRITER_BATCH logged calls then flush: callers and writer sharing the GIL."""
    path = tmp_path / "burst.log"
    with path.open("w") as stream:
        configure_logging(stream=stream, queue_size=1 << 20)
        try:

            def burst() -> None:
                for index in range(WRITER_BATCH):
                    logged(index)
                flush_logs(None)

            benchmark.pedantic(burst, rounds=5)
        finally:
            configure_logging(stream=NullStream(), queue_size=1 << 20)
    if benchmark.stats:
        benchmark.extra_info["entries_per_second"] = round(WRITER_BATCH / benchmark.stats.stats.min)
    with path.open() as written:
        assert sum(1 for _ in written) % WRITER_BATCH == 0


@pytest.mark.benchmark(group="writer")
def test_structlog_lines_to_a_file(benchmark: Any, tmp_path: Path) -> None:
    """Peer baseline: structlog rendering and writing WRITER_BATCH lines to a file."""
    with (tmp_path / "structlog.log").open("w") as stream:
        call = _structlog_call(_structlog_logger(stream))

        def burst() -> None:
            for index in range(WRITER_BATCH):
                call(index)
            stream.flush()

        benchmark.pedantic(burst, rounds=5)
        assert stream.tell() > 0
