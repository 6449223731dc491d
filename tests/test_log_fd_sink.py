"""Issue 13, section 3: a file or file descriptor sink is written by the Rust core.

Each caller hands its entry to the core's lane (`_core.LogPipeline`), whose writer thread
renders, masks and writes it to a duplicate of the stream's descriptor without the interpreter:
partial writes go on, failed writes are retried, and what the sink never took goes to stderr,
counted. Any other stream keeps its own ``write`` (the Python lane).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rfs_monitoring import _core
from rfs_monitoring._logging import config as log_config
from rfs_monitoring._logging import writer as log_writer
from rfs_monitoring.masking import get_masker
from rfs_monitoring.result import Result, Success
from rfs_monitoring.result_logging import (
    configure_logging,
    flush_logs,
    log_result_operation,
    log_writer_state,
)


@log_result_operation("fd_probe", log_args=True)
def probe(n: int, extra: Any = None) -> Result[int, str]:
    return Success(n)


class Unjsonable:
    def __repr__(self) -> str:
        return "Unjsonable()"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging()


@pytest.fixture
def core_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the entries handed to the core's lane."""
    calls: list[int] = []
    real = log_writer._put

    def counting(item: Any, size: int) -> None:
        if log_writer._select_lane() is not None:
            calls.append(1)
        real(item, size)

    monkeypatch.setattr(log_writer, "_put", counting)
    return calls


def _ids(text: str) -> tuple[list[int], int]:
    ids: list[int] = []
    corrupt = 0
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            corrupt += 1
            continue
        ids.append(entry["metadata"]["args"]["n"])
    return ids, corrupt


def test_a_file_opened_by_path_is_written_by_the_core_in_order_with_the_hosts_own_lines(
    tmp_path: Path, core_calls: list[int]
) -> None:
    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        stream.write("host line before\n")  # buffered in the stream: configuring writes it
        configure_logging(stream=stream)
        assert log_writer._lanes.lane is not None
        written = log_writer_state().written
        for n in range(1000):
            probe(n, {"password": "hunter2", "note": "é"})
        stream.write("host line between\n")  # buffered: flush_logs writes it
        assert flush_logs(10) is True
        stream.write("host line after\n")
        stream.flush()
        assert log_writer_state().written - written == 1000
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "host line before"
    assert lines[-1] == "host line after"
    assert "host line between" in lines  # whole, wherever the writer's batches put it
    ids, corrupt = _ids(text)
    assert (ids, corrupt) == (list(range(1000)), 0)
    assert "hunter2" not in text  # masked on the way, as on the Python path
    assert '"note":"é"' in text
    assert sum(core_calls) >= 1000


def test_values_the_core_leaves_are_rendered_in_python_in_their_place(
    tmp_path: Path, core_calls: list[int]
) -> None:
    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream)
        for n in range(30):
            probe(n, Unjsonable() if n == 10 else None)
        assert flush_logs(10) is True
    text = path.read_text(encoding="utf-8")
    assert _ids(text) == (list(range(30)), 0)
    assert "Unjsonable()" in text
    assert len(core_calls) == 30  # the odd entry rendered here, queued in its place


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda path: open(path, "a", encoding="latin-1"), id="not-utf8"),  # noqa: SIM115
        pytest.param(lambda path: open(path, "a+", encoding="utf-8"), id="read-write"),  # noqa: SIM115
    ],
)
def test_streams_the_core_does_not_take_keep_the_python_path(
    tmp_path: Path, core_calls: list[int], make: Callable[[Path], Any]
) -> None:
    path = tmp_path / "app.log"
    with make(path) as stream:
        configure_logging(stream=stream)
        for n in range(20):
            probe(n)
        assert flush_logs(10) is True
    assert _ids(path.read_text(encoding="utf-8")) == (list(range(20)), 0)
    assert core_calls == []


def test_processors_keep_the_python_path(tmp_path: Path, core_calls: list[int]) -> None:
    def tag(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "tagged": True}

    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream, processors=[tag])
        probe(1)
        assert flush_logs(10) is True
    assert json.loads(path.read_text())["tagged"] is True
    assert core_calls == []


class _BrokenLane:
    """A lane whose core refuses every entry (as a panic turned into RuntimeError would)."""

    def put(self, item: Any, size: int) -> int:
        raise RuntimeError("queueing a log entry panicked")


def test_a_core_failure_leaves_the_entry_to_the_python_lane(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream)
        chosen = log_writer._lanes.current()
        config, masker = log_config._config, get_masker()
        log_writer._lanes.chose(_BrokenLane(), config, masker, None)
        for n in range(20):
            probe(n)
        assert flush_logs(10) is True
        log_writer._lanes.chose(chosen, config, masker, None)
    assert _ids(path.read_text(encoding="utf-8")) == (list(range(20)), 0)


def test_a_masking_pattern_set_later_moves_entries_to_the_python_lane_in_order(
    tmp_path: Path,
) -> None:
    from rfs_monitoring.masking import configure_masking

    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream)
        try:
            probe(0, "ACME-123456")
            assert log_writer._lanes.lane is not None
            configure_masking(patterns=[r"ACME-\d{6}"])
            probe(1, "ACME-123456")
            assert log_writer._lanes.lane is None  # custom patterns are applied in Python
            configure_masking()
            probe(2, "ACME-123456")
            assert log_writer._lanes.lane is not None
            assert flush_logs(10) is True
        finally:
            configure_masking()
    text = path.read_text(encoding="utf-8")
    assert _ids(text) == ([0, 1, 2], 0)
    assert text.count("ACME-123456") == 2  # the entry logged under the pattern is masked


def test_the_default_stream_follows_sys_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    with open(first, "a", encoding="utf-8") as one, open(second, "a", encoding="utf-8") as two:
        monkeypatch.setattr("sys.stdout", one)
        configure_logging()
        probe(1)
        monkeypatch.setattr("sys.stdout", two)
        probe(2)
        assert flush_logs(10) is True
        monkeypatch.undo()
        configure_logging()
    assert _ids(first.read_text(encoding="utf-8"))[0] == [1]
    assert _ids(second.read_text(encoding="utf-8"))[0] == [2]


def test_only_utf8_text_files_over_os_files_are_written_by_the_core(tmp_path: Path) -> None:
    assert log_writer._sink_fd(io.StringIO()) is None
    with open(tmp_path / "a.log", "a", encoding="utf-8") as good:
        assert log_writer._sink_fd(good) == good.fileno()
    closed = open(tmp_path / "b.log", "a", encoding="utf-8")  # noqa: SIM115 - closed below
    closed.close()
    assert log_writer._sink_fd(closed) is None
    detached = open(tmp_path / "c.log", "a", encoding="utf-8")  # noqa: SIM115
    raw = detached.detach()
    raw.close()
    assert log_writer._sink_fd(detached) is None
    assert log_writer._is_utf8("UTF8") is True
    assert log_writer._is_utf8("no-such-codec") is False
    with pytest.raises(OSError, match="not a file descriptor"):
        _core.LogPipeline(str, dict).set_sink(-1, True)
    with pytest.raises(ValueError, match="invalid log queue bounds"):
        _core.LogPipeline(str, dict, capacity=0)


def _drain(fd: int) -> bytes:
    parts = []
    for _ in range(10_000):
        try:
            part = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not part:
            break
        parts.append(part)
    return b"".join(parts)


def test_a_full_pipe_takes_part_of_a_batch_and_the_rest_goes_to_stderr_whole(
    capfd: pytest.CaptureFixture[str], core_calls: list[int]
) -> None:
    """A non-blocking pipe nobody reads: the first write takes what fits (a partial write), the
    retries fail, the rest of the chunk goes to stderr, later batches too; every entry is in the
    pipe or on stderr exactly once, and no line is torn. Once the pipe is read, the sink gets
    the entries again."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        configure_logging(stream=stream)
        before = log_writer_state()
        big = "x" * 2000
        for n in range(300):  # about 700 KB: more than a pipe holds
            probe(n, big)
        assert flush_logs(10) is False  # some entries went to stderr
        state = log_writer_state()
        assert state.fallback_active
        assert state.sink_errors > before.sink_errors
        assert state.last_error is not None
        assert "OSError" in state.last_error
        assert state.diverted > before.diverted
        assert state.written - before.written + state.diverted - before.diverted == 300
        piped = _drain(read_end).decode("utf-8")
        err = capfd.readouterr().err
        ids, corrupt = _ids(piped + err)
        assert (sorted(ids), corrupt) == (list(range(300)), 0)
        assert "failed writes to the log sink" in err
        # The pipe is empty again: the sink takes the entries once more.
        probe(1000)
        assert flush_logs(10) is True
        assert not log_writer_state().fallback_active
        assert _ids(_drain(read_end).decode("utf-8"))[0] == [1000]
        assert "works again" in capfd.readouterr().err
        assert len(core_calls) == 301
    finally:
        configure_logging()
        stream.close()
        os.close(read_end)


def test_the_core_lane_writes_while_python_holds_the_interpreter(tmp_path: Path) -> None:
    """The core's writer thread renders, masks and writes without the interpreter: entries are
    written while this thread keeps the interpreter to itself (a pure-Python loop, with a switch
    interval of 60 s so that no other Python thread runs). The Python lane's writer would wait
    for the interpreter, and nothing would be written until the loop ends."""
    import sys
    import time

    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream, queue_size=4096)
        assert log_writer._lanes.lane is not None
        before = log_writer_state().written
        previous = sys.getswitchinterval()
        sys.setswitchinterval(60.0)
        try:
            for n in range(600):  # more than the writer's wake-up threshold
                probe(n)
            deadline = time.monotonic() + 20.0
            written = 0
            # Neither the clock nor the counters release the interpreter.
            while time.monotonic() < deadline:
                written = log_writer_state().written - before
                if written == 600:
                    break
        finally:
            sys.setswitchinterval(previous)
        assert written == 600, f"{written} of 600 written while the interpreter was held"
        assert flush_logs(10) is True
    assert _ids(path.read_text(encoding="utf-8")) == (list(range(600)), 0)


def test_structlog_and_stdlib_entries_take_the_core_lane_masked_and_in_order(
    tmp_path: Path, core_calls: list[int]
) -> None:
    import logging

    from rfs_monitoring.result_logging import get_logger

    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream, capture_stdlib="fd_sink_bridge")
        try:
            get_logger(component="billing").info("charged", amount=3, token="t-1")
            probe(7)
            logging.getLogger("fd_sink_bridge").warning("login failed: password=hunter2")
            assert flush_logs(10) is True
        finally:
            configure_logging()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line.get("event") for line in lines] == [
        "charged",
        "result_operation",
        "login failed: password=***",
    ]
    assert lines[0]["token"] == "***"
    assert lines[0]["component"] == "billing"
    assert "hunter2" not in path.read_text(encoding="utf-8")
    assert len(core_calls) == 3  # each through the core's lane


def test_a_plain_success_handed_over_by_its_fields_is_the_line_the_raw_entry_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common entry (an operation's Success, no extras) goes to the core by its fields,
    without the raw tuple: the same line as through the raw entry (taken when a listener is
    set), and a bound context (user_id) still reaches the line."""
    from rfs_monitoring.context import bind_context
    from rfs_monitoring.result_logging import add_listener

    @log_result_operation("plain_success")
    def plain() -> Result[int, str]:
        return Success(1)

    raw_entries: list[Any] = []
    real_raw_entry = log_writer._raw_entry

    def counting(*args: Any) -> Any:
        raw_entries.append(args)
        return real_raw_entry(*args)

    monkeypatch.setattr(log_writer, "_raw_entry", counting)
    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream)
        plain()  # by its fields
        assert raw_entries == []
        remove = add_listener(lambda entry: None)
        plain()  # through the raw entry
        remove()
        with bind_context(user_id="u-7"):
            plain()  # a bound context: through the raw entry
        assert flush_logs(10) is True
    fast, raw, bound = (json.loads(line) for line in path.read_text().splitlines())
    for line in (fast, raw):
        line.pop("timestamp")
        line.pop("correlation_id")
        line.pop("processing_time_ms")
    assert fast == raw
    assert fast["success_type"] == "int"
    assert bound["user_id"] == "u-7"


def test_a_steps_success_handed_over_by_its_fields_is_the_line_the_raw_entry_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step's Success entry goes to the core by its fields too (event ``result_step``, its
    ``step_name``), with no raw tuple: the same line as through the raw entry (taken when a
    listener is set), and the operation's own entry is unchanged."""
    import asyncio

    from rfs_monitoring._logging import steps as log_steps
    from rfs_monitoring.reactive import MonoResult
    from rfs_monitoring.result_logging import add_listener

    @log_result_operation("stepped")
    async def stepped() -> Result[int, str]:
        return await MonoResult.from_value(1).log_step("load").map(str).log_step("shown")

    raw_entries: list[Any] = []

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            raw_entries.append(args)
            return real(*args)

        return wrapper

    monkeypatch.setattr(log_writer, "_raw_entry", counting(log_writer._raw_entry))
    monkeypatch.setattr(log_steps, "_raw_entry", counting(log_steps._raw_entry))
    path = tmp_path / "app.log"
    with open(path, "a", encoding="utf-8") as stream:
        configure_logging(stream=stream)
        asyncio.run(stepped())  # by their fields
        assert raw_entries == []
        remove = add_listener(lambda entry: None)
        asyncio.run(stepped())  # through the raw entries
        remove()
        assert len(raw_entries) == 3
        assert flush_logs(10) is True
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["event"], line.get("step_name")) for line in lines] == [
        ("result_step", "load"),
        ("result_step", "shown"),
        ("result_operation", None),
    ] * 2
    for line in lines:  # what differs between two runs, or is sampled on its own clock
        for key in ("timestamp", "correlation_id", "processing_time_ms", "memory_usage_mb"):
            line.pop(key)
        line.pop("cpu_usage_percent")
    for fast, raw in zip(lines[:3], lines[3:], strict=True):
        assert fast == raw
    assert lines[1]["success_type"] == "str"
    assert lines[1]["operation_name"] == "stepped"
