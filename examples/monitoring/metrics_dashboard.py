"""Metrics dashboard example: a FastAPI service in the Result pattern, monitored live.

Run it with ``make demo`` (or ``python examples/monitoring/metrics_dashboard.py``) and open the
dashboard URL it prints. Ctrl-C stops it.

What it wires together:

- ``shop``: users and orders endpoints written as in the design document (`handle_result` over
  `log_result_operation` over a `MonoResult` chain with step logging and a timeout). Its fake
  repositories answer with lognormal latencies, a slow tail and a few percent failures
  (NOT_FOUND, DATABASE_ERROR, CONFLICT, EXTERNAL_SERVICE_ERROR, VALIDATION_ERROR, timeouts),
  and every ten minutes the payment provider has an outage.
- a traffic generator calling the shop 25 times a second, and an hour of backfilled history so
  the charts have a past at once;
- alert rules evaluated every 5 seconds, logged when they fire and resolve;
- `monitoring_router`: JSON routes, ``/monitoring/metrics`` for Prometheus and the dashboard at
  ``/monitoring/dashboard``. Write routes need the token printed at start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from rfs_monitoring import ResultMetricsCollector
from rfs_monitoring._demo import (
    ShiftableClock,
    TrafficGenerator,
    backfill_history,
    demo_alert_rules,
    shop,
)
from rfs_monitoring.alerts import AlertConfiguration, AlertManager, LogNotifier
from rfs_monitoring.context import CorrelationIdMiddleware
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.result_logging import configure_logging

HOST = "127.0.0.1"
PORT = 8000
TOKEN = os.environ.get("RFS_MONITORING_TOKEN") or secrets.token_urlsafe(16)

# A clock the history backfill can move into the past; live traffic uses the real time.
clock = ShiftableClock()
collector = ResultMetricsCollector(clock=clock)

# The demo's rules (error rate over 8%, payments below 80% success, slow orders), written with
# `AlertRule` in rfs_monitoring/_demo.py; the periodic payment outage trips and resolves them.
alerts = AlertManager(
    collector,
    AlertConfiguration(rules=demo_alert_rules(), notifiers=[LogNotifier()]),
    interval=5.0,
    repeat_interval=600.0,
)


def dashboard_url(port: int = PORT) -> str:
    """Where the dashboard is served."""
    return f"http://{HOST}:{port}/monitoring/dashboard"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    previous = ResultMetricsCollector.set_instance(collector)  # @log_result_operation records here
    try:
        await asyncio.to_thread(backfill_history, collector, clock)
        async with alerts, TrafficGenerator(app, rps=25):
            print(f"\n  Dashboard: {dashboard_url(app.state.port)}", flush=True)
            print(f"  Write token: {TOKEN}\n  Press Ctrl-C to stop.\n", flush=True)
            yield
    finally:
        ResultMetricsCollector.set_instance(previous)
        collector.close()


app = FastAPI(title="rfs-monitoring metrics dashboard example", lifespan=lifespan)
app.state.port = PORT
app.add_middleware(CorrelationIdMiddleware)
app.include_router(shop)
app.include_router(monitoring_router(collector, alerts, token=TOKEN))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    app.state.port = args.port
    configure_logging(level="ERROR", service_name="demo-shop", environment="demo")
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
