"""The log writer's throughput to a file, against structlog writing the same fields.

The writer must keep up with the request threads: what it has not written when the process is
killed is lost, so its rate decides how short the queue stays (issue 11, section 2). Every row
writes ``ENTRIES`` entries carrying the same fields (the entry schema plus ``metadata.args``) into
a file in this process; ``extra_info["entries_per_second"]`` is the rate.

- ``writer-alone``: entries already made by logged calls handed to the core's lane (each one
  converted by its caller) and written by its writer thread, then a flush, against structlog
  rendering and writing the same number of lines (one thread each); and the Python lane's writer
  thread (a stream that is not an OS file) draining the same entries.
- ``writer-with-producers``: 4 threads making logged calls (``log_args=True``) while the writer
  writes, then a flush, against 4 threads logging the same fields through structlog.

Run for real with::

    .venv/bin/python -m pytest benches/bench_log_writer.py --benchmark-enable --benchmark-only \
        -p no:cacheprovider
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
import structlog

from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.result import Result, Success
from rfs_monitoring.result_logging import configure_logging, flush_logs, log_result_operation

ENTRIES = 20_000
THREADS = 4


@log_result_operation("bench_writer", log_args=True)
def logged(user_id: int, page: int) -> Result[int, str]:
    return Success(user_id)


@pytest.fixture(scope="module", autouse=True)
def quiet_collector() -> Iterator[None]:
    collector = ResultMetricsCollector(sample_resources=False)
    previous = ResultMetricsCollector.set_instance(collector)
    yield
    configure_logging()
    ResultMetricsCollector.set_instance(previous)
    collector.close()


def _structlog_logger(stream: TextIO) -> Any:
    return structlog.wrap_logger(
        structlog.WriteLogger(stream),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=True,
    )


def _structlog_call(logger: Any) -> Callable[[int], None]:
    """One structlog line with the fields of a `log_result_operation` entry."""
    perf = time.perf_counter

    def call(index: int) -> None:
        start = perf()
        result = logged.__wrapped__(index, 1)  # type: ignore[attr-defined]
        logger.info(
            "result_operation",
            correlation_id="4920e74240444cfd907b24645213d4c0",
            operation_name="bench_structlog",
            step_name=None,
            result_type="success",
            processing_time_ms=(perf() - start) * 1000.0,
            success_type=type(result.unwrap()).__name__,
            error_type=None,
            error_code=None,
            error_message=None,
            user_id=None,
            request_id=None,
            service_name="bench",
            environment="bench",
            memory_usage_mb=None,
            cpu_usage_percent=None,
            metadata={"args": {"user_id": index, "page": 1}},
            trace_id=None,
            span_id=None,
        )

    return call


def _queued(count: int) -> list[Any]:
    """``count`` raw entries as the request path hands them over."""
    captured: list[Any] = []
    original = log_writer._put
    log_writer._put = lambda item, size: captured.append(item)
    try:
        for index in range(count):
            logged(index, 1)
    finally:
        log_writer._put = original
    return captured


def through_the_core(entries: list[Any], stream: TextIO) -> Callable[[], None]:
    """A burst: ``entries`` handed to a fresh core lane writing to ``stream`` (an OS file),
    then a flush."""
    from rfs_monitoring import _core
    from rfs_monitoring._logging.entry import _format_exception, _MaskedArgs
    from rfs_monitoring.masking import get_masker

    pipeline = _core.LogPipeline(_format_exception, _MaskedArgs, 1 << 20, 1 << 40, 1.0)
    pipeline.configure(get_masker()._text, '"service_name":"s","environment":"e"', [0.0], 262144)
    pipeline.set_sink(stream.fileno(), True)
    put = pipeline.put

    def burst() -> None:
        for entry in entries:
            put(entry, 512)
        assert pipeline.flush(60.0)

    return burst


def _lines(path: Path) -> int:
    with path.open() as written:
        return sum(1 for _ in written)


def _rate(benchmark: Any) -> None:
    if benchmark.stats:
        benchmark.extra_info["entries_per_second"] = round(ENTRIES / benchmark.stats.stats.min)


# -- writer-alone ---------------------------------------------------------------------------------


@pytest.mark.benchmark(group="writer-alone")
def test_core_lane_writes_entries_to_a_file(benchmark: Any, tmp_path: Path) -> None:
    """The core's lane: ENTRIES entries handed over (converted by the caller), rendered,
    masked and written by the writer thread without the interpreter, then a flush."""
    entries = _queued(ENTRIES)
    path = tmp_path / "core.log"
    with path.open("w") as stream:
        benchmark.pedantic(through_the_core(entries, stream), rounds=5)
    _rate(benchmark)
    assert _lines(path) % ENTRIES == 0


@pytest.mark.benchmark(group="writer-alone")
def test_python_lane_drains_queued_entries_to_a_stream(benchmark: Any, tmp_path: Path) -> None:
    """The Python lane (any stream that is not an OS file): ENTRIES queued entries rendered,
    masked (by the core, the interpreter released) and written by the writer thread."""
    entries = _queued(ENTRIES)
    writers: list[log_writer._Writer] = []

    def fresh() -> None:
        writer = log_writer._Writer(capacity=1 << 30)
        writer.queue.extend(entries)
        writers.append(writer)

    def drain() -> None:
        writer = writers[-1]
        writer._start()
        assert writer.flush(None)

    path = tmp_path / "writer.log"
    with path.open("w") as file:
        configure_logging(stream=_TextStream(file))
        try:
            benchmark.pedantic(drain, setup=fresh, rounds=5)
        finally:
            configure_logging()
    _rate(benchmark)
    assert _lines(path) == ENTRIES * len(writers)


class _TextStream:
    """A stream that is not an OS file (as a socket wrapper or a capture would be)."""

    def __init__(self, file: TextIO) -> None:
        self.file = file

    def write(self, text: str) -> int:
        return self.file.write(text)

    def flush(self) -> None:
        self.file.flush()


@pytest.mark.benchmark(group="writer-alone")
def test_structlog_writes_the_same_fields_to_a_file(benchmark: Any, tmp_path: Path) -> None:
    """Peer baseline: structlog rendering and writing ENTRIES lines, in the calling thread."""
    path = tmp_path / "structlog.log"
    with path.open("w") as stream:
        call = _structlog_call(_structlog_logger(stream))

        def burst() -> None:
            for index in range(ENTRIES):
                call(index)
            stream.flush()

        benchmark.pedantic(burst, rounds=5)
    _rate(benchmark)
    assert _lines(path) % ENTRIES == 0


# -- writer-with-producers ------------------------------------------------------------------------


def _threads(target: Callable[[int], None]) -> None:
    per = ENTRIES // THREADS

    def run(offset: int) -> None:
        for index in range(offset, offset + per):
            target(index)

    workers = [threading.Thread(target=run, args=(t * per,)) for t in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


@pytest.mark.benchmark(group="writer-with-producers")
def test_four_threads_logging_through_the_writer(benchmark: Any, tmp_path: Path) -> None:
    """4 threads make ENTRIES logged calls in all; the writer writes them; then a flush."""
    path = tmp_path / "producers.log"
    with path.open("w") as stream:
        configure_logging(stream=stream)
        try:

            def call(index: int) -> None:
                logged(index, 1)

            def burst() -> None:
                _threads(call)
                assert flush_logs(None)

            benchmark.pedantic(burst, rounds=3)
        finally:
            configure_logging()
    _rate(benchmark)
    assert _lines(path) % ENTRIES == 0


@pytest.mark.benchmark(group="writer-with-producers")
def test_four_threads_logging_through_structlog(benchmark: Any, tmp_path: Path) -> None:
    """Peer baseline: the same 4 threads, each call rendering and writing its structlog line."""
    path = tmp_path / "structlog_threads.log"
    with path.open("w") as stream:
        call = _structlog_call(_structlog_logger(stream))

        def burst() -> None:
            _threads(call)
            stream.flush()

        benchmark.pedantic(burst, rounds=3)
    _rate(benchmark)
    assert _lines(path) % ENTRIES == 0
