"""The model registry end to end on SQLite: versions, loading by reference, aliases with
history, gates, rollback, and registering from a pipeline step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import conveyor as cv
from conveyor.core import Settings
from conveyor.errors import ConveyorError, GateFailed, ModelNotFound, RegistryError
from conveyor.testing import settings_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    x, y = make_classification(n_samples=400, n_features=5, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame["y"] = y
    return frame


def fitted(model: object, frame: pd.DataFrame) -> object:
    return model.fit(frame.drop(columns="y"), frame["y"])  # type: ignore[attr-defined]


def test_versions_are_numbered_and_load_back(settings: Settings, data: pd.DataFrame) -> None:
    first = fitted(LogisticRegression(), data)
    second = fitted(DecisionTreeClassifier(max_depth=3, random_state=0), data)
    v1 = cv.models.register("churn", first, metrics={"f1": 0.8}, reference=data, settings=settings)
    v2 = cv.models.register("churn", second, metrics={"f1": 0.7}, settings=settings)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.flavor == "sklearn"
    assert [c["name"] for c in v1.signature["inputs"]] == [f"f{i}" for i in range(5)]  # no y
    features = data.drop(columns="y")
    loaded = cv.models.load("churn@1", settings=settings)
    np.testing.assert_array_equal(loaded.predict(features), first.predict(features))  # type: ignore[attr-defined]
    latest = cv.models.load("churn@latest", settings=settings)
    np.testing.assert_array_equal(latest.predict(features), second.predict(features))  # type: ignore[attr-defined]
    assert cv.models.load("churn", settings=settings) is latest  # cached per version
    profile = v1.profile(settings=settings)
    assert profile is not None and profile.rows == len(data)


def test_every_register_call_adds_a_version(settings: Settings, data: pd.DataFrame) -> None:
    model = fitted(LogisticRegression(), data)
    a = cv.models.register("same", model, metrics={"f1": 0.8}, settings=settings)
    b = cv.models.register("same", model, metrics={"f1": 0.8}, settings=settings)
    assert (a.version, b.version) == (1, 2)


def test_an_alias_is_followed_when_it_moves(settings: Settings, data: pd.DataFrame) -> None:
    m1 = fitted(LogisticRegression(), data)
    m2 = fitted(DecisionTreeClassifier(max_depth=2, random_state=0), data)
    cv.models.register("m", m1, settings=settings)
    cv.models.register("m", m2, settings=settings)
    cv.models.promote("m", 1, "production", reason="first", settings=settings)
    first = cv.models.load("m@production", settings=settings)
    assert type(first).__name__ == "LogisticRegression"
    cv.models.promote("m", 2, "production", settings=settings)
    second = cv.models.load("m@production", settings=settings)
    assert type(second).__name__ == "DecisionTreeClassifier"


def test_rollback_walks_back_through_the_history(settings: Settings, data: pd.DataFrame) -> None:
    for depth in (1, 2, 3):
        cv.models.register(
            "r",
            fitted(DecisionTreeClassifier(max_depth=depth, random_state=0), data),
            settings=settings,
        )
    for version in (1, 2, 3):
        cv.models.promote("r", version, "production", actor="ana", settings=settings)
    assert cv.models.rollback("r", "production", settings=settings).version == 2
    assert cv.models.rollback("r", "production", settings=settings).version == 1
    with pytest.raises(RegistryError, match="cannot roll back"):
        cv.models.rollback("r", "production", settings=settings)
    moves = cv.models.history("r", "production", settings=settings)
    assert [(m.kind, m.version, m.previous) for m in moves] == [
        ("promote", 1, None),
        ("promote", 2, 1),
        ("promote", 3, 2),
        ("rollback", 2, 3),
        ("rollback", 1, 2),
    ]
    assert moves[0].actor == "ana"
    assert cv.models.aliases("r", settings=settings) == {"production": 1}


def test_a_gate_with_thresholds_stores_its_decision(settings: Settings, data: pd.DataFrame) -> None:
    cv.models.register(
        "g", fitted(LogisticRegression(), data), metrics={"f1": 0.8}, settings=settings
    )
    with pytest.raises(GateFailed, match=r"f1 = 0\.8, must be at least 0\.9"):
        cv.models.promote("g", 1, "production", gate=cv.Gate(min={"f1": 0.9}), settings=settings)
    assert cv.models.aliases("g", settings=settings) == {}
    move = cv.models.promote(
        "g", 1, "production", gate=cv.Gate(min={"f1": 0.75}), settings=settings
    )
    assert move.decision_id is not None
    decisions = cv.models.decisions("g", settings=settings)
    assert [d.passed for d in decisions] == [False, True]
    assert decisions[0].criteria[0]["value"] == 0.8


def test_a_gate_compares_with_the_holder_on_the_same_data(
    settings: Settings, data: pd.DataFrame
) -> None:
    train, test = data.iloc[:300], data.iloc[300:]
    good = fitted(LogisticRegression(), train)
    weak = fitted(DummyClassifier(strategy="most_frequent"), train)
    cv.models.register("b", good, settings=settings)
    cv.models.register("b", weak, settings=settings)
    cv.models.promote("b", 1, "production", settings=settings)
    gate = cv.Gate(min={"accuracy": 0.5}, beat="production", on=test, target="y")
    with pytest.raises(GateFailed, match="accuracy") as failed:
        cv.models.promote("b", 2, "production", gate=gate, settings=settings)
    criteria = failed.value.details["decision"]["criteria"]  # type: ignore[index]
    beat = next(c for c in criteria if c["criterion"] == "beat production")
    assert beat["same_data"] is True and beat["holder_version"] == 1
    assert beat["value"] < beat["holder_value"]


def test_unknown_references_say_what_exists(settings: Settings, data: pd.DataFrame) -> None:
    cv.models.register("known", fitted(LogisticRegression(), data), settings=settings)
    with pytest.raises(ModelNotFound, match="known"):
        cv.models.load("known@7", settings=settings)
    with pytest.raises(ModelNotFound, match="no alias 'staging'"):
        cv.models.load("known@staging", settings=settings)
    with pytest.raises(ModelNotFound):
        cv.models.load("unknown", settings=settings)
    with pytest.raises(ConveyorError, match="not a model reference"):
        cv.models.load("a@b@c", settings=settings)


@cv.step
def fit(n: int) -> LogisticRegression:
    x, y = make_classification(n_samples=n, n_features=4, random_state=1)
    return LogisticRegression().fit(pd.DataFrame(x, columns=list("abcd")), y)


@cv.step
def reference(n: int) -> pd.DataFrame:
    x, _ = make_classification(n_samples=n, n_features=4, random_state=1)
    return pd.DataFrame(x, columns=list("abcd"))


@cv.pipeline
def training(n: int = 200) -> None:
    model = fit(n)
    cv.register_model("piped", model, metrics={"accuracy": 0.9}, reference=reference(n))


def test_register_model_is_a_pipeline_step(settings: Settings) -> None:
    run = training.run(settings=settings)
    assert run.status == "succeeded", [s.error for s in run.steps]
    version = run.outputs["register_model"]
    assert isinstance(version, cv.ModelVersion) and version.version == 1
    stored = cv.models.get("piped@1", settings=settings)
    assert stored.run_id == run.id and stored.step == "register_model"
    assert stored.metrics == {"accuracy": 0.9}
    inputs = stored.lineage["inputs"]
    assert isinstance(inputs, dict)
    assert set(inputs) == {"model", "reference"}  # the artifacts of the fit and reference steps
    fit_outputs = {s.name: s for s in run.steps}
    assert fit_outputs["fit"].status == "succeeded"
    again = training.run(settings=settings)  # unchanged: the same version, not a new one
    assert again.outputs["register_model"].version == 1  # type: ignore[attr-defined]
    assert [v.version for v in cv.models.versions("piped", settings=settings)] == [1]


def test_a_gate_file_with_a_bare_on_key_reads_its_data(tmp_path: Path, data: pd.DataFrame) -> None:
    data.to_csv(tmp_path / "holdout.csv", index=False)
    (tmp_path / "gate.yaml").write_text(
        "min:\n  accuracy: 0.6\nbeat: production\non: holdout.csv\ntarget: y\n"
    )
    gate = cv.Gate.from_yaml(tmp_path / "gate.yaml")
    assert gate.beat == "production" and gate.min == {"accuracy": 0.6}
    assert list(gate.on.columns) == list(data.columns) and len(gate.on) == len(data)
    (tmp_path / "bad.yaml").write_text("minimum:\n  f1: 0.9\n")
    with pytest.raises(ConveyorError, match="unknown gate field"):
        cv.Gate.from_yaml(tmp_path / "bad.yaml")
