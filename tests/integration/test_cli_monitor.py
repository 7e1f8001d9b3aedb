"""``conveyor monitor apply/check/list/show/history/delete`` end to end on SQLite in a
temporary folder, and a monitor that retrains and promotes through a gate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner

import conveyor as cv
from conveyor.core import Settings
from conveyor.engine import Workspace
from conveyor.monitoring import evaluate
from conveyor.testing import settings_for
from tests._cli import invoke
from tests.unit.monitoring._traffic import NOON, register, send, training

PIPELINE = """
import pandas as pd
from sklearn.linear_model import LogisticRegression

import conveyor as cv

COLUMNS = ["age", "income", "tenure"]


@cv.step
def load(path: str) -> pd.DataFrame:
    return pd.read_csv(path)


@cv.step
def train(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(frame[COLUMNS], frame["churned"])


@cv.step
def score(model: LogisticRegression, frame: pd.DataFrame) -> dict[str, float]:
    return {"accuracy": float(model.score(frame[COLUMNS], frame["churned"]))}


@cv.step
def inputs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[COLUMNS]


@cv.pipeline
def churn(data: str = "new.csv") -> None:
    frame = load(data)
    model = train(frame)
    cv.register_model("churn", model, metrics=score(model, frame), reference=inputs(frame))
"""


@pytest.fixture
def settings(cli: CliRunner, tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


def monitor_yaml(tmp_path: Path, actions: str = "  - log: {}") -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        dedent(
            """\
            name: churn-drift
            model: churn@production
            window: 1h
            every: 10m
            rules:
              - drift: {share_of_features: 0.5, psi: 0.2}
            actions:
            """
        )
        + actions
        + "\n"
    )
    return path


def test_apply_check_list_show_history_delete(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    register(settings)
    send(settings, training(500, shift=1.0))
    applied = invoke(cli, "monitor", "apply", str(monitor_yaml(tmp_path)))
    assert applied.exit_code == 0, applied.output
    assert "applied churn-drift: churn@production, window 1h, every 10m" in applied.output
    # the window ends now; the traffic was logged around NOON, so evaluate at NOON through
    # the library and check the CLI's reading of what was stored
    evaluate("churn-drift", now=NOON, settings=settings)
    listed = invoke(cli, "monitor", "list")
    assert "churn-drift" in listed.output and "firing" in listed.output
    history = json.loads(invoke(cli, "monitor", "history", "churn-drift", "--json").output)
    assert [e["status"] for e in history["evaluations"]] == ["firing"]
    assert [a["kind"] for a in history["actions"]] == ["log"]
    shown = invoke(cli, "monitor", "show", "churn-drift")
    assert "share_of_features: 0.5" in shown.output
    checked = invoke(cli, "monitor", "check", "churn-drift", "--json", "--html", "r.html")
    assert checked.exit_code == 0, checked.output
    document = json.loads(checked.output)
    assert document["evaluation"]["status"] == "no_data"  # nothing was sent in the last hour
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    failing = invoke(cli, "monitor", "check", "churn-drift", "--fail-on-alert")
    assert failing.exit_code == 0  # no_data is not firing
    assert invoke(cli, "monitor", "delete", "churn-drift").exit_code == 0
    gone = invoke(cli, "monitor", "check", "churn-drift")
    assert gone.exit_code == 2
    assert "no monitor named 'churn-drift'" in gone.output


def test_a_firing_check_prints_the_table_and_can_fail_the_command(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    register(settings)
    send(settings, training(500, shift=1.0), at=_now())
    invoke(cli, "monitor", "apply", str(monitor_yaml(tmp_path)))
    checked = invoke(cli, "monitor", "check", "churn-drift", "--fail-on-alert")
    assert checked.exit_code == 1
    assert "churn-drift: firing" in checked.output
    assert "age" in checked.output and "ks" in checked.output
    assert "action log: succeeded" in checked.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("", "defines no monitor"),
        (
            "- name: a\n  model: m@p\n  rules: [drift]\n- name: a\n  model: m@p\n  rules: [drift]",
            "defines a more than once",
        ),
        ("name: a\nmodel: m@p\nrules: [{drift: {psi: -x}}]", "finite number"),
    ],
)
def test_bad_yaml_is_refused_with_the_reason_and_stores_nothing(
    cli: CliRunner, settings: Settings, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = invoke(cli, "monitor", "apply", str(path))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert Workspace.for_api(settings).metadata.list_monitors() == []


def test_a_firing_monitor_retrains_and_promotes_through_the_gate(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    new = training(1500, shift=1.0, seed=7)
    new.to_csv(tmp_path / "new.csv", index=False)
    register(settings)
    send(settings, training(500, shift=1.0, seed=8))
    actions = (
        "  - retrain: {pipeline: pipeline.py:churn, params: {data: new.csv}}\n"
        "  - promote: {alias: production, gate: {min: {accuracy: 0.7}}}"
    )
    invoke(cli, "monitor", "apply", str(monitor_yaml(tmp_path, actions)))
    check = evaluate("churn-drift", now=NOON, settings=settings)
    retrain, promote = check.actions
    assert retrain.status == "succeeded", retrain.detail
    assert retrain.detail["registered_versions"] == [2]
    assert promote.status == "succeeded", promote.detail
    assert promote.detail["previous"] == 1 and promote.detail["version"] == 2
    assert cv.models.aliases("churn", settings=settings) == {"production": 2}
    move = cv.models.history("churn", "production", settings=settings)[-1]
    assert move.actor == "monitor:churn-drift"
    # the new version's reference is the new data: the same traffic no longer drifts
    after = evaluate("churn-drift", now=NOON, settings=settings)
    assert after.evaluation.version == 2
    assert after.evaluation.status == "ok"


def test_a_failing_gate_keeps_the_alias_and_says_why(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    training(800, shift=1.0, seed=9).to_csv(tmp_path / "new.csv", index=False)
    register(settings)
    send(settings, training(500, shift=1.0, seed=10))
    actions = (
        "  - retrain: {pipeline: pipeline.py:churn}\n"
        "  - promote: {alias: production, gate: {min: {accuracy: 0.999}}}"
    )
    invoke(cli, "monitor", "apply", str(monitor_yaml(tmp_path, actions)))
    check = evaluate("churn-drift", now=NOON, settings=settings)
    retrain, promote = check.actions
    assert retrain.status == "succeeded"
    assert promote.status == "failed"
    assert "did not pass the gate" in str(promote.detail["error"])
    assert "accuracy" in str(promote.detail["error"])
    assert cv.models.aliases("churn", settings=settings) == {"production": 1}
    decisions = cv.models.decisions("churn", settings=settings)
    assert decisions[-1].passed is False


def test_a_promotion_after_a_failed_retrain_is_skipped(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.py").write_text(PIPELINE)  # new.csv is missing: the run fails
    register(settings)
    send(settings, training(500, shift=1.0))
    actions = "  - retrain: {pipeline: pipeline.py:churn}\n  - promote: {alias: production}"
    invoke(cli, "monitor", "apply", str(monitor_yaml(tmp_path, actions)))
    retrain, promote = evaluate("churn-drift", now=NOON, settings=settings).actions
    assert retrain.status == "failed" and retrain.detail["run_status"] == "failed"
    assert promote.status == "skipped"
    assert "registered no new version" in str(promote.detail["reason"])
    assert cv.models.aliases("churn", settings=settings) == {"production": 1}


def _now() -> datetime:
    return datetime.now(UTC)
