"""What a segment costs at the large end: 1000 operations with traffic in every bucket of a week.

Prints the segment's size, the median time of a write after one more sample (only the changed
buckets are encoded again) and the time a reader takes to list and decode it. Not part of the
test suite::

    .venv/bin/python benches/measure_segment_cost.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rfs_monitoring.metrics import ResultMetricsCollector

WEEK = 7 * 86_400
NOW = 1_700_000_000.0
OPERATIONS = 1000


class Clock:
    """A settable clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="rfs-segment-cost-"))
    clock = Clock(NOW - WEEK + 60)
    writer = ResultMetricsCollector(shared_dir=directory, clock=clock, sample_resources=False)
    handles = [writer.operation(f"service.op-{i:04d}") for i in range(OPERATIONS)]
    # A sample every hour of the week and every minute of the last hour, per operation.
    while clock.now < NOW:
        for j, handle in enumerate(handles):
            handle.record(5.0 + (j * 7 + int(clock.now)) % 300, (j + int(clock.now)) % 20 != 0)
        clock.now += 3_600 if clock.now < NOW - 3_600 else 60
    clock.now = NOW
    writer.sync()
    writes = []
    for _ in range(11):
        handles[0].record(1.0, True)
        began = time.perf_counter()
        writer.sync()
        writes.append(time.perf_counter() - began)
    size = sum(p.stat().st_size for p in directory.glob("w-*.seg"))
    reads = []
    for _ in range(5):
        reader = ResultMetricsCollector(shared_dir=directory, sample_resources=False)
        began = time.perf_counter()
        reader.list_operations("1w")
        reads.append(time.perf_counter() - began)
        reader.close()
    print(f"segments: {size / 1e6:.1f} MB for {OPERATIONS} operations with a full week")
    print(f"write after one more sample: {statistics.median(writes) * 1000:.1f} ms (median)")
    print(f"a new reader's first query (decode): {statistics.median(reads) * 1000:.1f} ms")
    writer.close()


if __name__ == "__main__":
    main()
