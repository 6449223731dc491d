"""Worker churn: directory size and scrape time after hundreds of worker restarts, for
rfs-monitoring's shared directory and for prometheus_client's multiprocess mode, in one run.

Run by hand (it is not part of the test suite; it takes about a minute)::

    .venv/bin/python benches/measure_churn.py          # 500 restarts
    .venv/bin/python benches/measure_churn.py 100      # another count

Each "worker" is a forked process that records ``SAMPLES`` durations over ``OPERATIONS``
operations (one in ten a failure, with three error codes) and exits, as a gunicorn worker
recycled by ``max_requests`` does. prometheus_client's side is configured as its documentation
says for gunicorn: ``PROMETHEUS_MULTIPROC_DIR`` set before the import, a histogram and two
counters with labels, and ``mark_process_dead(pid)`` from the master when a worker exits. After
each checkpoint the parent counts the files in each directory and times a scrape (the median of
five): ``generate_latest`` over a ``MultiProcessCollector`` against ``collector.expose()``.
This is the setting of prometheus_client's issues #367 (6,800 files, 40 s scrapes), #443 and
#275 (files pile up under ``max_requests``).
"""

from __future__ import annotations

import functools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rfs_monitoring.metrics import ResultMetricsCollector

OPERATIONS = 10
SAMPLES = 2_000
CODES = ("TIMEOUT", "NOT_FOUND", "CONFLICT")


def _workload(seed: int) -> list[tuple[str, float, str | None]]:
    rng = random.Random(seed)
    out: list[tuple[str, float, str | None]] = []
    for i in range(SAMPLES):
        failed = i % 10 == 0
        out.append(
            (f"op_{i % OPERATIONS}", rng.lognormvariate(2.0, 0.8), CODES[i % 3] if failed else None)
        )
    return out


def _prometheus_worker(seed: int) -> None:
    from prometheus_client import Counter, Histogram

    duration = Histogram("rfs_operation_duration_seconds", "d", ["operation"])
    outcomes = Counter("rfs_operations", "o", ["operation", "outcome"])
    errors = Counter("rfs_operation_errors", "e", ["operation", "error_code"])
    for operation, ms, code in _workload(seed):
        duration.labels(operation).observe(ms / 1000)
        outcomes.labels(operation, "error" if code else "success").inc()
        if code:
            errors.labels(operation, code).inc()


def _rfs_worker(seed: int, shared: str) -> None:
    collector = ResultMetricsCollector(shared_dir=shared, sample_resources=False)
    for operation, ms, code in _workload(seed):
        collector.record(operation, ms, success=code is None, error_code=code)
    collector.sync()


def _run_worker(target: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # the worker
        status = 0
        try:
            target()
        except BaseException:  # pragma: no cover - reported by the exit status
            import traceback

            traceback.print_exc()
            status = 1
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit(f"a worker failed with status {status}")
    return pid


def _median_seconds(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _listing(reader: ResultMetricsCollector) -> bytes:
    return reader._rows_json("1h").unwrap()


def _files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())


def main() -> None:
    restarts = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    checkpoints = sorted({c for c in (10, 100, restarts) if c <= restarts})
    base = Path(tempfile.mkdtemp(prefix="rfs-churn-"))
    prom_dir, rfs_dir = base / "prometheus", base / "rfs"
    prom_dir.mkdir()
    rfs_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)  # before prometheus_client's import
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

    def prom_scrape() -> bytes:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(prom_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    print(f"{SAMPLES} samples over {OPERATIONS} operations per worker; scrape = median of 5")
    print(f"{'restarts':>8} | {'prometheus_client files':>23} | {'scrape':>9} | "
          f"{'rfs files':>13} | {'scrape':>9} | {'1h list':>9} | speed-up")  # fmt: skip
    reader: ResultMetricsCollector | None = None
    done = 0
    for checkpoint in checkpoints:
        while done < checkpoint:
            pid = _run_worker(functools.partial(_prometheus_worker, done))
            mark_process_dead(pid, str(prom_dir))  # type: ignore[no-untyped-call]
            _run_worker(functools.partial(_rfs_worker, done, str(rfs_dir)))
            done += 1
        if reader is None:
            reader = ResultMetricsCollector(shared_dir=str(rfs_dir), sample_resources=False)
        before = _files(rfs_dir)
        reader.compact()  # what the writer thread does every few seconds
        prom = _median_seconds(prom_scrape)
        ours = _median_seconds(reader.expose)
        listing = _median_seconds(functools.partial(_listing, reader))
        check = reader.operation_metrics("op_0", "1h").unwrap()
        assert check.total_requests == checkpoint * SAMPLES // OPERATIONS, check.total_requests
        files = f"{before:>5} -> {_files(rfs_dir):>4}"
        print(f"{checkpoint:>8} | {_files(prom_dir):>23} | {prom * 1e3:>7.1f}ms | {files} | "
              f"{ours * 1e3:>7.2f}ms | {listing * 1e3:>7.2f}ms | {prom / ours:,.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
