"""The request stack's cost in instructions, counted by valgrind: deterministic where wall-clock
figures on a shared machine are not (issue #13 §3, the full stack against the bare endpoint).

Serves ``bench_stack``'s bare and full app with uvicorn under ``valgrind --tool=callgrind`` (all
threads counted: the server's, and the log writer's rendering and writing of the full stack's
three entries per request), sends ``--few`` then ``--many`` sequential keep-alive requests to a
fresh server each time, and takes the difference: what ``many - few`` requests cost, per
request, without start-up and shutdown. The ratio ``bare / full`` is the share of the bare
endpoint's requests/s the full stack would serve on a CPU-bound server with equal cycles per
instruction. Needs valgrind (``apt-get install valgrind``); not part of the test suite::

    .venv/bin/python benches/measure_stack_instructions.py            # about 5 minutes
    .venv/bin/python benches/measure_stack_instructions.py --few 100 --many 600
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_stack import _SERVE  # noqa: E402 - the path is set just above


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _requests(port: int, count: int, wait: float = 300.0) -> None:
    """One request until the server answers (valgrind starts it slowly), then ``count`` more
    on the same connection."""
    deadline = time.monotonic() + wait
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            connection.request("GET", "/users/123")
            connection.getresponse().read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    for _ in range(count):
        connection.request("GET", "/users/123")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}: {body!r}")
    connection.close()


def instructions(app: str, count: int) -> int:
    """Instructions the server process runs (all threads) to start, serve ``count`` + 1
    requests and stop."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        port = _free_port()
        server = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                _SERVE,
                app,
                str(port),
                str(Path(folder) / "entries.jsonl"),
                str(HERE),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _requests(port, count)
        finally:
            server.terminate()  # uvicorn shuts down on SIGTERM; callgrind writes on exit
            server.wait(timeout=300)
        match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
        if match is None:
            raise RuntimeError("callgrind wrote no totals")
        return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--few", type=int, default=200)
    parser.add_argument("--many", type=int, default=1200)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    per_request: dict[str, float] = {}
    for app in ("bare", "full"):
        few, many = instructions(app, args.few), instructions(app, args.many)
        per_request[app] = (many - few) / (args.many - args.few)
        print(f"{app:5s} {per_request[app]:>12,.0f} instructions per request")
    bare, full = per_request["bare"], per_request["full"]
    print(
        f"the full stack adds {full - bare:,.0f} instructions per request "
        f"({(full - bare) / bare:.1%} of the bare endpoint's): it would serve "
        f"{bare / full:.1%} of the bare endpoint's requests/s"
    )


if __name__ == "__main__":
    main()
