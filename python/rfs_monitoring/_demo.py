"""The demo behind ``rfs-monitoring demo`` and ``make demo``: a sample shop service written in
the Result pattern, synthetic traffic, alert rules, and the monitoring routes with the dashboard.

The service (`shop`) is written the way the design document writes endpoints: `handle_result`
over `log_result_operation` over a `MonoResult` chain with step logging and a timeout. Its
repositories simulate I/O: lognormal latencies with a slow tail, and a few percent failures with
several error codes. `TrafficGenerator` calls the service in-process at a steady rate, and
`backfill_history` records the last hour of similar traffic so the charts have a past at once.
Every few minutes the payment provider has an incident, so alerts fire and resolve on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from rfs_monitoring._exceptions import InvalidArgumentError
from rfs_monitoring.alerts import AlertConfiguration, AlertManager, AlertRule, LogNotifier
from rfs_monitoring.context import CorrelationIdMiddleware
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.errors import APIError, ErrorCode
from rfs_monitoring.metrics import ResultMetricsCollector
from rfs_monitoring.reactive import MonoResult
from rfs_monitoring.result import Failure, Result, Success
from rfs_monitoring.result_logging import log_result_operation
from rfs_monitoring.web import handle_result, install_problem_details

__all__ = [
    "ShiftableClock",
    "TrafficGenerator",
    "backfill_history",
    "create_app",
    "demo_alert_rules",
    "shop",
]

# -- simulated infrastructure ------------------------------------------------------------------


@dataclass
class Latency:
    """Lognormal latency around ``median_ms`` with a slow tail: ``tail`` of the calls take
    ``tail_factor`` times longer."""

    median_ms: float
    sigma: float = 0.45
    tail: float = 0.02
    tail_factor: float = 12.0

    def sample(self, rng: random.Random) -> float:
        ms = rng.lognormvariate(math.log(self.median_ms), self.sigma)
        if rng.random() < self.tail:
            ms *= self.tail_factor * rng.uniform(0.5, 1.5)
        return ms


class Incident:
    """A periodic outage of a dependency: ``duration`` seconds of every ``period``, the first
    one starting ``first_in`` seconds from now (so a fresh demo shows an alert within minutes).
    """

    def __init__(
        self, period: float = 600.0, duration: float = 75.0, first_in: float = 90.0
    ) -> None:
        self.period = period
        self.duration = duration
        self._origin = time.time() + first_in

    def active(self, now: float) -> bool:
        return (now - self._origin) % self.period < self.duration


_rng = random.Random()
payment_incident = Incident()


async def _io(latency: Latency) -> None:
    await asyncio.sleep(latency.sample(_rng) / 1000.0)


class UserRecord(BaseModel):
    user_id: str
    name: str
    email: str
    active: bool = True


class UserResponse(BaseModel):
    """What ``GET /users/{user_id}`` answers."""

    user_id: str
    name: str
    email: str


class OrderRequest(BaseModel):
    """Body of ``POST /orders``."""

    user_id: str = Field(min_length=1, max_length=64)
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=100)


class OrderResponse(BaseModel):
    """An order."""

    order_id: str
    user_id: str
    sku: str
    quantity: int
    total_cents: int
    status: str


class UserRepository:
    """Users in a simulated database: 1% database errors, unknown ids are NOT_FOUND."""

    latency = Latency(median_ms=18)

    def __init__(self, count: int = 500) -> None:
        self._users = {
            f"u{i}": UserRecord(
                user_id=f"u{i}", name=f"User {i}", email=f"user{i}@example.com", active=i % 97 != 0
            )
            for i in range(count)
        }

    async def get_user_async(self, user_id: str) -> Result[UserRecord, APIError]:
        await _io(self.latency)
        if _rng.random() < 0.01:
            return Failure(APIError.database_error("connection reset by the user database"))
        user = self._users.get(user_id)
        if user is None:
            return Failure(APIError.not_found("user", user_id))
        return Success(user)


class OrderRepository:
    """Orders in a simulated database; saving conflicts now and then."""

    latency = Latency(median_ms=25)

    def __init__(self) -> None:
        self._orders: dict[str, OrderResponse] = {}

    async def save(self, order: OrderResponse) -> Result[OrderResponse, APIError]:
        await _io(self.latency)
        if _rng.random() < 0.01:
            return Failure(APIError.conflict("order was modified concurrently"))
        if len(self._orders) > 10_000:
            self._orders.clear()
        self._orders[order.order_id] = order
        return Success(order)

    async def get(self, order_id: str) -> Result[OrderResponse, APIError]:
        await _io(self.latency)
        order = self._orders.get(order_id)
        return Success(order) if order else Failure(APIError.not_found("order", order_id))


class PaymentGateway:
    """A payment provider: slow, 1.5% declines, and an outage during incidents."""

    latency = Latency(median_ms=60, sigma=0.6, tail=0.03)

    async def authorize(self, user_id: str, cents: int) -> Result[str, APIError]:
        await _io(self.latency)
        if payment_incident.active(time.time()) and _rng.random() < 0.35:
            return Failure(APIError.external_service_error("payment provider returned 502"))
        if _rng.random() < 0.015:
            return Failure(APIError(ErrorCode.EXTERNAL_SERVICE_ERROR, "card declined by issuer"))
        return Success(f"auth-{secrets.token_hex(4)}")


users = UserRepository()
orders = OrderRepository()
payments = PaymentGateway()

# -- the service, written as in the design document ----------------------------------------------

shop = APIRouter(tags=["shop"])


def validate_user_response(user: UserRecord) -> Result[UserResponse, APIError]:
    if not user.active:
        return Failure(APIError.validation_error(f"user {user.user_id} is deactivated"))
    return Success(UserResponse(user_id=user.user_id, name=user.name, email=user.email))


@shop.get("/users/{user_id}")
@handle_result
@log_result_operation("user_retrieval")
async def get_user(user_id: str) -> Result[UserResponse, APIError]:
    return await (
        MonoResult.from_async_result(lambda: users.get_user_async(user_id))
        .log_step("user_service_call")
        .bind_result(lambda user: validate_user_response(user))
        .log_step("user_validation")
        .map_error(lambda e: APIError.from_service_error(e))
        .log_error("user_retrieval_error")
        .timeout(5.0)
        .to_result()
    )


@log_result_operation("payment_authorization")
async def authorize_payment(user_id: str, cents: int) -> Result[str, APIError]:
    return await payments.authorize(user_id, cents)


@shop.post("/orders")
@handle_result
@log_result_operation("order_creation")
async def create_order(
    order: OrderRequest,
) -> Result[OrderResponse, APIError]:
    total = order.quantity * (499 + sum(map(ord, order.sku)) % 5000)

    async def place(user: UserRecord) -> Result[OrderResponse, APIError]:
        authorized = await authorize_payment(user.user_id, total)
        if authorized.is_failure():
            return Failure(authorized.unwrap_error())
        return await orders.save(
            OrderResponse(
                order_id=f"o-{secrets.token_hex(6)}",
                user_id=user.user_id,
                sku=order.sku,
                quantity=order.quantity,
                total_cents=total,
                status="paid",
            )
        )

    return await (
        MonoResult.from_async_result(lambda: users.get_user_async(order.user_id))
        .log_step("order_user_lookup")
        .bind_async_result(place)
        .log_step("order_payment_and_save")
        .log_error("order_creation_error")
        .timeout(1.5)
        .to_result()
    )


@shop.get("/orders/{order_id}")
@handle_result
@log_result_operation("order_lookup")
async def get_order(order_id: str) -> Result[OrderResponse, APIError]:
    return await (
        MonoResult.from_async_result(lambda: orders.get(order_id))
        .log_error("order_lookup_error")
        .timeout(2.0)
        .to_result()
    )


@shop.get("/analytics/performance")
@handle_result
async def get_performance_metrics() -> Result[dict[str, Any], APIError]:
    return await (
        ResultMetricsCollector.instance()
        .get_operation_metrics("user_retrieval", time_range="1h")
        .bind_result(lambda m: Success(format_performance_report(m)))
    )


def format_performance_report(m: Any) -> dict[str, Any]:
    return {
        "operation": m.operation_name,
        "requests": m.total_requests,
        "success_rate": round(m.success_rate, 4),
        "p99_ms": round(m.p99_response_time_ms, 1),
        "rps": round(m.throughput_rps, 2),
    }


# -- traffic -----------------------------------------------------------------------------------


class TrafficGenerator:
    """Calls the shop at ``rps`` requests/s (Poisson arrivals), in-process through the ASGI app.

    Mostly user lookups (some for unknown users), order creations and order lookups. Use it as
    an async context manager, for example in the app's lifespan.
    """

    def __init__(
        self, app: Any, rps: float = 25.0, *, seed: int | None = None, concurrency: int = 200
    ) -> None:
        if not (rps > 0 and math.isfinite(rps)):
            raise InvalidArgumentError(f"rps must be a positive number, got {rps!r}")
        self.app = app
        self.rps = rps
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self._rng = random.Random(seed)
        self._slots = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._order_ids: list[str] = []

    async def __aenter__(self) -> TrafficGenerator:
        self._task = asyncio.create_task(self._run(), name="rfs-demo-traffic")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _request(self) -> tuple[str, str, dict[str, Any] | None]:
        roll = self._rng.random()
        if roll < 0.55:
            known = self._rng.random() > 0.03
            user = f"u{self._rng.randrange(500)}" if known else f"ghost{self._rng.randrange(99)}"
            return "GET", f"/users/{user}", None
        if roll < 0.80:
            body = {
                "user_id": f"u{self._rng.randrange(500)}",
                "sku": self._rng.choice(["book", "lamp", "mug", "desk", "chair"]),
                "quantity": self._rng.randint(1, 3),
            }
            if self._rng.random() < 0.01:
                body["quantity"] = 0  # a client bug: rejected by validation
            return "POST", "/orders", body
        if self._order_ids and self._rng.random() > 0.05:
            return "GET", f"/orders/{self._rng.choice(self._order_ids)}", None
        return "GET", f"/orders/o-missing{self._rng.randrange(999)}", None

    async def _one(self, client: httpx.AsyncClient) -> None:
        method, path, body = self._request()
        try:
            response = await client.request(method, path, json=body)
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if method == "POST" and response.status_code == 200:
                self._order_ids.append(response.json()["order_id"])
                del self._order_ids[:-1000]
        except Exception:  # the generator keeps going whatever one request does (status 0)
            self.statuses[0] = self.statuses.get(0, 0) + 1
        finally:
            self._slots.release()

    async def _run(self) -> None:
        transport = httpx.ASGITransport(app=self.app)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            try:
                while True:
                    await asyncio.sleep(self._rng.expovariate(self.rps))
                    await self._slots.acquire()
                    self.sent += 1
                    task = asyncio.create_task(self._one(client))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            finally:
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


def backfill_history(
    collector: ResultMetricsCollector,
    clock: ShiftableClock,
    seconds: float = 3600.0,
    rps: float = 20.0,
    *,
    seed: int = 7,
) -> int:
    """Record ``seconds`` of past traffic into ``collector``, whose clock must be ``clock``;
    return the number of samples.

    Samples follow the same latency and error model as the live service, including past
    payment incidents.
    """
    shift = clock
    rng = random.Random(seed)
    now = time.time()
    step = 1.0
    count = 0
    models = {
        "user_retrieval": (UserRepository.latency, 0.04, ["NOT_FOUND", "DATABASE_ERROR"]),
        "order_creation": (Latency(median_ms=110, sigma=0.5), 0.03, ["CONFLICT", "NOT_FOUND"]),
        "payment_authorization": (PaymentGateway.latency, 0.015, ["EXTERNAL_SERVICE_ERROR"]),
        "order_lookup": (OrderRepository.latency, 0.05, ["NOT_FOUND"]),
    }
    shares = {"user_retrieval": 0.55, "order_creation": 0.25, "payment_authorization": 0.24,
              "order_lookup": 0.2}  # fmt: skip
    t = now - seconds
    try:
        while t < now:
            shift.at = t
            incident = payment_incident.active(t)
            for op, (latency, error_rate, codes) in models.items():
                n = _poisson(rng, rps * shares[op] * step)
                for _ in range(n):
                    failed = rng.random() < error_rate
                    code = rng.choice(codes)
                    if (
                        incident
                        and op in ("payment_authorization", "order_creation")
                        and rng.random() < 0.35
                    ):
                        failed, code = True, "EXTERNAL_SERVICE_ERROR"
                    collector.record(
                        op,
                        latency.sample(rng),
                        not failed,
                        error_code=code if failed else None,
                        error_message=_MESSAGES[code] if failed else None,
                    )
                    count += 1
            t += step
    finally:
        shift.at = None
    return count


_MESSAGES = {
    "NOT_FOUND": "user 'ghost42' not found",
    "DATABASE_ERROR": "connection reset by the user database",
    "CONFLICT": "order was modified concurrently",
    "EXTERNAL_SERVICE_ERROR": "payment provider returned 502",
}


def _poisson(rng: random.Random, mean: float) -> int:
    threshold, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


class ShiftableClock:
    """``time.time``, or a fixed past instant while history is being backfilled."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self) -> float:
        at = self.at
        return time.time() if at is None else at


def demo_alert_rules() -> list[AlertRule]:
    """Rules that the demo's periodic payment incident trips and then resolves."""
    return [
        AlertRule(
            name="high-error-rate",
            operation="*",
            metric="error_rate",
            op=">",
            threshold=0.08,
            window="1m",
            for_seconds=20,
            keep_firing_for_seconds=30,
            min_requests=20,
            severity="warning",
            labels={"team": "shop"},
        ),
        AlertRule(
            name="payments-down",
            operation="payment_authorization",
            metric="success_rate",
            op="<",
            threshold=0.8,
            window="1m",
            for_seconds=10,
            severity="critical",
            labels={"team": "payments"},
        ),
        AlertRule(
            name="slow-orders",
            operation="order_creation",
            metric="p99_ms",
            op=">",
            threshold=1200,
            window="5m",
            for_seconds=60,
        ),
    ]


def create_app(
    *,
    rps: float = 25.0,
    history: bool = True,
    token: str | None = None,
    traffic: bool = True,
    on_startup: Callable[[], None] | None = None,
) -> FastAPI:
    """The demo application: the shop, its monitoring routes and dashboard, alerts, traffic.

    It installs its own collector as the process-wide one while it runs, and restores the
    previous one on shutdown.
    """
    clock = ShiftableClock()
    collector = ResultMetricsCollector(clock=clock)
    alerts = AlertManager(
        collector,
        AlertConfiguration(rules=demo_alert_rules(), notifiers=[LogNotifier()]),
        interval=5.0,
        repeat_interval=600.0,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        previous = ResultMetricsCollector.set_instance(collector)
        try:
            if history:
                await asyncio.to_thread(backfill_history, collector, clock)
            async with alerts, contextlib.AsyncExitStack() as stack:
                if traffic:
                    await stack.enter_async_context(TrafficGenerator(app, rps))
                if on_startup is not None:
                    on_startup()
                yield
        finally:
            ResultMetricsCollector.set_instance(previous)
            collector.close()

    app = FastAPI(title="rfs-monitoring demo shop", lifespan=lifespan)
    app.add_middleware(CorrelationIdMiddleware)
    app.include_router(shop)
    app.include_router(monitoring_router(collector, alerts, token=token))
    install_problem_details(app)  # every 4xx/5xx of the demo is problem+json
    return app
