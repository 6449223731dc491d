"""`make bench-check` fails when a budgeted path regresses, and says which and by how much."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHES = Path(__file__).resolve().parents[1] / "benches"


def _run_budget(entry: str, slowdown_us: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RFS_BENCH_CHECK": "1",
        "RFS_BENCH_SLOWDOWN": f"{entry}:{slowdown_us}",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(BENCHES / "bench_budget.py"),
            "-k",
            entry,
            "--benchmark-enable",
            "-p",
            "no:cacheprovider",
            "-q",
            "-vv",
            "--tb=short",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_an_injected_slowdown_fails_the_check_with_a_table() -> None:
    # 2 ms of busy wait per batch of 200 records (about 0.03 ms): a 60x regression.
    run = _run_budget("record_vs_child_observe", 2000)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "overhead budget" in run.stdout
    row = next(line for line in run.stdout.splitlines() if line.startswith("record_vs_child"))
    assert row.split()[-3:] == ["3", "OVER", "BUDGET"]  # measured three times, then failed
    assert "is over the budget of 0.4x" in run.stdout


def test_the_budget_file_names_goal_and_budget_for_each_path() -> None:
    sys.path.insert(0, str(BENCHES))
    try:
        import bench_budget
    finally:
        sys.path.remove(str(BENCHES))
    budget = bench_budget.load_budget()
    assert set(budget) == {
        "logged_call_end_to_end",
        "log_writer_vs_structlog_to_a_file",
        "monitor_result_vs_prometheus_timer",
        "record_vs_child_observe",
        "filtered_call",
        "query_1w_vs_python_list",
        "operations_list_route",
        "metrics_route_vs_prometheus_client",
    }
    for entry in budget.values():
        assert entry.goal > 0
        assert entry.budget > 0
    row = bench_budget.Row(budget["filtered_call"], 9.0, 1.0, 0.1, 3)
    assert row.verdict == "OVER BUDGET"
    assert "filtered_call" in bench_budget.render_table([row])
