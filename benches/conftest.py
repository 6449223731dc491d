"""Prints the overhead budget's table (benches/bench_budget.py) at the end of a run."""

from __future__ import annotations

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    budget = sys.modules.get("bench_budget")
    rows = getattr(budget, "ROWS", None)
    if budget is None or not rows:
        return
    terminalreporter.section("overhead budget (ratio = median subject / median peer)")
    for line in budget.render_table(rows).splitlines():
        terminalreporter.write_line(line)
