"""The shipped Prometheus rules, scrape config and Grafana dashboard: valid for promtool and
Grafana, alerting as documented, and reading only metrics a real server exports."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from conveyor.engine import Workspace
from conveyor.serving import create_app
from conveyor.store import MonitorEvaluation
from tests._prometheus import ALERTS, CONFIG, DASHBOARD, binary, metric_names
from tests.serving._churn import names_of, register_churn
from tests.serving.conftest import wait_loaded

# names Prometheus itself provides, which the files may read beside conveyor's
PROMETHEUS_OWN = {"ALERTS", "up"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """The names on /metrics of a server that answered requests and feedback, with a monitor
    evaluation of its model stored."""
    settings = register_churn(tmp_path_factory.mktemp("deploy-files"))
    figures = {
        "drift": {
            "share_drifted": 0.5,
            "features": {"age": {"psi": 0.3, "js": 0.2, "p_value": 0.001, "drifted": True}},
        },
        "performance": {"labelled": 10, "metrics": {"accuracy": 0.9}},
    }
    rules = ({"rule": "drift share_of_features>=0.3", "firing": True},)
    evaluation = MonitorEvaluation(
        "churn-drift", "churn", 1, datetime.now(UTC), None, None, 10, "firing", figures, rules
    )
    Workspace.for_api(settings).metadata.record_evaluation(evaluation)
    app = create_app("churn@production", settings=settings, prediction_log_flush_s=0.5)
    with TestClient(app) as client:
        wait_loaded(client)
        for _ in range(3):
            answer = client.post("/predict", json={"records": [{"age": 30.0, "plan": 1.0}]})
            assert answer.status_code == 200, answer.text
        answer = client.post("/feedback", json={"request_id": "r1", "label": 1})
        assert answer.status_code == 200, answer.text
        yield names_of(client.get("/metrics").text)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: its panels' and its variables' queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"]["query"])
            assert found, variable["query"]
            queries.append(found.group(1))
    return queries


# --- promtool ----------------------------------------------------------------------------


def test_promtool_accepts_the_rules_and_the_config() -> None:
    promtool = binary("promtool")
    for command in (["check", "rules", str(ALERTS)], ["check", "config", str(CONFIG)]):
        checked = subprocess.run([promtool, *command], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr


# Series as a scrape of `conveyor serve` gives them, one sample a minute.
DRIFT = {"monitor": "churn-drift", "model": "churn"}
PERF = {"monitor": "churn-perf", "model": "churn", "version": "1"}
SERIES = [
    ("conveyor_monitor_firing", DRIFT, "0 1 1 0"),
    ("conveyor_drift_share_drifted", {**DRIFT, "version": "1"}, "0.2 0.6"),
    ("conveyor_live_metric", {**PERF, "metric": "accuracy"}, "0.5 0.5"),
    ("conveyor_live_labelled_rows", PERF, "20 500"),
    ("conveyor_monitor_last_evaluation_timestamp_seconds", DRIFT, "0x300"),
    ("conveyor_requests_total", {"model": "churn", "status": "200"}, "0+90x30"),
    ("conveyor_requests_total", {"model": "churn", "status": "500"}, "0+10x30"),
]
# (alert, minute, labels of the firing alert or None); ALERTS is the series Prometheus keeps
# for each pending or firing alert
EXPECTED: list[tuple[str, int, dict[str, str] | None]] = [
    ("ConveyorMonitorFiring", 0, None),
    # firing at the first sample of 1: the monitor already waited its windows, so no `for:`
    ("ConveyorMonitorFiring", 1, {**DRIFT, "severity": "warning"}),
    ("ConveyorMonitorFiring", 3, None),
    ("ConveyorDriftShareHigh", 1, {**DRIFT, "version": "1", "severity": "warning"}),
    # low accuracy alerts only once enough rows are labelled
    ("ConveyorLiveAccuracyLow", 0, None),
    ("ConveyorLiveAccuracyLow", 1, {**PERF, "metric": "accuracy", "severity": "warning"}),
    ("ConveyorMonitorStale", 120, None),
    ("ConveyorMonitorStale", 240, {**DRIFT, "severity": "warning"}),
    # 10% of requests fail: pending first, firing once that lasted 5 minutes
    ("ConveyorServingErrorRate", 3, None),
    ("ConveyorServingErrorRate", 12, {"model": "churn", "severity": "critical"}),
]


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def rule_tests() -> dict[str, object]:
    """A ``promtool test rules`` file for the shipped rules."""
    checks = []
    for alert, minute, labels in EXPECTED:
        selector = {"alertname": alert, "alertstate": "firing"}
        expected = [] if labels is None else [{"labels": _series("ALERTS", {**selector, **labels}),
                                               "value": 1}]  # fmt: skip
        checks.append(
            {
                "expr": _series("ALERTS", selector),
                "eval_time": f"{minute}m",
                "exp_samples": expected,
            }
        )
    return {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": _series(name, labels), "values": values}
                    for name, labels, values in SERIES
                ],
                "promql_expr_test": checks,
            }
        ],
    }


def test_the_alerts_fire_as_documented(tmp_path: Path) -> None:
    promtool = binary("promtool")
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(yaml.safe_dump(rule_tests(), sort_keys=False))
    ran = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


# --- what the files read -----------------------------------------------------------------


def test_every_alert_reads_metrics_conveyor_exports(exported: set[str]) -> None:
    rules = alert_rules()
    assert "ConveyorMonitorFiring" in {r["alert"] for r in rules}
    firing = next(r for r in rules if r["alert"] == "ConveyorMonitorFiring")
    assert firing["expr"].strip() == "conveyor_monitor_firing == 1" and "for" not in firing
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported | PROMETHEUS_OWN, (rule["alert"], names - exported)


def test_the_dashboard_reads_only_metrics_conveyor_exports(exported: set[str]) -> None:
    queries = dashboard_queries()
    read = set()
    for query in queries:
        names = metric_names(query)
        assert names, query
        assert names <= exported | PROMETHEUS_OWN, (query, names - exported)
        read |= names
    # the panels the dashboard promises
    for name in (
        "conveyor_requests_total",
        "conveyor_request_duration_seconds_bucket",
        "conveyor_batch_size_bucket",
        "conveyor_drift_share_drifted",
        "conveyor_drift_psi",
        "conveyor_live_metric",
        "conveyor_monitor_firing",
        "conveyor_monitor_alert_firing",
    ):
        assert name in read, name


def test_the_dashboard_asks_for_its_prometheus_when_imported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (source,) = dashboard["__inputs"]
    assert source["name"] == "DS_PROMETHEUS" and source["pluginId"] == "prometheus"
    sources = [p["datasource"] for p in dashboard["panels"] if p["type"] != "row"] + [
        t["datasource"] for p in dashboard["panels"] for t in p.get("targets", [])
    ]
    assert sources and all(s == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"} for s in sources)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
