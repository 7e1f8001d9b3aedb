"""The RegistryStore contract (model versions, aliases with history, gate decisions), run
against every adapter: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from conveyor.core import content_address
from conveyor.errors import ConveyorError, ModelNotFound, RegistryError, StoreError
from conveyor.store import (
    AliasMove,
    ArtifactRecord,
    GateDecision,
    MetadataStore,
    ModelSummary,
    ModelVersionRecord,
    WriteBatch,
)
from tests._threads import run_on_threads

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def artifact(data: bytes = b"model") -> ArtifactRecord:
    return ArtifactRecord(content_address(data), "skops", "sklearn.Pipeline", len(data), T0)


def stored_artifact(store: MetadataStore, data: bytes = b"model") -> str:
    record = artifact(data)
    store.commit(WriteBatch(artifacts=(record,)))
    return record.id


def version(name: str = "churn", artifact_id: str = "", **changes: Any) -> ModelVersionRecord:
    record = ModelVersionRecord(
        name=name,
        version=0,
        artifact_id=artifact_id or artifact().id,
        flavor="sklearn",
        created_at=T0,
    )
    return dataclasses.replace(record, **changes)


def register(store: MetadataStore, name: str = "churn", **changes: Any) -> int:
    artifact_id = stored_artifact(store)
    return store.register_model_version(version(name, artifact_id, **changes)).version


def move(
    alias: str, to: int | None, *, name: str = "churn", seconds: float = 0, **changes: Any
) -> AliasMove:
    kind = changes.pop("kind", "remove" if to is None else "promote")
    return AliasMove(name, alias, to, None, kind, at(seconds), **changes)


# -- versions ---------------------------------------------------------------------------------


def test_versions_are_numbered_per_name_from_one(store: MetadataStore) -> None:
    assert [register(store) for _ in range(3)] == [1, 2, 3]
    assert register(store, "fraud") == 1
    assert store.get_model_version("churn").version == 3
    assert [v.version for v in store.list_model_versions("churn")] == [1, 2, 3]


def test_a_version_round_trips_every_field(store: MetadataStore) -> None:
    model, profile = stored_artifact(store, b"m"), stored_artifact(store, b"p")
    tokyo = timezone(timedelta(hours=9))
    given = ModelVersionRecord(
        name="churn.eu-v2",
        version=99,  # ignored: the store numbers versions
        artifact_id=model,
        flavor="xgboost",
        created_at=datetime(2025, 3, 1, 21, 0, 0, 999999, tzinfo=tokyo),
        run_id="run-abc",
        step_name="train",
        metrics={"auc": 0.91, "f1": 1},
        signature={"inputs": [{"name": "age", "type": "int64"}], "t": (1, 2)},
        profile_id=profile,
        lineage={"datasets": ["sales@3"], "inputs": {"train_df": "sha256:…"}},
        description="first EU model ✓",
        meta={"framework": {"xgboost": "2.1"}},
    )
    record = store.register_model_version(given)
    assert record == dataclasses.replace(
        given,
        version=1,
        created_at=datetime(2025, 3, 1, 12, 0, 0, 999999, tzinfo=UTC),
        signature={"inputs": [{"name": "age", "type": "int64"}], "t": [1, 2]},
    )
    assert store.get_model_version("churn.eu-v2", 1) == record
    assert store.get_model_version("churn.eu-v2") == record
    assert store.list_model_versions("churn.eu-v2") == [record]


def test_returned_versions_are_copies(store: MetadataStore) -> None:
    register(store, meta={"tags": ["a"]})
    store.get_model_version("churn").meta["tags"].append("b")  # type: ignore[attr-defined]
    assert store.get_model_version("churn").meta == {"tags": ["a"]}


def test_the_model_artifact_must_be_stored_first(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="commit the artifact's record first") as info:
        store.register_model_version(version())
    assert info.value.details["artifact_id"] == artifact().id
    with pytest.raises(ModelNotFound):
        store.get_model_version("churn")
    assert register(store) == 1


def test_bad_fields_are_refused_before_anything_is_stored(store: MetadataStore) -> None:
    artifact_id = stored_artifact(store)
    bad = [
        (version(artifact_id=artifact_id, created_at=datetime(2025, 1, 1)), "timezone-aware"),
        (version(artifact_id=artifact_id, metrics={"auc": float("nan")}), "JSON"),
        (version(artifact_id="sha256:nope"), "artifact address"),
        (version(artifact_id=artifact_id, profile_id="nope"), "artifact address"),
        (version(artifact_id=artifact_id, flavor=""), "flavor"),
        (version(artifact_id=artifact_id, flavor="x" * 256), "flavor"),
        (version(artifact_id=artifact_id, step_name="x" * 256), "step_name"),
    ]
    for record, message in bad:
        with pytest.raises(StoreError, match=message):
            store.register_model_version(record)
    assert store.list_models() == []


@pytest.mark.parametrize("name", ["", "a b", "churn@2", "a/b", "ü", "x" * 201, None])
def test_model_names_outside_the_alphabet_are_refused(store: MetadataStore, name: Any) -> None:
    with pytest.raises(ConveyorError, match="cannot name a model"):
        register(store, name)
    assert store.list_models() == []


# -- not found --------------------------------------------------------------------------------


def test_an_unknown_model_is_model_not_found(store: MetadataStore) -> None:
    register(store)
    with pytest.raises(ModelNotFound, match="no model named 'chrun'") as info:
        store.get_model_version("chrun")
    assert "conveyor models list" in str(info.value)
    assert info.value.details == {"name": "chrun", "version": None, "versions": []}
    with pytest.raises(ModelNotFound, match="no model named 'Churn'"):
        store.get_model_version("Churn", 1)
    with pytest.raises(ModelNotFound, match="no model named 'fraud'"):
        store.list_model_versions("fraud")


@pytest.mark.parametrize("number", [0, -1, 3, 2**40])
def test_an_unknown_version_lists_the_versions_there_are(store: MetadataStore, number: int) -> None:
    register(store)
    register(store)
    with pytest.raises(ModelNotFound) as info:
        store.get_model_version("churn", number)
    assert f"model 'churn' has no version {number}; its versions are 1, 2" == str(info.value)
    assert info.value.details == {"name": "churn", "version": number, "versions": [1, 2]}


def test_a_version_must_be_a_whole_number(store: MetadataStore) -> None:
    register(store)
    for bad in (True, "1", 1.0):
        with pytest.raises(ConveyorError, match="a model version is a whole number"):
            store.get_model_version("churn", bad)  # type: ignore[arg-type]


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_registrations_get_distinct_consecutive_numbers(store: MetadataStore) -> None:
    artifact_id = stored_artifact(store)
    got: list[int] = []

    def work(worker: int) -> None:
        for i in range(5):
            record = version(artifact_id=artifact_id, run_id=f"{worker}-{i}")
            got.append(store.register_model_version(record).version)
        store.register_model_version(version(f"own-{worker}", artifact_id))

    assert run_on_threads(work, 8) == []
    assert sorted(got) == list(range(1, 41))
    listed = store.list_model_versions("churn")
    assert [v.version for v in listed] == list(range(1, 41))
    assert len({v.run_id for v in listed}) == 40
    assert [store.get_model_version(f"own-{w}").version for w in range(8)] == [1] * 8


def test_concurrent_alias_moves_each_record_what_they_replaced(store: MetadataStore) -> None:
    for _ in range(4):
        register(store)

    def work(worker: int) -> None:
        for i in range(5):
            store.move_alias(move("production", 1 + (worker + i) % 4, seconds=i))

    assert run_on_threads(work, 6) == []
    history = store.alias_history("churn", "production")
    assert len(history) == 30
    assert [m.seq for m in history] == sorted(m.seq for m in history)
    previous = [m.previous for m in history]
    assert previous == [None, *(m.version for m in history[:-1])]  # an unbroken chain
    assert store.aliases("churn") == {"production": history[-1].version}


# -- aliases ----------------------------------------------------------------------------------


def test_moving_an_alias_records_what_it_replaced(store: MetadataStore) -> None:
    for _ in range(3):
        register(store)
    first = store.move_alias(move("production", 1, actor="ana", reason="first"))
    assert (first.previous, first.version, first.seq > 0) == (None, 1, True)
    # through a team server the move is recorded as made by the token's user, whoever the
    # client names
    actor = "contract" if type(store).__name__ == "HttpMetadataStore" else "ana"
    assert first == dataclasses.replace(move("production", 1, actor=actor, reason="first"),
                                        seq=first.seq)  # fmt: skip
    second = store.move_alias(move("production", 3, seconds=5, decision_id=7))
    assert (second.previous, second.version, second.decision_id) == (1, 3, 7)
    back = store.move_alias(move("production", 1, seconds=9, kind="rollback"))
    assert (back.previous, back.kind) == (3, "rollback")
    staging = store.move_alias(move("staging", 2, seconds=10))
    assert store.aliases("churn") == {"production": 1, "staging": 2}
    assert store.alias_history("churn") == [first, second, back, staging]
    assert store.alias_history("churn", "production") == [first, second, back]
    assert first.seq < second.seq < back.seq < staging.seq


def test_removing_an_alias(store: MetadataStore) -> None:
    register(store)
    register(store)
    store.move_alias(move("production", 2))
    removed = store.move_alias(move("production", None, seconds=3, reason="broken"))
    assert (removed.version, removed.previous, removed.kind) == (None, 2, "remove")
    assert store.aliases("churn") == {}
    assert store.alias_history("churn", "production")[-1] == removed
    with pytest.raises(RegistryError, match="has no alias 'production' to remove"):
        store.move_alias(move("production", None))
    again = store.move_alias(move("production", 1, seconds=4))
    assert again.previous is None
    assert len(store.alias_history("churn")) == 3


def test_an_alias_must_point_at_a_version_that_exists(store: MetadataStore) -> None:
    register(store)
    with pytest.raises(ModelNotFound, match="its versions are 1"):
        store.move_alias(move("production", 2))
    with pytest.raises(ModelNotFound, match="no model named 'fraud'"):
        store.move_alias(move("production", 1, name="fraud"))
    with pytest.raises(ModelNotFound, match="no model named 'fraud'"):
        store.move_alias(move("production", None, name="fraud"))
    with pytest.raises(ModelNotFound):
        store.move_alias(move("production", 2**40))
    assert store.aliases("churn") == {}
    assert store.alias_history("churn") == []


@pytest.mark.parametrize(
    "alias", ["", "12", "0", "latest", "Latest", "a b", "prod@1", "x" * 101, "ü", None]
)
def test_alias_names_that_read_as_versions_or_break_references_are_refused(
    store: MetadataStore, alias: Any
) -> None:
    register(store)
    with pytest.raises(RegistryError, match="cannot name an alias") as info:
        store.move_alias(move(alias, 1))
    assert "not all digits and not 'latest'" in str(info.value)
    assert store.alias_history("churn") == []


@pytest.mark.parametrize("alias", ["production", "v1.2-rc_3", "1a", "x" * 100, "latest-good"])
def test_alias_names_in_the_alphabet_are_accepted(store: MetadataStore, alias: str) -> None:
    register(store)
    assert store.move_alias(move(alias, 1)).alias == alias
    assert store.aliases("churn") == {alias: 1}


def test_a_move_kind_must_fit_its_version(store: MetadataStore) -> None:
    register(store)
    with pytest.raises(RegistryError, match="'remove' move has no version"):
        store.move_alias(move("production", 1, kind="remove"))
    with pytest.raises(RegistryError, match="'remove' move has no version"):
        store.move_alias(move("production", None, kind="rollback"))
    with pytest.raises(RegistryError, match="one of promote, rollback, remove"):
        store.move_alias(move("production", 1, kind="demote"))
    with pytest.raises(StoreError, match="timezone-aware"):
        store.move_alias(dataclasses.replace(move("production", 1), moved_at=datetime(2025, 1, 1)))
    assert store.alias_history("churn") == []


def test_aliases_of_an_unknown_model_are_empty(store: MetadataStore) -> None:
    assert store.aliases("nope") == {}
    assert store.alias_history("nope") == []
    assert store.alias_history("nope", "production") == []


# -- summaries --------------------------------------------------------------------------------


def test_list_models_summarises_each_name(store: MetadataStore) -> None:
    register(store, "fraud", created_at=at(1))
    register(store, "churn", created_at=at(2))
    register(store, "churn", created_at=at(3))
    register(store, "Zeta", created_at=at(50))
    store.move_alias(move("production", 1, seconds=10))
    store.move_alias(move("staging", 2, seconds=20))
    store.move_alias(move("staging", None, seconds=30))
    assert store.list_models() == [
        ModelSummary("Zeta", 1, 1, {}, at(50)),
        ModelSummary("churn", 2, 2, {"production": 1}, at(30)),  # the last move
        ModelSummary("fraud", 1, 1, {}, at(1)),
    ]


# -- gate decisions ---------------------------------------------------------------------------


def decision(number: int, passed: bool = True, **changes: Any) -> GateDecision:
    criteria = (
        {"criterion": "auc >= 0.8", "metric": "auc", "op": ">=", "threshold": 0.8,
         "value": 0.91, "passed": True},
        {"criterion": "not worse than production", "metric": "auc", "value": None,
         "passed": passed},
    )  # fmt: skip
    record = GateDecision("churn", number, "production", passed, criteria, at(number), "ci")
    return dataclasses.replace(record, **changes)


def test_gate_decisions_round_trip_with_their_ids(store: MetadataStore) -> None:
    first = store.record_gate_decision(decision(1))
    second = store.record_gate_decision(decision(2, passed=False, actor=""))
    third = store.record_gate_decision(decision(1, alias="staging"))
    assert first == dataclasses.replace(decision(1), id=first.id)
    assert type(first.criteria) is tuple and first.criteria[0]["threshold"] == 0.8
    assert 0 < first.id < second.id < third.id
    assert store.gate_decisions("churn") == [first, second, third]
    assert store.gate_decisions("churn", 1) == [first, third]
    assert store.gate_decisions("churn", 3) == []
    assert store.gate_decisions("fraud") == []


def test_a_move_can_name_the_decision_that_allowed_it(store: MetadataStore) -> None:
    register(store)
    allowed = store.record_gate_decision(decision(1))
    moved = store.move_alias(move("production", 1, decision_id=allowed.id))
    assert store.alias_history("churn") == [moved]
    assert moved.decision_id == allowed.id


def test_bad_gate_decisions_are_refused(store: MetadataStore) -> None:
    with pytest.raises(RegistryError, match="cannot name an alias"):
        store.record_gate_decision(decision(1, alias="latest"))
    with pytest.raises(ConveyorError, match="cannot name a model"):
        store.record_gate_decision(decision(1, name="a b"))
    with pytest.raises(RegistryError, match="about one version"):
        store.record_gate_decision(decision(0))
    with pytest.raises(StoreError, match="JSON"):
        store.record_gate_decision(decision(1, criteria=({"value": float("inf")},)))
    with pytest.raises(StoreError, match="passed must be a bool"):
        store.record_gate_decision(decision(1, passed=1))
    assert store.gate_decisions("churn") == []
