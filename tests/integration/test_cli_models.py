"""``conveyor models list/show/promote/rollback/history`` end to end on SQLite in a temporary
folder; the versions are registered with ``cv.models.register`` in the same store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import conveyor as cv
from conveyor.core import Settings
from conveyor.testing import settings_for
from tests._cli import invoke


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    x, y = make_classification(
        n_samples=120, n_features=3, n_informative=2, n_redundant=0, random_state=0
    )
    frame = pd.DataFrame(x, columns=["tenure", "spend", "visits"])
    frame["y"] = y
    return frame


@pytest.fixture
def settings(cli: CliRunner, tmp_path: Path) -> Settings:
    """The store the CLI reads (the ``cli`` fixture points CONVEYOR_HOME at it)."""
    return settings_for(tmp_path / "home")


def fitted(model: object, frame: pd.DataFrame) -> object:
    return model.fit(frame.drop(columns="y"), frame["y"])  # type: ignore[attr-defined]


def register(settings: Settings, data: pd.DataFrame, name: str, *f1s: float) -> None:
    for depth, f1 in enumerate(f1s, start=1):
        model = fitted(DecisionTreeClassifier(max_depth=depth, random_state=0), data)
        cv.models.register(name, model, metrics={"f1": f1}, reference=data, settings=settings)


def lines_by_first_word(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines() if line.strip()}


@cv.step
def train_and_register(frame: pd.DataFrame) -> int:
    model = fitted(LogisticRegression(), frame)
    version = cv.models.register("from_run", model, metrics={"accuracy": 0.9}, reference=frame)
    return version.version


@cv.pipeline
def training(frame: pd.DataFrame) -> None:
    train_and_register(frame)


def test_list_shows_every_model_with_its_aliases(
    cli: CliRunner, settings: Settings, data: pd.DataFrame
) -> None:
    empty = invoke(cli, "models", "list")
    assert empty.exit_code == 0 and "no models registered yet" in empty.output

    register(settings, data, "churn", 0.7, 0.8, 0.85)
    register(settings, data, "fraud", 0.6)
    cv.models.promote("churn", 2, "production", settings=settings)
    cv.models.promote("churn", 3, "staging", settings=settings)

    listed = invoke(cli, "models", "list")
    assert listed.exit_code == 0
    rows = lines_by_first_word(listed.output)
    assert rows["churn"].split()[1:3] == ["3", "3"]  # latest version, number of versions
    assert "production → 2, staging → 3" in rows["churn"]
    assert rows["fraud"].split()[1:4] == ["1", "1", "—"]

    document = json.loads(invoke(cli, "models", "list", "--json").output)
    assert [m["name"] for m in document] == ["churn", "fraud"]
    assert document[0]["aliases"] == {"production": 2, "staging": 3}
    assert document[0]["latest_version"] == 3 and document[0]["versions"] == 3


def test_show_a_model_lists_its_versions_and_aliases(
    cli: CliRunner, settings: Settings, data: pd.DataFrame
) -> None:
    register(settings, data, "churn", 0.7, 0.8)
    cv.models.promote("churn", 2, "production", reason="better f1", actor="ana", settings=settings)

    shown = invoke(cli, "models", "show", "churn")
    assert shown.exit_code == 0, shown.output
    rows = lines_by_first_word(shown.output)
    assert rows["1"].split()[1] == "sklearn" and "f1=0.7" in rows["1"]
    assert "f1=0.8" in rows["2"] and rows["2"].rstrip().endswith("production")
    assert re.search(r"production → 2\s+since .* by ana: better f1", shown.output)

    document = json.loads(invoke(cli, "models", "show", "churn", "--json").output)
    assert [v["version"] for v in document["versions"]] == [1, 2]
    assert document["aliases"] == {"production": 2}
    assert document["versions"][1]["aliases"] == ["production"]


def test_show_a_version_in_detail(cli: CliRunner, settings: Settings, data: pd.DataFrame) -> None:
    run = training.run(frame=data, settings=settings)
    assert run.status == "succeeded"
    cv.models.promote(
        "from_run", 1, "production", gate=cv.Gate(min={"accuracy": 0.8}), settings=settings
    )

    shown = invoke(cli, "models", "show", "from_run@production")
    assert shown.exit_code == 0, shown.output
    assert "from_run@1" in shown.output and "aliases production" in shown.output
    assert f"lineage: run {run.id}, pipeline training, step train_and_register" in shown.output
    assert re.search(r"^profile: sha256:[0-9a-f]+", shown.output, re.MULTILINE)
    rows = lines_by_first_word(shown.output)
    assert rows["accuracy"].split() == ["accuracy", "0.9"]
    assert "signature (3 inputs)" in shown.output
    assert rows["tenure"].split()[:2] == ["tenure", "float"] and "y" not in rows
    assert re.search(r"#\d+ for production: passed", shown.output)
    assert re.search(r"✓\s+min accuracy\s+0\.9\s+≥ 0\.8", shown.output)

    by_number = json.loads(invoke(cli, "models", "show", "from_run@1", "--json").output)
    assert by_number["run_id"] == run.id and by_number["step"] == "train_and_register"
    assert [c["name"] for c in by_number["signature"]["inputs"]] == ["tenure", "spend", "visits"]
    assert by_number["decisions"][0]["passed"] is True


def test_promote_rollback_and_history(
    cli: CliRunner, settings: Settings, data: pd.DataFrame
) -> None:
    register(settings, data, "churn", 0.7, 0.8, 0.85)

    assert invoke(cli, "models", "promote", "churn", "1", "--alias", "production").output == (
        "churn: production — → 1\n"
    )
    moved = invoke(cli, "models", "promote", "churn", "3", "-a", "production", "--reason", "f1 up")
    assert moved.exit_code == 0 and moved.output == "churn: production 1 → 3\n"
    invoke(cli, "models", "promote", "churn", "2", "-a", "staging")
    back = invoke(cli, "models", "rollback", "churn", "-a", "production", "--reason", "alerts")
    assert back.exit_code == 0 and back.output == "churn: production 3 → 1 (rollback)\n"
    assert cv.models.aliases("churn", settings=settings) == {"production": 1, "staging": 2}

    history = invoke(cli, "models", "history", "churn", "--alias", "production")
    assert history.exit_code == 0
    rows = [line.split() for line in history.output.splitlines()[1:]]
    assert [r[2:7] for r in rows] == [  # after the date and time
        ["production", "promote", "—", "→", "1"],
        ["production", "promote", "1", "→", "3"],
        ["production", "rollback", "3", "→", "1"],
    ]
    assert "f1 up" in history.output and "alerts" in history.output
    assert "staging" not in history.output

    everything = json.loads(invoke(cli, "models", "history", "churn", "--json").output)
    assert [(m["alias"], m["kind"], m["previous"], m["version"]) for m in everything] == [
        ("production", "promote", None, 1),
        ("production", "promote", 1, 3),
        ("staging", "promote", None, 2),
        ("production", "rollback", 3, 1),
    ]
    assert everything[1]["reason"] == "f1 up" and everything[0]["actor"]


def test_a_failing_gate_prints_its_criteria_and_exits_1(
    cli: CliRunner, settings: Settings, data: pd.DataFrame, tmp_path: Path
) -> None:
    register(settings, data, "churn", 0.8, 0.75)
    cv.models.promote("churn", 1, "production", settings=settings)
    gate = tmp_path / "gate.yaml"
    gate.write_text("min:\n  f1: 0.9\nbeat: production\n")

    failed = invoke(cli, "models", "promote", "churn", "2", "-a", "production", "--gate", str(gate))
    assert failed.exit_code == 1
    assert "gate for churn@2 → production: failed" in failed.stdout
    assert re.search(r"✗\s+min f1\s+0\.75\s+≥ 0\.9", failed.stdout)
    assert re.search(r"✗\s+beat production f1\s+0\.75\s+≥ 0\.8 of version 1", failed.stdout)
    assert failed.stderr.startswith("error: churn@2 did not pass the gate")
    assert cv.models.aliases("churn", settings=settings) == {"production": 1}  # not moved
    assert [d.passed for d in cv.models.decisions("churn", settings=settings)] == [False]


def test_a_passing_gate_on_evaluation_data_moves_the_alias(
    cli: CliRunner, settings: Settings, data: pd.DataFrame, tmp_path: Path
) -> None:
    register(settings, data, "churn", 0.8)
    data.iloc[80:].to_csv(tmp_path / "holdout.csv", index=False)
    gate = tmp_path / "gate.yaml"
    # quoted: YAML 1.1 reads a bare `on` key as the boolean true
    gate.write_text('min:\n  accuracy: 0.5\n"on": holdout.csv\ntarget: y\n')

    passed = invoke(cli, "models", "promote", "churn", "1", "-a", "production", "--gate", str(gate))
    assert passed.exit_code == 0, passed.output
    assert re.search(r"gate for churn@1 → production: passed \(decision (\d+)\)", passed.output)
    assert re.search(r"✓\s+min accuracy\s+0\.\d+\s+≥ 0\.5", passed.output)
    assert passed.output.endswith("churn: production — → 1\n")
    history = invoke(cli, "models", "history", "churn")
    decision = cv.models.decisions("churn", settings=settings)[0]
    assert f"#{decision.id}" in history.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope"], "no model named 'nope'"),
        (["show", "nope@1"], "no model named 'nope'"),
        (["history", "nope"], "no model named 'nope'"),
        (["promote", "nope", "1", "-a", "production"], "no model named 'nope'"),
        (["show", "churn@9"], "has no version 9"),
        (["show", "churn@staging"], "has no alias 'staging'"),
        (["show", "a@b@c"], "not a model reference"),
        (["promote", "churn", "9", "-a", "production"], "has no version 9"),
        (["rollback", "churn", "-a", "production"], "cannot roll back"),
    ],
)
def test_what_does_not_exist_is_a_clear_error(
    cli: CliRunner, settings: Settings, data: pd.DataFrame, args: list[str], message: str
) -> None:
    register(settings, data, "churn", 0.8)
    result = invoke(cli, "models", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_bad_arguments_are_usage_errors(
    cli: CliRunner, settings: Settings, data: pd.DataFrame, tmp_path: Path
) -> None:
    register(settings, data, "churn", 0.8)
    not_a_number = invoke(cli, "models", "promote", "churn", "two", "-a", "production")
    assert not_a_number.exit_code == 2 and "'two' is not a valid integer" in not_a_number.output
    no_alias = invoke(cli, "models", "promote", "churn", "1")
    assert no_alias.exit_code == 2 and "--alias" in no_alias.output
    gate = tmp_path / "gate.yaml"
    gate.write_text("minimum:\n  f1: 0.9\n")
    bad_gate = invoke(cli, "models", "promote", "churn", "1", "-a", "prod", "--gate", str(gate))
    assert bad_gate.exit_code == 2 and "unknown gate field(s) minimum" in bad_gate.stderr
    assert cv.models.aliases("churn", settings=settings) == {}
