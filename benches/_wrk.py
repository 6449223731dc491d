"""Running ``wrk`` for the benches that serve an app with uvicorn (``--wrk`` modes)."""

from __future__ import annotations

import shutil
import subprocess
import sys


def run(url: str, *, threads: int, connections: int, seconds: int, latency: bool = False) -> str:
    """wrk's report of ``seconds`` of GET requests to ``url``; exits when wrk is missing."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    if latency:
        command.append("--latency")
    return subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout


def requests_per_second(report: str) -> float:
    """The ``Requests/sec`` figure of a wrk report."""
    line = next(line for line in report.splitlines() if line.startswith("Requests/sec"))
    return float(line.split()[1])
