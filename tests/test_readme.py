"""The README's Python examples run as written, in order, as one program."""

from __future__ import annotations

import ast
import asyncio
import io
import pathlib
import re
import types
from contextlib import redirect_stdout

from fastapi.testclient import TestClient

from rfs_monitoring import ResultMetricsCollector, configure_logging, flush_logs
from rfs_monitoring.result_logging import reset_log_levels

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_every_readme_python_block_runs(metrics_collector: ResultMetricsCollector) -> None:
    """Each ```python block of the README runs after the ones before it, top-level await too."""
    blocks = python_blocks()
    assert len(blocks) >= 5
    module = types.ModuleType("readme")
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    out = io.StringIO()
    with redirect_stdout(out):
        for block in blocks:
            code = compile(block, str(README), "exec", flags=flags)
            pending = eval(code, module.__dict__)
            if pending is not None:
                asyncio.run(pending)
        try:
            asyncio.run(module.test_unknown_user_is_not_found())
            with TestClient(module.app) as http:
                dashboard = http.get("/monitoring/dashboard")
                listed = http.get("/monitoring/operations")
                refused = http.put("/monitoring/logging/level", json={"level": "DEBUG"})
                order = http.get("/orders/1")
                missing_order = http.get("/orders/2")
        finally:
            module.alerts.stop()
            flush_logs()
            configure_logging()
            reset_log_levels()
    assert "0.5" in out.getvalue().splitlines()
    assert dashboard.status_code == 200
    assert listed.status_code == 200
    assert refused.status_code == 401
    assert metrics_collector.operation_metrics("price_lookup").unwrap().total_requests == 2
    # The interop section: a returns Result served and counted like ours.
    assert (order.status_code, order.json()) == (200, {"user_id": "1", "name": "Ada"})
    assert missing_order.status_code == 404
    assert missing_order.headers["content-type"] == "application/problem+json"
    orders = metrics_collector.operation_metrics("order_lookup").unwrap()
    assert (orders.total_requests, orders.failed_requests) == (2, 1)
