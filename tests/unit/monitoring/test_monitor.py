"""Monitors: definitions that round-trip and refuse bad fields, and evaluations on real
prediction-log files: rules with streaks, alerts, and actions on the transition to firing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import roc_auc_score

import conveyor as cv
from conveyor.core import Settings
from conveyor.engine import Workspace
from conveyor.errors import MonitoringError, MonitorNotFound
from conveyor.monitoring import Monitor, evaluate, load, render_html
from conveyor.testing import settings_for
from tests.unit.monitoring._traffic import NOON, label, register, send, training


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


class Receiver:
    """A local HTTP server that keeps every JSON body POSTed to it and answers with
    ``statuses`` in turn (the last one from then on)."""

    def __init__(self, *statuses: int) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.statuses = list(statuses or (200,))
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.headers.append(dict(self.headers))
                status = receiver.statuses[min(len(receiver.bodies), len(receiver.statuses)) - 1]
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


# -- definitions --------------------------------------------------------------------------


def test_a_monitor_round_trips_through_its_stored_shape(settings: Settings) -> None:
    made = cv.monitor(
        name="churn-drift",
        model="churn@production",
        window="1h",
        rules=[
            cv.DriftRule(share_of_features=0.3, psi=0.2, for_windows=2),
            cv.MetricRule("accuracy", "<", 0.85),
        ],
        actions=[
            cv.Webhook("http://example.invalid/hook", headers={"Authorization": "Bearer ${T}"}),
            cv.Log(),
            cv.Retrain(pipeline="pipeline.py:churn", params={"rows": 100}),
            cv.Promote(alias="production", gate=cv.Gate(min={"accuracy": 0.8}, beat="production")),
        ],
        settings=settings,
    )
    stored = load("churn-drift", settings=settings)
    assert stored == made
    assert stored.every == timedelta(hours=1)
    assert stored.to_dict()["rules"] == [
        {"drift": {"share_of_features": 0.3, "psi": 0.2, "for_windows": 2}},
        {"metric": {"name": "accuracy", "op": "<", "threshold": 0.85}},
    ]
    retrain = stored.actions[2]
    assert isinstance(retrain, cv.Retrain)
    assert retrain.pipeline == f"{Path.cwd() / 'pipeline.py'}:churn"  # resolved when defined
    record = Workspace.for_api(settings).metadata.get_monitor("churn-drift")
    assert record.spec["every"] == "1h"  # what the scheduler reads


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": [{"drift": {"psi": 0.2, "js": 0.1}}]}, "one per-feature threshold"),
        ({"rules": [{"metric": {"name": "accuracy", "op": "=<", "threshold": 1}}]}, "op '=<'"),
        ({"rules": [{"metric": {"name": "r2", "op": "<", "threshold": 1}}]}, "unknown live"),
        ({"rules": [{"drift": {"share_of_features": 1.5}}]}, r"in \(0, 1\]"),
        ({"rules": [{"latency": {}}]}, "unknown rule 'latency'"),
        ({"rules": []}, "needs rules"),
        ({"window": "soon"}, "neither a duration"),
        ({"model": "churn"}, "'churn@production'"),
        ({"name": "bad name"}, "cannot name a monitor"),
        ({"actions": [{"webhook": {"url": "ftp://x"}}]}, "http:// or https://"),
        ({"actions": [{"page": {}}]}, "unknown action 'page'"),
        ({"actions": [{"promote": {"gate": {"best": 1}}}]}, "unknown gate field"),
        ({"colour": "red"}, "unknown monitor field"),
        ({"rules": [{"drift": {"for_windows": 0}}]}, "for_windows"),
    ],
)
def test_bad_definitions_name_the_problem(change: dict[str, object], message: str) -> None:
    data: dict[str, object] = {
        "name": "m",
        "model": "churn@production",
        "rules": [{"drift": {}}],
        **change,
    }
    with pytest.raises(MonitoringError, match=message):
        Monitor.from_dict(data)


def test_a_gate_holding_a_table_cannot_be_stored_with_a_monitor() -> None:
    frame = training(10)
    with pytest.raises(MonitoringError, match="must name a CSV or Parquet file"):
        cv.Promote(gate=cv.Gate(min={"accuracy": 0.5}, on=frame, target="churned"))


def test_an_unknown_monitor_names_the_ones_there_are(settings: Settings) -> None:
    cv.monitor("a-mon", "churn@production", rules=[cv.DriftRule()], settings=settings)
    with pytest.raises(MonitorNotFound, match="a-mon"):
        evaluate("nope", settings=settings)


# -- evaluations --------------------------------------------------------------------------


def test_traffic_like_the_training_data_is_ok(settings: Settings) -> None:
    register(settings)
    send(settings, training(600, seed=1))
    cv.monitor("m", "churn@production", rules=[cv.DriftRule(psi=0.2)], settings=settings)
    check = evaluate("m", now=NOON, settings=settings)
    assert check.evaluation.status == "ok"
    assert check.evaluation.rows == 600
    assert check.evaluation.version == 1
    assert check.drift is not None and check.drift.drifted == []
    assert check.alerts == [] and check.actions == []
    assert check.evaluation.rules[0]["breached"] is False


def test_drifted_traffic_fires_alerts_and_calls_the_webhook_once(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    register(settings)
    send(settings, training(600, shift=1.0, seed=2))
    cv.monitor(
        "m",
        "churn@production",
        window="1h",
        rules=[cv.DriftRule(share_of_features=0.5, psi=0.2)],
        actions=[cv.Webhook(receiver.url, headers={"X-Token": "${HOOK_TOKEN}"}), cv.Log()],
        settings=settings,
    )
    check = evaluate("m", now=NOON, settings=settings)
    assert check.evaluation.status == "firing"
    assert check.drift is not None and set(check.drift.drifted) == {"age", "income"}
    assert [a.rule for a in check.alerts] == [check.evaluation.rules[0]["rule"]]
    assert [(a.kind, a.status) for a in check.actions] == [
        ("webhook", "succeeded"),
        ("log", "succeeded"),
    ]
    (body,) = receiver.bodies
    assert receiver.headers[0]["X-Token"] == "s3cret"
    assert body["monitor"] == "m" and body["model"] == "churn" and body["version"] == 1
    assert set(body["drifted"]) == {"age", "income"}
    assert body["figures"]["drift"]["share_drifted"] == pytest.approx(2 / 3)
    report = Path(body["link"].removeprefix("file://"))
    assert report.is_file() and "<svg" in report.read_text()
    # still firing in the next window: stored, but no second webhook and no new alert
    again = evaluate("m", now=NOON + timedelta(minutes=1), settings=settings)
    assert again.evaluation.status == "firing"
    assert again.alerts == [] and again.actions == []
    assert len(receiver.bodies) == 1
    store = Workspace.for_api(settings).metadata
    assert [e.status for e in store.evaluations("m")] == ["firing", "firing"]
    assert len(store.alerts("m")) == 1


def test_for_windows_needs_consecutive_breaches(settings: Settings) -> None:
    register(settings)
    send(settings, training(400, shift=1.0, seed=3))
    cv.monitor(
        "m",
        "churn@production",
        window="1h",
        rules=[cv.DriftRule(share_of_features=0.5, psi=0.2, for_windows=2)],
        settings=settings,
    )
    first = evaluate("m", now=NOON, settings=settings)
    assert first.evaluation.status == "ok"
    assert first.evaluation.rules[0]["breached"] is True
    assert first.evaluation.rules[0]["streak"] == 1
    second = evaluate("m", now=NOON + timedelta(minutes=5), settings=settings)
    assert second.evaluation.status == "firing"
    assert second.evaluation.rules[0]["streak"] == 2
    # a window of like-the-training traffic breaks the streak
    send(settings, training(4000, seed=4), at=NOON + timedelta(hours=2))
    third = evaluate("m", now=NOON + timedelta(hours=2), settings=settings)
    assert third.evaluation.status == "ok"
    assert third.evaluation.rules[0]["streak"] == 0


def test_a_window_with_too_few_rows_decides_nothing(settings: Settings) -> None:
    register(settings)
    send(settings, training(5, shift=1.0))
    cv.monitor("m", "churn@production", rules=[cv.DriftRule()], min_rows=50, settings=settings)
    check = evaluate("m", now=NOON, settings=settings)
    assert check.evaluation.status == "no_data"
    assert "5 rows" in check.evaluation.message
    assert check.evaluation.rules[0]["breached"] is None


def test_an_unresolvable_model_is_stored_as_an_error(settings: Settings) -> None:
    cv.monitor("m", "ghost@production", rules=[cv.DriftRule()], settings=settings)
    check = evaluate("m", now=NOON, settings=settings)
    assert check.evaluation.status == "error"
    assert "ghost" in check.evaluation.message


def test_a_metric_rule_fires_on_live_accuracy_from_feedback(settings: Settings) -> None:
    register(settings)
    frame = training(200, seed=5)
    ids = send(settings, frame, predictions=[0] * 200)
    truth = frame["churned"].tolist()
    label(settings, ids, truth)
    cv.monitor(
        "acc",
        "churn@production",
        rules=[cv.MetricRule("accuracy", "<", 0.9, min_labelled=100)],
        settings=settings,
    )
    check = evaluate("acc", now=NOON, settings=settings)
    expected = truth.count(0) / 200
    assert check.performance is not None
    assert check.performance.metrics["accuracy"] == pytest.approx(expected)
    assert check.evaluation.status == "firing"
    assert check.evaluation.rules[0]["value"] == pytest.approx(expected)
    assert check.evaluation.figures["performance"]["labelled"] == 200  # type: ignore[index]


def test_a_metric_rule_on_live_auc(settings: Settings) -> None:
    register(settings)
    frame = training(200, seed=5)
    truth = frame["churned"].tolist()
    # scores that rank most rows right: AUC well above chance, yet under the rule's bound
    scores = [0.3 * t + 0.7 * ((i * 7919) % 100) / 100 for i, t in enumerate(truth)]
    ids = send(settings, frame, predictions=[int(s > 0.5) for s in scores], scores=scores)
    label(settings, ids, truth)
    cv.monitor(
        "auc",
        "churn@production",
        rules=[cv.MetricRule("roc_auc", "<", 0.999, min_labelled=100)],
        settings=settings,
    )
    check = evaluate("auc", now=NOON, settings=settings)
    assert check.performance is not None
    expected = roc_auc_score(truth, scores)
    assert 0.5 < expected < 0.999
    assert check.performance.metrics["auc"] == pytest.approx(expected)
    assert check.evaluation.rules[0]["rule"] == "metric: auc < 0.999"
    assert check.evaluation.rules[0]["value"] == pytest.approx(expected)
    assert check.evaluation.status == "firing"


def test_an_auc_rule_without_logged_probabilities_says_what_it_needs(settings: Settings) -> None:
    register(settings)
    frame = training(200, seed=5)
    label(settings, send(settings, frame), frame["churned"].tolist())
    cv.monitor("auc", "churn@production", rules=[cv.MetricRule("auc", "<", 0.8)], settings=settings)
    check = evaluate("auc", now=NOON, settings=settings)
    assert check.evaluation.status == "ok"
    assert check.evaluation.rules[0]["breached"] is None
    assert "logged probabilities" in str(check.evaluation.rules[0]["message"])


def test_a_failing_webhook_is_recorded_and_the_next_action_still_runs(
    settings: Settings,
) -> None:
    failing = Receiver(400)
    try:
        register(settings)
        send(settings, training(300, shift=1.0))
        cv.monitor(
            "m",
            "churn@production",
            rules=[cv.DriftRule(share_of_features=0.5)],
            actions=[cv.Webhook(failing.url, retries=0), cv.Log()],
            settings=settings,
        )
        check = evaluate("m", now=NOON, settings=settings)
    finally:
        failing.server.shutdown()
    webhook, logged = check.actions
    assert webhook.status == "failed"
    assert "HTTP 400" in str(webhook.detail["error"])
    assert len(failing.bodies) == 1  # a 4xx is the receiver refusing the body: not retried
    assert "/hook" not in json.dumps(webhook.detail)  # the path of a webhook URL is a secret
    assert logged.status == "succeeded"


def test_a_webhook_answered_with_a_server_error_is_sent_again(settings: Settings) -> None:
    flaky = Receiver(503, 200)
    try:
        register(settings)
        send(settings, training(300, shift=1.0))
        cv.monitor(
            "m",
            "churn@production",
            rules=[cv.DriftRule(share_of_features=0.5)],
            actions=[cv.Webhook(flaky.url, retries=1)],
            settings=settings,
        )
        (webhook,) = evaluate("m", now=NOON, settings=settings).actions
    finally:
        flaky.server.shutdown()
    assert webhook.status == "succeeded"
    assert len(flaky.bodies) == 2
    assert flaky.bodies[0] == flaky.bodies[1]


def test_the_html_report_is_self_contained(settings: Settings) -> None:
    register(settings)
    send(settings, training(300, shift=1.0))
    cv.monitor(
        "m", "churn@production", rules=[cv.DriftRule(share_of_features=0.5)], settings=settings
    )
    first = evaluate("m", now=NOON, settings=settings)
    second = evaluate("m", now=NOON + timedelta(minutes=1), settings=settings)
    page = render_html("m", second.evaluation, [first.evaluation], second.actions)
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 2  # PSI per feature, and the share drifted over evaluations
    assert "<script" not in page and "http" not in page.split("<body>")[1]
    assert "age" in page and "firing" in page
