"""Where entries go: the bounded queue, batches, the sink and its fallback, flush, fork hooks
and SIGTERM.

Two lanes, one at a time, chosen by the configuration in force (`_select_lane`):

- **The core's lane** (`_core.LogPipeline`): the sink is an OS file (a file opened with
  ``open(path, "a")``, a real ``sys.stdout`` / ``sys.stderr``, a pipe), no processors, no custom
  masking patterns. Each entry is handed over by its caller, converted while the interpreter is
  held; the core's writer thread renders, masks, batches and writes it to a duplicate of the
  file descriptor without ever taking the interpreter back.
- **The Python lane** (`_Writer`): any other stream (`io.StringIO`, a test's capture, a socket
  wrapper), structlog-style processors or custom masking patterns. A Python thread takes the
  interpreter once per batch; the core still renders and masks the batch's entries with the
  interpreter released when it can.

Switching lanes (or sinks) writes what the previous one holds first, so entries keep their
order.
"""

from __future__ import annotations

import atexit
import codecs
import io
import math
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rfs_monitoring import _core, _shutdown
from rfs_monitoring import masking as _masking
from rfs_monitoring._fork import on_fork
from rfs_monitoring._logging import config as _cfg
from rfs_monitoring._logging.config import TextSink
from rfs_monitoring._logging.entry import (
    _BOUND,
    _EMSG,
    _EVENT_OPERATION,
    _EVENT_STEP,
    _EXC,
    _META,
    _format_exception,
    _MaskedArgs,
    _now,
    _raw_entry,
    _RawEntry,
)
from rfs_monitoring._logging.levels import _levels
from rfs_monitoring._logging.links import _resource_sample
from rfs_monitoring._logging.render import (
    _entry_dict,
    _fast_line,
    _json_number,
    _render_item,
    _render_safely,
    _safe_text,
)
from rfs_monitoring.context import OperationScope, _bound
from rfs_monitoring.masking import get_masker

_perf = time.perf_counter

_WRITE_CHUNK = 262144  # characters per write of the writer thread, whole lines only
_ENTRY_BYTES = 512  # what a queued entry without large values counts for the byte bound
_BIG_ENTRY = 4096  # entries estimated above this count for their own size
_SINK_PAUSES = (0.0, 0.005, 0.05)  # pause before each attempt at writing one chunk
_SIGTERM_FLUSH_SECONDS = 2.0
_DIRECT_SECONDS = 60.0  # after SIGTERM, how long callers write their own entries
_Item = Any  # a raw tuple, an already built dict, a `_Sized` one, or a flush marker (an Event)


class _Sized:
    """A queued entry holding large values, with its estimated size in bytes."""

    __slots__ = ("item", "size")

    def __init__(self, item: _Item, size: int) -> None:
        self.item = item
        self.size = size


def _cut_text(text: str, limit: int) -> str:
    """``text`` masked, then cut to ``limit`` characters with a marker. Masking comes first, so
    a cut never leaves the visible part of a secret behind."""
    masked = get_masker().mask_text(text)
    if len(masked) <= limit:
        return masked
    # An ASCII marker: one non-ASCII character would double the memory of the whole string.
    return f"{masked[:limit]}...[cut {len(masked) - limit} characters]"


_sizeof = sys.getsizeof


def _bounded(value: Any, limit: int, depth: int = 0) -> tuple[Any, int]:
    """``value`` with every string (or bytes) over ``limit`` characters masked and cut, and its
    estimated size in bytes. Containers are rebuilt only when something inside was cut."""
    kind = type(value)
    if kind is str:
        if len(value) > limit:
            value = _cut_text(value, limit)
        return value, _sizeof(value)
    if depth >= 32:
        return value, 64
    if kind is dict or kind is _MaskedArgs:
        size = 64
        changed = False
        items = {}
        for key, item in value.items():
            new, used = _bounded(item, limit, depth + 1)
            size += used + (56 + len(key) if type(key) is str else 64)
            changed = changed or new is not item
            items[key] = new
        if not changed:
            return value, size
        return (items if kind is dict else _MaskedArgs(items)), size
    if kind is list or kind is tuple:
        size = 64
        changed = False
        parts = []
        for item in value:
            new, used = _bounded(item, limit, depth + 1)
            size += used + 8
            changed = changed or new is not item
            parts.append(new)
        if not changed:
            return value, size
        return (parts if kind is list else tuple(parts)), size
    if kind is bytes or kind is bytearray:
        if len(value) > limit:
            text = _cut_text(bytes(value).decode("latin-1"), limit)
            return text, _sizeof(text)
        return value, _sizeof(value)
    return value, 64


def _bounded_raw(raw: _RawEntry, limit: int) -> tuple[_RawEntry, int]:
    """A raw entry with its large values cut, and its estimated size."""
    parts = list(raw)
    size = _ENTRY_BYTES
    for position in (_META, _BOUND):
        if raw[position]:
            parts[position], used = _bounded(raw[position], limit)
            size += used
    message = raw[_EMSG]
    if message is not None:
        if len(message) > limit:
            parts[_EMSG] = message = _cut_text(message, limit)
        size += len(message)
    if raw[_EXC] is not None:
        size += 8192  # the exception and its traceback, rendered by the writer
    return tuple(parts), size


def _chunks(lines: list[str]) -> Iterator[tuple[str, int]]:
    """The lines joined into pieces of at most `_WRITE_CHUNK` characters (a longer line goes
    alone), each made of whole lines; with the number of lines in each."""
    start = size = 0
    for index, line in enumerate(lines):
        if size and size + len(line) + 1 > _WRITE_CHUNK:
            yield "\n".join(lines[start:index]) + "\n", index - start
            start, size = index, 0
        size += len(line) + 1
    if start < len(lines):
        yield "\n".join(lines[start:]) + "\n", len(lines) - start


def _python_line(
    item: _Item,
    config: _cfg._Config,
    resources: tuple[float | None, float | None],
    rendered: tuple[str, str],
) -> str:
    try:
        if not config.processors and type(item) is tuple:
            return _fast_line(item, config, rendered)
        return _render_item(item, config, resources, rendered)
    except Exception:
        return _render_safely(item, config, resources, rendered)


def _batch_chunks(
    batch: list[_Item],
    config: _cfg._Config,
    resources: tuple[float | None, float | None],
    rendered: tuple[str, str],
) -> list[tuple[str, int]]:
    """The batch as whole-line chunks for the sink. Raw entries are rendered and masked by the
    Rust core with the interpreter released (`_fast_line`'s bytes), dict entries (structlog's
    `get_logger`, the stdlib bridge; masked when made) written by it as `render_json` writes
    them; values other than the JSON types, processors and custom masking patterns take the
    Python renderer."""
    masker = get_masker()
    if not config.processors and not masker.patterns:
        items = list(batch)  # the core leaves what it does not take: rendered here, in place
        try:
            for _ in range(2):
                made = _core.render_log_chunks(
                    items,
                    masker._text,
                    config.fixed_json,
                    rendered[0],
                    rendered[1],
                    _format_exception,
                    _WRITE_CHUNK,
                    _MaskedArgs,
                )
                if not made.left:
                    return list(zip(made.chunks, made.lines, strict=True))
                for index in made.left:  # the items the core leaves, rendered here
                    items[index] = _python_line(items[index], config, resources, rendered)
        except Exception:  # the core refused the batch: the Python renderer writes it
            pass
    return list(_chunks([_python_line(item, config, resources, rendered) for item in batch]))


def _stderr() -> Any:
    return sys.__stderr__ or sys.stderr


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _sink_fd(stream: Any) -> int | None:
    """The file descriptor the core writes itself for ``stream``, else None: a UTF-8 text file
    over an OS file (``open(path, "a")``, a real ``sys.stdout`` / ``sys.stderr``, a pipe). Any
    other stream, subclasses included (pytest's capture), keeps its own ``write``."""
    if type(stream) is not io.TextIOWrapper:
        return None
    try:
        buffer = stream.buffer
        if (
            stream.closed
            or type(buffer) is not io.BufferedWriter
            or type(buffer.raw) is not io.FileIO
            or not _is_utf8(stream.encoding)
        ):
            return None
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # detached, closed meanwhile
        return None


@dataclass(frozen=True)
class LogWriterState:
    """The log writer's counters since the process (or fork) started, for health checks.

    ``written`` entries reached the configured sink; ``diverted`` went to stderr instead because
    the sink kept failing (``fallback_active`` while it still does); ``dropped`` were lost
    (queue full past ``max_block_seconds``, nowhere left to write, or still queued at exit);
    ``sink_errors`` counts failed writes (each retried); ``last_error_time`` is a Unix time.
    """

    queue_depth: int
    queued_bytes: int
    written: int
    diverted: int
    dropped: int
    sink_errors: int
    last_error: str | None
    last_error_time: float | None
    fallback_active: bool


class _Writer:
    """The single writer thread: drains the bounded queue in batches, renders and writes."""

    # Small batches keep what a crash can lose (the queue plus the batch in hand) small.
    batch_size = 256
    # An idle writer is woken once this many entries wait (or by flush), else it wakes by
    # itself after ``idle_wait`` seconds: waking it for every entry would hand the GIL back and
    # forth once per call and halve the throughput of a busy process.
    wake_after = 256
    idle_wait = 0.1
    report_every = 10.0  # seconds between two stderr reports of sink trouble or losses

    def __init__(
        self, capacity: int = 1024, max_block: float = 1.0, max_bytes: int = 64 << 20
    ) -> None:
        self.capacity = capacity
        self.max_block = max_block
        self.max_bytes = max_bytes
        self.queue: deque[_Item] = deque()
        self.wake = threading.Event()
        self.room = threading.Event()
        self.sleeping = False
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()
        # Held while the writer is inside the sink, and by the fork hook (a stream's own buffer
        # lock copied into a child while held would hang the child's writer).
        self.io_lock = threading.Lock()
        # Held while a batch is written (by the writer, or by a caller writing directly).
        self.write_lock = threading.Lock()
        # Guards the counters producers change (drops, bytes of large entries).
        self.lock = threading.Lock()
        self.big_bytes = 0  # bytes of queued `_Sized` entries beyond `_ENTRY_BYTES` each
        self.in_flight = 0  # entries taken from the queue and not yet written
        self.batches = 0  # batches taken from the queue so far
        # `batches` when a caller last waited `max_block` for room in vain: until the writer
        # takes another batch (a stuck sink), callers drop at once instead of each waiting.
        self.stalled = -1
        # Until this `perf_counter` time (0.0: off), callers write their entries themselves:
        # set by SIGTERM for `_DIRECT_SECONDS`, the time a graceful shutdown may take.
        self.direct = 0.0
        self.written = 0
        self.diverted = 0
        self.dropped = 0
        self.sink_errors = 0
        self.last_error: str | None = None
        self.last_error_time: float | None = None
        self.fallback_active = False
        self.reported_at = -math.inf
        self.reported = (0, 0, 0)  # sink_errors, diverted, dropped at the last report
        self.report_lock = threading.Lock()
        self._reported: set[str] = set()

    # -- producer side ------------------------------------------------------------------------

    def put(self, item: _Item, size: int = _ENTRY_BYTES) -> None:
        if self.direct and self._write_directly(item):
            return
        queue = self.queue
        big = size > _BIG_ENTRY
        if big:
            item = _Sized(item, size)
            with self.lock:
                self.big_bytes += size - _ENTRY_BYTES
        depth = len(queue)  # `_full()`, inlined: this runs on every logged call
        if (
            depth >= self.capacity
            or (depth and depth * _ENTRY_BYTES + self.big_bytes > self.max_bytes)
        ) and not self._wait_for_room():
            if big:
                with self.lock:
                    self.big_bytes -= size - _ENTRY_BYTES
            self._lose(1)
            return
        queue.append(item)
        if self.thread is None:
            self._start()
        elif self.sleeping and len(queue) >= self.wake_after:
            self.wake.set()

    def _full(self) -> bool:
        depth = len(self.queue)
        return depth >= self.capacity or (
            depth > 0 and depth * _ENTRY_BYTES + self.big_bytes > self.max_bytes
        )

    def _wait_for_room(self) -> bool:
        thread = self.thread
        if thread is threading.current_thread():
            return False  # the writer itself (a sink that logs) must never wait for itself
        if thread is None or not thread.is_alive():
            self._restart(thread)
        # Once the writer has taken a batch since this caller began to wait, the caller's entry
        # goes in even if other callers filled the room again: a waiting caller is never starved
        # (the queue may pass its bounds by one entry per waiting thread).
        taken = self.batches
        if self.stalled == taken:
            return False  # a caller already waited in vain since the writer's last batch
        deadline = _perf() + self.max_block
        while self._full() and self.batches == taken:
            remaining = deadline - _perf()
            if remaining <= 0:
                self.stalled = taken
                return False
            self.room.clear()
            self.wake.set()
            self.room.wait(min(remaining, 0.01))
        return True

    def _write_directly(self, item: _Item) -> bool:
        """Write one entry in the caller's thread (after SIGTERM, so that the process may end
        at any moment after the call). False when a batch being written holds the sink, or
        when the time for it is over (a process still running long after the signal)."""
        if _perf() > self.direct:
            self.direct = 0.0
            return False
        if self.thread is threading.current_thread() or not self.write_lock.acquire(timeout=0.5):
            return False
        try:
            self._deliver_batch([item])
        finally:
            self.write_lock.release()
        return True

    def _lose(self, count: int) -> None:
        with self.lock:
            self.dropped += count
        self._maybe_report()

    def _start(self) -> None:
        with self.start_lock:
            if self.thread is not None:
                return
            thread = threading.Thread(target=self._run, name="rfs-monitoring-log-writer")
            thread.daemon = True
            thread.start()
            self.thread = thread
        _install_sigterm_flush()

    def _restart(self, dead: threading.Thread | None) -> None:
        # A writer killed by a BaseException raised in a processor is replaced, so the queue
        # drains again.
        with self.start_lock:
            if self.thread is dead:
                self.thread = None
        self._start()

    def pending(self) -> int:
        """Entries queued or in the writer's hands, not written yet."""
        queued = sum(1 for item in list(self.queue) if not isinstance(item, threading.Event))
        return queued + self.in_flight

    def flush(self, timeout: float | None) -> bool:
        """Wait until every entry queued before the call is written; True when all of them
        reached the sink (none dropped or diverted to stderr meanwhile)."""
        thread = self.thread
        if thread is threading.current_thread():
            return self.pending() == 0  # the writer (a sink that flushes) cannot wait for itself
        if thread is None:
            if not self.queue:
                return True
            self._start()
        elif not thread.is_alive():
            self._restart(thread)
        lost_before = self.dropped + self.diverted
        marker = threading.Event()
        self.queue.append(marker)
        self.wake.set()
        return marker.wait(timeout) and self.dropped + self.diverted == lost_before

    def state(self) -> LogWriterState:
        return LogWriterState(
            queue_depth=self.pending(),
            queued_bytes=len(self.queue) * _ENTRY_BYTES + self.big_bytes,
            written=self.written,
            diverted=self.diverted,
            dropped=self.dropped,
            sink_errors=self.sink_errors,
            last_error=self.last_error,
            last_error_time=self.last_error_time,
            fallback_active=self.fallback_active,
        )

    # -- writer side ------------------------------------------------------------------------

    def _run(self) -> None:
        queue = self.queue
        while True:
            if not queue:
                self.sleeping = True
                self.wake.clear()
                if not queue:  # pragma: no branch - re-checked against a concurrent put()
                    self.wake.wait(self.idle_wait)
                self.sleeping = False
                if self.reported != (self.sink_errors, self.diverted, self.dropped):
                    self._maybe_report()
                continue
            batch: list[_Item] = []
            markers: list[threading.Event] = []
            pop = queue.popleft
            freed = 0
            append = batch.append
            for _ in range(self.batch_size):
                if not queue:
                    break
                item = pop()
                if type(item) is tuple:  # a raw entry, most items: nothing else to check
                    append(item)
                    continue
                if isinstance(item, threading.Event):
                    markers.append(item)
                    break  # write what came before the marker, then release its waiter
                if type(item) is _Sized:
                    freed += item.size - _ENTRY_BYTES
                    item = item.item
                batch.append(item)
            self.in_flight = len(batch)
            self.batches += 1
            if freed:
                with self.lock:
                    self.big_bytes -= freed
            self.room.set()
            try:
                if batch:
                    with self.write_lock:
                        self._deliver_batch(batch)
            finally:
                self.in_flight = 0
                for marker in markers:
                    marker.set()

    def _deliver_batch(self, batch: list[_Item]) -> None:
        config = _cfg._config
        # One resource sample per batch: it changes once a second at most.
        resources = _resource_sample()
        rendered = (_json_number(resources[0]), _json_number(resources[1]))
        stream = config.stream if config.stream is not None else sys.stdout
        for chunk, count in _batch_chunks(batch, config, resources, rendered):
            if self._to_sink(stream, chunk):
                self.written += count
            elif self._to_stderr(stream, chunk):
                self.diverted += count
            else:
                self._lose(count)
        if self.reported != (self.sink_errors, self.diverted, self.dropped):
            self._maybe_report()

    def _to_sink(self, stream: TextSink, chunk: str) -> bool:
        """Write ``chunk`` (whole lines) to the sink, retrying a failed write; what a write
        took is never written again. False when the sink refused it every time."""
        # While the sink keeps failing, each chunk tries it once, then goes to stderr.
        for pause in (0.0,) if self.fallback_active else _SINK_PAUSES:
            if pause:
                time.sleep(pause)
            try:
                with self.io_lock:
                    while chunk:
                        taken = stream.write(chunk)
                        # A raw stream may take part of the text: the rest is written next.
                        if type(taken) is int and 0 < taken < len(chunk):
                            chunk = chunk[taken:]
                        elif taken == 0:
                            raise OSError("the sink took nothing")
                        else:
                            chunk = ""
            except Exception as exc:
                self._sink_error(exc)
                continue
            try:
                with self.io_lock:
                    stream.flush()
            except Exception as exc:  # the text was taken: it is not written twice
                self._sink_error(exc)
            if self.fallback_active:
                self.fallback_active = False
                self._say("rfs-monitoring: the log sink works again; writing to it")
            return True
        if not self.fallback_active:
            self.fallback_active = True
            self.reported_at = -math.inf  # report the switch now
        return False

    def _to_stderr(self, stream: TextSink, chunk: str) -> bool:
        target = _stderr()
        if target is None or target is stream:
            return False
        try:
            with self.io_lock:
                target.write(chunk)
                target.flush()
        except Exception:
            return False
        return True

    def _sink_error(self, exc: Exception) -> None:
        self._sink_error_text(f"{type(exc).__name__}: {_safe_text(exc)}")

    def _sink_error_text(self, message: str) -> None:
        self.sink_errors += 1
        self.last_error = get_masker().mask_text(message)[:300]
        self.last_error_time = _now()

    def _maybe_report(self, force: bool = False) -> None:
        """Report sink trouble and losses on stderr: at once the first time, then at most once
        every `report_every` seconds, with the counts since the previous report."""
        now = time.monotonic()
        if not force and now - self.reported_at < self.report_every:
            return
        # One reporter at a time (callers dropping entries and the writer may both get here);
        # the others leave at once rather than wait.
        if not self.report_lock.acquire(blocking=False):
            return
        try:
            self._report_counts(now)
        finally:
            self.report_lock.release()

    def _report_counts(self, now: float) -> None:
        counts = (self.sink_errors, self.diverted, self.dropped)
        errors, diverted, dropped = (a - b for a, b in zip(counts, self.reported, strict=True))
        if not (errors or diverted or dropped):
            return
        self.reported_at = now
        self.reported = counts
        parts = []
        if errors:
            parts.append(f"{errors} failed writes to the log sink (last: {self.last_error})")
        if diverted:
            parts.append(f"{diverted} entries written to stderr instead")
        if dropped:
            parts.append(f"{dropped} entries lost")
        self._say(
            "rfs-monitoring: "
            + ", ".join(parts)
            + f" (totals: {counts[0]} failed writes, {counts[1]} to stderr, {counts[2]} lost)"
        )

    def _report(self, kind: str, message: str) -> None:
        if kind in self._reported:
            return
        self._reported.add(kind)
        self._say(message)

    def _say(self, message: str) -> None:
        try:
            stderr = _stderr()
            stderr.write(message + "\n")
            stderr.flush()
        except Exception:  # nowhere left to report to
            pass


_writer = _Writer()


def log_writer_state() -> LogWriterState:
    """The log writer's queue and counters (what ``GET /health/result-patterns`` shows), both
    lanes together.

    >>> state = log_writer_state()
    >>> state.dropped >= 0 and isinstance(state.fallback_active, bool)
    True
    """
    state = _writer.state()
    pipeline = _pipeline
    if pipeline is None:
        return state
    core = pipeline.state()
    last_time = core.last_error_time
    newer = last_time is not None and (
        state.last_error_time is None or last_time >= state.last_error_time
    )
    return LogWriterState(
        queue_depth=state.queue_depth + core.pending,
        queued_bytes=state.queued_bytes + core.queued_bytes,
        written=state.written + core.written,
        diverted=state.diverted + core.diverted,
        dropped=state.dropped + core.dropped,
        sink_errors=state.sink_errors + core.sink_errors,
        last_error=core.last_error if newer else state.last_error,
        last_error_time=last_time if newer else state.last_error_time,
        fallback_active=state.fallback_active or core.fallback_active,
    )


# The writer's sink lock while a fork is under way, when the before-fork hook got it.
_fork_io_lock: threading.Lock | None = None


def _before_fork() -> None:
    """Let the writer finish the write it is in (a stream's buffer lock copied into the child
    while the writer holds it would hang the child's writer) and keep it out of the sink until
    the fork is done. The writer writes at most 256 KiB at a time; a sink stuck for over five
    seconds is not waited for."""
    global _fork_io_lock
    lock = _writer.io_lock
    _fork_io_lock = lock if lock.acquire(timeout=5.0) else None


def _after_fork_in_parent() -> None:
    global _fork_io_lock
    if _fork_io_lock is not None:
        _fork_io_lock.release()
        _fork_io_lock = None


def _after_fork_in_child() -> None:
    """The child has only the forking thread: start a fresh writer (the parent writes what it
    had queued) and replace locks another parent thread may have held at the fork."""
    global _writer, _fork_io_lock, _pipeline
    _writer = _Writer(_writer.capacity, _writer.max_block, _writer.max_bytes)
    # The core's writer thread is the parent's: the child makes its own pipeline on first use
    # (the parent writes what its pipeline holds). The copied one is never touched again.
    _pipeline = None
    _lanes.forget()
    _levels.lock = threading.Lock()
    _cfg._listeners_lock = threading.Lock()
    _fork_io_lock = None


on_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
    name="log writer",
)


def flush_logs(timeout: float | None = 10.0) -> bool:
    """Wait until every entry emitted so far (by any thread) is written; True when all of them
    reached the configured stream, False when ``timeout`` (seconds; ``None`` waits as long as
    it takes) ran out first or some were dropped or written to stderr instead.
    """
    return _flush_both(timeout)


def _flush_both(timeout: float | None) -> bool:
    """Flush the Python lane, then the core's (each lane keeps its entries in order; a switch
    between lanes flushes the previous one first)."""
    deadline = None if timeout is None else _perf() + timeout
    done = True
    if _writer.thread is not None or _writer.queue:
        done = _writer.flush(timeout)
    pipeline = _pipeline
    if pipeline is not None:
        left = None if deadline is None else max(0.0, deadline - _perf())
        done = pipeline.flush(left) and done
        if _lanes.lane is not None:
            config = _cfg._config
            _flush_stream(config.stream if config.stream is not None else sys.stdout)
    return done


def _give_up_on_pending(when: str) -> None:
    writer = _writer
    left = writer.pending()
    if left:
        with writer.lock:
            writer.dropped += left
    pipeline = _pipeline
    if pipeline is not None:
        left += pipeline.give_up()
    if left:
        writer._say(f"rfs-monitoring: {left} log entries were not written {when}")
    writer._maybe_report(force=True)
    if pipeline is not None:
        pipeline.report()


def _flush_at_exit() -> None:
    if _writer.thread is None and not _writer.queue and _pipeline is None:
        return
    _flush_both(_cfg._config.exit_flush_seconds)
    _give_up_on_pending("before exit (the log sink is too slow or stuck)")


atexit.register(_flush_at_exit)

# SIGTERM: the handler in force when ours was installed (the default action, or the host's).
_sigterm_previous: Any = None
_sigterm_wanted = True
_in_sigterm = False


def _on_sigterm(signum: int, frame: Any) -> None:
    """Write what is queued (bounded in time) and make later entries write themselves, then
    hand the signal on: to the host's handler, or to the default action (the process ends)."""
    global _in_sigterm
    if _in_sigterm:
        return  # a host handler we wrap called us back (it chains to the handler it found)
    _in_sigterm = True
    try:
        writer = _writer
        writer.direct = _perf() + _DIRECT_SECONDS
        if _pipeline is not None:
            _pipeline.set_direct(_DIRECT_SECONDS)
        _flush_both(_SIGTERM_FLUSH_SECONDS)
        _shutdown.run()  # e.g. the shared metrics segments
        previous = _sigterm_previous
        if callable(previous):
            previous(signum, frame)
            return
    finally:
        _in_sigterm = False
    if signal.getsignal(signum) is not _on_sigterm:
        # A handler installed after ours called us on its way (it chains to the handler it
        # found): the default action is not ours to take, its own shutdown goes on.
        return
    _give_up_on_pending("before SIGTERM ended the process")
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _install_sigterm_flush() -> None:
    """Put `_on_sigterm` in front of the SIGTERM handler in force, from the main thread only.
    An ignored signal stays ignored; a host handler is still called (after the flush); a
    handler installed later by the host replaces ours, and gets the flush at exit instead."""
    global _sigterm_previous
    if not _sigterm_wanted or threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm or current is None or current == signal.SIG_IGN:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # not the main interpreter, or no SIGTERM
        return
    _sigterm_previous = current


def _uninstall_sigterm_flush() -> None:
    global _sigterm_previous
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, _sigterm_previous or signal.SIG_DFL)
    except (ValueError, OSError, AttributeError):
        return
    _sigterm_previous = None


# -- the lanes ---------------------------------------------------------------------------------

_pipeline: Any = None  # this process's `_core.LogPipeline`, made on first use
# The lane in force (the pipeline while entries take the core's lane, else None) and what it
# was chosen for (the `_Config`, the `Masker`, with the default stream the `sys.stdout` of the
# choice): a change of any of them chooses again. See `_core.LaneInForce`, made below.
_lane_lock = threading.Lock()
_modules = sys.modules
_get_bound = _bound.get


def _make_pipeline() -> Any:
    global _pipeline
    if _pipeline is None:
        _pipeline = _core.LogPipeline(
            _format_exception, _MaskedArgs, _writer.capacity, _writer.max_bytes, _writer.max_block
        )
    return _pipeline


def _refresh_resources(pipeline: Any) -> None:
    memory, cpu = _resource_sample()
    pipeline.set_resources(_json_number(memory), _json_number(cpu))


def _select_lane() -> Any:
    """Choose the lane for the configuration, masker and ``sys.stdout`` in force, write what
    the previous lane or sink holds first, and return the pipeline (None: the Python lane)."""
    with _lane_lock:
        config = _cfg._config
        masker = _masking._default
        stdout = _modules["sys"].stdout
        same, chosen = _lanes.chosen_for(config, masker, stdout)
        if same:
            return chosen
        stream = config.stream if config.stream is not None else stdout
        fd = None if config.processors or masker.patterns else _sink_fd(stream)
        previous = _lanes.lane
        # Entries already queued go to where they were meant to go, first; then what the host
        # wrote to the stream itself (its lines stay whole: the core writes whole lines and
        # the stream hands its buffer over in whole writes).
        if previous is None and (_writer.thread is not None or _writer.queue):
            _writer.flush(10.0)
        if _pipeline is not None:
            _pipeline.flush(10.0)
            _pipeline.report()  # the previous sink's trouble, before the next sink's
        _flush_stream(stream)
        lane = None
        if fd is not None:
            try:
                pipeline = _make_pipeline()
                pipeline.configure(
                    masker._text, config.fixed_json, list(_SINK_PAUSES), _WRITE_CHUNK
                )
                pipeline.set_limits(_writer.capacity, _writer.max_bytes, _writer.max_block)
                target = _stderr()
                pipeline.set_sink(fd, fd != 2 and stream is not target)
                _refresh_resources(pipeline)
                lane = pipeline
                if _writer.direct:
                    pipeline.set_direct(max(0.0, _writer.direct - _perf()))
            except Exception:  # a descriptor closed meanwhile: the Python lane writes
                lane = None
        _lanes.chose(lane, config, masker, stdout if config.stream is None else None)
        return lane


def _flush_stream(stream: Any) -> None:
    try:
        with _writer.io_lock:
            stream.flush()
    except Exception:  # a closed or failing stream: the lane's own writes report it
        pass


def _put(item: _Item, size: int) -> None:
    """Queue one raw entry (or built dict entry) in the lane in force."""
    config = _cfg._config
    lane = _current_lane()
    if lane is None:
        _writer.put(item, size)
        return
    try:
        status = lane.put(item, size)
    except Exception:  # the core refused the entry (a panic it caught): the Python lane
        _writer.put(item, size)
        return
    if status:
        _settle(lane, item, size, status, config)


def _settle(lane: Any, item: _Item, size: int, status: int, config: _cfg._Config) -> None:
    """What a `put` into the core's lane asked for: the line rendered here (1: values the core
    does not take; queued in the entry's place), fresh resource fields (2)."""
    if status == 1:
        resources = _resource_sample()
        rendered = (_json_number(resources[0]), _json_number(resources[1]))
        status = lane.put_line(_python_line(item, config, resources, rendered), size)
    if status == 2:
        _refresh_resources(lane)


def _put_event(event: dict[str, Any]) -> None:
    """Queue an already built (masked) dict entry, its large values cut."""
    bounded, size = _bounded(event, _cfg._config.max_value_chars)
    _put(bounded, max(size, _ENTRY_BYTES))


def _emit_raw_success(
    level: int, scope: OperationScope, ms: float, success_type: str, step: str | None
) -> None:
    """The entry of a plain Success as a raw entry, through `_emit`: what `_emit_success`
    does when the core's lane does not take the entry by its fields (the Python lane in force,
    a listener, a bound context, a refusal)."""
    kind = _EVENT_OPERATION if step is None else _EVENT_STEP
    _emit(_raw_entry(kind, level, scope, step, False, ms, success_type, *_NO_EXTRAS))


def _report_emit(error: BaseException) -> None:
    """A failure of `_emit_success` (a correlation ID generator or a lane that failed)."""
    _writer._report("emit", "rfs-monitoring: logging an operation failed; ignored")


_lanes = _core.LaneInForce(
    writer=sys.modules[__name__], config=_cfg, masking=_masking, sys=sys, bound=_get_bound
)
"""The lane in force (``_lanes.lane``: the core's pipeline, or None for the Python lane), as
`_select_lane` chose it for the configuration, masker and ``sys.stdout`` in force, and the
entry of a plain Success handed to it. Native: the fast paths hand it their entries without a
Python call."""

_current_lane = _lanes.current
"""The core's lane for the configuration, masker and ``sys.stdout`` in force (chosen again by
`_select_lane` when one of them changed), else None (the Python lane)."""

_emit_success = _lanes.emit_success
"""``_emit_success(level, scope, ms, success_type, step=None)``: `_emit` of a plain Success
entry (no extras, no span), an operation's or with ``step`` that step's; never raises. With
the core's lane in force and no listener, its fields go to the core directly, without the raw
tuple or a Python frame; anything else goes to `_emit_raw_success`."""


_NO_EXTRAS = (None, None, None, None, None, None, None)  # error .. span_id of `_raw_entry`


def _emit(raw: _RawEntry) -> None:
    """Hand one raw entry to the listeners (if any) and the lane in force; never raises."""
    config = _cfg._config
    message = raw[_EMSG]
    if (
        raw[_META] is None
        and raw[_EXC] is None
        and (message is None or len(message) <= config.max_value_chars)
        and not _cfg._listeners
    ):
        _put(raw, _ENTRY_BYTES)  # most entries: nothing to cut, no listener
        return
    size = _ENTRY_BYTES
    if (
        raw[_META]
        or raw[_EXC] is not None
        or (message is not None and len(message) > config.max_value_chars)
    ):
        raw, size = _bounded_raw(raw, config.max_value_chars)
    listeners = _cfg._listeners
    if listeners:
        try:
            event = _entry_dict(raw, config)
        except Exception:
            _put(raw, size)
            return
        for listener in listeners:
            try:
                listener(dict(event))
            except Exception:
                _writer._report("listener", "rfs-monitoring: a log listener raised; ignored")
        _put_event(event)
    else:
        _put(raw, size)
