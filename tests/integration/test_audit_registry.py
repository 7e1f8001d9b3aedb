"""Registering and promoting models through the public API leaves audit entries, made by the
actor the caller is acting as, on SQLite in a temporary folder."""

from __future__ import annotations

import getpass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import conveyor as cv
from conveyor.core import Settings, acting_as
from conveyor.engine import Workspace
from conveyor.errors import GateFailed
from conveyor.testing import settings_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "home")


def model() -> DummyClassifier:
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    return DummyClassifier(strategy="most_frequent").fit(frame, [0, 1, 1, 1])


def test_register_promote_and_roll_back_are_audited_as_the_acting_user(
    settings: Settings,
) -> None:
    with acting_as("ana"):
        cv.models.register("churn", model(), metrics={"f1": 0.8}, settings=settings)
        cv.models.register("churn", model(), metrics={"f1": 0.9}, settings=settings)
        cv.models.promote("churn", 1, "production", reason="first", settings=settings)
    with acting_as("bob"):
        cv.models.promote(
            "churn", 2, "production", gate=cv.Gate(min={"f1": 0.85}), settings=settings
        )
        cv.models.rollback("churn", "production", settings=settings)

    entries = Workspace.for_api(settings).metadata.audit(target="churn")
    assert [(e.actor, e.action, e.target) for e in reversed(entries)] == [
        ("ana", "model.register", "churn@1"),
        ("ana", "model.register", "churn@2"),
        ("ana", "alias.promote", "churn@production"),
        ("bob", "gate.decide", "churn@2"),
        ("bob", "alias.promote", "churn@production"),
        ("bob", "alias.rollback", "churn@production"),
    ]
    rollback, promotion, decision, first, second, registered = entries
    assert (registered.details["version"], registered.details["metrics"]) == (1, {"f1": 0.8})
    assert second.details["metrics"] == {"f1": 0.9}
    assert (first.details["from"], first.details["to"], first.details["reason"]) == (
        None,
        1,
        "first",
    )
    assert decision.details["outcome"] == "passed"
    assert (promotion.details["from"], promotion.details["to"]) == (1, 2)
    assert promotion.details["decision_id"] == decision.details["decision_id"]
    assert (rollback.details["from"], rollback.details["to"]) == (2, 1)
    # the alias history and the audit log agree on every move
    moves = cv.models.history("churn", "production", settings=settings)
    assert [(m.previous, m.version) for m in moves] == [(None, 1), (1, 2), (2, 1)]


def test_a_refused_promotion_is_audited_as_a_failed_gate_and_no_move(
    settings: Settings,
) -> None:
    cv.models.register("churn", model(), metrics={"f1": 0.7}, settings=settings)
    with acting_as("ana"), pytest.raises(GateFailed):
        cv.models.promote(
            "churn", 1, "production", gate=cv.Gate(min={"f1": 0.9}), settings=settings
        )
    store = Workspace.for_api(settings).metadata
    (decision,) = store.audit(action="gate")
    assert (decision.actor, decision.details["outcome"]) == ("ana", "failed")
    assert decision.details["failed"] == ["min f1"]
    assert store.audit(action="alias") == []
    # outside acting_as, changes are made by the local OS user
    (registered,) = store.audit(action="model.register")
    assert registered.actor == f"local:{getpass.getuser()}"
