"""The MonitorStore contract (definitions, evaluations, alerts, actions), run against every
adapter: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.errors import ConveyorError, MonitorNotFound, StoreError
from conveyor.store import (
    MetadataStore,
    MonitorAction,
    MonitorAlert,
    MonitorEvaluation,
    MonitorRecord,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
SPEC = {"window": "1h", "rules": [{"kind": "drift", "psi": 0.2}], "actions": [{"kind": "log"}]}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def monitor(name: str = "churn-drift", model: str = "churn@production") -> MonitorRecord:
    return MonitorRecord(name, model, SPEC, created_at=T0, updated_at=T0)


def evaluation(
    monitor: str = "churn-drift", model: str = "churn", seconds: float = 0, **changes: object
) -> MonitorEvaluation:
    record = MonitorEvaluation(
        monitor=monitor,
        model=model,
        version=1,
        evaluated_at=at(seconds),
        window_start=at(seconds - 3600),
        window_end=at(seconds),
        rows=500,
        status="firing",
        figures={"share_drifted": 0.4, "features": {"age": {"psi": 0.31}}},
        rules=({"rule": "drift", "breached": True, "streak": 1, "firing": True},),
        message="2 of 5 features drifted",
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def alert(rule: str = "drift") -> MonitorAlert:
    return MonitorAlert(0, "churn-drift", rule, f"{rule} fired", at(0), {"share": 0.4})


def test_a_monitor_round_trips_and_a_replacement_keeps_its_creation_time(
    store: MetadataStore,
) -> None:
    stored = store.put_monitor(monitor())
    assert store.get_monitor("churn-drift") == stored == monitor()
    changed = dataclasses.replace(
        monitor(),
        model="churn@staging",
        spec={"window": "2h"},
        created_at=at(50),
        updated_at=at(60),
    )
    replaced = store.put_monitor(changed)
    assert replaced.created_at == T0
    assert store.get_monitor("churn-drift") == replaced
    assert replaced.model == "churn@staging"
    assert replaced.updated_at == at(60)
    assert dict(replaced.spec) == {"window": "2h"}


def test_monitors_are_listed_by_name_and_deleted(store: MetadataStore) -> None:
    for name in ("b-mon", "a-mon", "c-mon"):
        store.put_monitor(monitor(name))
    assert [m.name for m in store.list_monitors()] == ["a-mon", "b-mon", "c-mon"]
    store.delete_monitor("b-mon")
    assert [m.name for m in store.list_monitors()] == ["a-mon", "c-mon"]
    with pytest.raises(MonitorNotFound, match=r"'b-mon'.*a-mon, c-mon"):
        store.delete_monitor("b-mon")


def test_an_unknown_monitor_names_the_ones_there_are(store: MetadataStore) -> None:
    store.put_monitor(monitor("churn-drift"))
    with pytest.raises(MonitorNotFound, match="no monitor named 'nope'; monitors: churn-drift"):
        store.get_monitor("nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "bad name!"}, "cannot name a monitor"),
        ({"model": ""}, "model is a reference"),
        ({"spec": {"x": float("nan")}}, "JSON"),
        ({"created_at": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_definitions_are_refused(
    store: MetadataStore, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ConveyorError, match=message):
        store.put_monitor(dataclasses.replace(monitor(), **change))  # type: ignore[arg-type]
    assert store.list_monitors() == []


def test_an_evaluation_and_its_alerts_round_trip_with_ids(store: MetadataStore) -> None:
    stored, alerts = store.record_evaluation(evaluation(), [alert("drift"), alert("accuracy")])
    assert stored.id > 0
    assert [a.evaluation_id for a in alerts] == [stored.id, stored.id]
    assert len({a.id for a in alerts}) == 2
    assert store.evaluations("churn-drift") == [stored]
    assert dataclasses.replace(stored, id=0) == evaluation()
    assert store.alerts("churn-drift") == list(reversed(alerts))
    assert store.alerts("other") == []


def test_evaluations_come_newest_first_up_to_the_limit(store: MetadataStore) -> None:
    ids = [store.record_evaluation(evaluation(seconds=i))[0].id for i in range(5)]
    assert [e.id for e in store.evaluations("churn-drift", limit=3)] == ids[::-1][:3]
    with pytest.raises(StoreError, match="limit"):
        store.evaluations("churn-drift", limit=0)


def test_the_latest_evaluation_of_each_monitor_is_found_by_model(store: MetadataStore) -> None:
    store.record_evaluation(evaluation("a-mon", "churn", 0, status="ok"))
    newest_a = store.record_evaluation(evaluation("a-mon", "churn", 10))[0]
    newest_b = store.record_evaluation(evaluation("b-mon", "churn", 5, status="no_data"))[0]
    other = store.record_evaluation(evaluation("c-mon", "fraud", 20))[0]
    assert store.latest_evaluations(["churn"]) == [newest_a, newest_b]
    assert store.latest_evaluations() == [newest_a, newest_b, other]
    assert store.latest_evaluations(["nobody"]) == []


def test_an_evaluation_with_a_bad_field_stores_nothing(store: MetadataStore) -> None:
    with pytest.raises(StoreError, match="status"):
        store.record_evaluation(evaluation(status="weird"), [alert()])
    with pytest.raises(StoreError, match="rows"):
        store.record_evaluation(evaluation(rows=-1))
    with pytest.raises(StoreError, match="JSON"):
        store.record_evaluation(evaluation(figures={"psi": float("inf")}))
    assert store.evaluations("churn-drift") == []
    assert store.alerts() == []


def test_actions_are_kept_per_evaluation_in_order(store: MetadataStore) -> None:
    first = store.record_evaluation(evaluation())[0]
    second = store.record_evaluation(evaluation(seconds=60))[0]
    made = [
        store.record_action(
            MonitorAction(e.id, "churn-drift", kind, "succeeded", at(1), at(2), {"n": i})
        )
        for i, (e, kind) in enumerate(
            [(first, "webhook"), (second, "retrain"), (second, "promote")]
        )
    ]
    assert store.actions("churn-drift") == made
    assert [a.kind for a in store.actions("churn-drift", second.id)] == ["retrain", "promote"]
    with pytest.raises(StoreError, match="unknown action status"):
        store.record_action(MonitorAction(first.id, "churn-drift", "log", "odd", at(1), at(2)))


def test_returned_records_are_copies(store: MetadataStore) -> None:
    stored, _ = store.record_evaluation(evaluation())
    figures = stored.figures
    assert isinstance(figures, dict)
    figures["share_drifted"] = 1.0
    assert store.evaluations("churn-drift")[0].figures["share_drifted"] == 0.4
