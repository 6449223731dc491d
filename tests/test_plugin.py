"""Tests of the pytest plugin (run in inner pytest sessions with ``pytester``): registration,
light import, fixtures that restore state, and the benchmark baseline options."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]

#: Keeps inner benchmark runs short.
_QUICK = ("-p", "no:cacheprovider", "--benchmark-max-time=0.02", "--benchmark-min-rounds=3")


@pytest.fixture(autouse=True)
def _inner_ini(pytester: pytest.Pytester) -> None:
    """Inner sessions get the project's asyncio setting, so they emit no config warning."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    """The installed distribution declares the plugin module under ``pytest11``."""
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("rfs_monitoring") == "rfs_monitoring.testing.fixtures"


def test_plugin_import_stays_light() -> None:
    """Loading the plugin imports neither FastAPI, OpenTelemetry, hypothesis nor the metrics."""
    heavy = ["fastapi", "opentelemetry", "hypothesis", "rfs_monitoring.metrics", "starlette"]
    code = (
        "import sys, rfs_monitoring.testing.fixtures\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_fixtures_are_offered_in_an_inner_session(pytester: pytest.Pytester) -> None:
    """A plain project sees the plugin's fixtures without any configuration."""
    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    for name in (
        "result_mocker",
        "metrics_collector",
        "fake_clock",
        "captured_result_logs",
        "benchmark_async",
    ):
        result.stdout.fnmatch_lines([f"{name}*"])


def test_result_mocker_restores_between_tests(pytester: pytest.Pytester) -> None:
    """Mocks started with ``result_mocker`` are stopped when their test ends."""
    pytester.makepyfile(
        """
        from rfs_monitoring.result import Success

        class Inventory:
            def stock(self, sku):
                return Success(0)

        inventory = Inventory()

        def test_mocked(result_mocker):
            first = result_mocker(inventory, "stock").return_success(5)
            result_mocker(Inventory, "stock").return_success(9)
            assert inventory.stock("a") == Success(5)
            assert Inventory().stock("b") == Success(9)
            first.assert_called_once_with("a")

        def test_restored():
            assert inventory.stock("a") == Success(0)
            assert Inventory().stock("b") == Success(0)
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_fake_clock_fixture_moves_only_when_told(pytester: pytest.Pytester) -> None:
    """``fake_clock`` starts at a fixed instant and moves with advance/set."""
    pytester.makepyfile(
        """
        from datetime import datetime, timezone

        import pytest

        def test_clock(fake_clock):
            start = fake_clock()
            assert start == datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
            assert fake_clock.advance(61) == start + 61 == fake_clock.now
            fake_clock.set(datetime(2024, 1, 2, tzinfo=timezone.utc))
            assert fake_clock() == start + 86400
            with pytest.raises(ValueError):
                fake_clock.advance(-1)
            with pytest.raises(ValueError):
                fake_clock.set(datetime(2024, 1, 2))
            with pytest.raises(ValueError):
                fake_clock.set(float("inf"))
            assert repr(fake_clock).startswith("FakeClock(")
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_assertion_frames_are_hidden_and_messages_show_the_error(
    pytester: pytest.Pytester,
) -> None:
    """A failing assertion helper reports at the test's line, with the actual error."""
    pytester.makepyfile(
        """
        from rfs_monitoring.result import Failure
        from rfs_monitoring.testing import assert_result_success

        def test_fails():
            assert_result_success(Failure(LookupError("user 9 missing")))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Expected success, got error: LookupError: user 9 missing*"])
    assert "result_helpers.py:" not in result.stdout.str()


def test_current_medians_skip_benchmarks_without_statistics() -> None:
    """Benchmarks that never ran (no statistics) are left out of the comparison."""
    from types import SimpleNamespace

    from rfs_monitoring.testing.fixtures import _current_medians

    measured = SimpleNamespace(fullname="t::a", stats=SimpleNamespace(median=0.5))
    unmeasured = SimpleNamespace(fullname="t::b", stats=None)
    config = SimpleNamespace(_benchmarksession=SimpleNamespace(benchmarks=[measured, unmeasured]))
    assert _current_medians(config) == {"t::a": 0.5}  # type: ignore[arg-type]
    assert _current_medians(SimpleNamespace()) == {}  # type: ignore[arg-type]


def _baseline(pytester: pytest.Pytester, median: float) -> str:
    path = pytester.path / "baseline.json"
    entry = {"fullname": "test_speed.py::test_fast", "name": "test_fast"}
    path.write_text(json.dumps({"benchmarks": [{**entry, "stats": {"median": median}}]}))
    return str(path)


_BENCH = """
def test_fast(benchmark):
    benchmark(lambda: sum(range(100)))
"""


def test_baseline_option_fails_the_run_on_a_regression(pytester: pytest.Pytester) -> None:
    """A benchmark slower than the baseline beyond the tolerance fails the session."""
    pytester.makepyfile(test_speed=_BENCH)
    result = pytester.runpytest(*_QUICK, "--rfs-baseline", _baseline(pytester, 1e-12))
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*rfs-monitoring benchmark baseline*",
            "*test_fast*REGRESSED*",
            "*1 benchmark(s) regressed*",
        ]
    )


def test_baseline_option_passes_within_tolerance(pytester: pytest.Pytester) -> None:
    """A benchmark faster than the baseline passes and is reported ok."""
    pytester.makepyfile(test_speed=_BENCH)
    result = pytester.runpytest(
        *_QUICK,
        "--rfs-baseline",
        _baseline(pytester, 10.0),
        "--rfs-max-regression",
        "5%",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*tolerance +5%*", "*test_fast*ok"])


def test_baseline_option_notes_when_nothing_was_measured(pytester: pytest.Pytester) -> None:
    """With benchmarks disabled there is nothing to compare, which is said, not failed."""
    pytester.makepyfile(test_speed=_BENCH)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--benchmark-disable", "--rfs-baseline", _baseline(pytester, 1.0)
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*no benchmark of this run (0 measured)*"])


def test_baseline_option_rejects_bad_input(pytester: pytest.Pytester) -> None:
    """A missing baseline file or a bad tolerance is a usage error."""
    pytester.makepyfile(test_speed=_BENCH)
    missing = pytester.runpytest("-p", "no:cacheprovider", "--rfs-baseline", "nope.json")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--rfs-baseline*"])
    bad = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--rfs-baseline",
        _baseline(pytester, 1.0),
        "--rfs-max-regression",
        "lots",
    )
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_queued_log_entries_are_written_inside_the_test_that_emitted_them(
    pytester: pytest.Pytester,
) -> None:
    """An entry still queued when a test ends is written while that test's output is captured."""
    pytester.makepyfile(
        """
        from rfs_monitoring import Success, log_result_operation

        @log_result_operation("queued_op")
        def op():
            return Success(1)

        def test_emits():
            op()
            assert False, "show the captured output"

        def test_quiet():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    captured = result.stdout.str().split("Captured stdout call", 1)
    assert len(captured) == 2
    assert '"operation_name":"queued_op"' in captured[1]
    assert '"operation_name":"queued_op"' not in captured[0]


def test_flushing_skips_logging_that_was_never_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without rfs_monitoring.result_logging imported, the plugin's flush imports nothing."""
    from rfs_monitoring.testing import fixtures

    monkeypatch.delitem(sys.modules, "rfs_monitoring.result_logging", raising=False)
    fixtures._flush_result_logs()
    assert "rfs_monitoring.result_logging" not in sys.modules
