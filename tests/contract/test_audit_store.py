"""The AuditStore contract, run against memory, SQLite and PostgreSQL: entries recorded and
filtered, and the entries the store writes itself for every registry change, in the change's
own transaction."""

from __future__ import annotations

import dataclasses
import getpass
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conveyor.core import acting_as, content_address, current_actor
from conveyor.errors import ModelNotFound, RegistryError, StoreError
from conveyor.store import (
    AliasMove,
    ArtifactRecord,
    AuditEntry,
    GateDecision,
    MetadataStore,
    ModelVersionRecord,
    WriteBatch,
)
from tests._threads import run_on_threads
from tests.contract._local_stores import BACKENDS, open_store

T0 = datetime(2026, 4, 1, 9, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    yield from open_store(request, tmp_path)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def entry(action: str = "run.note", target: str = "churn", **changes: Any) -> AuditEntry:
    record = AuditEntry(at=T0, actor="ana", action=action, target=target, details={"n": 1})
    return dataclasses.replace(record, **changes)


def register(store: MetadataStore, name: str = "churn", **changes: Any) -> int:
    artifact = ArtifactRecord(content_address(b"model"), "skops", "sklearn", 5, T0)
    store.commit(WriteBatch(artifacts=(artifact,)))
    record = ModelVersionRecord(
        name=name, version=0, artifact_id=artifact.id, flavor="sklearn", created_at=T0
    )
    return store.register_model_version(dataclasses.replace(record, **changes)).version


def move(alias: str, to: int | None, kind: str = "promote", **changes: Any) -> AliasMove:
    return AliasMove("churn", alias, to, None, kind, at(10), **changes)  # type: ignore[arg-type]


# -- recording and reading --------------------------------------------------------------------


def test_entries_round_trip_newest_first_with_their_ids(store: MetadataStore) -> None:
    first = store.record_audit(entry(details={"figures": (1, 2.5), "ok": True, "none": None}))
    second = store.record_audit(entry("run.delete", at=at(1)))
    assert first.id < second.id
    assert first == entry(details={"figures": [1, 2.5], "ok": True, "none": None}, id=first.id)
    assert store.audit() == [second, first]
    assert store.audit(limit=1) == [second]


def test_an_entry_without_an_actor_is_made_by_the_current_actor(store: MetadataStore) -> None:
    assert store.record_audit(entry(actor="")).actor == f"local:{getpass.getuser()}"
    with acting_as("ana"):
        assert current_actor() == "ana"
        assert store.record_audit(entry(actor="")).actor == "ana"
    assert current_actor() == f"local:{getpass.getuser()}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"at": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"action": ""}, "action"),
        ({"actor": "x" * 256}, "actor"),
        ({"target": "t\x07"}, "control characters"),
        ({"details": {"f": object()}}, "details"),
        ({"details": ["not", "a", "mapping"]}, "mapping"),
    ],
)
def test_bad_entries_are_refused(
    store: MetadataStore, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.record_audit(entry(**changes))
    assert store.audit() == []


def test_the_filters_combine(store: MetadataStore) -> None:
    store.record_audit(entry("alias.promote", "churn@production", actor="ana", at=at(0)))
    store.record_audit(entry("model.register", "churn@2", actor="bob", at=at(10)))
    store.record_audit(entry("alias.rollback", "churn@production", actor="bob", at=at(20)))
    store.record_audit(entry("alias.promote", "churner@production", actor="ana", at=at(30)))
    store.record_audit(entry("user.add", "user:ana", actor="root", at=at(40)))

    def found(**filters: Any) -> list[tuple[str, str]]:
        return [(e.action, e.target) for e in store.audit(**filters)]

    assert found(target="churn") == [  # the model, its versions and its aliases
        ("alias.rollback", "churn@production"),
        ("model.register", "churn@2"),
        ("alias.promote", "churn@production"),
    ]
    assert found(target="churn@production") == [
        ("alias.rollback", "churn@production"),
        ("alias.promote", "churn@production"),
    ]
    assert found(target="chur") == []  # a prefix of a name is not the name
    assert found(target="Churn") == []  # names are case-sensitive on every backend
    assert found(action="alias") == [
        ("alias.promote", "churner@production"),
        ("alias.rollback", "churn@production"),
        ("alias.promote", "churn@production"),
    ]
    assert found(action="alias.promote", actor="ana", target="churn") == [
        ("alias.promote", "churn@production")
    ]
    assert found(action="alia") == []
    assert found(actor="bob", since=at(15)) == [("alias.rollback", "churn@production")]
    assert found(since=at(30)) == [
        ("user.add", "user:ana"),
        ("alias.promote", "churner@production"),
    ]
    assert found(target="user:ana") == [("user.add", "user:ana")]


def test_a_limit_below_one_and_a_naive_since_are_refused(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="limit"):
        store.audit(limit=0)
    with pytest.raises(StoreError, match="timezone-aware"):
        store.audit(since=datetime(2026, 1, 1))


# -- what the registry writes -----------------------------------------------------------------


def test_registering_a_version_is_audited_with_its_figures(store: MetadataStore) -> None:
    with acting_as("ana"):
        register(store, metrics={"auc": 0.91}, run_id="run-1")
    (registered,) = store.audit()
    assert (registered.actor, registered.action, registered.target) == (
        "ana",
        "model.register",
        "churn@1",
    )
    assert registered.at == T0
    assert registered.details == {
        "model": "churn",
        "version": 1,
        "flavor": "sklearn",
        "artifact_id": content_address(b"model"),
        "run_id": "run-1",
        "metrics": {"auc": 0.91},
    }


def test_every_alias_move_is_audited_with_where_it_went_from_and_to(
    store: MetadataStore,
) -> None:
    register(store)
    register(store)
    with acting_as("ana"):
        store.move_alias(move("production", 1, reason="first"))
        store.move_alias(move("production", 2, actor="ci-bot", decision_id=None))
    with acting_as("bob"):
        store.move_alias(move("production", 1, "rollback", reason="bad latency"))
        store.move_alias(move("production", None, "remove"))
    moves = store.audit(action="alias")
    assert [(e.actor, e.action) for e in moves] == [
        ("bob", "alias.remove"),
        ("bob", "alias.rollback"),
        ("ana", "alias.promote"),
        ("ana", "alias.promote"),
    ]
    assert {e.target for e in moves} == {"churn@production"}
    assert [(e.details["from"], e.details["to"]) for e in moves] == [
        (1, None),
        (2, 1),
        (1, 2),
        (None, 1),
    ]
    assert moves[1].details["reason"] == "bad latency"
    assert moves[2].details["moved_by"] == "ci-bot"  # what the caller wrote on the move
    assert moves[3].details == {
        "model": "churn",
        "alias": "production",
        "from": None,
        "to": 1,
        "reason": "first",
        "decision_id": None,
        "moved_by": "",
    }


def test_a_gate_decision_is_audited_with_its_outcome(store: MetadataStore) -> None:
    register(store)
    criteria = (
        {"criterion": "min auc", "metric": "auc", "value": 0.8, "passed": False},
        {"criterion": "max latency_ms", "metric": "latency_ms", "value": 3.0, "passed": True},
    )
    with acting_as("ana"):
        decision = store.record_gate_decision(
            GateDecision("churn", 1, "production", False, criteria, at(5), actor="ana")
        )
    (decided,) = store.audit(action="gate")
    assert (decided.action, decided.target, decided.actor) == ("gate.decide", "churn@1", "ana")
    assert decided.details["outcome"] == "failed"
    assert decided.details["failed"] == ["min auc"]
    assert decided.details["decision_id"] == decision.id
    assert decided.details["alias"] == "production"
    assert decided.details["criteria"] == [dict(c) for c in criteria]


def test_a_refused_change_leaves_no_entry(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="not in the metadata store"):
        store.register_model_version(
            ModelVersionRecord("churn", 0, content_address(b"missing"), "sklearn", T0)
        )
    register(store)
    with pytest.raises(ModelNotFound):
        store.move_alias(move("production", 7))
    with pytest.raises(RegistryError, match="no alias 'staging' to remove"):
        store.move_alias(move("staging", None, "remove"))
    assert [e.action for e in store.audit()] == ["model.register"]


def test_a_change_whose_entry_cannot_be_written_does_not_land(store: MetadataStore) -> None:
    register(store)
    too_long = "x" * 300  # no actor column can hold it: the entry is refused
    with acting_as(too_long), pytest.raises(StoreError, match="actor"):
        store.move_alias(move("production", 1))
    with acting_as(too_long), pytest.raises(StoreError, match="actor"):
        register(store)
    with acting_as(too_long), pytest.raises(StoreError, match="actor"):
        store.record_gate_decision(GateDecision("churn", 1, "production", True, (), at(5)))
    assert store.aliases("churn") == {}
    assert store.alias_history("churn") == []
    assert [v.version for v in store.list_model_versions("churn")] == [1]
    assert store.gate_decisions("churn") == []
    assert [e.action for e in store.audit()] == ["model.register"]


def test_concurrent_promotions_each_leave_their_own_entry(store: MetadataStore) -> None:
    for _ in range(3):
        register(store)

    def work(worker: int) -> None:
        with acting_as(f"user-{worker}"):
            store.move_alias(move("production", worker % 3 + 1))

    assert run_on_threads(work, 6) == []
    entries = list(reversed(store.audit(action="alias.promote")))
    history = store.alias_history("churn", "production")
    assert sorted(e.actor for e in entries) == sorted(f"user-{w}" for w in range(6))
    # the entries tell the same story as the alias history, in the same order
    assert [(e.details["from"], e.details["to"]) for e in entries] == [
        (m.previous, m.version) for m in history
    ]
