"""Alerts through Prometheus: the Alertmanager notifier against a real Alertmanager, and the
rule-file export checked by promtool and loaded into a real Prometheus.

Needs Debian's ``prometheus`` and ``prometheus-alertmanager`` packages (``.ci/run`` installs
them); without a binary the test fails saying so. Servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import httpx

from rfs_monitoring.alerts import (
    AlertConfiguration,
    AlertEvent,
    AlertManager,
    AlertmanagerNotifier,
    AlertMetric,
    AlertRule,
    prometheus_rules,
    rule_expression,
)
from rfs_monitoring.metrics import ResultMetricsCollector
from servers import alertmanager, binary, prometheus, query, serving_metrics, wait_for


def _ours(base: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = httpx.get(f"{base}/api/v2/alerts", timeout=5).json()
    return [a for a in alerts if a["labels"].get("alertname") == "checkout failing"]


def test_an_alert_fires_is_silenced_and_resolves_in_alertmanager(tmp_path: Path) -> None:
    with alertmanager(tmp_path) as base:
        _fire_silence_and_resolve(base)


def _fire_silence_and_resolve(base: str) -> None:
    collector = ResultMetricsCollector(sample_resources=False)
    rule = AlertRule(
        name="checkout failing",
        operation="checkout",
        metric="success_rate",
        op="<",
        threshold=0.5,
        window="5m",
        severity="critical",
        labels={"team": "payments", "runbook-url": "https://runbooks.example/checkout"},
    )
    notifier = AlertmanagerNotifier(
        url=base, dashboard_url="http://127.0.0.1:8000/monitoring/dashboard"
    )
    manager = AlertManager(collector, AlertConfiguration(rules=[rule], notifiers=[notifier]))
    try:
        for _ in range(3):
            collector.record("checkout", 20.0, False, "DATABASE_ERROR")
        assert [e.status for e in manager.evaluate()] == ["firing"]
        assert manager.flush(30)
        listed = wait_for(lambda: _ours(base), "the firing alert was not listed")
        alert = listed[0]
        assert alert["labels"] == {
            "alertname": "checkout failing",
            "operation": "checkout",
            "severity": "critical",
            "team": "payments",
            "runbook_url": "https://runbooks.example/checkout",
        }
        assert alert["status"]["state"] == "active"
        assert alert["annotations"]["value"] == "0"
        assert alert["annotations"]["dashboard"].endswith("#op=checkout&range=5m")
        assert alert["generatorURL"] == alert["annotations"]["dashboard"]
        ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
        assert ends > datetime.now(UTC) + timedelta(hours=2)  # expires if the resolve is lost

        now = datetime.now(UTC)
        silence = httpx.post(
            f"{base}/api/v2/silences",
            json={
                "matchers": [{"name": "alertname", "value": "checkout failing", "isRegex": False}],
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
                "createdBy": "test",
                "comment": "maintenance",
            },
            timeout=5,
        )
        assert silence.status_code == 200, silence.text
        wait_for(
            lambda: [a for a in _ours(base) if a["status"]["state"] == "suppressed"],
            "the silence did not mute the alert",
        )

        for _ in range(30):
            collector.record("checkout", 20.0, True)
        assert [e.status for e in manager.evaluate()] == ["resolved"]
        assert manager.flush(30)
        wait_for(lambda: _ours(base) == [], "the resolve did not clear the alert")
        assert manager.notification_failures == 0
    finally:
        manager.close()
        collector.close()


def test_the_alertmanager_payload() -> None:
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    event = AlertEvent(
        rule="slow",
        operation="search",
        status="resolved",
        previous_status="firing",
        severity="warning",
        metric="p99_ms",
        op=">",
        threshold=250.0,
        window="5m",
        value=120.5,
        at=at,
        active_since=at - timedelta(minutes=10),
        resolved_at=at,
        labels={"9lives": "x", "": "dropped-name", "empty": ""},
        summary="slow: search p99_ms = 120.5 > 250 over 5m",
    )
    (alert,) = AlertmanagerNotifier(url="http://127.0.0.1:1/", expires_after_seconds=60)._payload(
        event
    )
    assert alert["labels"] == {
        "_9lives": "x",
        "_": "dropped-name",
        "alertname": "slow",
        "operation": "search",
        "severity": "warning",
    }
    assert alert["startsAt"] == "2026-12-01T11:50:00+00:00"
    assert alert["endsAt"] == "2026-12-01T12:00:00+00:00"
    assert alert["annotations"]["threshold"] == "> 250 (p99_ms over 5m)"
    assert "generatorURL" not in alert
    firing = event.model_copy(update={"status": "firing", "resolved_at": None})
    (alert,) = AlertmanagerNotifier(url="http://h:1", expires_after_seconds=60)._payload(firing)
    assert alert["endsAt"] == "2026-12-01T12:01:00+00:00"
    parsed = AlertConfiguration.model_validate(
        {"notifiers": [{"type": "alertmanager", "url": "http://am:9093"}]}
    )
    assert isinstance(parsed.notifiers[0], AlertmanagerNotifier)


def _every_metric_rules() -> AlertConfiguration:
    return AlertConfiguration(
        rules=[
            AlertRule(
                name=f"rule {metric}",
                operation="*" if i % 2 else 'quoted "op"',
                metric=metric,
                op=">",
                threshold=0.5,
                window="5m",
                for_seconds=30 if i % 3 == 0 else 0,
                keep_firing_for_seconds=1.5 if i % 3 == 1 else 0,
                min_requests=i % 3,
                labels={"team": "core", "runbook-url": "https://x"},
            )
            for i, metric in enumerate(get_args(AlertMetric))
        ]
    )


def test_promtool_accepts_the_rule_file_for_every_metric(tmp_path: Path) -> None:
    promtool = binary("promtool", "prometheus")
    path = tmp_path / "rules.yml"
    path.write_text(prometheus_rules(_every_metric_rules(), selector='job="api"'))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(get_args(AlertMetric))} rules found" in checked.stdout
    empty = tmp_path / "empty.yml"
    empty.write_text(prometheus_rules(AlertConfiguration(rules=[])))
    assert subprocess.run([promtool, "check", "rules", str(empty)], check=False).returncode == 0
    assert 'operation="quoted \\"op\\""' in rule_expression(_every_metric_rules().rules[0])


def test_prometheus_fires_the_exported_rule_over_our_series(tmp_path: Path) -> None:
    """The same rule as ours, exported and loaded into a real Prometheus scraping the app, fires
    there too while the app's checkout keeps failing."""
    collector = ResultMetricsCollector(sample_resources=False)
    stop = threading.Event()

    def traffic() -> None:
        i = 0
        while not stop.wait(0.02) and i < 10_000:  # bounded: at most 200 s of traffic
            collector.record("checkout", 15.0, i % 4 != 0, "DATABASE_ERROR")  # 25% failures
            i += 1

    load = threading.Thread(target=traffic, daemon=True)
    load.start()
    rule = AlertRule(
        name="checkout errors", operation="checkout", metric="error_rate", op=">",
        threshold=0.1, window="1m",
    )  # fmt: skip
    rules = tmp_path / "rules.yml"
    rules.write_text(prometheus_rules(AlertConfiguration(rules=[rule]), selector='job="rfs"'))
    try:
        with (
            serving_metrics(collector) as port,
            prometheus(tmp_path, [port], rule_files=[rules]) as base,
        ):
            firing = query(base, 'ALERTS{alertname="checkout errors",alertstate="firing"}', 90)
            assert firing[0]["metric"]["operation"] == "checkout"
            assert firing[0]["metric"]["severity"] == "warning"
            loaded = httpx.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"]
            assert loaded[0]["name"] == "rfs-monitoring"
            assert loaded[0]["rules"][0]["health"] == "ok"
    finally:
        stop.set()
        load.join(10)
        collector.close()
