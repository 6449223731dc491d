"""Notifiers never stall: a total deadline per webhook delivery, one thread per notifier, and a
close() that returns promptly, checked against a real server on 127.0.0.1 that trickles bytes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import ValidationError

from rfs_monitoring.alerts import (
    AlertConfiguration,
    AlertEvent,
    AlertManager,
    AlertRule,
    CallbackNotifier,
    WebhookNotifier,
    _Dispatcher,
)
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.testing import FakeClock


class TrickleServer:
    """Accepts HTTP requests and answers one byte every ``interval`` seconds, for ever: each
    read of the client gets a byte well within any per-read timeout."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.connections = 0
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.threads.append(accept)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            worker = threading.Thread(target=self._trickle, args=(conn,), daemon=True)
            worker.start()
            self.threads.append(worker)

    def _trickle(self, conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000
        with conn:
            conn.settimeout(1.0)
            try:
                conn.recv(65536)  # the request (small enough for one read)
                for byte in answer:
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:  # the client gave up
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    """A webhook server that sends one byte every quarter of a second."""
    server = TrickleServer()
    yield server
    server.close()


def _firing_manager(notifiers: list[object]) -> tuple[AlertManager, ResultMetricsCollector]:
    collector = ResultMetricsCollector(clock=FakeClock(), sample_resources=False)
    for i in range(10):
        collector.record("checkout", 10.0, i == 0, "DATABASE_ERROR")
    rule = AlertRule(
        name="checkout-errors", operation="checkout", metric="error_rate", op=">", threshold=0.1
    )
    config = AlertConfiguration(rules=[rule], notifiers=notifiers)  # type: ignore[arg-type]
    return AlertManager(collector, config), collector


def _event() -> AlertEvent:
    manager, collector = _firing_manager([])
    event = manager.evaluate()[0]
    manager.close()
    collector.close()
    return event


def _wait_for(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_a_trickling_server_cannot_outlast_the_delivery_deadline(trickle: TrickleServer) -> None:
    """Every read gets a byte within ``timeout_seconds``; the total deadline still ends it."""
    hook = WebhookNotifier(url=trickle.url, timeout_seconds=2, deadline_seconds=1.0, max_retries=0)
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException, match="deadline"):
        hook.notify(_event())
    elapsed = time.monotonic() - started
    assert trickle.connections == 1
    assert elapsed < 10  # 1 s deadline; generous bound for a busy machine (was: never returns)


def test_the_deadline_covers_retries_and_backoff(trickle: TrickleServer) -> None:
    """Retries never extend a delivery past its deadline."""
    hook = WebhookNotifier(
        url=trickle.url,
        timeout_seconds=2,
        deadline_seconds=1.0,
        max_retries=10,
        backoff_seconds=0.01,
    )
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        hook.notify(_event())
    assert time.monotonic() - started < 10
    assert trickle.connections == 1  # the one attempt used the whole deadline


@pytest.mark.asyncio
async def test_notify_from_a_coroutine_still_delivers_and_raises(trickle: TrickleServer) -> None:
    """Called inside a running event loop, notify() runs its own loop on a helper thread."""
    hook = WebhookNotifier(url=trickle.url, deadline_seconds=0.3, max_retries=0)
    with pytest.raises(httpx.TimeoutException):
        hook.notify(_event())


def test_a_slow_webhook_never_delays_another_notifier(trickle: TrickleServer) -> None:
    """The callback hears the event while the webhook is still being trickled to."""
    seen: list[AlertEvent] = []
    hook = WebhookNotifier(url=trickle.url, timeout_seconds=2, deadline_seconds=60)
    manager, collector = _firing_manager([hook, CallbackNotifier(callback=seen.append)])
    try:
        assert [e.status for e in manager.evaluate()] == ["firing"]
        assert _wait_for(lambda: bool(seen) and trickle.connections == 1)
        assert manager.flush(0.05) is False  # the webhook is still in flight
    finally:
        manager.close()
        collector.close()


def test_close_returns_within_two_seconds_and_leaves_no_thread(trickle: TrickleServer) -> None:
    """close() cuts an in-flight delivery short and joins every notifier thread."""
    before = set(threading.enumerate())
    seen: list[AlertEvent] = []
    hook = WebhookNotifier(url=trickle.url, timeout_seconds=2, deadline_seconds=60)
    manager, collector = _firing_manager([hook, CallbackNotifier(callback=seen.append)])
    manager.start()
    manager.evaluate()
    assert _wait_for(lambda: trickle.connections == 1 and bool(seen))
    started = time.monotonic()
    manager.close()
    elapsed = time.monotonic() - started
    collector.close()
    left = [t for t in threading.enumerate() if t not in before and t.name.startswith("rfs-alert")]
    assert left == []
    assert elapsed < 2.5  # close(timeout=2.0); was 10 s with the notifier thread left alive
    assert manager.notification_failures == 1  # the cut delivery is counted, not hidden


def test_each_notifier_queue_is_bounded_and_drops_are_counted() -> None:
    """A stuck notifier fills only its own queue; what does not fit is dropped and counted."""
    entered = threading.Event()
    release = threading.Event()

    def stuck(event: AlertEvent) -> None:
        entered.set()
        release.wait(10)

    dispatcher = _Dispatcher(capacity=2)
    slow_notifier = CallbackNotifier(callback=stuck)
    event = _event()
    try:
        dispatcher.submit(event, [slow_notifier])
        assert entered.wait(10)
        for _ in range(4):
            dispatcher.submit(event, [slow_notifier])
        assert dispatcher.dropped == 2  # the stuck one holds one event and queues two
        assert dispatcher.flush(0.05) is False
        dispatcher.close(0.05)  # its full queue gives up an event for the stop sentinel
        assert dispatcher.dropped == 3
    finally:
        release.set()


def test_a_notifier_removed_from_the_configuration_finishes_and_its_thread_ends() -> None:
    """Reconfigured notifiers get fresh threads; the old ones deliver what they had and exit."""
    first: list[AlertEvent] = []
    second: list[AlertEvent] = []
    dispatcher = _Dispatcher(capacity=10)
    event = _event()
    old = CallbackNotifier(callback=first.append)
    dispatcher.submit(event, [old])
    assert dispatcher.flush(5)
    old_threads = [w.thread for w in dispatcher._all_workers()]
    dispatcher.submit(event, [CallbackNotifier(callback=second.append)])
    assert dispatcher.flush(5)
    assert (len(first), len(second)) == (1, 1)
    for thread in old_threads:
        thread.join(5)
        assert not thread.is_alive()
    dispatcher.close(2)


def test_webhook_numbers_are_strict() -> None:
    """A boolean is not a number of seconds or retries."""
    for field in ("timeout_seconds", "deadline_seconds", "backoff_seconds", "max_retries"):
        with pytest.raises(ValidationError):
            WebhookNotifier.model_validate({"url": "http://127.0.0.1:9/", field: False})
    assert WebhookNotifier(url="http://127.0.0.1:9/", timeout_seconds=3).timeout_seconds == 3.0
