"""Reproduce the tables of issue 11, sections 2 and 3: how many log entries are lost, and how
much memory grows, under faulty sinks, signals and hostile cardinality.

Run by hand (it is not part of the test suite; it takes a minute or two)::

    .venv/bin/python benches/measure_log_loss.py            # every case
    .venv/bin/python benches/measure_log_loss.py flaky kill  # some cases

Every logging case runs in a child process: 4 threads make ``CALLS`` logged calls in all, each
entry identifiable by its ``n`` argument (``log_args=True``); the parent reads the sink's file
and the child's stderr and counts distinct entries, corrupt lines and a torn last line.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

CALLS = 100_000
THREADS = 4

_CHILD_PRELUDE = """
import mmap, os, struct, sys, threading, time
from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring import result_logging
from rfs_monitoring.result import Success
from rfs_monitoring.result_logging import configure_logging, flush_logs, log_result_operation

OUT, PROGRESS, CALLS, THREADS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
progress_file = open(PROGRESS, "r+b")
progress = mmap.mmap(progress_file.fileno(), 8 * THREADS)

class FileSink:
    def __init__(self, delay=0.0, fail_every=0, always_fail=False, stuck=False):
        self.file = open(OUT, "w", encoding="utf-8")
        self.delay, self.fail_every, self.always_fail = delay, fail_every, always_fail
        self.stuck = threading.Event() if stuck else None
        self.calls = 0
    def write(self, text):
        self.calls += 1
        if self.stuck is not None:
            self.stuck.wait()
        if self.delay:
            time.sleep(self.delay)
        if self.always_fail or (self.fail_every and self.calls % self.fail_every == 0):
            raise OSError("sink refused the write")
        self.file.write(text)
        return len(text)
    def flush(self):
        self.file.flush()

@log_result_operation("measured", log_args=True)
def measured(n, extra=None):
    return Success(n)

def burst(extra_every=0, big=0):
    def run(index):
        per = CALLS // THREADS
        for i in range(per):
            n = index * per + i
            extra = None
            if extra_every and n % extra_every == 0:
                extra = {(1, 2): "tuple key", 3: "int key"}
            if big:
                extra = "x" * big + str(n)
            measured(n, extra)
            struct.pack_into("q", progress, 8 * index, i + 1)
    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
"""

CASES: dict[str, tuple[str, str]] = {
    "file_5ms": (
        "file sink, 5 ms sink, normal exit",
        "configure_logging(stream=FileSink(delay=0.005))\nburst()\n",
    ),
    "flaky": (
        "sink where 1 write in 3 raises",
        "configure_logging(stream=FileSink(fail_every=3))\nburst()\n",
    ),
    "always_fails": (
        "sink that always raises",
        "configure_logging(stream=FileSink(always_fail=True))\nburst()\n",
    ),
    "non_str_keys": (
        "argument dict with non-string keys (1 call in 10)",
        "configure_logging(stream=FileSink())\nburst(extra_every=10)\n",
    ),
    "exit_behind": (
        "exit while a 50 ms sink is behind",
        "configure_logging(stream=FileSink(delay=0.05))\nburst()\n",
    ),
    "sigterm": (
        "SIGTERM mid-burst",
        "configure_logging(stream=FileSink())\nburst()\n",
    ),
    "sigkill": (
        "SIGKILL mid-burst",
        "configure_logging(stream=FileSink())\nburst()\n",
    ),
}


def _count(path: Path, calls: int) -> dict[str, Any]:
    seen: set[int] = set()
    corrupt = anonymous = 0
    data = path.read_bytes() if path.exists() else b""
    torn = bool(data) and not data.endswith(b"\n")
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            corrupt += 1
            continue
        try:
            seen.add(int(entry["metadata"]["args"]["n"]))
        except (KeyError, TypeError, ValueError):
            anonymous += 1
    return {"entries": len(seen), "corrupt": corrupt, "anonymous": anonymous, "torn": torn}


def _stderr_entries(text: str) -> set[int]:
    found: set[int] = set()
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                found.add(int(json.loads(line)["metadata"]["args"]["n"]))
            except (ValueError, KeyError, TypeError):
                continue
    return found


def _run_logging_case(case: str, calls: int = CALLS) -> str:
    title, body = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sink.log"
        progress = Path(tmp) / "progress"
        progress.write_bytes(b"\0" * 8 * THREADS)
        script = _CHILD_PRELUDE + body
        command = [sys.executable, "-c", script, str(out), str(progress), str(calls), str(THREADS)]
        started = time.perf_counter()
        if case in ("sigterm", "sigkill"):
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            made = 0
            deadline = time.monotonic() + 120
            while made < calls // 2 and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.005)
                made = sum(struct.unpack_from(f"{THREADS}q", progress.read_bytes()))
            child.send_signal(signal.SIGTERM if case == "sigterm" else signal.SIGKILL)
            _, err = child.communicate(timeout=60)
            with progress.open("rb") as handle:
                view = mmap.mmap(handle.fileno(), 8 * THREADS, prot=mmap.PROT_READ)
                made = sum(struct.unpack_from(f"{THREADS}q", view))
                view.close()
        else:
            done = subprocess.run(command, capture_output=True, timeout=600)
            err = done.stderr
            made = calls
        elapsed = time.perf_counter() - started
        counts = _count(out, made)
        stderr = err.decode(errors="replace")
        fallback = _stderr_entries(stderr)
        reports = [line for line in stderr.splitlines() if line.startswith("rfs-monitoring")]
    kept = counts["entries"] + len(fallback)
    lost = made - kept
    return (
        f"| {title} | {lost / made:.1%} lost ({lost} of {made}; {counts['entries']} in the sink, "
        f"{len(fallback)} on stderr), {counts['corrupt']} corrupt lines, "
        f"{counts['anonymous']} lines without the entry's id, torn last line: "
        f"{counts['torn']}, {len(reports)} stderr reports"
        + (f" (last: {reports[-1][:150]!r})" if reports else "")
        + f" | {elapsed:.1f} s |"
    )


_STUCK = """
import gc, os, threading
import psutil
from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring.result import Success
from rfs_monitoring.result_logging import configure_logging, log_result_operation

class Stuck:
    def __init__(self):
        self.gate = threading.Event()
    def write(self, text):
        self.gate.wait()
        return len(text)
    def flush(self):
        pass

@log_result_operation("stuck", log_args=True)
def stuck(n, payload):
    return Success(n)

configure_logging(stream=Stuck(), max_block_seconds=0.001)
process = psutil.Process()
gc.collect()
before = process.memory_info().rss
for n in range(2000):
    stuck(n, "y" * 200_000 + str(n))
gc.collect()
after = process.memory_info().rss
print(f"{(after - before) / 1e6:.0f} {len(log_writer._writer.queue)}")
os._exit(0)
"""

_FLUSH = """
import os, time
from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring.result import Success
from rfs_monitoring.result_logging import configure_logging, flush_logs, log_result_operation

class Slow:
    def write(self, text):
        time.sleep(0.05)
        return len(text)
    def flush(self):
        pass

@log_result_operation("slow")
def slow(n):
    return Success(n)

configure_logging(stream=Slow())
for n in range(50_000):
    slow(n)
returned = flush_logs(timeout=0.05)
print(repr(returned), len(log_writer._writer.queue))
os._exit(0)
"""

_CODES = """
import gc, psutil
from rfs_monitoring.metrics import ResultMetricsCollector

c = ResultMetricsCollector(sample_resources=False)
process = psutil.Process()
gc.collect()
before = process.memory_info().rss
for n in range(800_000):
    c.record("hostile", 1.0, success=False, error_code=f"CODE_{n}", error_message=f"message {n}")
kept = len(c.operation_metrics("hostile", "1h").unwrap().error_breakdown)
after = process.memory_info().rss
c.reset()
gc.collect()
freed = process.memory_info().rss
print(f"{(after - before) / 1e6:.0f} {(freed - before) / 1e6:.0f} {kept}")
"""

_LEVELS = """
import time
from rfs_monitoring import result_logging
from rfs_monitoring.result_logging import set_log_level

costs = []
refused = 0
for n in range(30_000):
    start = time.perf_counter()
    try:
        set_log_level("DEBUG", operation=f"op_{n}")
    except Exception:
        refused += 1
    costs.append(time.perf_counter() - start)
first = sum(costs[:1000]) / 1000 * 1e6
last = sum(costs[-1000:]) / 1000 * 1e6
print(f"{first:.1f} {last:.1f} {refused}")
"""


def _python(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        timeout=600,
        text=True,
    )
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    return done.stdout.strip()


def main(selected: list[str]) -> None:
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, {CALLS} calls on {THREADS} threads")
    print("| case | measured | wall time |")
    print("|---|---|---|")
    for case in CASES:
        if not selected or case in selected:
            print(_run_logging_case(case), flush=True)
    if not selected or "stuck" in selected:
        print(
            f"| stuck sink, 2000 calls with 200 KB arguments | MB RSS growth, entries queued: "
            f"{_python(_STUCK)} |"
        )
    if not selected or "flush" in selected:
        print(
            f"| flush_logs(timeout=0.05) behind a 50 ms sink | returned, still queued: "
            f"{_python(_FLUSH)} |"
        )
    if not selected or "codes" in selected:
        print(
            f"| 800k distinct error codes on one operation | growth MB, after reset() MB, "
            f"codes kept: {_python(_CODES)} |"
        )
    if not selected or "levels" in selected:
        print(
            f"| set_log_level for 30k distinct operations | µs per call first 1k, last 1k, "
            f"refused: {_python(_LEVELS)} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
