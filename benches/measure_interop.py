"""What another library's failure costs per call against ours, interleaved, by hand.

Each round runs a batch of each library's decorated call in turn, so load on a shared machine
hits them alike; the medians' differences are printed. Not part of the test suite::

    .venv/bin/python benches/measure_interop.py
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from typing import Any

import expression
import result as result_lib
import returns.result
import rfs.core.result as rfs_result

from rfs_monitoring import Failure, ResultMetricsCollector, log_result_operation, monitor_result
from rfs_monitoring.result_logging import configure_logging

ROUNDS = 200
BATCH = 200
LIBRARIES: dict[str, Callable[[Any], Any]] = {
    "ours": Failure,
    "rfs": rfs_result.Failure,
    "returns": returns.result.Failure,
    "result": result_lib.Err,
    "expression": expression.Error,
}


def _decorated(kind: str, library: str, value: Any) -> Callable[[], Any]:
    def call() -> Any:
        return value

    if kind == "log":  # filtered out by level: the caller's whole share but the writer
        return log_result_operation(f"{kind}_{library}", failure_level="DEBUG")(call)
    return monitor_result(f"{kind}_{library}")(call)


def main() -> None:
    collector = ResultMetricsCollector(sample_resources=False)
    ResultMetricsCollector.set_instance(collector)
    configure_logging(stream=io.StringIO())
    error = ValueError("constant")
    for kind in ("log", "monitor"):
        calls = {lib: _decorated(kind, lib, make(error)) for lib, make in LIBRARIES.items()}
        per_call: dict[str, list[float]] = {lib: [] for lib in LIBRARIES}
        for _ in range(ROUNDS):
            for lib, call in calls.items():
                start = time.perf_counter()
                for _ in range(BATCH):
                    call()
                per_call[lib].append((time.perf_counter() - start) / BATCH * 1e6)
        ours = statistics.median(per_call["ours"])
        extra = " ".join(
            f"{lib}=+{statistics.median(times) - ours:.2f}µs"
            for lib, times in per_call.items()
            if lib != "ours"
        )
        print(f"{kind}: ours {ours:.2f} µs per call; {extra}")
    collector.close()


if __name__ == "__main__":
    main()
