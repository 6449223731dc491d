"""One headline type from the core outward: the core's table (`rfs_monitoring._core.LATENCIES`,
``rust/core/src/headline.rs``) names every headline latency once; the bindings' `Headline`,
`rfs_monitoring._headline.LATENCIES`, the records, the stub, the alert rules and the Prometheus
source follow it. A latency added to the core's table fails these tests, each naming the file
and the place to add what the type checker needs spelled."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from pathlib import Path

import httpx
import pytest

from rfs_monitoring import _core, _headline
from rfs_monitoring._headline import (
    LATENCIES,
    LONG_NAME,
    RANK,
    Latencies,
    latency_fields,
    latency_reader,
)
from rfs_monitoring.alerts import AlertMetric, AlertRule, _metric_value, rule_expression
from rfs_monitoring.dashboard_api import OperationSummary
from rfs_monitoring.metrics import (
    OperationMetrics,
    OperationStats,
    ResultMetricsCollector,
    StepMetrics,
    TimeSeriesPoint,
)
from rfs_monitoring.prometheus_source import PrometheusSource
from rfs_monitoring.testing import FakeClock

PACKAGE = Path(_headline.__file__).parent


def _fields(record: type) -> list[str]:
    return [f.name for f in dataclasses.fields(record)]


def _where(record: type) -> str:
    """``path:line`` of a record's class statement."""
    path = Path(inspect.getfile(record)).relative_to(PACKAGE.parent.parent)
    return f"{path}:{inspect.getsourcelines(record)[1]}"


def _stub_class(name: str) -> ast.ClassDef:
    stub = PACKAGE / "_core.pyi"
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    return next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name)


def test_the_python_table_is_the_cores() -> None:
    """`_headline.LATENCIES` is built from the core's rows, in their order."""
    assert [(row.core, row.long, row.short, row.rank) for row in LATENCIES] == [
        (row.field, row.long, row.short, row.rank) for row in _core.LATENCIES
    ]
    assert all(isinstance(row, _core.Latency) for row in _core.LATENCIES)
    assert {row.statistic for row in _core.LATENCIES} <= {"mean", "min", "max", "quantile"}
    ranks = [row.rank for row in _core.LATENCIES if row.statistic == "quantile"]
    assert ranks == sorted(ranks), "the core's quantiles ascend"
    assert "Latency(field=" in repr(_core.LATENCIES[0])


def test_every_core_value_with_a_headline_carries_every_latency() -> None:
    """The bindings' `Headline` (and `Summary`, `Brief`, `Point`) has one attribute per row."""
    for kind in (_core.Headline, _core.Summary, _core.Brief, _core.Point):
        missing = [row.core for row in LATENCIES if row.core not in dir(kind)]
        assert not missing, f"_core.{kind.__name__} lacks {missing}"


def test_the_stub_spells_every_latency() -> None:
    """``_core.pyi``'s `Headline` declares a ``float`` property per row of the core's table."""
    headline = _stub_class("Headline")
    declared = {node.name: node for node in headline.body if isinstance(node, ast.FunctionDef)}
    previous = "sum_ms"
    for latency in LATENCIES:
        assert latency.core in declared, (
            f"python/rfs_monitoring/_core.pyi:{headline.lineno}: class Headline needs "
            f"`@property def {latency.core}(self) -> float: ...` after {previous}"
        )
        returns = declared[latency.core].returns
        assert isinstance(returns, ast.Name), latency.core
        assert returns.id == "float", latency.core
        previous = latency.core


def test_latencies_has_one_float_per_row() -> None:
    """The `Latencies` alias (what `latencies_of` returns) is as long as the table."""
    floats = typing.get_args(Latencies)
    assert floats == (float,) * len(LATENCIES), (
        f"python/rfs_monitoring/_headline.py: `Latencies` needs {len(LATENCIES)} floats, one "
        f"per row of _core.LATENCIES (it has {len(floats)})"
    )


def test_operation_stats_lists_every_latency_in_the_tables_order() -> None:
    """`OperationStats` is built positionally from the core's latencies: its long-named
    fields come right after ``success_rate``, in the table's order."""
    fields = _fields(OperationStats)
    start = fields.index("success_rate") + 1
    previous = "success_rate"
    for offset, latency in enumerate(LATENCIES):
        assert fields[start + offset] == latency.long, (
            f"{_where(OperationStats)}: OperationStats needs `{latency.long}: float` right "
            f"after `{previous}` (found `{fields[start + offset]}` there)"
        )
        previous = latency.long


def test_operation_metrics_carries_every_latency() -> None:
    """`OperationMetrics` has a field per latency; the design document's positional fields
    stay first, so a new one comes with a default."""
    fields = {f.name: f for f in dataclasses.fields(OperationMetrics)}
    last = [name for name in fields if name.endswith("_response_time_ms")][-1]
    for latency in LATENCIES:
        assert latency.long in fields, (
            f"{_where(OperationMetrics)}: OperationMetrics needs `{latency.long}: float = 0.0` "
            f"after `{last}` (with the defaulted latencies, before `steps`)"
        )
        assert fields[latency.long].type in ("float", float), latency.long


@pytest.mark.parametrize("record", [StepMetrics, TimeSeriesPoint, OperationSummary])
def test_the_short_records_use_the_short_names_in_the_tables_order(record: type) -> None:
    """The contract's short records carry a subset of the table, under the short names and in
    the table's order; the two built positionally from a core headline list them last."""
    latency_like = [name for name in _fields(record) if name.endswith("_ms")]
    table = [latency.short for latency in LATENCIES]
    assert set(latency_like) <= set(table)
    assert latency_like == sorted(latency_like, key=table.index)
    if record is not OperationSummary:
        assert _fields(record)[-len(latency_like) :] == latency_like


def test_a_reader_returns_a_records_latencies_in_the_tables_order(clock: FakeClock) -> None:
    """`latency_reader` reads the latencies a record names, long or short, in table order."""
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    collector.record("search", 7.0, True)
    summary = collector._registry.summary("search", clock(), 3_600, 0)
    assert summary is not None
    short = latency_reader(["name", "max_ms", "p50_ms"], long=False)
    assert short(summary) == (summary.p50_ms, summary.max_ms)
    assert latency_reader(["p99_response_time_ms"], long=True)(summary) == (summary.p99_ms,)


def test_the_alert_latencies_are_the_tables_short_names() -> None:
    """Each latency an alert rule can watch is a row, and its PromQL uses the row's rank."""
    metrics = [m for m in typing.get_args(AlertMetric) if m.endswith("_ms")]
    assert set(metrics) <= set(LONG_NAME)
    for metric in metrics:
        expression = rule_expression(
            AlertRule(name="r", metric=metric, op=">", threshold=1, window="5m")
        )
        rank = RANK[metric]
        if rank is None:
            assert "_sum" in expression
            assert "histogram_quantile" not in expression
        else:
            assert f"histogram_quantile({rank:g}," in expression, expression


def test_records_and_alerts_agree_with_the_core(clock: FakeClock) -> None:
    """Every record's latency is the core's number for it, under the table's names."""
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    for ms in (1.0, 2.0, 3.0, 50.0, 900.0):
        collector.record("search", ms, True)
    summary = collector._registry.summary("search", clock(), 3_600, 0)
    assert summary is not None
    metrics = collector.operation_metrics("search", "1h").unwrap()
    (stats,) = collector.all_operation_stats("1h").unwrap()
    for latency in LATENCIES:
        expected = getattr(summary, latency.core)
        assert getattr(metrics, latency.long) == expected
        assert getattr(stats, latency.long) == expected
    for metric in (m for m in typing.get_args(AlertMetric) if m in LONG_NAME):
        assert _metric_value(metrics, metric) == getattr(summary, _core_name(metric))
    assert latency_fields(summary, long=False)["p50_ms"] == summary.p50_ms


def test_time_series_points_are_core_headlines(clock: FakeClock) -> None:
    """A series point is the core's `Headline` of its samples: `TimeSeriesPoint` reads its
    latencies through the table, the average included."""
    collector = ResultMetricsCollector(clock=clock, sample_resources=False)
    for ms in (4.0, 6.0, 20.0):
        collector.record("search", ms, True)
    collector.record("search", 10.0, False, "E")
    points = collector._registry.series("search", clock(), 3_600, 6)
    assert points is not None
    last = points[-1]
    assert isinstance(last, _core.Headline)
    assert (last.total, last.successes, last.failures) == (4, 3, 1)
    assert (last.mean_ms, last.min_ms, last.max_ms) == (10.0, 4.0, 20.0)
    assert last.window_start == last.start
    assert last.throughput_rps == pytest.approx(4 / last.seconds)
    assert "Point(start=" in repr(last)
    (point,) = [p for p in collector.time_series("search", "1h", 6).unwrap() if p.total]
    assert (point.successes, point.failures, point.success_rate) == (3, 1, 0.75)
    for name in _fields(TimeSeriesPoint):
        if name.endswith("_ms"):
            assert getattr(point, name) == getattr(last, _core_name(name)), name


def test_the_prometheus_source_asks_for_every_latency_prometheus_can_estimate() -> None:
    """From Prometheus, `OperationMetrics` carries every latency of the table that a histogram
    estimates (each quantile at its rank, the maximum at rank 1, the mean from sum over
    count); Prometheus keeps no minimum, which stays 0."""
    now = 1_700_000_000.0
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        promql = request.url.params.get("query", "")
        asked.append(promql)
        value = "100"
        if promql.startswith("histogram_quantile("):
            value = promql.removeprefix("histogram_quantile(").partition(",")[0]
        elif promql.startswith("histogram_sum("):
            value = "0.042"
        elif "outcome=" in promql or "error_code" in promql or "[1h]" in promql:
            return httpx.Response(200, json={"status": "success", "data": {"result": []}})
        sample = {"metric": {"operation": "pay"}, "value": [now, value]}
        return httpx.Response(200, json={"status": "success", "data": {"result": [sample]}})

    source = PrometheusSource(
        "http://prometheus.test", clock=lambda: now, transport=httpx.MockTransport(answer)
    )
    try:
        metrics = source.operation_metrics("pay", "1h").unwrap()
    finally:
        source.close()
    for latency in LATENCIES:
        value = getattr(metrics, latency.long)
        if latency.rank is None:
            assert value == pytest.approx(42.0), latency.long
        elif latency.rank == 0.0:
            assert value == 0.0, latency.long
            assert not any(q.startswith("histogram_quantile(0,") for q in asked)
        else:
            assert value == pytest.approx(latency.rank * 1000), latency.long


def _core_name(short: str) -> str:
    return next(latency.core for latency in LATENCIES if latency.short == short)
