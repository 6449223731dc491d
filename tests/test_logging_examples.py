"""The basic logging example runs as a script and emits what it promises."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "monitoring" / "basic_logging.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("basic_logging_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the class is being built.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_basic_logging_example_runs_as_a_script() -> None:
    """python examples/monitoring/basic_logging.py prints one valid JSON line per entry."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=True
    )
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(entries) == 9
    assert "# 9 entries (5 steps, 5 errors)" in done.stderr
    assert "hunter2" not in done.stdout


def test_basic_logging_example_entries_tell_the_story() -> None:
    """Steps, the failure step, masked arguments and the silenced operation all show."""
    module = _load()
    entries = asyncio.run(module.run(io.StringIO()))
    found, missing = entries[2], entries[6]
    assert (found["operation_name"], found["result_type"]) == ("user_retrieval", "success")
    assert missing["metadata"]["failure_step"] == "user_service_call"
    assert {e["correlation_id"] for e in entries[:7]} == {"example-request-1"}
    assert {e["user_id"] for e in entries[:7]} == {"u-42"}
    login = entries[7]
    assert login["metadata"]["args"] == {"username": "ada", "password": "***"}
    assert [e["operation_name"] for e in entries].count("health_check") == 1


def test_basic_logging_example_main_prints_a_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """main() returns 0 and prints the entries and a summary."""
    assert _load().main() == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 9
    assert "9 entries" in err
