"""A forked child (gunicorn workers, multiprocessing, ProcessPoolExecutor) can record, query and
log: no lock held by another parent thread at the fork stays held in the child."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from rfs_monitoring import result_logging
from rfs_monitoring._logging import levels as log_levels
from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.result import Result, Success
from rfs_monitoring.result_logging import configure_logging, flush_logs, log_result_operation

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def in_child(body: Callable[[], bool], timeout: float = 20.0) -> str:
    """Run ``body`` in a forked child; "ok", "failed", "raised" or "hung" (killed after
    ``timeout`` seconds)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
        code = 2
        try:
            code = 0 if body() else 1
        except BaseException:
            traceback.print_exc()  # shown in the test's captured output
        finally:
            sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                return {0: "ok", 1: "failed"}.get(os.waitstatus_to_exitcode(status), "raised")
            time.sleep(0.01)
        return "hung"
    finally:
        if pid:  # hung, or the wait was interrupted (pytest-timeout): never leave it behind
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def test_forks_during_queries_never_leave_the_child_locked(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Another thread querying 900 operations without pause holds the registry's lock almost
    all the time; without the fork hooks most children hung on their first record."""
    collector = metrics_collector
    for i in range(900):
        handle = collector.operation(f"op{i:03d}")
        for j in range(20):
            handle.record(float(j + 1), j % 7 != 0, None if j % 7 else "NOT_FOUND")
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            collector.all_operation_stats("1h")

    thread = threading.Thread(target=query, daemon=True)
    thread.start()
    time.sleep(0.05)

    def child() -> bool:
        collector.record("in_child", 3.0, True)
        stats = collector.all_operation_stats("1h").unwrap()
        mine = collector.operation_metrics("in_child").unwrap()
        return len(stats) == 901 and mine.total_requests == 1

    try:
        outcomes = [in_child(child) for _ in range(10)]
    finally:
        stop.set()
        thread.join(10)
    assert outcomes == ["ok"] * 10
    # The parent goes on as before.
    assert collector.operation_metrics("op000").unwrap().total_requests == 20


def test_the_child_keeps_earlier_samples_and_records_its_own(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """Samples recorded before the fork are in both processes; later ones only in their own."""
    collector = metrics_collector
    for _ in range(3):
        collector.record("checkout", 10.0, True)

    def child() -> bool:
        before = collector.operation_metrics("checkout").unwrap().total_requests
        collector.record("checkout", 10.0, False, "TIMEOUT_ERROR")
        after = collector.operation_metrics("checkout").unwrap()
        return (before, after.total_requests, after.failed_requests) == (3, 4, 1)

    assert in_child(child) == "ok"
    assert collector.operation_metrics("checkout").unwrap().total_requests == 3


def test_locks_other_threads_hold_at_the_fork_are_fresh_in_the_child() -> None:
    """A parent thread holding the collector's, the sampler's and the log levels' locks at the
    fork does not block the child's first new operation, sampler start or level change."""
    sampled = ResultMetricsCollector()
    sampler = sampled._sampler
    assert sampler is not None
    held = [
        sampled._lock,
        ResultMetricsCollector._instance_lock,
        sampler._lock,
        log_levels._levels.lock,
    ]
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in held:
            lock.acquire()
        taken.set()
        release.wait(30)
        for lock in held:
            lock.release()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(10)

    def child() -> bool:
        sampled.record("fresh_name", 1.0, True)  # a new name takes the collector's lock
        previous = ResultMetricsCollector.set_instance(sampled)
        ResultMetricsCollector.set_instance(previous)
        result_logging.set_log_level("INFO", operation="fresh_name")
        sampler.start()  # the sampling thread of the child
        running = sampler.running
        sampler.stop()
        return running and sampled.operation_metrics("fresh_name").unwrap().total_requests == 1

    try:
        assert in_child(child) == "ok"
    finally:
        release.set()
        holder.join(10)
        sampled.close()
        result_logging.reset_log_levels()


def test_the_child_logs_through_its_own_writer(tmp_path: Path) -> None:
    """Entries a child emits reach the configured file through the child's own writer thread."""
    path = tmp_path / "child.log"

    @log_result_operation("forked_op")
    def op() -> Result[int, str]:
        return Success(1)

    with open(path, "a", encoding="utf-8") as sink:
        configure_logging(stream=sink)
        try:
            op()  # the parent's writer thread is running
            flush_logs()

            def child() -> bool:
                op()
                flush_logs()
                return True

            assert in_child(child) == "ok"
        finally:
            configure_logging(stream=io.StringIO())
            configure_logging()
    with open(path, encoding="utf-8") as written:
        lines = [line for line in written if '"forked_op"' in line]
    assert len(lines) == 2


FORK_WHILE_REGISTERING = """
import os, sys, threading, time
from rfs_monitoring.metrics import ResultMetricsCollector

sys.setswitchinterval(1e-6)  # switch threads as often as possible, inside the fork hooks too
collector = ResultMetricsCollector(max_operations=1_000_000, sample_resources=False)
stop = threading.Event()

def register() -> None:
    i = 0
    while not stop.is_set():
        collector.operation(f"name{i}").record(1.0, True)  # a new name takes the lock
        i += 1

threads = [threading.Thread(target=register, daemon=True) for _ in range(2)]
for thread in threads:
    thread.start()
for _ in range(30):
    pid = os.fork()
    if pid == 0:
        collector.record("child", 1.0, True)
        os._exit(0 if collector.operation_metrics("child").unwrap().total_requests == 1 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
stop.set()
print("forked 30 times")
"""


def test_forks_while_other_threads_register_names_never_deadlock() -> None:
    """Threads registering new names (which waits for the registry's lock) during the fork
    hooks wait without holding the interpreter, so neither parent nor child hangs. Run in a
    subprocess: a deadlock there holds the interpreter, which pytest's timeout could not break."""
    done = subprocess.run(
        [sys.executable, "-c", FORK_WHILE_REGISTERING],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "forked 30 times" in done.stdout


def test_forks_while_the_writer_is_busy_leave_the_childs_writer_working() -> None:
    """A fork while the writer thread is inside the sink's write (here a pipe drained slowly,
    so writes block) would copy the stream's buffer lock held into the child: the child's
    writer then hangs or fails on every write (CPython: "reentrant call inside
    BufferedWriter"), losing the child's entries. The fork hook waits for the write instead."""

    @log_result_operation("busy_op")
    def op() -> Result[int, str]:
        return Success(1)

    read_end, write_end = os.pipe()
    stop = threading.Event()

    def drain() -> None:  # about 4 MB/s: slower than the emitter, so writes block
        while os.read(read_end, 4096):
            time.sleep(0.001)

    def emit() -> None:
        while not stop.is_set():
            for _ in range(200):
                op()
            time.sleep(0.005)

    def child() -> bool:
        op()
        state = log_writer.log_writer_state()
        return (
            flush_logs(10.0)
            and state.written <= 1
            and log_writer.log_writer_state()
            == (dataclasses.replace(state, written=1, queue_depth=0, queued_bytes=0))
        )

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    sink = os.fdopen(write_end, "w", encoding="utf-8", buffering=4096)
    configure_logging(stream=sink)
    emitter = threading.Thread(target=emit, daemon=True)
    emitter.start()
    try:
        outcomes = [in_child(child) for _ in range(15)]
    finally:
        stop.set()
        emitter.join(10)
        flush_logs()
        configure_logging()
        sink.close()
        reader.join(10)
        os.close(read_end)
    assert outcomes == ["ok"] * 15


def test_an_alert_manager_works_in_the_child_whatever_the_parent_held(
    metrics_collector: ResultMetricsCollector,
) -> None:
    """The child of a parent whose threads held the manager's and its notifier's locks can
    evaluate, read states and notify; background evaluation stays with the parent."""
    collector = metrics_collector
    from rfs_monitoring.alerts import AlertConfiguration, AlertManager, AlertRule, CallbackNotifier

    for _ in range(10):
        collector.record("payments", 5.0, False, "EXTERNAL_SERVICE_ERROR")
    rule = AlertRule(
        name="payments failing",
        operation="payments",
        metric="error_rate",
        op=">",
        threshold=0.5,
        window="5m",
    )
    fired: list[str] = []
    manager = AlertManager(
        collector,
        AlertConfiguration(
            rules=[rule], notifiers=[CallbackNotifier(callback=lambda e: fired.append(e.status))]
        ),
        interval=60.0,
    )
    manager.start()
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with manager._lock, manager._dispatcher._lock:
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(10)

    def child() -> bool:
        events = manager.evaluate()
        delivered = manager.flush(10.0)
        return (
            not manager.running
            and [e.status for e in events] == ["firing"]
            and delivered
            and fired == ["firing"]
            and [s.status for s in manager.states()] == ["firing"]
        )

    try:
        assert in_child(child) == "ok"
    finally:
        release.set()
        holder.join(10)
        manager.close()
    assert manager.history() == []  # the child's transition stayed in the child
