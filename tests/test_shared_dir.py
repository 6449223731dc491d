"""Several processes and restarts on one shared directory (`shared_dir`, ``RFS_MONITORING_DIR``).

Other processes are real: fresh interpreters (as ``uvicorn --workers`` spawns them) run small
scripts, and forked children (as gunicorn forks them) use ``os.fork``. Times are bounded
generously; what is measured is printed (``pytest -s``).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rfs_monitoring import _shutdown
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.metrics import SHARED_DIR_ENV, ResultMetricsCollector, _sync_all
from rfs_monitoring.testing import FakeClock

NOW = 1_700_000_000.0


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    return tmp_path / "metrics"


@pytest.fixture
def make() -> Iterator[Callable[..., ResultMetricsCollector]]:
    """Collectors on a directory, closed after the test."""
    made: list[ResultMetricsCollector] = []

    def factory(directory: Path, **kwargs: object) -> ResultMetricsCollector:
        kwargs.setdefault("sample_resources", False)
        collector = ResultMetricsCollector(shared_dir=directory, **kwargs)  # type: ignore[arg-type]
        made.append(collector)
        return collector

    yield factory
    for collector in made:
        collector.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until ``predicate()`` held (fails past ``timeout``)."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - began


def total(collector: ResultMetricsCollector, name: str = "op", time_range: str = "1h") -> int:
    metrics = collector.operation_metrics(name, time_range)
    return metrics.unwrap().total_requests if metrics.is_success() else 0


def run_python(code: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter running ``code`` (as a spawned worker is)."""
    env = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_START"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
        env=env,
    )


def in_child(body: Callable[[], None]) -> int:
    """Fork; run ``body`` in the child and leave it with ``os._exit``; return the child's pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, whose coverage is not collected
        code = 0
        try:
            body()
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


def reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# -- one process, two collectors ---------------------------------------------------------------


def test_two_collectors_on_one_directory_answer_for_both(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    clock = FakeClock(NOW)
    a, b = make(shared, clock=clock), make(shared, clock=clock)
    alone = ResultMetricsCollector(clock=clock, sample_resources=False)
    for i in range(300):
        ok = i % 10 != 0
        code, message = ("TIMEOUT", "slow upstream") if i % 20 == 0 else ("NOT_FOUND", "no row")
        for c in (a if i % 3 else b, alone):
            c.record("op", float(i % 97) + 0.5, ok, None if ok else code, None if ok else message)
    a.sync(), b.sync()
    time.sleep(0.25)  # past the readers' listing interval
    for c in (a, b):
        got, want = c.operation_metrics("op").unwrap(), alone.operation_metrics("op").unwrap()
        assert (got.total_requests, got.failed_requests) == (300, 30)
        assert got.error_breakdown == want.error_breakdown == {"TIMEOUT": 15, "NOT_FOUND": 15}
        assert (got.p50_response_time_ms, got.p99_response_time_ms, got.max_response_time_ms) == (
            want.p50_response_time_ms,
            want.p99_response_time_ms,
            want.max_response_time_ms,
        )
        assert [(e.error_message, e.count) for e in c.top_errors(5)] == [
            (e.error_message, e.count) for e in alone.top_errors(5)
        ]
        assert c.list_operations() == ["op"]
        report = c.workers().unwrap()
        assert report.processes == 2
        assert sum(w.requests for w in report.workers) == 300
        assert sum(w.failures for w in report.workers) == 30
        assert report.workers[0].is_self
    # /metrics from either collector: the merged lifetime totals.
    for c in (a, b):
        text = c.expose().decode()
        assert 'rfs_operation_duration_seconds_count{operation="op"} 300' in text


def test_without_a_directory_nothing_is_shared(tmp_path: Path) -> None:
    collector = ResultMetricsCollector(sample_resources=False)
    collector.record("op", 1.0, True)
    assert collector.shared_dir is None
    assert collector.sync() is False
    assert collector.compact() == 0
    assert collector.horizon_seconds == 7 * 86_400
    report = collector.workers().unwrap()
    assert (report.processes, report.shared_dir, report.segments) == (1, None, 0)
    assert report.workers[0].pid == os.getpid()
    assert report.workers[0].requests == 1
    assert collector.operation_metrics("op", "30d").unwrap_error().code.value == "VALIDATION_ERROR"
    assert list(tmp_path.iterdir()) == []


def test_the_default_collector_takes_the_directory_from_the_environment(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SHARED_DIR_ENV, str(shared))
    collector = ResultMetricsCollector._default()
    try:
        assert collector.shared_dir == str(shared)
        assert collector.horizon_seconds == 30 * 86_400
        assert any(p.name.endswith(".lock") for p in shared.iterdir())
        assert (shared / "steps").is_dir()
        # The routes of the default collector accept 30d before it exists.
        previous = ResultMetricsCollector._instance
        ResultMetricsCollector._instance = None
        try:
            app = FastAPI()
            app.include_router(monitoring_router())
            ResultMetricsCollector._instance = collector
            with TestClient(app) as client:
                assert client.get("/monitoring/operations?time_range=30d").status_code == 200
        finally:
            ResultMetricsCollector._instance = previous
    finally:
        collector.close()
    monkeypatch.delenv(SHARED_DIR_ENV)
    assert ResultMetricsCollector._default().shared_dir is None


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="archive_days"):
        ResultMetricsCollector(shared_dir=tmp_path, archive_days=0, sample_resources=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match="shared directory"):
        ResultMetricsCollector(shared_dir=blocker, sample_resources=False)


# -- other processes ---------------------------------------------------------------------------

WORKER = """
    import sys, time
    from rfs_monitoring.metrics import ResultMetricsCollector
    c = ResultMetricsCollector(shared_dir=sys.argv[1] if len(sys.argv) > 1 else {dir!r},
                               sample_resources=False)
    for i in range({n}):
        c.record("op", 2.0, i % 4 != 0, "E_SPAWN", "spawned failure")
    {then}
"""


def test_a_spawned_process_is_visible_within_a_second_and_after_it_exits(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    here = make(shared)
    here.record("op", 1.0, True)
    # The worker records, says so, and stays alive until told to go.
    go = shared.parent / "go"
    code = WORKER.format(
        dir=str(shared),
        n=200,
        then=(
            "print('recorded', flush=True)\n    import os\n"
            f"    while not os.path.exists({str(go)!r}): time.sleep(0.01)"
        ),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "recorded"
        seen = wait_for(lambda: total(here) == 201)
        print(f"another process's samples visible after {seen * 1000:.0f} ms")
        assert seen < 3.0  # 0.25 s writes + 0.2 s listings; generous on a loaded machine
        m = here.operation_metrics("op").unwrap()
        assert (m.failed_requests, m.error_breakdown) == (50, {"E_SPAWN": 50})
        assert here.workers().unwrap().processes == 2
    finally:
        go.touch()
        proc.wait(30)
    # It exited normally (its exit hook wrote everything); its data stays.
    assert total(here) == 201
    wait_for(lambda: here.workers().unwrap().processes == 1)


def test_exit_and_sigterm_write_what_the_writer_thread_has_not(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    # Both children record and end within a few ms of starting, before the writer thread's
    # first round (0.25 s): only the exit hook, or the SIGTERM hook, can have written.
    run_python(WORKER.format(dir=str(shared), n=40, then="pass"))
    ended = run_python(
        WORKER.format(
            dir=str(shared),
            n=60,
            # The SIGTERM flush path of the log pipeline (loaded by any app that logs).
            then="import os, signal, rfs_monitoring.result_logging\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(30)",
        ),
        check=False,
    )
    assert ended.returncode == -signal.SIGTERM, ended.stderr
    assert total(make(shared)) == 100


def test_a_restart_keeps_the_windows_and_the_archive_answers_thirty_days(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    clock = FakeClock(NOW)
    before = ResultMetricsCollector(shared_dir=shared, clock=clock, sample_resources=False)
    for days_ago in (20, 10, 3, 0):
        clock.set(NOW - days_ago * 86_400)
        for _ in range(5):
            before.record("op", 4.0, True)
    del before  # as if its process ended: the segment is written, the lock released
    gc.collect()
    clock.set(NOW)
    after = make(shared, clock=clock)
    assert total(after) == 5
    assert total(after, time_range="1w") == 10
    assert total(after, time_range="30d") == 20
    assert after.compact() == 2  # its segments (operations and steps) into the archives
    assert total(after, time_range="30d") == 20
    assert total(after, time_range="1d") == 5
    assert after.workers().unwrap().archive
    assert after.operation_metrics("op", "31d").unwrap_error().code.value == "VALIDATION_ERROR"
    app = FastAPI()
    app.include_router(monitoring_router(after))
    with TestClient(app) as client:
        body = client.get("/monitoring/operations/op/metrics?time_range=30d").json()
        assert body["total_requests"] == 20
        assert client.get("/monitoring/operations?time_range=31d").status_code in (400, 422)


def test_a_forked_child_counts_its_own_samples_only(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    parent = make(shared)
    for _ in range(100):
        parent.record("op", 1.0, True)
    parent.step("op", "fetch").record(0.5, True)
    parent.sync()  # the child must find the parent's samples in the directory, not in memory

    def child() -> None:
        for _ in range(7):
            parent.record("op", 1.0, False, "E_CHILD", "child failure")
        parent.step("op", "fetch").record(0.5, True)
        assert total(parent) == 107  # its own 7 + the parent's 100, not 207
        parent.sync()

    assert reap(in_child(child)) == 0
    time.sleep(0.25)
    m = parent.operation_metrics("op").unwrap()
    assert (m.total_requests, m.failed_requests) == (107, 7)
    assert [(s.name, s.total_requests) for s in m.steps] == [("fetch", 2)]


def test_steps_seen_only_by_another_worker_are_listed(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    here, other = make(shared), make(shared)
    here.step("checkout", "validate").record(1.0, True)
    other.step("checkout", "validate").record(1.0, True)
    other.step("checkout", "charge").record(30.0, False)
    other.record("checkout", 31.0, False, "E", "declined")
    other.sync()
    time.sleep(0.25)
    m = here.operation_metrics("checkout").unwrap()
    assert [(s.name, s.total_requests, s.failed_requests) for s in m.steps] == [
        ("validate", 2, 0),
        ("charge", 1, 1),
    ]


def test_kill_9_loses_at_most_the_unwritten_interval(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    counter = shared.parent / "count"
    code = f"""
        import os, time
        from rfs_monitoring.metrics import ResultMetricsCollector
        c = ResultMetricsCollector(shared_dir={str(shared)!r}, sample_resources=False)
        h = c.operation("op")
        n = 0
        while True:
            h.record(1.0, True)
            n += 1
            if n % 50 == 0:
                with open({str(counter)!r} + ".tmp", "w") as f:
                    f.write(f"{{n}} {{time.monotonic()}}")
                os.replace({str(counter)!r} + ".tmp", {str(counter)!r})
            time.sleep(0.0005)
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])
    try:
        wait_for(lambda: counter.exists() and int(counter.read_text().split()[0]) >= 1_000, 60)
        time.sleep(0.4)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    recorded = int(counter.read_text().split()[0])  # lags the records by < 50 samples
    reader = make(shared)
    kept = total(reader)
    lost = max(recorded - kept, 0)
    print(f"kill -9: at least {recorded} recorded, {kept} kept, {lost} lost")
    assert kept >= 1_000
    # At most one write interval (0.25 s) of samples, with room for a loaded machine: the
    # child records at most ~2000 samples a second (0.5 ms sleeps), so a second's worth is a
    # generous bound; without the writer thread everything since the start would be lost.
    assert lost <= 2_000
    assert reader.compact() + reader.compact() >= 1  # the dead segment goes to the archive
    assert total(reader) == kept


def test_churn_keeps_the_directory_small_and_queries_flat(
    shared: Path, make: Callable[..., ResultMetricsCollector]
) -> None:
    parent = make(shared)
    parent.record("op", 1.0, True)

    def child() -> None:
        parent.record("op", 1.0, True)
        parent.record("churn", 2.0, False, "E_CHURN", "short-lived")
        parent.sync()

    def query_ms() -> float:
        times = []
        for _ in range(15):
            began = time.perf_counter()
            parent.list_operations()
            parent.operation_metrics("op", "1w")
            parent.expose()
            times.append(time.perf_counter() - began)
        return statistics.median(times) * 1000

    timings = {}
    for round_ in range(6):
        for _ in range(50):
            assert reap(in_child(child)) == 0
        # The writer thread compacts every 2 s too: a compaction it began before the last
        # children died holds compact.lock (ours is then skipped), so compact until the dead
        # are gone (a bounded wait).
        deadline = time.monotonic() + 10.0
        while True:
            parent.compact()
            files = sorted(p.name for p in shared.iterdir())
            # This process's segment and lock, the archive, compact.lock, steps/.
            if len(files) <= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(files) <= 6, files
        timings[(round_ + 1) * 50] = query_ms()
    print("query + scrape ms after N restarts:", {k: round(v, 2) for k, v in timings.items()})
    m = parent.operation_metrics("churn").unwrap()
    assert (m.total_requests, m.failed_requests) == (300, 300)
    assert total(parent) == 301
    assert 'rfs_operation_duration_seconds_count{operation="churn"} 300' in parent.expose().decode()
    assert timings[300] < 5 * timings[50] + 5  # does not grow with the dead processes


def test_damaged_segments_are_quarantined_without_a_500(
    shared: Path, make: Callable[..., ResultMetricsCollector], caplog: pytest.LogCaptureFixture
) -> None:
    good = make(shared)
    good.record("op", 1.0, False, "E", "m")
    good.sync()
    own = next(p for p in shared.iterdir() if p.suffix == ".seg")
    data = own.read_bytes()
    wrong_version = bytearray(data)
    wrong_version[8:12] = (99).to_bytes(4, "little")
    (shared / "w-11-00000000000000a1.seg").write_bytes(data[: len(data) // 2])  # truncated
    (shared / "w-12-00000000000000a2.seg").write_bytes(os.urandom(500))  # garbage
    (shared / "w-13-00000000000000a3.seg").write_bytes(bytes(wrong_version))  # wrong version
    reader = make(shared)
    app = FastAPI()
    app.include_router(monitoring_router(reader))
    with (
        caplog.at_level(logging.WARNING, logger="rfs_monitoring.metrics"),
        TestClient(app) as client,
    ):
        for path in (
            "/monitoring/operations",
            "/monitoring/operations/op/metrics",
            "/monitoring/operations/op/timeseries",
            "/monitoring/health/result-patterns",
            "/monitoring/errors/top",
            "/monitoring/workers",
            "/monitoring/metrics",
        ):
            assert client.get(path).status_code == 200, path
        body = client.get("/monitoring/workers").json()
        assert body["quarantined"] == 3
        assert body["processes"] == 2
        assert client.get("/monitoring/operations/op/metrics").json()["total_requests"] == 1
    warnings = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warnings) == 3, warnings  # once each
    assert any("truncated" in w for w in warnings)
    assert any("format version 99" in w for w in warnings)
    assert len(list((shared / "quarantine").iterdir())) == 3
    left = {p.name for p in shared.iterdir() if p.suffix == ".seg"}
    assert own.name in left
    assert len(left) == 2


def test_the_shutdown_hooks_run_the_segment_writes_and_survive_a_failure(
    shared: Path, make: Callable[..., ResultMetricsCollector], caplog: pytest.LogCaptureFixture
) -> None:
    assert _sync_all in _shutdown._hooks
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    _shutdown.register(broken)
    _shutdown.register(lambda: calls.append("ran"))
    try:
        collector = make(shared)
        collector.record("op", 1.0, True)
        with caplog.at_level(logging.ERROR, logger="rfs_monitoring"):
            _shutdown.run()
        assert calls == ["ran"]
        assert "shutdown hook failed" in caplog.text
    finally:
        _shutdown._hooks[:] = [h for h in _shutdown._hooks if h is _sync_all]


def test_a_failed_write_is_logged_not_raised(
    shared: Path, make: Callable[..., ResultMetricsCollector], caplog: pytest.LogCaptureFixture
) -> None:
    collector = make(shared)
    own = next(p for p in shared.iterdir() if p.suffix == ".seg")
    # A directory where the temporary file goes: the write fails (even for root).
    (shared / (own.name + ".tmp")).mkdir()
    collector.record("op", 1.0, True)
    with pytest.raises(OSError, match="Is a directory"):
        collector.sync()
    with caplog.at_level(logging.WARNING, logger="rfs_monitoring.metrics"):
        _sync_all()
    assert "writing" in caplog.text


def test_an_operation_name_with_a_newline_reaches_the_route() -> None:
    """A name with any character (``%0A``) is matched by the operation routes: an unknown one
    is a 404 problem, not the app's plain 404 (schemathesis found it)."""
    collector = ResultMetricsCollector(sample_resources=False)
    collector.record("two\nlines", 1.0, True)
    app = FastAPI()
    app.include_router(monitoring_router(collector))
    with TestClient(app) as client:
        missing = client.get("/monitoring/operations/%0A/metrics")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        found = client.get("/monitoring/operations/two%0Alines/metrics")
        assert found.status_code == 200
        assert found.json()["total_requests"] == 1
        assert client.get("/monitoring/operations/a/b/timeseries").status_code == 404
